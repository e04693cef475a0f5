import { beforeAll, describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { parseGraph, serializeGraph } from "../../src/graph/serialize.js";
import type { Graph } from "../../src/graph/types.js";
import { validateGraph } from "../../src/graph/validate.js";
import { RULES } from "../../src/rewrite/registry.js";
import { applyRule, rewrite } from "../../src/rewrite/rewrite.js";
import { fmnistSmall, fmnistVggLarge } from "../../src/zoo/fmnist.js";
import { resnet18 } from "../../src/zoo/resnet.js";
import { vgg16 } from "../../src/zoo/vgg.js";
import { expectRunsAndTrains, randomizeNorms } from "./helpers.js";

/**
 * Rewriting the zoo: VGG-16 and ResNet-18 at 224 structurally (shape inference and analysis only, no forward),
 * the Fashion-MNIST models with their weights (forward, backward, exactness).
 */

describe("rewriting VGG-16 and ResNet-18 (structural, analysed at 224x224)", () => {
  let vgg: Graph;
  let resnet: Graph;
  beforeAll(() => {
    vgg = vgg16().graph;
    resnet = resnet18().graph;
  });

  it("every rule gives a valid graph that the analyzer accepts, with the model's output shape", () => {
    for (const [model, graph] of [
      ["vgg16", vgg],
      ["resnet18", resnet],
    ] as const) {
      const base = analyze(graph);
      for (const rule of RULES) {
        const r = applyRule(graph, null, rule.name);
        validateGraph(r.graph);
        const a = analyze(r.graph);
        expect(a.layers.at(-1)!.outputShape, `${model} ${rule.name}`).toEqual(
          base.layers.at(-1)!.outputShape,
        );
        expect(r.weights).toBeNull();
        expect(parseGraph(serializeGraph(r.graph))).toEqual(r.graph);
      }
    }
  });

  it("VGG-16: asymmetric costs 2/3 of each Cin = Cout 3x3 conv; groups=2 halves every conv but the first", () => {
    const base = analyze(vgg);
    const layer = (a: ReturnType<typeof analyze>, n: string) => a.layers.find((l) => l.name === n)!;
    const asym = applyRule(vgg, null, "asymmetric");
    const a = analyze(asym.graph);
    for (const node of vgg.nodes) {
      if (node.op !== "conv2d" || node.attrs.inChannels !== node.attrs.outChannels) continue;
      const after = layer(a, `${node.name}.conv1`).macs + layer(a, `${node.name}.conv2`).macs;
      expect(after / layer(base, node.name).macs).toBeCloseTo(2 / 3, 12);
    }
    const grouped = applyRule(vgg, null, "group");
    expect(grouped.refusals.map((f) => f.node)).toEqual(["features.0"]);
    const g = analyze(grouped.graph);
    const convMacs = (an: ReturnType<typeof analyze>) =>
      an.layers.filter((l) => l.op === "conv2d" && l.name !== "features.0").reduce((s, l) => s + l.macs, 0);
    expect(convMacs(g) * 2).toBe(convMacs(base));
    expect(g.receptiveField!.size).toEqual(base.receptiveField!.size);
  });

  it("ResNet-18: dilate on stage 4 (output stride 16, DeepLab), se after every conv unit, residual refusals named", () => {
    const d = applyRule(resnet, null, { rule: "dilate", where: "stage=4" });
    expect(d.sites.map((s) => s.node)).toEqual(["layer4.0.conv1", "layer4.0.downsample.0"]);
    const shapes = analyze(d.graph).layers;
    expect(shapes.find((l) => l.name === "layer4.1.conv2")!.outputShape).toEqual([1, 512, 14, 14]);
    const conv = d.graph.nodes.find((n) => n.name === "layer4.1.conv2")!;
    expect(conv.op === "conv2d" && conv.attrs.dilation).toEqual([2, 2]);
    const se = applyRule(resnet, null, { rule: "se", options: { reduction: 16 } });
    expect(se.sites.length).toBe(20);
    expect(analyze(se.graph).totals.params - analyze(resnet).totals.params).toBeGreaterThan(0);
    const res = applyRule(resnet, null, "residual");
    expect(res.refusals.map((f) => f.node)).toContain("conv1");
  });
});

describe("rewriting the Fashion-MNIST models with their weights", () => {
  it("fmnist-vgg-large: the exact rules keep its outputs (deformable v2, se, bottleneck identity in one pipeline)", () => {
    const { graph, weights } = fmnistVggLarge();
    const w = randomizeNorms(graph, weights);
    const result = rewrite(
      graph,
      w,
      [
        { rule: "deformable", options: { version: 2 }, where: "name=features.conv2.conv" },
        { rule: "se", options: { reduction: 8 } },
        { rule: "bottleneck", options: { ratio: 1 }, where: "name=features.conv3.conv" },
      ],
      { sampleBatch: 2 },
    );
    expect(result.outputError!.maxRel).toBeLessThan(1e-5);
    for (const step of result.steps)
      for (const s of step.sites) expect(s.error!.maxRel, `${step.rule} ${s.node}`).toBeLessThan(1e-5);
    expectRunsAndTrains(result.graph, result.weights!);
  });

  it("fmnist-small: every rule's result runs forward and backward", () => {
    const { graph, weights } = fmnistSmall();
    for (const rule of RULES) {
      const r = applyRule(graph, weights, rule.name, { distill: { steps: 3 }, sampleBatch: 2 });
      if (r.sites.length === 0) continue;
      expectRunsAndTrains(r.graph, r.weights!);
    }
  });
});
