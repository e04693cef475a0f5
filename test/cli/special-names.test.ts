import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { noGrad } from "../../src/autograd/gradmode.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { parseDims } from "../../src/cli/args.js";
import { UsageError } from "../../src/cli/errors.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { GraphModel } from "../../src/graph/executor.js";
import { saveModel } from "../../src/graph/serialize.js";
import { readNpyFile, serializeNpy } from "../../src/io/npy.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { runOutputs, specialInput, specialNet } from "../helpers/special-names.js";
import { info, model, node } from "../onnx/helpers.js";
import { runCli } from "./helpers.js";

// Names from the command line (--dims NAME=SIZE, --input NAME=FILE) and from model files (symbolic dims,
// input and output names) such as "__proto__" or "constructor" are ordinary names.

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "convkit-cli-special-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeNpy(name: string, t: Tensor): string {
  const path = join(dir, name);
  writeFileSync(path, serializeNpy({ dtype: "f4", shape: [...t.shape], data: t.data }));
  return path;
}

describe("CLI: names that JavaScript objects treat specially are ordinary names", () => {
  it("--dims keeps every name, __proto__ included", () => {
    const dims = parseDims("__proto__=3,constructor=4,toString=5");
    expect(Object.entries(dims)).toEqual([
      ["__proto__", 3],
      ["constructor", 4],
      ["toString", 5],
    ]);
    expect(() => parseDims("__proto__=3,__proto__=4")).toThrowError(UsageError);
    expect(() => parseDims("__proto__=3,__proto__=4")).toThrowError(/"__proto__" is given twice/);
  });

  it("run sizes ONNX symbolic dims named __proto__ / constructor from --dims or from --input", async () => {
    const path = join(dir, "dims.onnx");
    writeFileSync(
      path,
      model({
        inputs: [info("x", ["N", 2, "__proto__", "constructor"])],
        outputs: [info("y", null)],
        nodes: [node("Relu", ["x"], ["y"], [], "relu")],
      }),
    );
    const r = await runCli([
      "run",
      path,
      "--dims",
      "__proto__=4,constructor=5",
      "--json",
      "--kernels",
      "reference",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).inputs[0].shape).toEqual([1, 2, 4, 5]);

    const x = new Tensor(
      new Float32Array(2 * 3 * 5).map((_, i) => i - 10),
      [1, 2, 3, 5],
    );
    const fed = await runCli([
      "run",
      path,
      "--input",
      writeNpy("x35.npy", x),
      "--json",
      "--kernels",
      "reference",
    ]);
    expect(fed.code, fed.stderr).toBe(0);
    expect(JSON.parse(fed.stdout).outputs[0].shape).toEqual([1, 2, 3, 5]);

    const missing = await runCli(["run", path, "--dims", "constructor=5"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('symbolic input dimension(s) "__proto__"');
    expect(missing.stderr).toContain("add --dims __proto__=<size>");
  });

  it("run feeds an input named __proto__ and writes every output, named like Object members, to its file", async () => {
    const b = new GraphBuilder("proto-input", { seed: 3 });
    const x = b.input("__proto__", [2, 3, 3]);
    const s = b.add(x, b.input("hasOwnProperty", [2, 3, 3]));
    const c = b.conv2d(s, { outChannels: 2, kernelSize: 3, padding: 1, name: "toString" });
    b.output(c, b.relu(c, { name: "constructor" }));
    const built = b.build();
    const folder = join(dir, "proto-input");
    await saveModel(folder, built.graph, built.weights);
    const x1 = new Tensor(
      new Float32Array(18).map((_, i) => Math.cos(i)),
      [1, 2, 3, 3],
    );
    const x2 = new Tensor(
      new Float32Array(18).map((_, i) => Math.sin(i)),
      [1, 2, 3, 3],
    );
    const out = join(dir, "y.npy");
    const argv = ["run", folder, "--input", `__proto__=${writeNpy("in1.npy", x1)}`];
    argv.push("--input", `hasOwnProperty=${writeNpy("in2.npy", x2)}`, "--output", out);
    const r = await runCli([...argv, "--json", "--kernels", "reference"]);
    expect(r.code, r.stderr).toBe(0);
    const model = new GraphModel(built.graph, built.weights).eval();
    const feed = Object.fromEntries([
      ["__proto__", x1],
      ["hasOwnProperty", x2],
    ]);
    const expected = noGrad(() => model.forwardOutputs(feed));
    expect(Object.keys(expected)).toEqual(["toString", "constructor"]);
    for (const [name, t] of Object.entries(expected)) {
      const written = await readNpyFile(join(dir, `y-${name}.npy`));
      expect(Array.from(written.data as Float32Array), name).toEqual(Array.from(t.data));
    }
    const random = await runCli(["run", folder, "--json", "--kernels", "reference"]);
    expect(random.code, random.stderr).toBe(0);
    expect(JSON.parse(random.stdout).inputs.map((i: { name: string }) => i.name)).toEqual([
      "__proto__",
      "hasOwnProperty",
    ]);
  });

  it("run and convert handle a model whose input, outputs and parameters are all named like Object members", async () => {
    const { graph, weights } = specialNet(true);
    const onnxPath = join(dir, "special.onnx");
    writeFileSync(onnxPath, exportOnnx(graph, weights));
    const input = specialInput();
    const out = join(dir, "s.npy");
    const argv = ["run", onnxPath, "--input", `constructor=${writeNpy("s-in.npy", input)}`, "--output", out];
    const r = await runCli([...argv, "--kernels", "reference"]);
    expect(r.code, r.stderr).toBe(0);
    for (const [name, values] of runOutputs(graph, weights, input)) {
      const written = await readNpyFile(join(dir, `s-${name}.npy`));
      expect(Array.from(written.data as Float32Array), name).toEqual(values);
    }
    const converted = join(dir, "special-model");
    const c = await runCli(["convert", onnxPath, "-o", converted]);
    expect(c.code, c.stderr).toBe(0);
    const again = await runCli([
      "run",
      converted,
      "--input",
      `constructor=${join(dir, "s-in.npy")}`,
      "--json",
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).outputs.map((o: { name: string }) => o.name)).toEqual([
      "__proto__",
      "__lookupGetter__",
    ]);
  });
});
