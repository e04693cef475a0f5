import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import type { EpochRecord } from "../../src/train/loop.js";

/**
 * The resume test: a training process killed with SIGKILL (twice, at different moments) and
 * resumed each time ends with exactly the weights of a run that was never interrupted. The worker
 * checkpoints every 3 steps, so each kill loses up to 2 steps (and may land inside a checkpoint write),
 * which the resumed run replays with the same batches, augmentation and dropout masks.
 */

const worker = fileURLToPath(new URL("./resume-worker.ts", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "convkit-resume-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the worker; with `killAtStep`, sends SIGKILL once it reports that step (plus a random delay). */
function runWorker(args: string[], killAtStep?: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", worker, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let killing = false;
    child.stdout?.on("data", (d: Buffer) => {
      stdout += String(d);
      const steps = [...stdout.matchAll(/^step (\d+)$/gm)].map((m) => Number(m[1]));
      if (killAtStep !== undefined && !killing && steps.some((s) => s >= killAtStep)) {
        killing = true;
        setTimeout(() => child.kill("SIGKILL"), Math.floor(Math.random() * 6));
      }
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += String(d);
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The history without wall-clock fields. */
function numbers(history: EpochRecord[]) {
  return history.map(({ seconds: _s, imagesPerSecond: _i, ...rest }) => rest);
}

describe("train: kill and resume", () => {
  it("a run killed twice with SIGKILL and resumed ends with byte-identical weights and history", async () => {
    const ref = await runWorker([join(root, "reference")]);
    expect(ref.code, ref.stderr).toBe(0);

    const dir = join(root, "checkpoint");
    const out = join(root, "resumed");
    // 3 epochs of 10 steps: kill in the first epoch, then in the second.
    const first = await runWorker([out, dir], 5);
    expect(first.signal, `the worker finished before it was killed: ${first.stderr}`).toBe("SIGKILL");
    const afterFirst = loadCheckpoint(dir);
    const killedAt1 = Math.max(...[...first.stdout.matchAll(/^step (\d+)$/gm)].map((m) => Number(m[1])));
    expect(afterFirst.step).toBeGreaterThanOrEqual(3);
    expect(afterFirst.step).toBeLessThanOrEqual(killedAt1);

    const second = await runWorker([out, dir, "resume"], 16);
    expect(second.signal, second.stderr).toBe("SIGKILL");
    expect(second.stdout).toMatch(new RegExp(`^resumed ${afterFirst.step}$`, "m"));
    const afterSecond = loadCheckpoint(dir);
    expect(afterSecond.step).toBeGreaterThan(afterFirst.step);

    const last = await runWorker([out, dir, "resume"]);
    expect(last.code, last.stderr).toBe(0);
    expect(last.stdout).toMatch(new RegExp(`^resumed ${afterSecond.step}$`, "m"));
    // Steps really were replayed: the resumed session started before the point the kill interrupted.
    console.log(
      `kill/resume: killed near steps ${killedAt1} and ${Math.max(...[...second.stdout.matchAll(/^step (\d+)$/gm)].map((m) => Number(m[1])))}, resumed from ${afterFirst.step} and ${afterSecond.step}`,
    );

    const a = readFileSync(join(root, "reference.safetensors"));
    const b = readFileSync(`${out}.safetensors`);
    expect(b.length).toBe(a.length);
    expect(Buffer.compare(a, b)).toBe(0);
    const ha = JSON.parse(readFileSync(join(root, "reference.json"), "utf8")) as EpochRecord[];
    const hb = JSON.parse(readFileSync(`${out}.json`, "utf8")) as EpochRecord[];
    expect(hb.length).toBe(3);
    expect(numbers(hb)).toEqual(numbers(ha));
  }, 60_000);
});
