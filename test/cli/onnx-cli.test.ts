import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { loadModel, parseGraph } from "../../src/graph/serialize.js";
import type { Graph, Weights } from "../../src/graph/types.js";
import { readNpyFile } from "../../src/io/npy.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { importOnnx } from "../../src/onnx/import.js";
import { Rng } from "../../src/tensor/rng.js";
import { fmnistSmall } from "../../src/zoo/fmnist.js";
import { expectClose } from "../helpers/close.js";
import { convkit, expectOneLineError, forward, python, runOrt, smallNet, withSymbolicHW } from "./helpers.js";

/**
 * `convkit run`, `convert` and `analyze` on ONNX files, run as processes: a small network built with
 * GraphBuilder and exported with exportOnnx (also with symbolic H and W), inputs written by NumPy, outputs
 * read back by NumPy and compared with convkit's own executor and with ONNX Runtime.
 */

let dir: string;
let net: { graph: Graph; weights: Weights };
let onnxPath: string;
let dynPath: string;
let onnxBytes: Uint8Array;
let dynBytes: Uint8Array;
let x: Float32Array;
const X_SHAPE = [2, 3, 16, 16];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "convkit-onnx-cli-"));
  net = smallNet();
  onnxBytes = exportOnnx(net.graph, net.weights);
  dynBytes = withSymbolicHW(onnxBytes);
  onnxPath = join(dir, "small.onnx");
  dynPath = join(dir, "dyn.onnx");
  writeFileSync(onnxPath, onnxBytes);
  writeFileSync(dynPath, dynBytes);
  python(
    `
import numpy as np
rng = np.random.default_rng(3)
np.save("x.npy", rng.standard_normal((2, 3, 16, 16)).astype(np.float32))
np.save("x64.npy", rng.standard_normal((3, 16, 16)))
np.save("wide.npy", rng.standard_normal((1, 3, 16, 18)).astype(np.float32))
`,
    dir,
  );
  x = (await readNpyFile(join(dir, "x.npy"))).data as Float32Array;
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** An .npy file as NumPy reads it: shape, dtype and values. */
function numpyLoad(path: string): { shape: number[]; dtype: string; values: number[] } {
  return JSON.parse(
    python(
      `import json, numpy as np; a = np.load(${JSON.stringify(path)}); print(json.dumps({"shape": list(a.shape), "dtype": a.dtype.str, "values": [float(v) for v in a.ravel()]}))`,
      dir,
    ),
  );
}

describe("convkit run", () => {
  it("runs an .onnx file on a NumPy input: equals GraphModel.forward and ONNX Runtime; numpy reads y.npy", async () => {
    const y = join(dir, "y.npy");
    const r = convkit([
      "run",
      onnxPath,
      "--input",
      join(dir, "x.npy"),
      "--output",
      y,
      "--kernels",
      "reference",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^model small \(onnx; weights: .*small\.onnx; kernels: reference\)\n/);
    expect(r.stdout).toContain(`input  image: [2, 3, 16, 16] (${join(dir, "x.npy")})`);
    expect(r.stdout).toMatch(/output fc: \[2, 10\] {2}min \S+ {2}max \S+ {2}mean \S+ {2}std \S+\n/);
    expect(r.stdout).toMatch(/sample 0: top-5: \d+ \(p [\d.]+, \S+\), /);
    expect(r.stdout).toContain(`wrote ${y}`);

    const fromNumpy = numpyLoad(y);
    expect(fromNumpy.shape).toEqual([2, 10]);
    expect(fromNumpy.dtype).toBe("<f4");
    // The same executor on the same imported graph: identical numbers.
    const imported = importOnnx(onnxBytes);
    const ours = forward(imported.graph, imported.weights, x, X_SHAPE);
    expect(fromNumpy.values).toEqual(Array.from(ours));
    // The network as built (before export) and ONNX Runtime.
    expectClose(fromNumpy.values, forward(net.graph, net.weights, x, X_SHAPE), {
      rtol: 1e-6,
      label: "builder",
    });
    const worst = expectClose(fromNumpy.values, await runOrt(onnxBytes, x, X_SHAPE), {
      rtol: 1e-4,
      label: "ort",
    });
    expect(worst).toBeLessThan(1e-4);

    // The printed top-5 of sample 0 are the five largest outputs, in order.
    const row = Array.from(ours.subarray(0, 10));
    const order = row
      .map((v, i) => [v, i])
      .sort((a, b) => b[0] - a[0])
      .slice(0, 5)
      .map(([, i]) => i);
    const printed = [...r.stdout.match(/sample 0: top-5: (.*)\n/)![1].matchAll(/(\d+) \(p/g)].map((m) =>
      Number(m[1]),
    );
    expect(printed).toEqual(order);
  });

  it("without --input: a seeded random normal input shaped from the model, --batch, --json", async () => {
    const y = join(dir, "yr.npy");
    const r = convkit([
      "run",
      onnxPath,
      "--seed",
      "7",
      "--batch",
      "3",
      "--json",
      "--kernels",
      "reference",
      "--output",
      y,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.inputs).toEqual([{ name: "image", shape: [3, 3, 16, 16], from: "random normal" }]);
    const rng = new Rng(7);
    const input = Float32Array.from({ length: 3 * 3 * 16 * 16 }, () => rng.normal());
    const imported = importOnnx(onnxBytes);
    const expected = forward(imported.graph, imported.weights, input, [3, 3, 16, 16]);
    const written = await readNpyFile(y);
    expect(written.shape).toEqual([3, 10]);
    expect(Array.from(written.data as Float32Array)).toEqual(Array.from(expected));
    expectClose(expected, await runOrt(onnxBytes, input, [3, 3, 16, 16]), {
      rtol: 1e-4,
      label: "ort random",
    });
    const out = json.outputs[0];
    expect(out.shape).toEqual([3, 10]);
    expect(out.stats.max).toBe(Math.max(...expected));
    expect(out.top).toHaveLength(3);
    expect(out.top[2][0].index).toBe(
      Array.from(expected.subarray(20, 30)).indexOf(Math.max(...expected.subarray(20, 30))),
    );
    const probs = out.top[0].map((t: { prob: number }) => t.prob);
    expect(probs).toEqual([...probs].sort((a, b) => b - a));
  });

  it("symbolic H and W: sized from the --input array, from --dims, or a one-line error saying so", async () => {
    const y = join(dir, "yd.npy");
    const wide = join(dir, "wide.npy");
    const r = convkit(["run", dynPath, "--input", wide, "--output", y, "--kernels", "reference"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("input  image: [1, 3, 16, 18]");
    const w = (await readNpyFile(wide)).data as Float32Array;
    expectClose((await readNpyFile(y)).data as Float32Array, await runOrt(dynBytes, w, [1, 3, 16, 18]), {
      rtol: 1e-4,
      label: "ort 16x18",
    });

    const sized = convkit(["run", dynPath, "--dims", "H=12,W=20", "--json", "--kernels", "reference"]);
    expect(sized.code, sized.stderr).toBe(0);
    expect(JSON.parse(sized.stdout).inputs[0].shape).toEqual([1, 3, 12, 20]);

    expectOneLineError(
      convkit(["run", dynPath]),
      1,
      /dyn\.onnx: symbolic input dimension\(s\) .*"H".*"W".*add --dims H=<size>,W=<size>/,
    );
  });

  it("a float64 array without batch axis is converted and given batch 1", () => {
    const r = convkit(["run", onnxPath, "--input", join(dir, "x64.npy"), "--json", "--kernels", "reference"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).inputs[0].shape).toEqual([1, 3, 16, 16]);
  });
});

describe("convkit convert", () => {
  it("onnx -> folder -> onnx (opset 13) gives the same outputs; graph-only JSON; --force", async () => {
    const folder = join(dir, "model");
    const back = join(dir, "back.onnx");
    const graphJson = join(dir, "graph-only.json");
    const a = convkit(["convert", onnxPath, "-o", folder]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(
      /^wrote .*graph\.json and .*weights\.safetensors \(small: \d+ nodes, \d+ parameter tensors\)\n$/,
    );
    const saved = await loadModel(folder);
    const imported = importOnnx(onnxBytes);
    expect(saved.graph).toEqual(imported.graph);
    expect(forward(saved.graph, saved.weights, x, X_SHAPE)).toEqual(
      forward(imported.graph, imported.weights, x, X_SHAPE),
    );

    const b = convkit(["convert", folder, "-o", back, "--opset", "13"]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/^wrote .*back\.onnx \(ONNX opset 13, \d+ bytes;/);
    const backBytes = new Uint8Array(readFileSync(back));
    expect(importOnnx(backBytes).info.opset).toBe(13);
    expectClose(await runOrt(backBytes, x, X_SHAPE), await runOrt(onnxBytes, x, X_SHAPE), {
      rtol: 1e-6,
      label: "round trip",
    });

    const c = convkit(["convert", onnxPath, "-o", graphJson]);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toContain("graph only, no weights");
    expect(parseGraph(readFileSync(graphJson, "utf8"))).toEqual(imported.graph);

    expectOneLineError(
      convkit(["convert", onnxPath, "-o", graphJson]),
      1,
      /graph-only\.json": the file exists; add --force/,
    );
    expectOneLineError(
      convkit(["convert", onnxPath, "-o", folder]),
      1,
      /model": the folder exists; add --force/,
    );
    expect(convkit(["convert", onnxPath, "-o", graphJson, "--force"]).code).toBe(0);
  });

  it("a zoo model to ONNX: ONNX Runtime gives convkit's output", async () => {
    const out = join(dir, "fmnist-small.onnx");
    const r = convkit(["convert", "fmnist-small", "-o", out]);
    expect(r.code, r.stderr).toBe(0);
    const zoo = fmnistSmall();
    const input = Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => Math.sin(i));
    expectClose(
      await runOrt(new Uint8Array(readFileSync(out)), input, [2, 1, 28, 28]),
      forward(zoo.graph, zoo.weights, input, [2, 1, 28, 28]),
      {
        rtol: 1e-4,
        label: "zoo",
      },
    );
  });
});

describe("convkit analyze on ONNX", () => {
  it("analyses an .onnx file, and one with symbolic sizes at --input", () => {
    const r = convkit(["analyze", onnxPath, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    const expected = analyze(net.graph);
    expect(json.totals.params).toBe(expected.totals.params);
    expect(json.totals.macs).toBe(expected.totals.macs);
    const dyn = JSON.parse(convkit(["analyze", dynPath, "--input", "3x32x32", "--json"]).stdout);
    expect(dyn.inputs[0].shape).toEqual([1, 3, 32, 32]);
    expect(dyn.totals.macs).toBe(analyze(net.graph, [3, 32, 32]).totals.macs);
  });
});

describe("convkit errors on files", () => {
  it("missing file, truncated .onnx, wrong .npy shape, unknown extension: one line, exit 1", () => {
    expectOneLineError(
      convkit(["run", join(dir, "missing.onnx")]),
      1,
      /cannot read ".*missing\.onnx": no such file/,
    );
    const truncated = join(dir, "truncated.onnx");
    writeFileSync(truncated, onnxBytes.subarray(0, Math.floor(onnxBytes.length / 2)));
    expectOneLineError(convkit(["run", truncated]), 1, /truncated\.onnx: .*truncated/);
    expectOneLineError(
      convkit(["run", onnxPath, "--input", join(dir, "wide.npy")]),
      1,
      /wide\.npy: shape \[1, 3, 16, 18\] does not fit input "image" of the model, \[N, 3, 16, 16\]/,
    );
    expectOneLineError(
      convkit(["run", join(dir, "model.pt")]),
      1,
      /unsupported model file type "\.pt".*torch\.onnx\.export/,
    );
  });
});
