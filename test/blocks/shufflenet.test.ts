import { describe, expect, it } from "vitest";
import { shuffleV1Unit, shuffleV2Unit } from "../../src/blocks/shufflenet.js";
import { avgPool2d } from "../../src/ops/pool.js";
import { ArgumentError } from "../../src/tensor/errors.js";
import { buildBlock, figures, forwardBackward, ops } from "./helpers.js";

describe("shuffleV1Unit", () => {
  it("stride 1: grouped 1x1, shuffle, depthwise 3x3, grouped 1x1, residual add; params and MACs by hand", () => {
    const [c, h, g] = [24, 6, 3];
    const mid = c / 4;
    const { graph, weights, out } = buildBlock([c, h, h], (b, x) =>
      shuffleV1Unit(b, x, { name: "unit", outChannels: c, groups: g }),
    );
    expect(out.shape).toEqual([1, c, h, h]);
    expect(ops(graph)).toEqual([
      "conv2d",
      "batchNorm2d",
      "relu",
      "channelShuffle",
      "conv2d",
      "batchNorm2d",
      "conv2d",
      "batchNorm2d",
      "add",
      "relu",
    ]);
    expect(graph.scopes?.unit).toMatchObject({
      kind: "shuffleV1Unit",
      meta: { groups: g, bottleneckChannels: mid },
    });
    const conv = (cin: number, cout: number, k: number, groups: number) => (cout * cin * k * k) / groups;
    const weightsCount = conv(c, mid, 1, g) + conv(mid, mid, 3, mid) + conv(mid, c, 1, g);
    expect(figures(graph)).toEqual({
      params: weightsCount + 2 * (mid + mid + c),
      buffers: 3 + 2 * (mid + mid + c),
      macs: h * h * weightsCount,
    });
    forwardBackward(graph, weights);
  });

  it("stride 2: the input's 3x3/2 average pool is concatenated before the branch, then ReLU", () => {
    const [cIn, h, cOut, g] = [12, 8, 24, 3];
    const mid = cOut / 4;
    const branch = cOut - cIn;
    for (const firstGroupConv of [true, false]) {
      const { graph, weights, out } = buildBlock([cIn, h, h], (b, x) =>
        shuffleV1Unit(b, x, { outChannels: cOut, groups: g, stride: 2, firstGroupConv }),
      );
      const hOut = h / 2;
      expect(out.shape).toEqual([1, cOut, hOut, hOut]);
      const g1 = firstGroupConv ? g : 1;
      expect(figures(graph).macs).toBe(
        (mid * h * h * cIn) / g1 + mid * hOut * hOut * 9 + (branch * hOut * hOut * mid) / g,
      );
      expect(figures(graph).params).toBe(
        (mid * cIn) / g1 + mid * 9 + (branch * mid) / g + 2 * (mid + mid + branch),
      );
      const { x, y } = forwardBackward(graph, weights);
      // The first cIn output channels are relu(avgpool(x)) (count_include_pad, as nn.AvgPool2d's default).
      const pooled = avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1 });
      const plane = hOut * hOut;
      for (let n = 0; n < 2; n++) {
        for (let i = 0; i < cIn * plane; i++) {
          const got = y.data[n * cOut * plane + i];
          expect(got).toBeCloseTo(Math.max(0, pooled.data[n * cIn * plane + i]), 6);
        }
      }
    }
  });

  it("refuses channel counts the groups cannot split", () => {
    expect(() =>
      buildBlock([12, 4, 4], (b, x) => shuffleV1Unit(b, x, { outChannels: 13, stride: 2 })),
    ).toThrow(ArgumentError);
    expect(() => buildBlock([12, 4, 4], (b, x) => shuffleV1Unit(b, x, { outChannels: 24 }))).toThrow(
      /shuffleV1Unit: outChannels: expected the input channels \(12\) at stride 1, got 24/,
    );
  });
});

describe("shuffleV2Unit", () => {
  it("stride 1: split, branch2 on the second half, concat, shuffle: even output channels are the untouched half", () => {
    const [c, h] = [8, 5];
    const half = c / 2;
    const { graph, weights, out } = buildBlock([c, h, h], (b, x) =>
      shuffleV2Unit(b, x, { name: "unit", outChannels: c }),
    );
    expect(out.shape).toEqual([1, c, h, h]);
    expect(
      Object.keys(graph.params)
        .filter((k) => k.endsWith("weight"))
        .sort(),
    ).toEqual([
      "unit.branch2.0.weight",
      "unit.branch2.1.weight",
      "unit.branch2.3.weight",
      "unit.branch2.4.weight",
      "unit.branch2.5.weight",
      "unit.branch2.6.weight",
    ]);
    const w = half * half + half * 9 + half * half;
    expect(figures(graph)).toEqual({
      params: w + 3 * 2 * half,
      buffers: 3 * (2 * half + 1),
      macs: h * h * w,
    });
    const { x, y } = forwardBackward(graph, weights);
    // channel_shuffle(cat(x1, f(x2)), 2): output channel 2j is x1's channel j = input channel j.
    const plane = h * h;
    for (let n = 0; n < 2; n++) {
      for (let j = 0; j < half; j++) {
        const got = y.data.subarray((n * c + 2 * j) * plane, (n * c + 2 * j + 1) * plane);
        const want = x.data.subarray((n * c + j) * plane, (n * c + j + 1) * plane);
        expect(Array.from(got)).toEqual(Array.from(want));
      }
    }
  });

  it("stride 2: two branches on the whole input (torchvision's branch1.0..4, branch2.0..7)", () => {
    const [cIn, h, cOut] = [4, 8, 8];
    const half = cOut / 2;
    const { graph, weights, out } = buildBlock([cIn, h, h], (b, x) =>
      shuffleV2Unit(b, x, { name: "unit", outChannels: cOut, stride: 2 }),
    );
    const hOut = h / 2;
    expect(out.shape).toEqual([1, cOut, hOut, hOut]);
    expect(graph.params["unit.branch1.0.weight"].shape).toEqual([cIn, 1, 3, 3]);
    expect(graph.params["unit.branch1.2.weight"].shape).toEqual([half, cIn, 1, 1]);
    expect(graph.params["unit.branch2.0.weight"].shape).toEqual([half, cIn, 1, 1]);
    expect(graph.params["unit.branch2.3.weight"].shape).toEqual([half, 1, 3, 3]);
    const branch1 = cIn * 9 * hOut * hOut + half * cIn * hOut * hOut;
    const branch2 = half * cIn * h * h + half * 9 * hOut * hOut + half * half * hOut * hOut;
    expect(figures(graph).macs).toBe(branch1 + branch2);
    expect(figures(graph).params).toBe(
      cIn * 9 + 2 * cIn + half * cIn + 2 * half + half * cIn + half * 9 + half * half + 3 * 2 * half,
    );
    forwardBackward(graph, weights);
  });
});
