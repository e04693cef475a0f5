import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Engine, Workload } from "../engine.js";
import type { Direction } from "../shapes.js";
import { summarize, type Timing, type TimingPlan } from "../timing.js";

const PYTHON = "/usr/bin/python3";
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "..", "torch_conv.py");

interface Ready {
  ready: boolean;
  torch?: string;
  torchvision?: string | null;
  mkldnn?: boolean;
  error?: string;
}

/**
 * PyTorch (Debian's python3-torch; conv through oneDNN) in one long-lived Python process that times the calls
 * itself, so the measurements interleave with the in-process engines shape by shape. Returns null (the report
 * notes why) when Python or torch is absent.
 */
export async function torchEngine(): Promise<Engine | { absent: string }> {
  if (!existsSync(PYTHON)) return { absent: `${PYTHON} not found` };
  const child = spawn(PYTHON, [SCRIPT], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const pending: ((line: string) => void)[] = [];
  const early: string[] = [];
  lines.on("line", (line) => {
    const waiter = pending.shift();
    if (waiter) waiter(line);
    else early.push(line);
  });
  const exited = new Promise<string>((resolve) =>
    child.on("exit", (code) => resolve(`exited with code ${code}`)),
  );
  const nextLine = () =>
    Promise.race([
      new Promise<string>((resolve) => {
        const queued = early.shift();
        if (queued !== undefined) resolve(queued);
        else pending.push(resolve);
      }),
      exited.then((why) => {
        throw new Error(`torch_conv.py ${why}`);
      }),
    ]);
  let ready: Ready;
  try {
    ready = JSON.parse(await nextLine()) as Ready;
  } catch (e) {
    return { absent: `python3 failed to start the torch peer (${(e as Error).message})` };
  }
  if (!ready.ready) {
    child.kill();
    return { absent: `torch not importable: ${ready.error}` };
  }
  return {
    name: "pytorch",
    kind: "native",
    version: `torch ${ready.torch} (oneDNN ${ready.mkldnn ? "on" : "off"}), torchvision ${ready.torchvision ?? "absent"}`,
    note: "separate Python process, timed in Python with the same plan; backward = aten.convolution_backward (input + weight); deformable: torchvision.ops.deform_conv2d, backward = autograd.grad of input, offset, mask and weight",
    async measure(work: Workload, direction: Direction, plan: TimingPlan): Promise<Timing | null> {
      child.stdin.write(
        `${JSON.stringify({ cmd: "measure", shape: work.shape, batch: work.batch, direction, ...plan })}\n`,
      );
      const reply = JSON.parse(await nextLine()) as { samples?: number[]; inner?: number; error?: string };
      if (!reply.samples) throw new Error(`pytorch peer: ${reply.error}`);
      return summarize(reply.samples, reply.inner ?? 1);
    },
    async close() {
      child.stdin.write(`${JSON.stringify({ cmd: "quit" })}\n`);
      child.stdin.end();
      await exited;
    },
  };
}
