import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { noGrad } from "../../src/autograd/gradmode.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { GraphModel } from "../../src/graph/executor.js";
import {
  loadModel,
  parseGraph,
  saveModel,
  serializeGraph,
  weightsFromBytes,
  weightsToSafetensors,
} from "../../src/graph/serialize.js";
import type { Graph } from "../../src/graph/types.js";
import { inferShapes, validateGraph } from "../../src/graph/validate.js";
import { serializeSafetensors } from "../../src/io/safetensors.js";
import { FormatError } from "../../src/tensor/errors.js";
import {
  asPlain,
  plainName,
  runOutputs,
  SPECIAL_NAMES,
  type SpecialName,
  specialInput,
  specialNet,
} from "../helpers/special-names.js";

// Names such as "__proto__" or "constructor" come from files, command lines and users' layer names; used as
// keys of plain objects they used to vanish ("__proto__" set the prototype) or be found on Object.prototype.

const dir = mkdtempSync(join(tmpdir(), "convkit-special-names-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("graph: names that JavaScript objects treat specially are ordinary names", () => {
  it("the builder declares, initialises and shares parameters under them", () => {
    const { graph, weights } = specialNet(true);
    const plain = specialNet(false);
    const params = Object.keys(graph.params);
    expect(params).toEqual(
      Object.keys(plain.graph.params).map((p) =>
        p.replace(/^name\d+/, (m) => SPECIAL_NAMES[Number(m.slice(4))]),
      ),
    );
    for (const name of [
      "hasOwnProperty",
      "isPrototypeOf",
      "toLocaleString",
      "__defineGetter__",
      "valueOf",
    ] as const) {
      expect(Object.hasOwn(graph.params, name), name).toBe(true);
      expect(graph.params[name], name).toEqual(plain.graph.params[plainName(name)]);
      expect(Array.from(weights.get(name)!), name).toEqual(Array.from(plain.weights.get(plainName(name))!));
    }
    expect(Object.keys(graph.scopes ?? {})).toEqual(["toString"]);
    expect(Object.getPrototypeOf(graph.params)).toBe(Object.prototype);

    // Sharing by name: a second node naming "__proto__" (or "constructor") reuses the first one's parameter.
    for (const shared of ["__proto__", "constructor", "toString"]) {
      const b = new GraphBuilder("tied", { seed: 1 });
      const x = b.input("x", [3]);
      const spec = { params: { weight: { name: shared }, bias: { name: `${shared}.bias` } } };
      const y = b.node("linear", [x], { inFeatures: 3, outFeatures: 3, bias: true }, spec)[0];
      b.output(b.node("linear", [y], { inFeatures: 3, outFeatures: 3, bias: true }, spec)[0]);
      const built = b.build();
      expect(Object.keys(built.graph.params), shared).toEqual([shared, `${shared}.bias`]);
      expect(built.graph.nodes.map((node) => (node.params as { weight?: string }).weight)).toEqual([
        shared,
        shared,
      ]);
    }
  });

  it("the builder refuses a shared parameter of the wrong shape naming it, not with a TypeError", () => {
    const b = new GraphBuilder("tied", { seed: 1 });
    const x = b.input("x", [3]);
    const y = b.node(
      "linear",
      [x],
      { inFeatures: 3, outFeatures: 4, bias: false },
      { params: { weight: { name: "valueOf" } } },
    )[0];
    expect(() =>
      b.node(
        "linear",
        [y],
        { inFeatures: 4, outFeatures: 2, bias: false },
        { params: { weight: { name: "constructor" } } },
      ),
    ).not.toThrow();
    expect(() =>
      b.node(
        "linear",
        [y],
        { inFeatures: 4, outFeatures: 2, bias: false },
        { params: { weight: { name: "valueOf" } } },
      ),
    ).toThrow(/shared parameter "valueOf"/);
  });

  it("the executor returns every output under its name and computes what the twin with ordinary names does", () => {
    const { graph, weights } = specialNet(true);
    const plain = specialNet(false);
    const got = runOutputs(graph, weights, specialInput());
    expect(got.map(([name]) => name)).toEqual(["__proto__", "__lookupGetter__"]);
    expect(asPlain(got)).toEqual(runOutputs(plain.graph, plain.weights, specialInput()));

    const model = new GraphModel(graph, weights).eval();
    const out = noGrad(() => model.forwardOutputs(specialInput()));
    expect(Object.keys(out)).toEqual(["__proto__", "__lookupGetter__"]);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(out.__lookupGetter__).toBeInstanceOf(Tensor);
  });

  it("a graph whose single output is named __proto__ forwards it", () => {
    const b = new GraphBuilder("one", { seed: 2 });
    const x = b.input("constructor", [3]);
    b.output(b.linear(x, { outFeatures: 2, name: "__proto__" }));
    const { graph, weights } = b.build();
    const model = new GraphModel(graph, weights);
    const input = new Tensor(Float32Array.of(1, 2, 3), [1, 3]);
    const out = noGrad(() => model.forwardOutputs(input));
    expect(Object.keys(out)).toEqual(["__proto__"]);
    expect(Array.from(noGrad(() => model.forward(input)).data)).toEqual(
      Array.from(out[graph.outputs[0]].data),
    );
  });

  it("the executor names a missing input instead of reading Object.prototype", () => {
    const { graph, weights } = specialNet(true);
    const model = new GraphModel(graph, weights);
    expect(() => model.forwardOutputs({})).toThrow(/input "constructor": expected a Tensor, got undefined/);
  });

  it("survives saveModel / loadModel: graph JSON and safetensors", async () => {
    const { graph, weights } = specialNet(true);
    const path = join(dir, "special");
    await saveModel(path, graph, weights);
    const back = await loadModel(path);
    expect(serializeGraph(back.graph)).toBe(serializeGraph(graph));
    expect(back.graph).toEqual(graph);
    expect([...back.weights.keys()]).toEqual([...weights.keys()]);
    for (const [name, data] of weights)
      expect(Array.from(back.weights.get(name)!), name).toEqual(Array.from(data));
    expect(runOutputs(back.graph, back.weights, specialInput())).toEqual(
      runOutputs(graph, weights, specialInput()),
    );
  });

  it("inferShapes looks up dims and input shapes by name, not on Object.prototype", () => {
    const b = new GraphBuilder("sym", { batchSymbol: "constructor" });
    const x = b.input("toString", [3, 4, 4]);
    b.output(b.relu(x, { name: "valueOf" }));
    const { graph } = b.build();
    expect(inferShapes(graph, { dims: {}, inputShapes: {} }).get("valueOf")).toEqual([1, 3, 4, 4]);
    expect(inferShapes(graph, { dims: { constructor: 5 } }).get("valueOf")).toEqual([5, 3, 4, 4]);
    const byName = Object.fromEntries([["toString", [2, 3, 4, 4]]]);
    expect(inferShapes(graph, { inputShapes: byName }).get("valueOf")).toEqual([2, 3, 4, 4]);
  });

  it("validation finds only declared parameters: an undeclared one named constructor is an error naming it", () => {
    const { graph } = specialNet(false);
    for (const name of ["constructor", "toString", "__proto__"] as const) {
      const broken = structuredClone(graph) as Graph;
      const conv = broken.nodes.find((node) => node.op === "conv2d")!;
      const old = (conv.params as { weight: string }).weight;
      (conv.params as { weight: string }).weight = name;
      delete broken.params[old];
      expect(() => parseGraph(JSON.stringify(broken), "broken.json"), name).toThrow(
        new RegExp(`parameter "${name.replace(/\W/g, "\\$&")}" is not declared in graph.params`),
      );
    }
  });

  it("validation refuses a parameter role that the op does not have, even one named like an Object member", () => {
    const { graph } = specialNet(false);
    const broken = structuredClone(graph) as Graph;
    const relu = broken.nodes.find((node) => node.op === "relu")!;
    Object.assign(relu.params, Object.fromEntries([["constructor", plainName("valueOf")]]));
    expect(() => validateGraph(broken)).toThrow(FormatError);
    expect(() => validateGraph(broken)).toThrow(/params\.constructor: not used by this op/);
  });

  it("weights named like Object members that are not parameters of the graph are refused", () => {
    const { graph, weights } = specialNet(false);
    for (const extra of ["constructor", "toString", "__proto__"] as const) {
      const more = new Map(weights).set(extra, Float32Array.of(1));
      expect(() => validateGraph(graph, more), extra).toThrow(
        `weights: "${extra}" is not a parameter of the graph`,
      );
      const tensors = [...more].map(([name, data]): [string, { shape: number[]; data: Float32Array }] => [
        name,
        { shape: name === extra ? [1] : graph.params[name].shape, data },
      ]);
      const bytes = serializeSafetensors(tensors);
      expect(() => weightsFromBytes(graph, bytes, "extra.safetensors"), extra).toThrow(
        `tensor "${extra}" is not a parameter of the graph`,
      );
      expect([...weightsFromBytes(graph, bytes, "extra.safetensors", false).keys()]).toEqual([
        ...weights.keys(),
      ]);
    }
  });

  it("weightsToSafetensors and weightsFromBytes keep every special parameter name", () => {
    const { graph, weights } = specialNet(true);
    const back = weightsFromBytes(graph, weightsToSafetensors(graph, weights));
    expect([...back.keys()].sort()).toEqual([...weights.keys()].sort());
    const specials = [...back.keys()].filter((k) => (SPECIAL_NAMES as readonly string[]).includes(k));
    expect(specials.sort()).toEqual(
      (
        ["hasOwnProperty", "isPrototypeOf", "toLocaleString", "__defineGetter__", "valueOf"] as SpecialName[]
      ).sort(),
    );
  });
});
