import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tensorStats, topClasses } from "../../src/cli/summary.js";
import type { ZooRegistry } from "../../src/cli/zoo.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { loadModel, serializeGraph } from "../../src/graph/serialize.js";
import type { Graph, Weights } from "../../src/graph/types.js";
import { readNpyFile, serializeNpy } from "../../src/io/npy.js";
import { initialWeights } from "../../src/train/init-weights.js";
import { forward, runCli, smallNet } from "./helpers.js";

/** `convkit run` and `convert` in-process (`run` with captured output): options, multi-input/output graphs, refusals. */

const cli = runCli;

/** Two inputs, two outputs: sum -> conv, and the sum's mean over channels. */
function twoByTwo(): { graph: Graph; weights: Weights } {
  const b = new GraphBuilder("two", { seed: 2 });
  const a = b.input("a", [2, 4, 4]);
  const c = b.input("b", [2, 4, 4]);
  const s = b.add(a, c);
  b.output(b.conv2d(s, { outChannels: 3, kernelSize: 3, name: "conv" }), b.relu(s, { name: "act" }));
  return b.build();
}

let dir: string;
let folder: string;
let loose: string;
let npy: (name: string, shape: number[], seed: number) => string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "convkit-run-convert-"));
  folder = join(dir, "two");
  const two = twoByTwo();
  const { saveModel } = await import("../../src/graph/serialize.js");
  await saveModel(folder, two.graph, two.weights);
  loose = join(dir, "small.json");
  writeFileSync(loose, serializeGraph(smallNet().graph));
  npy = (name, shape, seed) => {
    const n = shape.reduce((p, d) => p * d, 1);
    const data = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7 + seed));
    const path = join(dir, name);
    writeFileSync(path, serializeNpy({ dtype: "f4", shape, data }));
    return path;
  };
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("run: several inputs and outputs", () => {
  it("feeds NAME=FILE inputs and writes FILE-<output>.npy for each output", async () => {
    const a = npy("a.npy", [1, 2, 4, 4], 1);
    const b = npy("b.npy", [1, 2, 4, 4], 2);
    const out = join(dir, "y.npy");
    const r = await cli([
      "run",
      folder,
      "--input",
      `a=${a}`,
      "--input",
      `b=${b}`,
      "--output",
      out,
      "--kernels",
      "reference",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(out)).toBe(false);
    const conv = await readNpyFile(join(dir, "y-conv.npy"));
    const act = await readNpyFile(join(dir, "y-act.npy"));
    expect(conv.shape).toEqual([1, 3, 2, 2]);
    expect(act.shape).toEqual([1, 2, 4, 4]);
    const { graph, weights } = await loadModel(folder);
    const { GraphModel } = await import("../../src/graph/executor.js");
    const { Tensor } = await import("../../src/autograd/tensor.js");
    const m = new GraphModel(graph, weights);
    const load = async (p: string) => new Tensor((await readNpyFile(p)).data as Float32Array, [1, 2, 4, 4]);
    const ref = m.forwardOutputs({ a: await load(a), b: await load(b) });
    expect(Array.from(conv.data as Float32Array)).toEqual(Array.from(ref.conv.data));
    expect(Array.from(act.data as Float32Array)).toEqual(Array.from(ref.act.data));
    expect(r.stdout).toContain("output conv: [1, 3, 2, 2]");
    expect(r.stdout).not.toContain("top-");
  });

  it("random inputs for every graph input; a plain --input for a two-input model is refused", async () => {
    const r = await cli(["run", folder, "--json", "--kernels", "reference", "--batch", "2"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).inputs.map((i: { shape: number[] }) => i.shape)).toEqual([
      [2, 2, 4, 4],
      [2, 2, 4, 4],
    ]);
    const plain = await cli(["run", folder, "--input", npy("p.npy", [1, 2, 4, 4], 3)]);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/--input: the model has 2 inputs \(a, b\): give each as NAME=FILE/);
    const wrong = await cli(["run", folder, "--input", `c=${join(dir, "p.npy")}`]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/the model has no input "c" \(inputs: a, b\)/);
  });
});

describe("run: weights and options", () => {
  it("a graph without weights runs with fresh weights from --seed, and says so", async () => {
    const r = await cli([
      "run",
      loose,
      "--seed",
      "4",
      "--json",
      "--kernels",
      "reference",
      "--output",
      join(dir, "s.npy"),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.weights).toBe("initialised (seed 4)");
    const { graph } = await (await import("../../src/cli/load-model.js")).loadModelSpec(loose, { zoo: null });
    const { Rng } = await import("../../src/tensor/rng.js");
    const rng = new Rng(4);
    const x = Float32Array.from({ length: 3 * 16 * 16 }, () => rng.normal());
    const expected = forward(graph, initialWeights(graph, 4), x, [1, 3, 16, 16]);
    expect(Array.from((await readNpyFile(join(dir, "s.npy"))).data as Float32Array)).toEqual(
      Array.from(expected),
    );
    expect(json.outputs[0].top[0].map((t: { index: number }) => t.index)).toEqual(
      topClasses(expected, 5).map((t) => t.index),
    );
  });

  it("refuses contradictory or malformed options with exit 2", async () => {
    const x = npy("x.npy", [1, 3, 16, 16], 0);
    const cases: [string[], RegExp][] = [
      [["run", loose, "--input", x, "--batch", "2"], /--batch sizes the random input only/],
      [["run", loose, "--output", join(dir, "y.txt")], /--output: expected a \.npy file name/],
      [["run", loose, "--input", join(dir, "x.csv")], /--input: expected a \.npy file/],
      [["run", loose, "--kernels", "gpu"], /--kernels: expected one of auto, wasm, reference/],
      [["run", loose, "--top", "0"], /--top: expected a positive integer/],
      [["run", loose, "--dims", "H=x"], /--dims: expected NAME=SIZE pairs/],
      [
        ["convert", loose, "-o", join(dir, "out.txt")],
        /-o: expected an \.onnx file, a graph \.json file or a folder/,
      ],
      [
        ["convert", loose, "-o", join(dir, "out"), "--opset", "13"],
        /--opset applies to an \.onnx output only/,
      ],
      [
        ["convert", loose],
        /required option '-o, --output <OUT>' not specified \(see convkit convert --help\)/,
      ],
      [["run", loose, "--frobnicate"], /unknown option '--frobnicate' \(see convkit run --help\)/],
    ];
    for (const [argv, pattern] of cases) {
      const r = await cli(argv);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.stdout, argv.join(" ")).toBe("");
      expect(r.stderr, argv.join(" ")).toMatch(pattern);
      expect(r.stderr.trimEnd().split("\n"), argv.join(" ")).toHaveLength(1);
    }
  });

  it("a model with a fixed batch of 1: a sample without batch axis fits, --batch 2 is refused", async () => {
    const fixed = join(dir, "fixed.json");
    const graph = smallNet().graph;
    writeFileSync(fixed, serializeGraph({ ...graph, inputs: [{ name: "image", shape: [1, 3, 16, 16] }] }));
    const ok = await cli([
      "run",
      fixed,
      "--input",
      npy("sample.npy", [3, 16, 16], 5),
      "--json",
      "--kernels",
      "reference",
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).inputs[0].shape).toEqual([1, 3, 16, 16]);
    const r = await cli(["run", fixed, "--batch", "2"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--batch 2: input "image" of the model has a fixed batch, \[1, 3, 16, 16\]/);
  });

  it("an input .npy that is not an array file, or of the wrong shape: exit 1", async () => {
    const text = join(dir, "text.npy");
    writeFileSync(text, "1,2,3\n");
    const r = await cli(["run", loose, "--input", text]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^convkit: \.npy ".*text\.npy": not a NumPy \.npy file \(missing the \\x93NUMPY magic\)\n$/,
    );
    const wrong = await cli(["run", loose, "--input", npy("w.npy", [1, 3, 8, 8], 0)]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(
      /w\.npy: shape \[1, 3, 8, 8\] does not fit input "image" of the model, \[N, 3, 16, 16\]/,
    );
  });
});

describe("convert: weights", () => {
  it("a graph without weights needs --weights or --seed; with --seed it writes initialised weights", async () => {
    const out = join(dir, "from-loose");
    const r = await cli(["convert", loose, "-o", out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/small\.json" has no weights: give --weights FILE, or --seed S/);
    const ok = await cli(["convert", loose, "-o", out, "--seed", "3"]);
    expect(ok.code, ok.stderr).toBe(0);
    const saved = await loadModel(out);
    expect(Object.fromEntries(saved.weights)).toEqual(Object.fromEntries(initialWeights(saved.graph, 3)));
  });

  it("builds a zoo model at --input and refuses to write a file into an existing folder", async () => {
    const asked: unknown[] = [];
    const zoo: ZooRegistry = {
      net: (options) => {
        asked.push(options);
        return smallNet();
      },
    };
    const r = await cli(["convert", "net", "-o", join(dir, "net.json"), "--input", "3x32x32"], zoo);
    expect(r.code, r.stderr).toBe(0);
    expect(asked).toEqual([{ inChannels: 3, inputSize: [32, 32] }]);
    const { mkdirSync } = await import("node:fs");
    const existing = join(dir, "existing");
    mkdirSync(existing);
    const refused = await cli(["convert", "net", "-o", existing], zoo);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/existing": the folder exists; add --force to overwrite it/);
    const forced = await cli(["convert", "net", "-o", existing, "--force"], zoo);
    expect(forced.code, forced.stderr).toBe(0);
    expect(existsSync(join(existing, "weights.safetensors"))).toBe(true);
    const intoDir = join(dir, "dir.onnx");
    mkdirSync(intoDir);
    const bad = await cli(["convert", "net", "-o", intoDir, "--force"], zoo);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/dir\.onnx" is a folder: cannot write an \.onnx file there/);
  });
});

describe("summary", () => {
  it("top classes are the largest values with softmax probabilities; distributions are kept", () => {
    const row = Float32Array.of(0.5, 3, -1, 2, 2);
    const top = topClasses(row, 3, ["a", "b", "c", "d", "e"]);
    expect(top.map((t) => [t.index, t.label])).toEqual([
      [1, "b"],
      [3, "d"],
      [4, "e"],
    ]);
    const exp = Array.from(row, (v) => Math.exp(v));
    const sum = exp.reduce((p, v) => p + v, 0);
    top.forEach((t) => {
      expect(t.prob).toBeCloseTo(exp[t.index] / sum, 12);
    });
    const probs = Float32Array.of(0.25, 0.5, 0.25);
    expect(topClasses(probs, 1)[0]).toMatchObject({ index: 1, prob: 0.5 });
    const stats = tensorStats(Float32Array.of(1, Number.NaN, 3));
    expect(stats).toEqual({ min: 1, max: 3, mean: 2, std: 1, nonFinite: 1 });
  });
});
