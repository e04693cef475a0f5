import { describe, expect, it } from "vitest";
import { serializeGraph } from "../../src/graph/serialize.js";
import { parseRuleSpec, resolveOptions } from "../../src/rewrite/options.js";
import { getRule } from "../../src/rewrite/registry.js";
import { GraphEdit } from "../../src/rewrite/surgery.js";
import { convAttrs } from "../../src/rewrite/units.js";
import { ArgumentError, FormatError } from "../../src/tensor/errors.js";
import { chain } from "./helpers.js";

describe("GraphEdit: graph surgery", () => {
  it("replaces a node by a subgraph: names under its scope, order kept, readers rewired, params swapped", () => {
    const { graph, weights } = chain([
      { out: 4, k: 3 },
      { out: 6, k: 3 },
    ]);
    const before = serializeGraph(graph);
    const edit = new GraphEdit(graph, weights, { seed: 1 });
    const conv = edit.node("body.conv2");
    const x = conv.inputs[0];
    edit.at(conv.name, "before");
    const scope = conv.name;
    const [a] = edit.add("conv2d", [x], convAttrs({ inChannels: 4, outChannels: 5, kernelSize: [1, 1] }), {
      name: edit.fresh(scope, "a"),
      scope,
    });
    const [b] = edit.add(
      "conv2d",
      [a],
      convAttrs({ inChannels: 5, outChannels: 6, kernelSize: [3, 3], padding: [1, 1, 1, 1] }),
      {
        name: edit.fresh(scope, "b"),
        scope,
        data: { weight: new Float32Array(6 * 5 * 9).fill(0.5) },
      },
    );
    edit.remove(conv.name);
    edit.rewire(conv.outputs[0], b);
    const out = edit.finish();
    expect(out.graph.nodes.map((n) => n.name)).toEqual([
      "body.conv1",
      "body.bn1",
      "body.relu1",
      "body.conv2.a",
      "body.conv2.b",
      "body.bn2",
      "body.relu2",
      "avgpool",
      "flatten",
      "fc",
    ]);
    expect(out.graph.nodes.find((n) => n.name === "body.bn2")!.inputs).toEqual(["body.conv2.b"]);
    expect(out.graph.params["body.conv2.weight"]).toBeUndefined();
    expect(out.weights!.has("body.conv2.weight")).toBe(false);
    expect(out.weights!.get("body.conv2.b.weight")!.every((v) => v === 0.5)).toBe(true);
    expect(out.graph.params["body.conv2.a.bias"]).toEqual({ shape: [5], kind: "parameter" });
    // The input graph and its weights are untouched; untouched arrays are shared, not copied.
    expect(serializeGraph(graph)).toBe(before);
    expect(weights.has("body.conv2.weight")).toBe(true);
    expect(out.weights!.get("body.conv1.weight")).toBe(weights.get("body.conv1.weight"));
  });

  it("fresh() suffixes taken names; add() refuses a used name and a mistaken shape, naming the node", () => {
    const { graph, weights } = chain([{ out: 4, k: 3 }]);
    const edit = new GraphEdit(graph, weights);
    expect(edit.fresh("body", "conv1")).toBe("body.conv1_2");
    expect(edit.fresh("body", "new")).toBe("body.new");
    expect(edit.fresh("", "fc")).toBe("fc_2");
    expect(() => edit.add("relu", ["body.conv1"], {}, { name: "body.bn1", scope: "body" })).toThrow(
      /already used/,
    );
    expect(() =>
      edit.add("conv2d", ["x"], convAttrs({ inChannels: 7, outChannels: 2, kernelSize: [1, 1] }), {
        name: "body.z",
        scope: "body",
      }),
    ).toThrow(/conv2d node "body.z".*input channels: expected 7/);
  });

  it("update() re-declares parameter shapes from new attrs; structural edits make no numbers", () => {
    const { graph, weights } = chain([
      { out: 4, k: 3 },
      { out: 6, k: 3 },
    ]);
    const edit = new GraphEdit(graph, weights);
    const c = edit.node("body.conv2");
    if (c.op !== "conv2d") throw new Error("conv expected");
    edit.update<"conv2d">(c.name, { ...c.attrs, groups: 2 }, { weight: new Float32Array(6 * 2 * 9) });
    const out = edit.finish();
    expect(out.graph.params["body.conv2.weight"].shape).toEqual([6, 2, 3, 3]);
    const bare = new GraphEdit(graph, null);
    bare.at("body.conv1", "after");
    bare.add("conv2d", ["body.conv1"], convAttrs({ inChannels: 4, outChannels: 4, kernelSize: [1, 1] }), {
      name: "body.extra",
      scope: "body",
    });
    bare.rewire("body.conv1", "body.extra", { only: ["body.bn1"] });
    const structural = bare.finish();
    expect(structural.weights).toBeNull();
    expect(structural.graph.params["body.extra.weight"].shape).toEqual([4, 4, 1, 1]);
  });

  it("finish() validates: a dangling reader is a FormatError naming the node", () => {
    const { graph, weights } = chain([{ out: 4, k: 3 }]);
    const edit = new GraphEdit(graph, weights);
    edit.remove("body.bn1");
    expect(() => edit.finish()).toThrow(FormatError);
    expect(() => edit.finish()).toThrow(/body.relu1.*input "body.bn1" is not produced/);
  });
});

describe("rule options and specs", () => {
  it("fills defaults, coerces command-line strings and rejects unknown or malformed options", () => {
    const sep = getRule("separable");
    expect(resolveOptions(sep)).toEqual({ depthMultiplier: 1 });
    expect(resolveOptions(sep, { depthMultiplier: "3" })).toEqual({ depthMultiplier: 3 });
    expect(() => resolveOptions(sep, { depthMultiplier: "1.5" })).toThrow(
      /option depthMultiplier: expected an integer, got "1.5"/,
    );
    expect(() => resolveOptions(sep, { depthMultiplier: 0 })).toThrow(
      /option depthMultiplier: expected an integer >= 1, got 0/,
    );
    expect(() => resolveOptions(sep, { multiplier: 2 })).toThrow(ArgumentError);
    expect(() => resolveOptions(sep, { multiplier: 2 })).toThrow(
      /unknown option "multiplier" \(options: depthMultiplier\)/,
    );
    const ms = getRule("multi-size");
    expect(resolveOptions(ms, { sizes: "1/3/5/7", activation: "none" })).toMatchObject({
      sizes: [1, 3, 5, 7],
      activation: "none",
    });
    expect(() => resolveOptions(ms, { activation: "gelu" })).toThrow(/one of relu, none, got "gelu"/);
    expect(resolveOptions(getRule("se"), { gateBias: "auto" })).toMatchObject({ gateBias: null });
    expect(resolveOptions(getRule("stack-small"), { batchNorm: "true" })).toMatchObject({ batchNorm: true });
    expect(() => resolveOptions(getRule("dilate"), { x: 1 })).toThrow(/it takes no options/);
  });

  it("parses name:key=value,key=value specs", () => {
    expect(parseRuleSpec("se")).toEqual({ rule: "se", options: {} });
    expect(parseRuleSpec(" group:groups=4 ")).toEqual({ rule: "group", options: { groups: "4" } });
    expect(parseRuleSpec("multi-size:sizes=1/3,reduction=4")).toEqual({
      rule: "multi-size",
      options: { sizes: "1/3", reduction: "4" },
    });
    expect(() => parseRuleSpec("se:")).toThrow(/expected key=value/);
    expect(() => parseRuleSpec("se:reduction")).toThrow(/expected key=value, got "reduction"/);
    expect(() => parseRuleSpec("se:a=1,a=2")).toThrow(/given twice/);
    expect(() => getRule("sepparable")).toThrow(/unknown rule "sepparable" \(rules: stack-small, asymmetric/);
  });
});
