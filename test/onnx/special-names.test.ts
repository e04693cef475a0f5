import { describe, expect, it } from "vitest";
import { exportOnnx } from "../../src/onnx/export.js";
import { importOnnx } from "../../src/onnx/import.js";
import { decodeModel } from "../../src/onnx/proto.js";
import { ArgumentError, FormatError } from "../../src/tensor/errors.js";
import { asPlain, runOutputs, SPECIAL_NAMES, specialInput, specialNet } from "../helpers/special-names.js";
import { encode, f32, graphModel, info, model, node, type Plain } from "./helpers.js";

// ONNX files name initializers, values, nodes, symbolic dims and metadata freely: "__proto__" or "constructor"
// must be ordinary names, never the prototype or Object.prototype's members.

/** y = x + c with an initializer `c` of the given name, x and y named as given. */
function addModel(init: string, x = "x", y = "y"): Uint8Array {
  return model({
    inputs: [info(x, [1, 3])],
    outputs: [info(y, [1, 3])],
    nodes: [node("Add", [x, init], [y], [], "add")],
    inits: [f32(init, [1, 3], [1, 2, 3])],
  });
}

describe("ONNX: names that JavaScript objects treat specially are ordinary names", () => {
  it("export then import keeps the input and output names and computes what the twin does", () => {
    const special = specialNet(true);
    const plain = specialNet(false);
    const a = importOnnx(exportOnnx(special.graph, special.weights));
    const b = importOnnx(exportOnnx(plain.graph, plain.weights));
    expect(a.graph.inputs.map((i) => i.name)).toEqual(["constructor"]);
    expect(a.graph.outputs).toEqual(["__proto__", "__lookupGetter__"]);
    expect(Object.keys(a.graph.params)).toHaveLength(Object.keys(b.graph.params).length);
    const got = runOutputs(a.graph, a.weights, specialInput());
    expect(got).toEqual(runOutputs(special.graph, special.weights, specialInput()));
    expect(asPlain(got)).toEqual(runOutputs(b.graph, b.weights, specialInput()));
  });

  it("an initializer named like an Object member keeps its name as the parameter name", () => {
    for (const name of SPECIAL_NAMES) {
      const imported = importOnnx(addModel(name));
      const consts = imported.graph.nodes.filter((n) => n.op === "constant");
      expect(
        consts.map((n) => (n.params as { value: string }).value),
        name,
      ).toEqual([name]);
      expect(Object.keys(imported.graph.params), name).toEqual([name]);
      expect(Array.from(imported.weights.get(name)!), name).toEqual([1, 2, 3]);
      // Input and output named like Object members too.
      const named = importOnnx(addModel("c", name, name === "toString" ? "valueOf" : "toString"));
      expect(named.graph.inputs.map((i) => i.name)).toEqual([name]);
    }
  });

  it("an op_type named like an Object member is an unsupported operator, named in the error", () => {
    for (const op of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
      const bytes = model({
        inputs: [info("x", [1, 3])],
        outputs: [info("y", [1, 3])],
        nodes: [node(op, ["x"], ["y"], [], "odd")],
      });
      let caught: unknown = null;
      try {
        importOnnx(bytes, { source: "odd.onnx" });
      } catch (e) {
        caught = e;
      }
      expect(caught, op).toBeInstanceOf(FormatError);
      expect((caught as Error).message).toContain(`operators convkit does not support: ${op} (node "odd")`);
    }
  });

  it("symbolic dims named like Object members take their size from `dims`, or are named as missing", () => {
    for (const dim of ["__proto__", "constructor", "toString"]) {
      const bytes = model({
        inputs: [info("x", ["N", 2, dim])],
        outputs: [info("y", null)],
        nodes: [node("Relu", ["x"], ["y"], [], "relu")],
      });
      expect(() => importOnnx(bytes, { dims: {} }), dim).toThrow(ArgumentError);
      expect(() => importOnnx(bytes, { dims: {} }), dim).toThrow(`symbolic input dimension(s) "${dim}"`);
      const dims = Object.fromEntries([[dim, 7]]);
      expect(importOnnx(bytes, { dims }).graph.inputs[0].shape, dim).toEqual(["N", 2, 7]);
    }
  });

  it("inputShapes is looked up by own keys: an input named constructor is not given a shape by Object", () => {
    const bytes = model({
      inputs: [info("constructor", ["N", 2, 3])],
      outputs: [info("y", null)],
      nodes: [node("Relu", ["constructor"], ["y"], [], "relu")],
    });
    expect(importOnnx(bytes, { inputShapes: {} }).graph.inputs[0].shape).toEqual(["N", 2, 3]);
    const inputShapes = Object.fromEntries([["constructor", [4, 2, 3]]]);
    expect(importOnnx(bytes, { inputShapes }).graph.inputs[0].shape).toEqual(["N", 2, 3]);
  });

  it("metadata_props and external_data keys are ordinary keys", () => {
    const plain = graphModel({
      inputs: [info("x", [1, 3])],
      outputs: [info("y", [1, 3])],
      nodes: [node("Add", ["x", "c"], ["y"], [], "add")],
      inits: [
        {
          name: "c",
          dims: [1, 3],
          data_type: 1,
          external_data: [
            { key: "__proto__", value: "p" },
            { key: "location", value: "c.bin" },
          ],
        },
      ],
    }) as Plain;
    plain.metadata_props = SPECIAL_NAMES.map((key) => ({ key, value: `v-${key}` }));
    const decoded = decodeModel(encode(plain));
    expect(Object.entries(decoded.metadata)).toEqual(SPECIAL_NAMES.map((k) => [k, `v-${k}`]));
    expect(Object.getPrototypeOf(decoded.metadata)).toBe(Object.prototype);
    expect(Object.entries(decoded.graph.initializers[0].externalData)).toEqual([
      ["__proto__", "p"],
      ["location", "c.bin"],
    ]);
    // A tensor whose only external_data key is "__proto__" is still recognised as stored elsewhere.
    const onlyProto = structuredClone(plain) as { graph: { initializer: { external_data: unknown[] }[] } };
    onlyProto.graph.initializer[0].external_data = [{ key: "__proto__", value: "p" }];
    expect(() => importOnnx(encode(onlyProto as Plain))).toThrow(/stored outside the model file/);
  });
});
