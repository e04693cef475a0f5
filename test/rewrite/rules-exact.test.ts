import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { randn } from "../../src/autograd/factories.js";
import { deformableConv } from "../../src/blocks/deformable.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { GraphModel } from "../../src/graph/executor.js";
import { compareValues } from "../../src/rewrite/measure.js";
import { applyRule } from "../../src/rewrite/rewrite.js";
import { Rng } from "../../src/tensor/rng.js";
import { chain, expectRunsAndTrains, randomizeNorms, weightOf, worstSiteError } from "./helpers.js";

/** Rules whose weight carry-over is exact: the rewritten network computes the old function (float error). */

const params = (g: Parameters<typeof analyze>[0]) => analyze(g).totals.params;

describe("deformable: conv -> DCN with zero offsets (exact)", () => {
  const net = () =>
    chain([
      { out: 6, k: 3 },
      { out: 8, k: [3, 5] },
      { out: 4, k: 1 },
    ]);

  it("v1: same outputs, the main weight keeps its name and values, offsets start at zero", () => {
    const { graph, weights } = net();
    const r = applyRule(graph, weights, "deformable");
    expect(r.sites.map((s) => s.node)).toEqual(["body.conv1", "body.conv2"]);
    expect(worstSiteError(r)).toBeLessThan(1e-5);
    expect(r.outputError!.maxRel).toBeLessThan(1e-5);
    expect(r.sites.every((s) => s.carry === "exact")).toBe(true);
    const main = r.graph.nodes.find((n) => n.name === "body.conv2.deform_conv")!;
    expect(main.op).toBe("deformConv2d");
    expect(main.params).toEqual({ weight: "body.conv2.weight" });
    expect(r.weights!.get("body.conv2.weight")).toEqual(weights.get("body.conv2.weight"));
    expect(r.weights!.get("body.conv2.conv_offset.weight")!.every((v) => v === 0)).toBe(true);
    // Offset conv: 2*kH*kW outputs over Cin with the main kernel, plus its bias.
    const extra = 2 * 9 * (3 * 9 + 1) + 2 * 15 * (6 * 15 + 1);
    expect(params(r.graph) - params(graph)).toBe(extra);
    expectRunsAndTrains(r.graph, r.weights!);
  });

  it("v2: mask = 2*sigmoid(0) = 1 keeps it exact; the layout is the deformableConv block's", () => {
    const { graph, weights } = net();
    const r = applyRule(graph, weights, {
      rule: "deformable",
      options: { version: 2, offsetGroups: 3 },
      where: "name=body.conv1",
    });
    expect(worstSiteError(r)).toBeLessThan(1e-5);
    expect(r.outputError!.maxRel).toBeLessThan(1e-5);
    expectRunsAndTrains(r.graph, r.weights!);
    // The same layer built by the block: same local node names, ops and parameter shapes.
    const b = new GraphBuilder("block", { seed: 0 });
    const x = b.input("x", [3, 8, 8]);
    b.output(
      b.scope("body", () =>
        deformableConv(b, x, {
          name: "conv1",
          outChannels: 6,
          kernelSize: 3,
          modulated: true,
          offsetGroups: 3,
          bias: false,
        }),
      ),
    );
    const block = b.build().graph;
    const layout = (g: typeof block) =>
      g.nodes
        .filter((n) => n.scope === "body.conv1")
        .map((n) => [
          n.name,
          n.op,
          ...Object.values(n.params).map((p) => `${p}:${g.params[p as string].shape}`),
        ]);
    expect(layout(r.graph)).toEqual(layout(block));
  });

  it("refuses 1x1 convs and offset groups that do not divide the channels, naming the node", () => {
    const { graph, weights } = net();
    const r = applyRule(graph, weights, {
      rule: "deformable",
      where: "op=conv2d",
      options: { offsetGroups: 2 },
    });
    expect(r.refusals.map((f) => f.reason)).toEqual([
      "body.conv1: deformable needs offsetGroups dividing the input channels 3, got 2",
      "body.conv3: deformable needs a kernel larger than 1x1 (a 1x1 conv has nothing to deform), got 1x1",
    ]);
    expect(r.sites.map((s) => s.node)).toEqual(["body.conv2"]);
  });
});

describe("se: squeeze-and-excitation starting as an identity", () => {
  it("after conv-bn-relu the batch norm absorbs the constant gate: exact", () => {
    const { graph, weights } = chain([
      { out: 16, k: 3 },
      { out: 8, k: 3 },
    ]);
    const original = { graph: JSON.stringify(graph), bn: Float32Array.from(weights.get("body.bn1.weight")!) };
    const r = applyRule(graph, weights, { rule: "se", options: { reduction: 4 } });
    // A pure function: the input graph and weights are unchanged.
    expect(JSON.stringify(graph)).toBe(original.graph);
    expect(weights.get("body.bn1.weight")).toEqual(original.bn);
    expect(r.sites.every((s) => s.carry === "exact")).toBe(true);
    expect(worstSiteError(r)).toBeLessThan(1e-5);
    expect(r.outputError!.maxRel).toBeLessThan(1e-5);
    expect(r.sites[0].detail).toMatch(/body.bn1 scaled by 2.00/);
    const bn = (w: typeof weights) => w.get("body.bn1.weight")!;
    expect(bn(r.weights!)[0]).toBeCloseTo(2 * bn(weights)[0], 6);
    // Params: fc1 C*C/r + C/r, fc2 C/r*C + C per SE.
    const se = (c: number, s: number) => 2 * c * s + s + c;
    expect(params(r.graph) - params(graph)).toBe(se(16, 4) + se(8, 2));
    expect(r.graph.scopes?.["body.se"]?.kind).toBe("squeezeExcite");
    expectRunsAndTrains(r.graph, r.weights!);
  });

  it("without batch norm the conv absorbs it (VGG-style conv-relu): exact", () => {
    const { graph, weights } = chain([{ out: 8, k: 3, bn: false }]);
    const r = applyRule(graph, weights, "se");
    expect(r.sites[0].detail).toMatch(/body.conv1 scaled/);
    expect(worstSiteError(r)).toBeLessThan(1e-5);
  });

  it("where nothing can absorb the gate (relu6) the output is scaled by sigmoid(10): error 1 - sigmoid(10)", () => {
    const { graph, weights } = chain([{ out: 8, k: 3, act: "relu6" }]);
    const r = applyRule(graph, weights, "se");
    expect(r.sites[0].carry).toBe("kept");
    const expected = 1 - 1 / (1 + Math.exp(-10));
    expect(r.sites[0].error!.relL2).toBeCloseTo(expected, 6);
    expect(r.sites[0].error!.relL2).toBeLessThan(5e-5);
    const custom = applyRule(graph, weights, { rule: "se", options: { gateBias: 16 } });
    expect(custom.sites[0].error!.relL2).toBeLessThan(2e-7);
  });
});

describe("residual: a skip with a zero gate (exact)", () => {
  it("same shapes: a zero per-channel gate joined before the last activation", () => {
    const { graph, weights } = chain(
      [
        { out: 6, k: 3 },
        { out: 6, k: 3 },
        { out: 6, k: 3 },
      ],
      { input: [6, 8, 8] },
    );
    const r = applyRule(graph, weights, { rule: "residual", where: "name=body.conv1" });
    expect(worstSiteError(r)).toBeLessThan(1e-5);
    expect(r.outputError!.maxRel).toBeLessThan(1e-5);
    const add = r.graph.nodes.find((n) => n.op === "add")!;
    expect(add.inputs).toEqual(["body.bn2", "body.residual.gate"]);
    expect(r.graph.nodes.find((n) => n.name === "body.relu2")!.inputs).toEqual([add.name]);
    expect(params(r.graph) - params(graph)).toBe(6);
    expectRunsAndTrains(r.graph, r.weights!);
  });

  it("channels and size change: a zero 1x1 projection with the block's stride", () => {
    const { graph, weights } = chain(
      [
        { out: 4, k: 3 },
        { out: 8, k: 3, stride: 2 },
      ],
      { input: [4, 8, 8] },
    );
    const r = applyRule(graph, weights, { rule: "residual", where: "name=body.conv1" });
    expect(worstSiteError(r)).toBeLessThan(1e-5);
    const proj = r.graph.nodes.find((n) => n.name === "body.residual.projection")!;
    expect(proj.op === "conv2d" && proj.attrs.stride).toEqual([2, 2]);
    expect(params(r.graph) - params(graph)).toBe(4 * 8);
    expectRunsAndTrains(r.graph, r.weights!);
  });

  it("skip=identity adds x at once (function changes), and refusals name the node that breaks the chain", () => {
    const { graph, weights } = chain(
      [
        { out: 6, k: 3 },
        { out: 6, k: 3, pool: true },
        { out: 6, k: 3 },
      ],
      { input: [6, 8, 8] },
    );
    const id = applyRule(graph, weights, {
      rule: "residual",
      where: "name=body.conv1",
      options: { skip: "identity" },
    });
    expect(id.sites[0].carry).toBe("kept");
    expect(id.sites[0].error!.relL2).toBeGreaterThan(0.05);
    const r = applyRule(graph, weights, "residual");
    expect(r.sites.map((s) => s.node)).toEqual(["body.conv1"]);
    expect(r.notes).toContain("body.conv2: inside a block made residual above; skipped");
    expect(r.refusals).toEqual([
      {
        node: "body.conv3",
        reason:
          "body.conv3: residual needs a chain of 2 conv units, but unit 1 ends at body.relu3, read by adaptiveAvgPool2d avgpool instead of one conv",
      },
    ]);
  });
});

describe("dense: earlier feature maps concatenated, zero weights (exact)", () => {
  it("conv3 also reads conv1's unit output; the added weight columns are zero", () => {
    const { graph, weights } = chain([
      { out: 4, k: 3 },
      { out: 5, k: 3 },
      { out: 6, k: 3 },
    ]);
    const r = applyRule(graph, weights, "dense");
    expect(r.sites.map((s) => s.node)).toEqual(["body.conv3"]);
    expect(r.refusals.map((f) => f.reason)).toEqual([
      "body.conv1: dense needs an earlier conv unit output of its input size 8x8, found none",
      "body.conv2: dense needs an earlier conv unit output of its input size 8x8, found none",
    ]);
    expect(worstSiteError(r)).toBeLessThan(1e-5);
    expect(r.outputError!.maxRel).toBeLessThan(1e-5);
    const cat = r.graph.nodes.find((n) => n.op === "concat")!;
    expect(cat.inputs).toEqual(["body.relu2", "body.relu1"]);
    expect(params(r.graph) - params(graph)).toBe(6 * 4 * 9);
    expectRunsAndTrains(r.graph, r.weights!);
  });

  it("refuses grouped convs", () => {
    const { graph, weights } = chain([
      { out: 4, k: 3 },
      { out: 4, k: 3 },
      { out: 4, k: 3, groups: 2 },
    ]);
    const r = applyRule(graph, weights, { rule: "dense", where: "name=body.conv3" });
    expect(r.refusals[0].reason).toBe(
      "body.conv3: dense needs groups=1 (added channels would cross groups), got 2",
    );
  });
});

describe("dilate: stride 1 and dilated followers, exact on the stride lattice", () => {
  it("a strided conv: every later map equals the old one at (2i, 2j)", () => {
    const { graph, weights } = chain(
      [
        { out: 4, k: 3 },
        { out: 6, k: 3, stride: 2 },
        { out: 6, k: 3 },
        { out: 5, k: 5, pool: true },
        { out: 4, k: 3 },
      ],
      { input: [3, 16, 16], head: false },
    );
    const r = applyRule(graph, weights, { rule: "dilate", where: "name=body.conv2" });
    expect(r.sites.map((s) => [s.node, s.compare.rate])).toEqual([["body.conv2", [2, 2]]]);
    expect(worstSiteError(r)).toBeLessThan(1e-5);
    const node = (name: string) => r.graph.nodes.find((n) => n.name === name)!;
    const c4 = node("body.conv4");
    expect(c4.op === "conv2d" && [c4.attrs.dilation, c4.attrs.padding]).toEqual([
      [2, 2],
      [4, 4, 4, 4],
    ]);
    const pool = node("body.pool4");
    expect(pool.op === "maxPool2d" && pool.attrs.dilation).toEqual([2, 2]);
    // Whole model: the final map (after a 2x2 pool of stride 2, kept, now dilated) is 2x denser, equal on the lattice.
    const x = randn([2, 3, 16, 16], { rng: new Rng(4) });
    const before = new GraphModel(graph, weights).forward(x);
    const after = new GraphModel(r.graph, r.weights!).forward(x);
    // 16x16 dense map, dilated 2x2 pool of stride 2: 7x7 points, those at even positions being the old 4x4.
    expect(after.shape).toEqual([2, 4, 7, 7]);
    expect(compareValues(after, before, [2, 2]).maxRel).toBeLessThan(1e-5);
    // MACs of the layers after the removed stride grow with their map: 4x (8x8 -> 16x16), then 49/16 (4x4 -> 7x7).
    const a0 = analyze(graph);
    const a1 = analyze(r.graph);
    const macs = (a: typeof a0, n: string) => a.layers.find((l) => l.name === n)!.macs;
    for (const n of ["body.conv2", "body.conv3", "body.conv4"]) expect(macs(a1, n)).toBe(4 * macs(a0, n));
    expect(macs(a1, "body.conv5") * 16).toBe(49 * macs(a0, "body.conv5"));
    expect(a1.receptiveField!.size).toEqual(a0.receptiveField!.size);
    expectRunsAndTrains(r.graph, r.weights!);
  });

  it("a 2x2 pool of stride 2 gets stride 1 and padding after: exact on the lattice", () => {
    const { graph, weights } = chain(
      [
        { out: 4, k: 3, pool: true },
        { out: 6, k: 3 },
      ],
      { input: [3, 8, 8], head: false },
    );
    const r = applyRule(graph, weights, "dilate");
    const pool = r.graph.nodes.find((n) => n.name === "body.pool1")!;
    expect(pool.op === "maxPool2d" && [pool.attrs.stride, pool.attrs.padding]).toEqual([
      [1, 1],
      [0, 0, 1, 1],
    ]);
    expect(worstSiteError(r)).toBeLessThan(1e-5);
  });

  it("refuses when a denser map would reach flatten, or a join would mix densities", () => {
    const b = new GraphBuilder("flat", { seed: 0 });
    const x = b.input("x", [3, 8, 8]);
    const y = b.conv2d(x, { outChannels: 4, kernelSize: 3, stride: 2, padding: 1, name: "down" });
    b.output(b.linear(b.flatten(b.relu(y)), { outFeatures: 3, name: "fc" }));
    const flat = b.build();
    const r = applyRule(flat.graph, flat.weights, "dilate");
    expect(r.sites).toEqual([]);
    expect(r.refusals[0].reason).toBe(
      "down: dilate: flatten node flatten1 would read a map 2x2 times denser (it needs the original size; stop before it, e.g. at a global pool)",
    );
    const j = new GraphBuilder("join", { seed: 0 });
    const i = j.input("x", [4, 8, 8]);
    const main = j.conv2d(i, { outChannels: 4, kernelSize: 3, stride: 2, padding: 1, name: "main" });
    const skip = j.conv2d(i, { outChannels: 4, kernelSize: 1, stride: 2, name: "skip" });
    j.output(j.add(main, skip, { name: "join" }));
    const joined = j.build();
    const one = applyRule(joined.graph, joined.weights, { rule: "dilate", where: "name=main" });
    expect(one.refusals[0].reason).toMatch(
      /^main: dilate: add node join would join maps at densities 2x2 and 1x1; select the strided layers/,
    );
    const both = applyRule(joined.graph, joined.weights, "dilate");
    expect(both.sites.map((s) => s.node)).toEqual(["main", "skip"]);
    expect(worstSiteError(both)).toBeLessThan(1e-5);
  });

  it("refuses layers that do not stride", () => {
    const { graph, weights } = chain([{ out: 4, k: 3 }], { head: false });
    const r = applyRule(graph, weights, { rule: "dilate", where: "op=conv2d" });
    expect(r.refusals[0].reason).toBe("body.conv1: dilate needs a strided layer (stride>1), got stride 1x1");
  });
});

describe("bottleneck with an identity 1x1 (exact when channels allow)", () => {
  it("channels = Cin: identity reduction, old kernel; exact", () => {
    const { graph, weights } = chain([
      { out: 6, k: 3 },
      { out: 8, k: 3 },
    ]);
    const r = applyRule(graph, weights, {
      rule: "bottleneck",
      options: { channels: 6 },
      where: "name=body.conv2",
    });
    expect(r.sites[0].carry).toBe("exact");
    expect(worstSiteError(r)).toBeLessThan(1e-5);
    expect(weightOf(r.graph, r.weights!, "body.conv2.conv")).toEqual(weights.get("body.conv2.weight"));
    expect(params(r.graph) - params(graph)).toBe(36);
    expectRunsAndTrains(r.graph, r.weights!);
  });
});

describe("shuffle: channel shuffle after a grouped conv", () => {
  const net = (groups2: number) => {
    const { graph, weights } = chain([
      { out: 8, k: 3 },
      { out: 8, k: 1, groups: 4 },
      { out: 6, k: 3, groups: groups2 },
    ]);
    return { graph, weights: randomizeNorms(graph, weights, 11) };
  };

  it("into a full conv: the permutation is absorbed by the conv (and the bn on the way): exact", () => {
    const { graph, weights } = net(1);
    const r = applyRule(graph, weights, "shuffle");
    expect(r.sites.map((s) => s.node)).toEqual(["body.conv2"]);
    expect(r.sites[0].carry).toBe("exact");
    expect(worstSiteError(r)).toBeLessThan(1e-5);
    expect(r.outputError!.maxRel).toBeLessThan(1e-5);
    const s = r.graph.nodes.find((n) => n.op === "channelShuffle")!;
    expect(s.inputs).toEqual(["body.relu2"]);
    expect(s.op === "channelShuffle" && s.attrs.groups).toBe(4);
    expectRunsAndTrains(r.graph, r.weights!);
  });

  it("into a grouped conv: weights kept, the function changes (groups now mix)", () => {
    const { graph, weights } = net(2);
    const r = applyRule(graph, weights, "shuffle");
    expect(r.sites[0].carry).toBe("kept");
    expect(r.sites[0].error!.relL2).toBeGreaterThan(1e-2);
    expect(params(r.graph)).toBe(params(graph));
    expectRunsAndTrains(r.graph, r.weights!);
  });

  it("refuses ungrouped convs and outputs that reach a join", () => {
    const { graph, weights } = net(1);
    const r = applyRule(graph, weights, { rule: "shuffle", where: "name=body.conv1" });
    expect(r.refusals[0].reason).toBe(
      "body.conv1: shuffle needs a grouped conv (groups>=2) or the groups option, got groups=1",
    );
    const b = new GraphBuilder("j", { seed: 0 });
    const x = b.input("x", [4, 6, 6]);
    const g = b.conv2d(x, { outChannels: 4, kernelSize: 1, groups: 2, name: "g" });
    b.output(b.add(g, x, { name: "join" }));
    const j = b.build();
    const rj = applyRule(j.graph, j.weights, "shuffle");
    expect(rj.refusals[0].reason).toBe(
      "g: shuffle needs the shuffled channels to reach convs only, got add node join (it would mix shuffled and unshuffled channels)",
    );
  });
});
