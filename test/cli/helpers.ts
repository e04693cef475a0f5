import { spawnSync } from "node:child_process";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import protobuf from "protobufjs";
import { expect } from "vitest";
import { noGrad } from "../../src/autograd/gradmode.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { run } from "../../src/cli/main.js";
import type { ZooRegistry } from "../../src/cli/zoo.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { GraphModel } from "../../src/graph/executor.js";
import type { Graph, Weights } from "../../src/graph/types.js";
import { ONNX_SCHEMA } from "../../src/onnx/schema.js";
import { Rng } from "../../src/tensor/rng.js";

/** Shared by the CLI tests: the CLI as a process, a small model, ONNX Runtime, NumPy. */

export const ROOT = join(import.meta.dirname, "..", "..");
const TSX = join(ROOT, "node_modules", ".bin", "tsx");
const MAIN = join(ROOT, "src", "cli", "main.ts");

export interface Spawned {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `convkit ...args` as a process (through tsx). */
export function convkit(args: string[], env: Record<string, string> = {}): Spawned {
  const r = spawnSync(TSX, [MAIN, ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, CONVKIT_DEBUG: "", ...env },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `convkit ...argv` in-process, output captured, with an injected zoo (none by default). */
export async function runCli(argv: string[], zoo: ZooRegistry | null = null): Promise<Spawned> {
  let stdout = "";
  let stderr = "";
  const code = await run(argv, {
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
    env: {},
    zoo: async () => zoo,
  });
  return { code, stdout, stderr };
}

/** A failure: exit code as given, nothing on stdout, exactly one line on stderr, no stack trace. */
export function expectOneLineError(r: Spawned, code: number, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(code);
  expect(r.stdout).toBe("");
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^convkit: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

/** Runs a Python script with /usr/bin/python3 (numpy installed) in `cwd`; returns its stdout. */
export function python(script: string, cwd: string): string {
  const r = spawnSync("/usr/bin/python3", ["-c", script], { cwd, encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return r.stdout;
}

/**
 * A small fully convolutional classifier (conv-BN-ReLU, max pool, depthwise conv, global average pool,
 * linear): runs at any input size, so its ONNX form can declare symbolic H and W. Batch norm statistics
 * are randomised so their mapping matters.
 */
export function smallNet(): { graph: Graph; weights: Weights } {
  const b = new GraphBuilder("small", { seed: 11 });
  const x = b.input("image", [3, 16, 16]);
  let y = b.scope("features", () => {
    const c = b.relu(b.batchNorm2d(b.conv2d(x, { outChannels: 8, kernelSize: 3, padding: 1 })));
    const p = b.maxPool2d(c, { kernelSize: 2 });
    return b.relu6(b.conv2d(p, { outChannels: 8, kernelSize: 3, padding: 1, groups: 8 }));
  });
  y = b.flatten(b.adaptiveAvgPool2d(y, [1, 1]));
  b.output(b.linear(y, { outFeatures: 10, name: "fc" }));
  const built = b.build();
  const rng = new Rng(12);
  for (const n of built.graph.nodes) {
    if (n.op !== "batchNorm2d") continue;
    for (const role of ["weight", "bias", "runningMean", "runningVar"] as const) {
      const w = built.weights.get(n.params[role]!)!;
      for (let i = 0; i < w.length; i++)
        w[i] = role === "runningVar" ? 0.5 + rng.uniform() : rng.normal() * 0.3 + (role === "weight" ? 1 : 0);
    }
  }
  return built;
}

/** convkit's forward pass (eval mode, no gradients). */
export function forward(graph: Graph, weights: Weights, data: Float32Array, shape: number[]): Float32Array {
  const model = new GraphModel(graph, weights).eval();
  return noGrad(() => model.forward(new Tensor(Float32Array.from(data), shape))).data;
}

/** ONNX Runtime's output for one input. */
export async function runOrt(bytes: Uint8Array, data: Float32Array, shape: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  try {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", data, shape) });
    return Float32Array.from(out[session.outputNames[0]].data as Float32Array);
  } finally {
    await session.release();
  }
}

interface DimProto {
  dim_value?: number;
  dim_param?: string;
}
interface ModelProtoView {
  graph: { input: { type: { tensor_type: { shape: { dim: DimProto[] } } } }[] };
}

const ModelType = protobuf.Root.fromJSON(ONNX_SCHEMA).lookupType("onnx.ModelProto");

/** The same model with its first input declared [N, C, "H", "W"] (as a PyTorch export with dynamic axes). */
export function withSymbolicHW(bytes: Uint8Array): Uint8Array {
  const message = ModelType.decode(bytes);
  const dims = (message as unknown as ModelProtoView).graph.input[0].type.tensor_type.shape.dim;
  dims[2] = { dim_param: "H" };
  dims[3] = { dim_param: "W" };
  return ModelType.encode(message).finish();
}
