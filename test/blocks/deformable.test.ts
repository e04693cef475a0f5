import { describe, expect, it } from "vitest";
import { randn } from "../../src/autograd/factories.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { deformableConv } from "../../src/blocks/deformable.js";
import { GraphModel } from "../../src/graph/executor.js";
import { conv2d } from "../../src/ops/conv.js";
import { deformableConv2d } from "../../src/ops/deform-layer.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";
import { buildBlock, figures, forwardBackward, ops } from "./helpers.js";

interface Case {
  label: string;
  cIn: number;
  cOut: number;
  h: number;
  k: number;
  stride: number;
  dilation: number;
  groups: number;
  offsetGroups: number;
  modulated: boolean;
  bias: boolean;
}

const CASES: Case[] = [
  {
    label: "v1 3x3",
    cIn: 4,
    cOut: 6,
    h: 7,
    k: 3,
    stride: 1,
    dilation: 1,
    groups: 1,
    offsetGroups: 1,
    modulated: false,
    bias: true,
  },
  {
    label: "v2 3x3 stride 2",
    cIn: 4,
    cOut: 6,
    h: 8,
    k: 3,
    stride: 2,
    dilation: 1,
    groups: 1,
    offsetGroups: 1,
    modulated: true,
    bias: false,
  },
  {
    label: "v2 offset groups 2, weight groups 2, dilation 2",
    cIn: 4,
    cOut: 4,
    h: 7,
    k: 3,
    stride: 1,
    dilation: 2,
    groups: 2,
    offsetGroups: 2,
    modulated: true,
    bias: true,
  },
  {
    label: "v1 2x2 kernel",
    cIn: 2,
    cOut: 3,
    h: 5,
    k: 2,
    stride: 1,
    dilation: 1,
    groups: 1,
    offsetGroups: 1,
    modulated: false,
    bias: true,
  },
];

function build(c: Case) {
  return buildBlock([c.cIn, c.h, c.h], (b, x) =>
    deformableConv(b, x, {
      name: "dcn",
      outChannels: c.cOut,
      kernelSize: c.k,
      stride: c.stride,
      dilation: c.dilation,
      groups: c.groups,
      offsetGroups: c.offsetGroups,
      modulated: c.modulated,
      bias: c.bias,
    }),
  );
}

describe("deformableConv", () => {
  for (const c of CASES) {
    it(`${c.label}: shape, params and MACs by hand, forward/backward reaching the offset conv`, () => {
      const { graph, weights, out } = build(c);
      const pad = Math.floor((c.dilation * (c.k - 1)) / 2);
      const hOut = Math.floor((c.h + 2 * pad - c.dilation * (c.k - 1) - 1) / c.stride) + 1;
      expect(out.shape).toEqual([1, c.cOut, hOut, hOut]);
      const kk = c.k * c.k;
      const branch = (c.modulated ? 3 : 2) * c.offsetGroups * kk;
      expect(graph.params["dcn.weight"].shape).toEqual([c.cOut, c.cIn / c.groups, c.k, c.k]);
      expect(graph.params["dcn.conv_offset.weight"].shape).toEqual([branch, c.cIn, c.k, c.k]);
      expect(weights.get("dcn.conv_offset.weight")!.every((v) => v === 0)).toBe(true);
      expect(weights.get("dcn.conv_offset.bias")!.every((v) => v === 0)).toBe(true);
      expect(ops(graph)).toEqual(
        c.modulated ? ["conv2d", "split", "sigmoid", "add", "deformConv2d"] : ["conv2d", "deformConv2d"],
      );
      expect(graph.scopes?.dcn).toMatchObject({
        kind: "deformableConv",
        meta: { version: c.modulated ? 2 : 1 },
      });
      expect(figures(graph)).toEqual({
        params: (c.cOut * c.cIn * kk) / c.groups + (c.bias ? c.cOut : 0) + branch * c.cIn * kk + branch,
        buffers: 0,
        macs: ((c.cOut * c.cIn) / c.groups + branch * c.cIn) * kk * hOut * hOut,
      });
      forwardBackward(graph, weights);
    });

    it(`${c.label}: a fresh block computes exactly the plain conv with its weight and bias`, () => {
      const { graph, weights } = build(c);
      const x = randn([2, c.cIn, c.h, c.h], { rng: new Rng(3) });
      const y = new GraphModel(graph, weights).forward(x);
      const weight = new Tensor(weights.get("dcn.weight")!, graph.params["dcn.weight"].shape);
      const bias = c.bias ? new Tensor(weights.get("dcn.bias")!, [c.cOut]) : null;
      const pad = Math.floor((c.dilation * (c.k - 1)) / 2);
      const plain = conv2d(x, weight, bias, {
        stride: c.stride,
        padding: pad,
        dilation: c.dilation,
        groups: c.groups,
      });
      expectClose(y.data, plain.data, { rtol: 1e-5, label: c.label });
    });

    it(`${c.label}: with trained (non-zero) offsets it agrees with src/ops/deform-layer's deformableConv2d`, () => {
      const { graph, weights } = build(c);
      const rng = new Rng(7);
      const trained = new Map(weights);
      for (const name of ["dcn.conv_offset.weight", "dcn.conv_offset.bias"]) {
        const w = randn([weights.get(name)!.length], { rng }).data.map((v) => 0.3 * v);
        trained.set(name, w);
      }
      const x = randn([2, c.cIn, c.h, c.h], { rng });
      const y = new GraphModel(graph, trained).forward(x);
      const t = (name: string) => new Tensor(trained.get(name)!, graph.params[name].shape);
      const pad = Math.floor((c.dilation * (c.k - 1)) / 2);
      const layer = deformableConv2d(
        x,
        {
          weight: t("dcn.weight"),
          bias: c.bias ? t("dcn.bias") : null,
          offsetWeight: t("dcn.conv_offset.weight"),
          offsetBias: t("dcn.conv_offset.bias"),
        },
        { stride: c.stride, padding: pad, dilation: c.dilation, modulated: c.modulated },
      );
      expectClose(y.data, layer.data, { rtol: 1e-5, label: c.label });
    });
  }

  it("offset groups must divide the input channels", () => {
    expect(() =>
      buildBlock([3, 5, 5], (b, x) => deformableConv(b, x, { outChannels: 2, offsetGroups: 2 })),
    ).toThrow(/deformableConv: offsetGroups: expected a divisor of the input channels \(3\), got 2/);
  });
});
