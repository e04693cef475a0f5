import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { randn } from "../../src/autograd/factories.js";
import type { Tensor } from "../../src/autograd/tensor.js";
import type { Graph, Weights } from "../../src/graph/types.js";
import { parseSafetensors, serializeSafetensors } from "../../src/io/safetensors.js";
import { Rng } from "../../src/tensor/rng.js";

/** Helpers of the PyTorch export tests: the torch probe, weight perturbation, and the Python runner. */

export const PYTHON = "/usr/bin/python3";

/** Whether /usr/bin/python3 has torch and torchvision (CI installs Debian's python3-torch/-torchvision). */
export function torchAvailability(): { ok: boolean; reason: string } {
  const r = spawnSync(PYTHON, ["-c", "import torch, torchvision; print(torch.__version__)"], {
    encoding: "utf8",
  });
  if (r.status === 0) return { ok: true, reason: `torch ${r.stdout.trim()}` };
  const why =
    r.error !== undefined ? r.error.message : (r.stderr.trim().split("\n").pop() ?? "import failed");
  return { ok: false, reason: `${PYTHON} cannot import torch and torchvision (${why})` };
}

/**
 * Weights that exercise every parameter: batch-norm running statistics and affine parameters away from their
 * identity defaults, zero-initialised tensors (offset convs) made non-zero, so a mix-up shows in the output.
 */
export function perturbWeights(graph: Graph, weights: Weights, seed: number): Weights {
  const rng = new Rng(seed);
  const out: Weights = new Map();
  for (const [name, info] of Object.entries(graph.params)) {
    const w = Float32Array.from(weights.get(name)!);
    const n = w.length;
    if (name.endsWith("num_batches_tracked")) {
      w.fill(7);
    } else if (name.endsWith("running_var")) {
      for (let i = 0; i < n; i++) w[i] = 0.5 + rng.uniform();
    } else if (name.endsWith("running_mean")) {
      for (let i = 0; i < n; i++) w[i] = 0.1 * rng.normal();
    } else if (n > 0 && w.every((v) => v === w[0])) {
      if (info.shape.length >= 2) {
        const scale = 0.5 / Math.sqrt(n / info.shape[0]);
        for (let i = 0; i < n; i++) w[i] = scale * rng.normal();
      } else {
        for (let i = 0; i < n; i++) w[i] += 0.1 * rng.normal();
      }
    }
    out.set(name, w);
  }
  return out;
}

/** Random inputs for every graph input (batch `batch`), keyed by input name. */
export function randomInputs(graph: Graph, batch: number, seed: number): Record<string, Tensor> {
  const rng = new Rng(seed);
  const out: Record<string, Tensor> = {};
  for (const info of graph.inputs) {
    const shape = info.shape.map((d) => (typeof d === "number" ? d : batch));
    out[info.name] = randn(shape, { rng });
  }
  return out;
}

/** Writes tensors by name as safetensors. */
export function writeTensors(path: string, tensors: Record<string, Tensor>): void {
  writeFileSync(
    path,
    serializeSafetensors(Object.entries(tensors).map(([k, t]) => [k, { shape: t.shape, data: t.data }])),
  );
}

/** Reads safetensors as {name: {shape, data}}. */
export function readTensors(path: string): Map<string, { shape: number[]; data: Float32Array }> {
  const bytes = readFileSync(path);
  const content = parseSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
  return new Map([...content.tensors].map(([k, e]) => [k, { shape: e.shape, data: e.data }]));
}

export interface CheckCase {
  name: string;
  dir: string;
  mode: "eval" | "train" | "roundtrip";
  input?: string;
  output?: string;
}

export interface CaseResult {
  ok: boolean;
  error?: string;
  trace?: string;
  keys?: Record<string, number[]>;
  dtypes?: Record<string, string>;
  className?: string;
  seconds: number;
}

const CHECKER = fileURLToPath(new URL("./check_export.py", import.meta.url));

/** Runs check_export.py once for all cases; returns each case's report. */
export function runChecks(cases: CheckCase[], workDir: string): Record<string, CaseResult> {
  const manifest = join(workDir, `manifest-${Math.random().toString(36).slice(2)}.json`);
  const result = `${manifest}.result.json`;
  writeFileSync(manifest, JSON.stringify({ cases }));
  const r = spawnSync(PYTHON, [CHECKER, manifest, result], { encoding: "utf8", maxBuffer: 64 << 20 });
  expect(r.status, `check_export.py failed: ${r.stderr}`).toBe(0);
  return (JSON.parse(readFileSync(result, "utf8")) as { cases: Record<string, CaseResult> }).cases;
}

/** The state_dict of a case equals the graph's parameters, name for name and shape for shape. */
export function expectSameKeys(graph: Graph, result: CaseResult, label: string): void {
  expect(result.ok, `${label}: ${result.error}\n${result.trace ?? ""}`).toBe(true);
  const expected = Object.fromEntries(Object.entries(graph.params).map(([k, v]) => [k, v.shape]));
  expect(result.keys, `${label}: state_dict keys and shapes`).toEqual(expected);
}
