import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../src/graph/builder.js";
import type { Graph, Weights } from "../../src/graph/types.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { importOnnx } from "../../src/onnx/import.js";
import { decodeModel } from "../../src/onnx/proto.js";
import { ArgumentError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";
import { type Feed, randomData, runGraph, runOrt } from "./helpers.js";

/**
 * exportOnnx: ONNX Runtime runs the exported model and gives our executor's output (within 1e-4 relative),
 * for a network that uses every primitive op, at several opsets; import(export(g)) gives the same outputs
 * and names again.
 */

/** Gives batch norm layers non-trivial running statistics (the builder starts at mean 0, var 1). */
function perturbBatchNorm(graph: Graph, weights: Weights, seed: number): void {
  const rng = new Rng(seed);
  for (const n of graph.nodes) {
    if (n.op !== "batchNorm2d") continue;
    for (const role of ["weight", "bias", "runningMean", "runningVar"] as const) {
      const name = n.params[role];
      if (name === undefined) continue;
      const w = weights.get(name)!;
      for (let i = 0; i < w.length; i++)
        w[i] = role === "runningVar" ? 0.5 + rng.uniform() : rng.normal() * 0.3 + (role === "weight" ? 1 : 0);
    }
  }
}

/** Every primitive op except deformConv2d, with awkward attributes where they exist. */
function allOpsNet(): { graph: Graph; weights: Weights } {
  const b = new GraphBuilder("all_ops", { seed: 3 });
  const x = b.input("image", [4, 9, 8]);
  let y = b.scope("stem", () => {
    const c = b.conv2d(x, {
      outChannels: 6,
      kernelSize: [3, 2],
      stride: [1, 2],
      padding: [1, 0, 2, 1],
      dilation: [2, 1],
      groups: 2,
    });
    return b.relu(b.batchNorm2d(c, { eps: 1e-3 }));
  });
  y = b.scope("acts", () => {
    const [p, q, r] = b.split(y, [1, 2, 3]);
    const a = b.concat([b.relu6(p), b.leakyRelu(q, 0.2), b.sigmoid(r)], 1);
    const h = b.add(b.hardSigmoid(a), b.hardSwish(a));
    const s = b.mul(b.silu(h), b.tanh(a));
    const k = b.constant(Float32Array.of(1, -2, 0.5, 3, 1.5, -1), [6, 1, 1], { name: "scale" });
    return b.channelShuffle(b.div(b.sub(s, k), b.constant(Float32Array.of(2), [], { name: "two" })), 3);
  });
  y = b.scope("pools", () => {
    const m = b.maxPool2d(y, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true });
    const a = b.avgPool2d(y, {
      kernelSize: 3,
      stride: 2,
      padding: 1,
      countIncludePad: false,
      ceilMode: true,
    });
    const both = b.concat([m, a], 1);
    const d = b.dropout(b.identity(both), 0.25);
    return b.add(b.adaptiveAvgPool2d(d, [5, 1]), b.adaptiveMaxPool2d(d, [5, 1])); // 5x3 in: 1x3 windows
  });
  const pooled = b.mean(y, [2, 3], true);
  const summed = b.sum(y, [3], false);
  const seq = b.transpose(b.reshape(summed, [0, 12, -1]), 1, 2); // [N, 5, 12]
  const tokens = b.linear(seq, { outFeatures: 5, name: "proj" }); // 3-D linear: MatMul + Add
  const perm = b.permute(b.flatten(b.relu(pooled), 1), [0, 1]);
  const head = b.linear(b.concat([perm, b.flatten(tokens, 1)], 1), { outFeatures: 7, name: "fc" });
  b.output(b.logSoftmax(head, 1), b.softmax(b.flatten(tokens, 1), -1));
  const built = b.build();
  perturbBatchNorm(built.graph, built.weights, 11);
  return built;
}

/** One seeded input per graph input, at the given batch size. */
function feedsFor(graph: Graph, batch: number, seed: number): Record<string, Feed> {
  const rng = new Rng(seed);
  const feeds: Record<string, Feed> = {};
  for (const i of graph.inputs) {
    const dims = i.shape.map((d) => (typeof d === "number" ? d : batch));
    feeds[i.name] = {
      data: randomData(
        dims.reduce((p, d) => p * d, 1),
        rng,
      ),
      dims,
    };
  }
  return feeds;
}

async function expectOrtAgrees(graph: Graph, weights: Weights, bytes: Uint8Array, label: string, batch = 2) {
  const feeds = feedsFor(graph, batch, 5);
  const ours = runGraph(graph, weights, feeds);
  const ref = await runOrt(bytes, feeds);
  let worst = 0;
  for (const o of graph.outputs) {
    expect(ref[o]?.dims, `${label}: output ${o}`).toEqual(ours[o].dims);
    worst = Math.max(worst, expectClose(ours[o].data, ref[o].data, { rtol: 1e-4, label: `${label} ${o}` }));
  }
  return worst;
}

describe("exportOnnx: every primitive op runs in ONNX Runtime", () => {
  const { graph, weights } = allOpsNet();
  for (const opset of [13, 17, 18, 21]) {
    it(`opset ${opset}`, async () => {
      const bytes = exportOnnx(graph, weights, { opset });
      const m = decodeModel(bytes);
      expect(m.opsets).toEqual([{ domain: "", version: opset }]);
      await expectOrtAgrees(graph, weights, bytes, `all ops, opset ${opset}`);
    });
  }

  it("defaults to opset 17 and declares the batch symbolic in inputs and outputs", () => {
    const m = decodeModel(exportOnnx(graph, weights));
    expect(m.opsets).toEqual([{ domain: "", version: 17 }]);
    expect(m.irVersion).toBe(8);
    expect(m.graph.inputs[0].dims).toEqual(["N", 4, 9, 8]);
    expect(m.graph.outputs.map((o) => o.dims)).toEqual([
      ["N", 7],
      ["N", 25],
    ]);
    // Parameters keep their state_dict names; num_batches_tracked has no place in ONNX.
    const inits = m.graph.initializers.map((t) => t.name);
    expect(inits).toContain("stem.conv1.weight");
    expect(inits).toContain("stem.bn1.running_var");
    expect(inits.some((n) => n.endsWith("num_batches_tracked"))).toBe(false);
  });

  it("import(export(graph)) computes the same and keeps the names", async () => {
    const bytes = exportOnnx(graph, weights);
    const back = importOnnx(bytes);
    const feeds = feedsFor(graph, 3, 9);
    const a = runGraph(graph, weights, feeds);
    const b = runGraph(back.graph, back.weights, feeds);
    for (const o of graph.outputs)
      expectClose(b[o].data, a[o].data, { rtol: 1e-5, label: `round trip ${o}` });
    expect(back.graph.inputs).toEqual(graph.inputs);
    expect(back.graph.outputs).toEqual(graph.outputs);
    const names = (g: Graph) =>
      g.nodes
        .filter((n) => ["conv2d", "batchNorm2d", "linear", "channelShuffle"].includes(n.op))
        .map((n) => n.name);
    expect(names(back.graph)).toEqual(names(graph));
    const params = (g: Graph) =>
      Object.keys(g.params)
        .filter((p) => !p.endsWith(".value"))
        .sort();
    expect(params(back.graph)).toEqual(params(graph));
    // The exported silu / hard swish / shuffle come back as one primitive each.
    expect(back.info.patterns).toMatchObject({ silu: 1, channelShuffle: 1, matMulAdd: 1 });
    // And exporting the re-import gives ONNX Runtime the same numbers again.
    await expectOrtAgrees(back.graph, back.weights, exportOnnx(back.graph, back.weights), "re-export");
  });
});

describe("exportOnnx: deformable convolution", () => {
  function deformNet(mask: boolean) {
    const b = new GraphBuilder("deform", { seed: 8 });
    const x = b.input("x", [4, 7, 6]);
    const offset = b.conv2d(x, { outChannels: 2 * 2 * 9, kernelSize: 3, padding: 1, name: "offset" });
    const m = mask
      ? b.sigmoid(b.conv2d(x, { outChannels: 2 * 9, kernelSize: 3, padding: 1, name: "mask" }))
      : undefined;
    const y = b.deformConv2d(x, offset, {
      outChannels: 6,
      kernelSize: 3,
      padding: 1,
      groups: 2,
      mask: m,
      bias: !mask,
    });
    b.output(y);
    return b.build();
  }

  for (const mask of [false, true]) {
    it(`DeformConv at opset 19 (${mask ? "v2 with mask, no bias" : "v1 with bias"}) and back`, async () => {
      const { graph, weights } = deformNet(mask);
      // Offsets of a few pixels so that bilinear sampling and borders matter.
      const ow = weights.get("offset.weight")!;
      for (let i = 0; i < ow.length; i++) ow[i] *= 8;
      const bytes = exportOnnx(graph, weights);
      expect(decodeModel(bytes).opsets[0].version).toBe(19);
      await expectOrtAgrees(graph, weights, bytes, `deform mask=${mask}`);
      const back = importOnnx(bytes);
      expect(back.graph.nodes.map((n) => n.op)).toEqual(graph.nodes.map((n) => n.op));
      await expectOrtAgrees(
        back.graph,
        back.weights,
        exportOnnx(back.graph, back.weights),
        "deform re-export",
      );
    });
  }

  it("refuses an opset below 19 for DeformConv", () => {
    const { graph, weights } = deformNet(false);
    expect(() => exportOnnx(graph, weights, { opset: 17 })).toThrow(
      /opset: expected 19 or later \(the graph has deformConv2d/,
    );
  });
});

describe("exportOnnx: what has no ONNX form", () => {
  const tiny = (
    f: (b: GraphBuilder, x: ReturnType<GraphBuilder["input"]>) => ReturnType<GraphBuilder["input"]>,
  ) => {
    const b = new GraphBuilder("t", { seed: 1 });
    b.output(f(b, b.input("x", [2, 5, 5])));
    return b.build();
  };

  it("names the node and the reason", () => {
    const a = tiny((b, x) => b.avgPool2d(x, { kernelSize: 2, divisorOverride: 3, name: "pool" }));
    expect(() => exportOnnx(a.graph, a.weights)).toThrow(
      /avgPool2d node "pool": divisorOverride has no ONNX equivalent/,
    );
    const c = tiny((b, x) => b.adaptiveAvgPool2d(x, 2, { name: "ap" }));
    expect(() => exportOnnx(c.graph, c.weights)).toThrow(
      /adaptiveAvgPool2d node "ap": output size 2x2 does not divide the input 5x5/,
    );
    const d = tiny((b, x) => b.batchNorm2d(x, { trackRunningStats: false, name: "bn" }));
    expect(() => exportOnnx(d.graph, d.weights)).toThrow(/batchNorm2d node "bn": without running statistics/);
  });

  it("checks the opset", () => {
    const a = tiny((b, x) => b.relu(x));
    expect(() => exportOnnx(a.graph, a.weights, { opset: 12 })).toThrow(ArgumentError);
    expect(() => exportOnnx(a.graph, a.weights, { opset: 22 })).toThrow(/an integer from 13 to 21/);
  });

  it("a constant graph output goes through Identity", async () => {
    const b = new GraphBuilder("c", { seed: 1 });
    const x = b.input("x", [3]);
    const k = b.constant(Float32Array.of(1, 2, 3), [3], { name: "k" });
    b.output(b.add(x, k), k);
    const { graph, weights } = b.build();
    await expectOrtAgrees(graph, weights, exportOnnx(graph, weights), "constant output", 1);
  });
});
