import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { basicBlock, denseBlock, inceptionModule, squeezeExcite } from "../../src/blocks/index.js";
import {
  drawDenseBlock,
  drawInception,
  drawResidualBlock,
  drawSqueezeExcite,
} from "../../src/draw/blocks.js";
import { drawGraph } from "../../src/draw/graph.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { ArgumentError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";
import { resnet18 } from "../../src/zoo/index.js";
import { byClass, parseSvg, textOf, type XmlElement } from "./xml.js";

const units = (root: XmlElement) => byClass(root, "unit");
const edges = (root: XmlElement) =>
  byClass(root, "edge").map((e) => [e.attrs["data-from"], e.attrs["data-to"]]);

describe("drawGraph", () => {
  const { graph } = resnet18();
  const analysis = analyze(graph);

  it("collapsed to blocks, the boxes' parameters and MACs add up to the analyzer's totals", () => {
    const root = parseSvg(drawGraph(graph, { depth: 2, analysis }));
    const us = units(root);
    const sum = (k: string) => us.reduce((s, u) => s + Number(u.attrs[k]), 0);
    expect(sum("data-params")).toBe(analysis.totals.params);
    expect(sum("data-macs")).toBe(analysis.totals.macs);
    const blocks = us.filter((u) => u.attrs["data-kind"] === "basicBlock").map((u) => u.attrs["data-key"]);
    expect(blocks).toEqual([
      "layer1.0",
      "layer1.1",
      "layer2.0",
      "layer2.1",
      "layer3.0",
      "layer3.1",
      "layer4.0",
      "layer4.1",
    ]);
    // A chain: every block is fed by the one before it.
    for (let i = 1; i < blocks.length; i++) expect(edges(root)).toContainEqual([blocks[i - 1], blocks[i]]);
    const last = us.find((u) => u.attrs["data-key"] === "layer4.1")!;
    expect(last.attrs["data-shape"]).toBe("1,512,7,7");
  });

  it("expanded, every node is a box and every data dependency an edge", () => {
    const root = parseSvg(drawGraph(graph, { analysis }));
    const keys = units(root).map((u) => u.attrs["data-key"]);
    for (const n of graph.nodes) expect(keys).toContain(n.name);
    expect(keys).toContain("input");
    const deps = new Set<string>();
    const producer = new Map<string, string>();
    for (const n of graph.nodes) for (const v of n.outputs) producer.set(v, n.name);
    for (const n of graph.nodes) for (const v of n.inputs) deps.add(`${producer.get(v) ?? v}>${n.name}`);
    const drawn = new Set(edges(root).map(([a, b]) => `${a}>${b}`));
    for (const d of deps) expect(drawn.has(d)).toBe(true);
    // Plus one edge to the output terminal.
    expect(drawn.size).toBe(deps.size + 1);
  });

  it("is deterministic: same graph, same bytes", () => {
    expect(drawGraph(graph, { depth: 1, analysis })).toBe(drawGraph(graph, { depth: 1, analysis }));
  });

  it("rejects a scope that has no nodes", () => {
    expect(() => drawGraph(graph, { scope: "layer9", analysis })).toThrow(ArgumentError);
  });
});

describe("block drawings from real blocks", () => {
  it("an Inception module: four branches into the concatenation, channels adding up", () => {
    const b = new GraphBuilder("inc");
    const x = b.input("x", [16, 8, 8]);
    b.output(
      inceptionModule(b, x, {
        name: "mixed",
        ch1x1: 4,
        ch3x3red: 4,
        ch3x3: 8,
        ch5x5red: 2,
        ch5x5: 4,
        poolProj: 4,
      }),
    );
    const { graph } = b.build();
    const root = parseSvg(drawInception(graph, { scope: "mixed" }));
    const into = edges(root)
      .filter(([, to]) => to === "mixed.concat")
      .map(([from]) => from);
    expect(into.sort()).toEqual(["mixed.branch1", "mixed.branch2.1", "mixed.branch3.1", "mixed.branch4.1"]);
    expect(textOf(root)).toContain("4 branches, 4 + 8 + 4 + 4 = 20 channels");
    expect(() => drawInception(graph, { scope: "mixed.branch1" })).toThrow(/inception/);
  });

  it("a residual block with a projection: the addition reads the main path and the shortcut", () => {
    const b = new GraphBuilder("res");
    const x = b.input("x", [8, 8, 8]);
    b.output(basicBlock(b, x, { name: "block", planes: 16, stride: 2 }));
    const { graph } = b.build();
    const root = parseSvg(drawResidualBlock(graph, { scope: "block" }));
    const add = graph.nodes.find((n) => n.op === "add")!;
    const into = edges(root).filter(([, to]) => to === add.name);
    expect(into.length).toBe(2);
    expect(textOf(root)).toContain("projection shortcut");
    // The block input feeds both paths.
    expect(edges(root).filter(([from]) => from === "x").length).toBe(2);
  });

  it("a dense block: layer l reads the input and the l−1 earlier layers; the concat reads all", () => {
    const b = new GraphBuilder("dense");
    const x = b.input("x", [6, 8, 8]);
    b.output(denseBlock(b, x, { name: "db", numLayers: 3, growthRate: 4, bnSize: 2 }));
    const { graph } = b.build();
    const root = parseSvg(drawDenseBlock(graph, { scope: "db" }));
    const conns = byClass(root, "connection").map((c) => [c.attrs["data-from"], c.attrs["data-to"]]);
    expect(conns.length).toBe(1 + 2 + 3 + 4);
    expect(conns.filter(([, to]) => to === "db.denselayer3").map(([f]) => f)).toEqual([
      "input",
      "db.denselayer1",
      "db.denselayer2",
    ]);
    expect(conns.filter(([, to]) => to === "concat").length).toBe(4);
    expect(textOf(root)).toContain("6 + 3·4 = 18 channels");
  });

  it("squeeze-and-excitation: the drawn channel weights are the gate's real values", () => {
    const b = new GraphBuilder("se", { seed: 3 });
    const x = b.input("x", [8, 5, 5]);
    b.output(squeezeExcite(b, x, { name: "se", reduction: 2 }));
    const { graph, weights } = b.build();
    const rng = new Rng(7);
    const data = Float32Array.from({ length: 8 * 25 }, () => rng.normal());
    const root = parseSvg(
      drawSqueezeExcite(graph, { scope: "se", weights, input: new Tensor(data, [1, 8, 5, 5]) }),
    );
    // Independent reference with plain loops: s = sigmoid(W2 relu(W1 mean + b1) + b2).
    const w1 = weights.get("se.fc1.weight")!;
    const b1 = weights.get("se.fc1.bias")!;
    const w2 = weights.get("se.fc2.weight")!;
    const b2 = weights.get("se.fc2.bias")!;
    const meanOf = Array.from(
      { length: 8 },
      (_, c) => data.slice(c * 25, (c + 1) * 25).reduce((s, v) => s + v, 0) / 25,
    );
    const hidden = Array.from({ length: 4 }, (_, j) =>
      Math.max(0, b1[j] + meanOf.reduce((s, m, c) => s + w1[j * 8 + c] * m, 0)),
    );
    const gate = Array.from(
      { length: 8 },
      (_, c) => 1 / (1 + Math.exp(-(b2[c] + hidden.reduce((s, h, j) => s + w2[c * 4 + j] * h, 0)))),
    );
    const drawn = byClass(root, "channel-weight").map((r) => Number(r.attrs["data-value"]));
    expect(drawn.length).toBe(8);
    drawn.forEach((v, c) => {
      expect(Math.abs(v - gate[c])).toBeLessThan(1e-4);
    });
    expect(byClass(root, "stage").map((s) => s.attrs["data-op"])).toEqual([
      "input",
      "adaptiveAvgPool2d",
      "conv2d",
      "relu",
      "conv2d",
      "sigmoid",
      "mul",
    ]);
    expect(textOf(root)).toContain(`params 2·C·C' + C' + C = ${2 * 8 * 4 + 4 + 8}`);
  });
});
