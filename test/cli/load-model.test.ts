import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDims, parseNonNegativeInt } from "../../src/cli/args.js";
import { CliError, UsageError } from "../../src/cli/errors.js";
import { loadModelGraph, loadModelSpec, loadRunnableModel } from "../../src/cli/load-model.js";
import type { ZooRegistry } from "../../src/cli/zoo.js";
import { saveModel, serializeGraph, weightsToSafetensors } from "../../src/graph/serialize.js";
import type { Graph, Weights } from "../../src/graph/types.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { importOnnx } from "../../src/onnx/import.js";
import { loadTrainableModel } from "../../src/train/cli-model.js";
import { initialWeights } from "../../src/train/init-weights.js";
import { smallNet, withSymbolicHW } from "./helpers.js";

/** The one model loader of every command (src/cli/load-model.ts), in-process: each kind of source and failure. */

let dir: string;
let net: { graph: Graph; weights: Weights };
const paths = {
  onnx: "",
  dyn: "",
  folder: "",
  bare: "",
  graphJson: "",
  loose: "",
  noWeights: "",
  weights: "",
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "convkit-loader-"));
  net = smallNet();
  const bytes = exportOnnx(net.graph, net.weights);
  paths.onnx = join(dir, "small.onnx");
  paths.dyn = join(dir, "dyn.onnx");
  writeFileSync(paths.onnx, bytes);
  writeFileSync(paths.dyn, withSymbolicHW(bytes));
  paths.folder = join(dir, "saved");
  await saveModel(paths.folder, net.graph, net.weights);
  paths.graphJson = join(paths.folder, "graph.json");
  paths.loose = join(dir, "loose.json");
  writeFileSync(paths.loose, serializeGraph(net.graph));
  paths.noWeights = join(dir, "no-weights");
  mkdirSync(paths.noWeights);
  writeFileSync(join(paths.noWeights, "graph.json"), serializeGraph(net.graph));
  paths.weights = join(dir, "other.safetensors");
  writeFileSync(paths.weights, weightsToSafetensors(net.graph, initialWeights(net.graph, 5)));
  paths.bare = join(dir, "empty-folder");
  mkdirSync(paths.bare);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const none = { zoo: null };

/** Weights as a plain object sorted by name (Map equality in expect depends on insertion order). */
function byName(w: Weights | null): Record<string, Float32Array> | null {
  return w === null ? null : Object.fromEntries([...w].sort(([a], [b]) => a.localeCompare(b)));
}

describe("loadModelSpec", () => {
  it("reads a saved folder with its weights, and one without (weights null)", async () => {
    const a = await loadModelSpec(paths.folder, none);
    expect(a.kind).toBe("folder");
    expect(a.graph).toEqual(net.graph);
    expect(a.weights).toEqual(net.weights);
    expect(a.weightsFrom).toBe(join(paths.folder, "weights.safetensors"));
    const b = await loadModelSpec(paths.noWeights, none);
    expect(b).toMatchObject({ kind: "folder", weights: null, weightsFrom: null });
    const graphOnly = await loadModelSpec(paths.folder, { ...none, graphOnly: true });
    expect(graphOnly.weights).toBeNull();
  });

  it("reads a graph.json with the weights beside it, a loose .json without", async () => {
    const a = await loadModelSpec(paths.graphJson, none);
    expect(a).toMatchObject({ kind: "graph", weightsFrom: join(paths.folder, "weights.safetensors") });
    expect(a.weights).toEqual(net.weights);
    const b = await loadModelSpec(paths.loose, none);
    expect(b).toMatchObject({ kind: "graph", weights: null });
    expect(b.graph).toEqual(net.graph);
  });

  it("imports .onnx files, sizing symbolic dims from --dims or the input shape", async () => {
    const a = await loadModelSpec(paths.onnx, none);
    const ref = importOnnx(exportOnnx(net.graph, net.weights), { name: "small" });
    expect(a.kind).toBe("onnx");
    expect(a.graph).toEqual(ref.graph);
    expect(a.weights).toEqual(ref.weights);
    expect(a.onnx?.opset).toBe(17);
    const byDims = await loadModelSpec(paths.dyn, { ...none, dims: { H: 20, W: 24 } });
    expect(byDims.graph.inputs[0].shape).toEqual(["N", 3, 20, 24]);
    const byInput = await loadModelSpec(paths.dyn, { ...none, inputShape: [3, 12, 14] });
    expect(byInput.graph.inputs[0].shape).toEqual(["N", 3, 12, 14]);
    const withBatch = await loadModelSpec(paths.dyn, {
      ...none,
      inputShape: [2, 3, 12, 14],
      dims: { W: 10 },
    });
    expect(withBatch.graph.inputs[0].shape).toEqual(["N", 3, 12, 10]);
    await expect(loadModelSpec(paths.dyn, none)).rejects.toThrowError(
      /dyn\.onnx: symbolic input dimension\(s\) .* need a size: add --dims H=<size>,W=<size> \(or give --input\)/,
    );
    await expect(loadModelSpec(paths.dyn, { ...none, inputShape: [12, 14] })).rejects.toThrowError(CliError);
  });

  it("builds zoo models at the input size and seed asked", async () => {
    const asked: unknown[] = [];
    const zoo: ZooRegistry = {
      net: (options) => {
        asked.push(options);
        return net;
      },
    };
    const a = await loadModelSpec("net", { zoo, inputShape: [1, 3, 32, 40], zooOptions: { seed: 4 } });
    expect(a).toMatchObject({ kind: "zoo", weightsFrom: "zoo:net" });
    expect(asked).toEqual([{ seed: 4, inChannels: 3, inputSize: [32, 40] }]);
    expect(await loadModelGraph("net", zoo)).toBe(net.graph);
    expect(asked[1]).toBeUndefined();
  });

  it("replaces the weights with --weights; fills missing ones from the seed (loadRunnableModel)", async () => {
    const other = initialWeights(net.graph, 5);
    const a = await loadModelSpec(paths.folder, { ...none, weightsPath: paths.weights });
    expect(byName(a.weights)).toEqual(byName(other));
    expect(a.weightsFrom).toBe(paths.weights);
    const b = await loadRunnableModel(paths.loose, { ...none, seed: 9 });
    // Initialised on the graph as read (initialWeights draws in the order of each node's params keys).
    expect(byName(b.weights)).toEqual(byName(initialWeights(b.graph, 9)));
    expect(b.weightsFrom).toBe("initialised (seed 9)");
    await expect(
      loadModelSpec(paths.loose, { ...none, weightsPath: join(dir, "nope.safetensors") }),
    ).rejects.toThrowError(/weights ".*nope\.safetensors": no such file/);
  });

  it("is also train's and draw's loader (loadTrainableModel): .onnx files come with their weights", async () => {
    const t = await loadTrainableModel(paths.onnx, { zoo: null, seed: 0 });
    expect(t.weightsFrom).toBe(paths.onnx);
    expect(t.weights).toEqual((await loadModelSpec(paths.onnx, none)).weights);
    const fresh = await loadTrainableModel(paths.noWeights, { zoo: null, seed: 2 });
    expect(byName(fresh.weights)).toEqual(byName(initialWeights(fresh.graph, 2)));
  });

  it("fails with one-line CliErrors that say what was tried", async () => {
    const cases: [string, RegExp][] = [
      [join(dir, "missing.onnx"), /cannot read ".*missing\.onnx": no such file$/],
      [join(dir, "missing.json"), /cannot read ".*missing\.json": no such file$/],
      [join(dir, "missing-folder"), /cannot read ".*missing-folder": no such file or folder/],
      [join(dir, "model.h5"), /unsupported model file type "\.h5".*Keras.*tf2onnx/],
      [join(dir, "weights.safetensors"), /weights only: give the folder/],
      [join(dir, "notes.txt"), /cannot read ".*notes\.txt": no such file or folder/],
      [paths.bare, /a model folder needs graph\.json/],
      ["resnet18", /this build has no model zoo/],
    ];
    for (const [spec, pattern] of cases) {
      const error = await loadModelSpec(spec, none).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error, spec).toBeInstanceOf(CliError);
      expect((error as Error).message, spec).toMatch(pattern);
      expect((error as Error).message, spec).not.toContain("\n");
    }
    const garbage = join(dir, "garbage.onnx");
    writeFileSync(garbage, "{ not a model }");
    await expect(loadModelSpec(garbage, none)).rejects.toThrowError(/garbage\.onnx: not an ONNX model/);
  });
});

describe("option parsers", () => {
  it("reads --dims and --seed", () => {
    expect(parseDims("H=224,W=224")).toEqual({ H: 224, W: 224 });
    expect(parseDims(" batch = 2 , seq_len=7")).toEqual({ batch: 2, seq_len: 7 });
    for (const bad of ["H", "H=0", "H=2.5", "=3", "H=1,H=2", "H=1,,W=2", ""]) {
      expect(() => parseDims(bad), bad).toThrowError(UsageError);
    }
    expect(parseNonNegativeInt("0", "--seed")).toBe(0);
    expect(() => parseNonNegativeInt("-1", "--seed")).toThrowError(/--seed: expected a non-negative integer/);
  });
});
