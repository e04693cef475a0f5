import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The torchvision ONNX exports of tools/make_onnx_models.py, generated on first use into a temporary
 * directory and shared by every test file and run that asks for the same script and models: the cache
 * directory is named after a hash of the script and the request, a lock directory serialises concurrent
 * generators (Vitest runs files in parallel processes), and the finished directory is renamed into place
 * so a reader never sees half a set.
 *
 * Needs /usr/bin/python3 with torch and torchvision (CI installs Debian's python3-torch/-torchvision);
 * without them `torchvisionModels()` returns the reason instead, and the tests say so in their names.
 */

const PYTHON = "/usr/bin/python3";
const SCRIPT = join(import.meta.dirname, "..", "..", "tools", "make_onnx_models.py");

export const ZOO_MODELS = [
  "resnet18",
  "mobilenet_v2",
  "shufflenet_v2_x1_0",
  "squeezenet1_0",
  "googlenet",
  "densenet121",
  "efficientnet_b0",
] as const;
export const ZOO_OPSETS = [13, 17] as const;

export interface ZooEntry {
  model: string;
  params: number;
  macs: number;
  input: number[];
  files: Record<string, string>;
}

export interface Zoo {
  dir: string;
  torch: string;
  models: Record<string, ZooEntry>;
}

/** Whether torch and torchvision import in /usr/bin/python3 (null) or why not. */
export function torchUnavailable(): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  const r = spawnSync(PYTHON, ["-c", "import torch, torchvision"], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0)
    return `${PYTHON} cannot import torch/torchvision (${(r.stderr || "").trim().split("\n").pop()})`;
  return null;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Generates (once) and returns the model set, or a string saying why it cannot. */
export function torchvisionModels(
  models: readonly string[] = ZOO_MODELS,
  opsets: readonly number[] = ZOO_OPSETS,
): Zoo | string {
  const why = torchUnavailable();
  if (why !== null) return why;
  const hash = createHash("sha256")
    .update(readFileSync(SCRIPT))
    .update(JSON.stringify({ models, opsets }))
    .digest("hex")
    .slice(0, 16);
  const dir = join(tmpdir(), `convkit-onnx-zoo-${hash}`);
  const manifest = join(dir, "manifest.json");
  const lock = `${dir}.lock`;
  const deadline = Date.now() + 15 * 60_000;
  while (!existsSync(manifest)) {
    let owner = false;
    try {
      mkdirSync(lock);
      owner = true;
    } catch {
      // Another process is generating; a lock older than 15 minutes is abandoned.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 15 * 60_000) rmSync(lock, { recursive: true, force: true });
      } catch {}
    }
    if (owner) {
      try {
        if (!existsSync(manifest)) {
          const work = `${dir}.tmp-${process.pid}`;
          rmSync(work, { recursive: true, force: true });
          const r = spawnSync(
            PYTHON,
            [SCRIPT, work, "--models", models.join(","), "--opsets", opsets.join(",")],
            { encoding: "utf8", timeout: 10 * 60_000 },
          );
          if (r.status !== 0) {
            rmSync(work, { recursive: true, force: true });
            throw new Error(`tools/make_onnx_models.py failed (status ${r.status}):\n${r.stderr}`);
          }
          rmSync(dir, { recursive: true, force: true });
          renameSync(work, dir);
        }
      } finally {
        rmSync(lock, { recursive: true, force: true });
      }
      break;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
    sleep(500);
  }
  const m = JSON.parse(readFileSync(manifest, "utf8")) as { torch: string; models: Record<string, ZooEntry> };
  return { dir, torch: m.torch, models: m.models };
}
