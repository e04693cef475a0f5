import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPytorchStateDict, readPytorchStateDict, writePytorchExport } from "../../src/export/index.js";
import { loadModel, weightsToSafetensors } from "../../src/graph/serialize.js";
import type { Graph, Weights } from "../../src/graph/types.js";
import { serializeSafetensors } from "../../src/io/safetensors.js";
import { FormatError, ShapeError } from "../../src/tensor/errors.js";
import { buildZooModel } from "../../src/zoo/index.js";
import { specialNet } from "../helpers/special-names.js";
import { type CaseResult, type CheckCase, perturbWeights, runChecks, torchAvailability } from "./helpers.js";
import { everyModeModel, everyOpGraph } from "./models.js";

/**
 * The way back: a state dict saved in PyTorch (safetensors) loads into the convkit graph, names and shapes
 * checked, every problem listed; and the round trip convkit -> PyTorch (load_weights) -> safetensors
 * (save_weights) -> convkit preserves every value bit for bit, num_batches_tracked through int64 included.
 */

const torch = torchAvailability();

/**
 * The first index where the bit patterns differ (so -0, NaN payloads and the last ulp all count), or -1.
 * A plain loop: toEqual on arrays of millions of elements takes minutes.
 */
function firstBitDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

/** Safetensors bytes with one tensor stored as little-endian int64 (what torch writes for num_batches_tracked). */
function withInt64(entries: [string, number[], Float32Array][], intName: string, value: bigint): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  const chunks: Uint8Array[] = [];
  for (const [name, shape, data] of entries) {
    const bytes =
      name === intName
        ? new Uint8Array(BigInt64Array.of(value).buffer)
        : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    header[name] = {
      dtype: name === intName ? "I64" : "F32",
      shape,
      data_offsets: [offset, offset + bytes.length],
    };
    offset += bytes.length;
    chunks.push(bytes);
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function entries(
  graph: Graph,
  weights: Weights,
  rename = (n: string) => n,
): [string, number[], Float32Array][] {
  return Object.entries(graph.params).map(([n, info]) => [rename(n), info.shape, weights.get(n)!]);
}

describe("loadPytorchStateDict", () => {
  const { graph, weights } = buildZooModel("fmnist-small", { seed: 1 });

  it("takes float32 values bit for bit and int64 num_batches_tracked exactly", () => {
    const bytes = withInt64(entries(graph, weights), "features.conv1.bn.num_batches_tracked", 123456n);
    const loaded = loadPytorchStateDict(graph, bytes);
    for (const [name, w] of weights) {
      if (name === "features.conv1.bn.num_batches_tracked")
        expect(Array.from(loaded.get(name)!)).toEqual([123456]);
      else expect(firstBitDifference(loaded.get(name)!, w), name).toBe(-1);
    }
  });

  it("removes the module. prefix of a model saved inside DistributedDataParallel", () => {
    const bytes = serializeSafetensors(
      entries(graph, weights, (n) => `module.${n}`).map(([n, shape, data]) => [n, { shape, data }]),
    );
    const loaded = loadPytorchStateDict(graph, bytes);
    expect([...loaded.keys()].sort()).toEqual(Object.keys(graph.params).sort());
  });

  it("lists every missing, unexpected and mis-shaped tensor in one error", () => {
    const list = entries(graph, weights).filter(
      ([n]) => n !== "head.fc.bias" && n !== "features.conv2.bn.weight",
    );
    list.push(["head.extra", [2], new Float32Array(2)]);
    const bad = list.map(([n, shape, data]): [string, { shape: number[]; data: Float32Array }] =>
      n === "head.fc.weight" ? [n, { shape: [shape[1], shape[0]], data }] : [n, { shape, data }],
    );
    const bytes = serializeSafetensors(bad);
    let error: unknown;
    try {
      loadPytorchStateDict(graph, bytes, { source: "trained.safetensors" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FormatError);
    const message = (error as Error).message;
    expect(message).toContain('state dict "trained.safetensors" for graph "fmnist-small"');
    expect(message).toContain("missing 2: features.conv2.bn.weight [16], head.fc.bias [10]");
    expect(message).toContain("not parameters of the graph 1: head.extra");
    expect(message).toContain("wrong shape 1: head.fc.weight: expected [10, 16], got [16, 10]");
    // Without strict, extra tensors are ignored; shapes alone give a ShapeError.
    const extraOnly = serializeSafetensors([
      ...entries(graph, weights).map(
        ([n, shape, data]): [string, { shape: number[]; data: Float32Array }] => [n, { shape, data }],
      ),
      ["optimizer.step", { shape: [], data: new Float32Array(1) }],
    ]);
    expect(() => loadPytorchStateDict(graph, extraOnly)).toThrow(FormatError);
    expect(loadPytorchStateDict(graph, extraOnly, { strict: false }).size).toBe(weights.size);
    const shapeOnly = serializeSafetensors(
      entries(graph, weights).map(([n, shape, data]) => [
        n,
        n === "head.fc.weight" ? { shape: [shape[1], shape[0]], data } : { shape, data },
      ]),
    );
    expect(() => loadPytorchStateDict(graph, shapeOnly)).toThrow(ShapeError);
  });

  it("names that JavaScript objects treat specially are ordinary names: loaded, or listed as unexpected", () => {
    const special = specialNet(true);
    const tensors = (g: Graph, w: Weights) =>
      entries(g, w).map(([n, shape, data]): [string, { shape: number[]; data: Float32Array }] => [
        n,
        { shape, data },
      ]);
    const loaded = loadPytorchStateDict(
      special.graph,
      serializeSafetensors(tensors(special.graph, special.weights)),
    );
    expect([...loaded.keys()]).toEqual([...special.weights.keys()]);
    for (const [name, w] of special.weights) expect(firstBitDifference(loaded.get(name)!, w), name).toBe(-1);
    for (const extra of ["constructor", "toString", "__proto__"]) {
      const bytes = serializeSafetensors([
        ...tensors(graph, weights),
        [extra, { shape: [1], data: Float32Array.of(1) }],
      ]);
      expect(() => loadPytorchStateDict(graph, bytes), extra).toThrow(
        `not parameters of the graph 1: ${extra}`,
      );
      expect(loadPytorchStateDict(graph, bytes, { strict: false }).size, extra).toBe(weights.size);
    }
  });
});

describe("round trip convkit -> PyTorch -> convkit", () => {
  // PyTorch is a test requirement (README, .ci/run): fail with the reason rather than skip.
  const root = mkdtempSync(join(tmpdir(), "convkit-export-roundtrip-"));
  const models: [string, { graph: Graph; weights: Weights }][] = [];
  let results: Record<string, CaseResult> = {};

  beforeAll(async () => {
    if (!torch.ok) throw new Error(`${torch.reason}: install Debian's python3-torch and python3-torchvision`);
    const built: [string, { graph: Graph; weights: Weights }][] = [
      ["every-mode", everyModeModel(4)],
      ["every-op", everyOpGraph()],
      ["deformable_resnet50", buildZooModel("deformable_resnet50", { inputSize: 64, numClasses: 10 })],
    ];
    const cases: CheckCase[] = [];
    for (const [name, m] of built) {
      const weights = perturbWeights(m.graph, m.weights, 21);
      const dir = join(root, name);
      await writePytorchExport(dir, m.graph, weights, { data: false });
      models.push([name, { graph: m.graph, weights }]);
      cases.push({ name, dir, mode: "roundtrip", output: join(dir, "saved.safetensors") });
    }
    results = runChecks(cases, root);
  }, 120_000);

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("preserves every weight bit for bit (every-mode model, every-op graph, deformable ResNet-50)", async () => {
    for (const [name, { graph, weights }] of models) {
      const r = results[name];
      expect(r.ok, `${name}: ${r.error}\n${r.trace ?? ""}`).toBe(true);
      // PyTorch holds num_batches_tracked as int64 and everything else as float32.
      for (const [key, dtype] of Object.entries(r.dtypes!)) {
        expect(dtype, `${name}: ${key}`).toBe(
          key.endsWith("num_batches_tracked") ? "torch.int64" : "torch.float32",
        );
      }
      const saved = join(root, name, "saved.safetensors");
      const loaded = await readPytorchStateDict(graph, saved);
      expect([...loaded.keys()].sort(), name).toEqual(Object.keys(graph.params).sort());
      for (const [key, w] of weights)
        expect(firstBitDifference(loaded.get(key)!, w), `${name}: ${key}`).toBe(-1);
      // Written by convkit again, the bytes are those of the original weights.
      const again = Buffer.from(weightsToSafetensors(graph, loaded));
      expect(again.equals(Buffer.from(weightsToSafetensors(graph, weights))), name).toBe(true);
    }
    const folder = await loadModel(join(root, "every-op"));
    expect(folder.graph.name).toBe("every_op");
  });
});
