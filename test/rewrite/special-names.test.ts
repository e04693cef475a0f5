import { describe, expect, it } from "vitest";
import { Tensor } from "../../src/autograd/tensor.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import type { Graph, Weights } from "../../src/graph/types.js";
import { extractRegion, makeSamples, runAll } from "../../src/rewrite/measure.js";
import { parseRuleSpec, resolveOptions } from "../../src/rewrite/options.js";
import { getRule } from "../../src/rewrite/registry.js";
import { applyRule } from "../../src/rewrite/rewrite.js";
import { GraphEdit } from "../../src/rewrite/surgery.js";
import { ArgumentError } from "../../src/tensor/errors.js";
import {
  plainName,
  runOutputs,
  SPECIAL_NAMES,
  type SpecialName,
  specialInput,
} from "../helpers/special-names.js";

// Rewrites keep the graph's names, and rule options come from a command line: names such as "__proto__" or
// "constructor" are ordinary names there too.

/**
 * input "constructor" -> conv "toString" (weight "__proto__", bias "valueOf") -> relu -> conv "isPrototypeOf"
 * (bias "hasOwnProperty") -> output; or the same with ordinary names.
 */
function net(special: boolean): { graph: Graph; weights: Weights } {
  const n = (name: SpecialName) => (special ? name : plainName(name));
  const conv = (inChannels: number, outChannels: number) => ({
    inChannels,
    outChannels,
    kernelSize: [3, 3] as [number, number],
    stride: [1, 1] as [number, number],
    padding: [1, 1, 1, 1] as [number, number, number, number],
    dilation: [1, 1] as [number, number],
    groups: 1,
    bias: true,
  });
  const b = new GraphBuilder("net", { seed: 4 });
  const x = b.input(n("constructor"), [2, 5, 5]);
  const c = b.node("conv2d", [x], conv(2, 4), {
    name: n("toString"),
    params: { weight: { name: n("__proto__") }, bias: { name: n("valueOf") } },
  })[0];
  const r = b.relu(c, { name: n("toLocaleString") });
  b.output(
    b.node("conv2d", [r], conv(4, 3), {
      name: n("isPrototypeOf"),
      params: { bias: { name: n("hasOwnProperty") } },
    })[0],
  );
  return b.build();
}

describe("rewrite: names that JavaScript objects treat specially are ordinary names", () => {
  it("a rule rewrites a graph with a parameter named __proto__ as it does the twin with ordinary names", () => {
    const special = net(true);
    const plain = net(false);
    const a = applyRule(special.graph, special.weights, { rule: "separable", where: "name=isPrototypeOf" });
    const b = applyRule(plain.graph, plain.weights, {
      rule: "separable",
      where: `name=${plainName("isPrototypeOf")}`,
    });
    expect(a.sites.map((s) => s.node)).toEqual(["isPrototypeOf"]);
    expect(Object.keys(a.graph.params)).toEqual(
      Object.keys(b.graph.params).map((p) => p.replace(/name(\d+)/g, (_, i) => SPECIAL_NAMES[Number(i)])),
    );
    expect(Object.hasOwn(a.graph.params, "__proto__")).toBe(true);
    expect(Array.from(a.weights!.get("__proto__")!)).toEqual(Array.from(special.weights.get("__proto__")!));
    const input = specialInput();
    const got = runOutputs(a.graph, a.weights!, input);
    const want = runOutputs(b.graph, b.weights!, input);
    expect(got.map(([, v]) => v)).toEqual(want.map(([, v]) => v));
    expect(a.outputError).toEqual(b.outputError);
  });

  it("GraphEdit finds only the graph's own parameters, and keeps one named __proto__", () => {
    const { graph, weights } = net(true);
    const edit = new GraphEdit(graph, weights);
    expect(edit.paramShape("__proto__")).toEqual([4, 2, 3, 3]);
    for (const missing of ["constructor", "toString", "hasOwnProperty.x"]) {
      expect(() => edit.paramShape(missing), missing).toThrow(`no parameter "${missing}"`);
    }
    expect(() => edit.setParam("constructor", Float32Array.of(1))).toThrow('no parameter "constructor"');
    expect(edit.fresh("", "constructor")).toBe("constructor_2"); // taken: the graph input's name
    expect(edit.fresh("", "propertyIsEnumerable")).toBe("propertyIsEnumerable");
    const out = edit.finish();
    expect(Object.keys(out.graph.params)).toEqual(Object.keys(graph.params));
    expect(out.graph).toEqual(graph);
  });

  it("regions and sample inputs keep parameters and inputs named like Object members", () => {
    const { graph, weights } = net(true);
    const region = extractRegion(
      graph,
      weights,
      [{ name: "toLocaleString", shape: [1, 4, 5, 5] }],
      ["isPrototypeOf"],
    );
    expect(Object.keys(region.graph.params).sort()).toEqual(["hasOwnProperty", "isPrototypeOf.weight"]);
    const first = extractRegion(graph, weights, [{ name: "constructor", shape: [1, 2, 5, 5] }], ["toString"]);
    expect(Object.keys(first.graph.params)).toEqual(["__proto__", "valueOf"]);

    const b = new GraphBuilder("two", { seed: 1 });
    b.output(b.add(b.input("__proto__", [3]), b.input("constructor", [3]), { name: "toString" }));
    const two = b.build();
    const samples = makeSamples(two.graph, two.weights, { batch: 2, seed: 3 });
    expect(Object.keys(samples.inputs)).toEqual(["__proto__", "constructor"]);
    const values = samples.values();
    const [p, c] = [values.get("__proto__")!, values.get("constructor")!];
    expect(p).toBeInstanceOf(Tensor);
    expect(Array.from(values.get("toString")!.data)).toEqual(
      Array.from(p.data, (v, i) => Math.fround(v + c.data[i])),
    );
    expect(runAll(two.graph, two.weights, samples.inputs).get("toString")!.shape).toEqual([2, 3]);
  });

  it("rule options named like Object members are unknown options, named in the error", () => {
    const rule = getRule("group");
    for (const key of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
      const spec = parseRuleSpec(`group:${key}=2`);
      expect(Object.keys(spec.options), key).toEqual([key]);
      expect(() => resolveOptions(rule, spec.options), key).toThrow(ArgumentError);
      expect(() => resolveOptions(rule, spec.options), key).toThrow(`rule "group": unknown option "${key}"`);
    }
    expect(() => parseRuleSpec("group:__proto__=2,__proto__=3")).toThrow('option "__proto__" given twice');
  });
});
