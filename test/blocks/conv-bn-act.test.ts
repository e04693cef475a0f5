import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/index.js";
import { Sequential } from "../../src/blocks/common.js";
import { convBnAct } from "../../src/blocks/conv-bn-act.js";
import { dilatedConv } from "../../src/blocks/dilated.js";
import { groupedConv } from "../../src/blocks/grouped.js";
import { pointwiseConv } from "../../src/blocks/pointwise.js";
import { ArgumentError } from "../../src/tensor/errors.js";
import { buildBlock, figures, forwardBackward, ops, paramNames } from "./helpers.js";

/** BN parameters and buffers for C channels: weight + bias; running mean + var + num_batches_tracked. */
const bnParams = (c: number) => 2 * c;
const bnBuffers = (c: number) => 2 * c + 1;

describe("convBnAct", () => {
  it("conv 3x3 -> BN -> ReLU: forward/backward, shape, params and MACs by hand", () => {
    const [cIn, h, w, cOut, k] = [3, 8, 8, 4, 3];
    const { graph, weights, out } = buildBlock([cIn, h, w], (b, x) =>
      convBnAct(b, x, { name: "unit", outChannels: cOut, kernelSize: k }),
    );
    expect(out.shape).toEqual([1, cOut, h, w]);
    expect(ops(graph)).toEqual(["conv2d", "batchNorm2d", "relu"]);
    expect(paramNames(graph)).toEqual(
      [
        "unit.bn.bias",
        "unit.bn.num_batches_tracked",
        "unit.bn.running_mean",
        "unit.bn.running_var",
        "unit.bn.weight",
        "unit.conv.weight",
      ].sort(),
    );
    expect(graph.scopes?.unit.kind).toBe("convBnAct");
    expect(figures(graph)).toEqual({
      params: cOut * cIn * k * k + bnParams(cOut),
      buffers: bnBuffers(cOut),
      macs: cOut * h * w * cIn * k * k,
    });
    const { y } = forwardBackward(graph, weights);
    expect(y.shape).toEqual([2, cOut, h, w]);
    expect(y.data.every((v) => v >= 0)).toBe(true);
  });

  it("without BN the conv has a bias; stride 2 halves the size; each activation is its node", () => {
    const [cIn, h, cOut, k] = [2, 9, 5, 5];
    const { graph, weights, out } = buildBlock([cIn, h, h], (b, x) =>
      convBnAct(b, x, { outChannels: cOut, kernelSize: k, stride: 2, bn: false, activation: "silu" }),
    );
    const hOut = Math.floor((h + 2 * 2 - k) / 2) + 1;
    expect(out.shape).toEqual([1, cOut, hOut, hOut]);
    expect(ops(graph)).toEqual(["conv2d", "silu"]);
    expect(figures(graph)).toEqual({
      params: cOut * cIn * k * k + cOut,
      buffers: 0,
      macs: cOut * hOut * hOut * cIn * k * k,
    });
    forwardBackward(graph, weights);
    for (const [activation, op] of [
      ["relu6", "relu6"],
      ["hardswish", "hardSwish"],
      ["tanh", "tanh"],
      ["sigmoid", "sigmoid"],
    ] as const) {
      const g = buildBlock([1, 4, 4], (b, x) =>
        convBnAct(b, x, { outChannels: 2, kernelSize: 1, activation }),
      ).graph;
      expect(ops(g)).toEqual(["conv2d", "batchNorm2d", op]);
    }
    const none = buildBlock([1, 4, 4], (b, x) =>
      convBnAct(b, x, { outChannels: 2, kernelSize: 1, activation: "none" }),
    );
    expect(ops(none.graph)).toEqual(["conv2d", "batchNorm2d"]);
  });

  it("names: generated scopes, inline with explicit names, inline with an nn.Sequential counter", () => {
    const { graph } = buildBlock([3, 8, 8], (b, x) => {
      let y = convBnAct(b, x, { outChannels: 4, kernelSize: 3 });
      y = convBnAct(b, y, { outChannels: 4, kernelSize: 3 });
      y = convBnAct(b, y, {
        inline: true,
        names: { conv: "conv1", bn: "bn1", act: "relu" },
        outChannels: 4,
        kernelSize: 1,
      });
      return b.scope("features", () => {
        const seq = new Sequential();
        const z = convBnAct(b, y, { inline: true, names: seq, outChannels: 4, kernelSize: 3, bn: false });
        return convBnAct(b, z, { inline: true, names: seq, outChannels: 4, kernelSize: 3 });
      });
    });
    expect(Object.keys(graph.scopes ?? {}).sort()).toEqual(["conv_bn_act1", "conv_bn_act2"]);
    expect(graph.nodes.map((n) => n.name)).toEqual([
      "conv_bn_act1.conv",
      "conv_bn_act1.bn",
      "conv_bn_act1.relu",
      "conv_bn_act2.conv",
      "conv_bn_act2.bn",
      "conv_bn_act2.relu",
      "conv1",
      "bn1",
      "relu",
      "features.0",
      "features.1",
      "features.2",
      "features.3",
      "features.4",
    ]);
    expect(graph.params["features.0.bias"]).toEqual({ shape: [4], kind: "parameter" });
    expect(graph.params["features.3.running_var"]).toEqual({ shape: [4], kind: "buffer" });
  });

  it("BN options reach the node; a bad activation is an ArgumentError naming the option", () => {
    const { graph } = buildBlock([3, 4, 4], (b, x) =>
      convBnAct(b, x, { outChannels: 2, kernelSize: 1, bn: { eps: 0.001, momentum: null } }),
    );
    const bn = graph.nodes.find((n) => n.op === "batchNorm2d");
    expect(bn?.op === "batchNorm2d" && [bn.attrs.eps, bn.attrs.momentum]).toEqual([0.001, null]);
    expect(() =>
      buildBlock([3, 4, 4], (b, x) =>
        convBnAct(b, x, { outChannels: 2, kernelSize: 1, activation: "gelu" as "relu" }),
      ),
    ).toThrow(/convBnAct: activation: expected one of/);
    expect(() =>
      buildBlock([3, 4, 4], (b, x) =>
        convBnAct(b, x, { outChannels: 2, kernelSize: 1, activation: "gelu" as "relu" }),
      ),
    ).toThrow(ArgumentError);
  });

  it("property: any valid conv configuration keeps PyTorch's output size and the hand-counted params and MACs", () => {
    fc.assert(
      fc.property(
        fc.record({
          cIn: fc.integer({ min: 1, max: 4 }),
          perGroup: fc.integer({ min: 1, max: 3 }),
          groups: fc.integer({ min: 1, max: 3 }),
          kH: fc.integer({ min: 1, max: 5 }),
          kW: fc.integer({ min: 1, max: 5 }),
          stride: fc.integer({ min: 1, max: 3 }),
          dilation: fc.integer({ min: 1, max: 2 }),
          size: fc.integer({ min: 6, max: 12 }),
          bn: fc.boolean(),
        }),
        ({ cIn, perGroup, groups, kH, kW, stride, dilation, size, bn }) => {
          const cInG = cIn * groups;
          const cOut = perGroup * groups;
          const { graph, out } = buildBlock([cInG, size, size], (b, x) =>
            convBnAct(b, x, { outChannels: cOut, kernelSize: [kH, kW], stride, dilation, groups, bn }),
          );
          const ph = Math.floor((dilation * (kH - 1)) / 2);
          const pw = Math.floor((dilation * (kW - 1)) / 2);
          const hOut = Math.floor((size + 2 * ph - dilation * (kH - 1) - 1) / stride) + 1;
          const wOut = Math.floor((size + 2 * pw - dilation * (kW - 1) - 1) / stride) + 1;
          expect(out.shape).toEqual([1, cOut, hOut, wOut]);
          const f = figures(graph);
          expect(f.params).toBe(cOut * cIn * kH * kW + (bn ? 2 * cOut : cOut));
          expect(f.macs).toBe(cOut * hOut * wOut * cIn * kH * kW);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe("pointwiseConv, groupedConv, dilatedConv", () => {
  it("pointwise 1x1 (grouped too): MACs = Cout*H*W*Cin/groups", () => {
    const [cIn, h, cOut, g] = [6, 5, 9, 3];
    const { graph, weights, out } = buildBlock([cIn, h, h], (b, x) =>
      pointwiseConv(b, x, { name: "pw", outChannels: cOut, groups: g }),
    );
    expect(out.shape).toEqual([1, cOut, h, h]);
    expect(graph.scopes?.pw.kind).toBe("pointwise");
    expect(figures(graph)).toMatchObject({
      params: (cOut * cIn) / g + bnParams(cOut),
      macs: (cOut * h * h * cIn) / g,
    });
    forwardBackward(graph, weights);
  });

  it("grouped 3x3: weights and MACs are 1/groups of the dense conv; groups must divide the channels", () => {
    const [cIn, h, cOut, g, k] = [8, 6, 12, 4, 3];
    const { graph, weights, out } = buildBlock([cIn, h, h], (b, x) =>
      groupedConv(b, x, { name: "gc", outChannels: cOut, groups: g }),
    );
    expect(out.shape).toEqual([1, cOut, h, h]);
    expect(graph.params["gc.conv.weight"].shape).toEqual([cOut, cIn / g, k, k]);
    expect(figures(graph)).toMatchObject({
      params: (cOut * cIn * k * k) / g + bnParams(cOut),
      macs: (cOut * h * h * cIn * k * k) / g,
    });
    forwardBackward(graph, weights);
    expect(() => buildBlock([6, 4, 4], (b, x) => groupedConv(b, x, { outChannels: 8, groups: 4 }))).toThrow(
      /groupedConv: groups: expected a divisor of the input \(6\) and output \(8\) channels, got 4/,
    );
  });

  it("dilated 3x3 (d=2): same size, plain-conv params and MACs, receptive field 5", () => {
    const [cIn, h, cOut] = [3, 9, 4];
    const { graph, weights, out } = buildBlock([cIn, h, h], (b, x) =>
      dilatedConv(b, x, { name: "dil", outChannels: cOut, dilation: 2 }),
    );
    expect(out.shape).toEqual([1, cOut, h, h]);
    const conv = graph.nodes[0];
    expect(conv.op === "conv2d" && [conv.attrs.dilation, conv.attrs.padding]).toEqual([
      [2, 2],
      [2, 2, 2, 2],
    ]);
    expect(graph.scopes?.dil).toMatchObject({ kind: "dilatedConv", meta: { effectiveKernelSize: [5, 5] } });
    expect(figures(graph)).toMatchObject({
      params: cOut * cIn * 9 + bnParams(cOut),
      macs: cOut * h * h * cIn * 9,
    });
    expect(analyze(graph).receptiveField?.size).toEqual([5, 5]);
    forwardBackward(graph, weights);
  });
});
