import { describe, expect, it } from "vitest";
import { noGrad } from "../../src/autograd/gradmode.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { conv2d } from "../../src/ops/conv.js";
import {
  type DeformableConv2dOptions,
  deformableConv2d,
  initDeformableConv2d,
} from "../../src/ops/deform-layer.js";
import { ArgumentError, ShapeError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";

function randomInput(rng: Rng, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(
    Float32Array.from({ length: n }, () => rng.normal()),
    shape,
  );
}

describe("deformable conv layer (functional)", () => {
  const variants: {
    name: string;
    modulated: boolean;
    options: DeformableConv2dOptions;
    groups: number;
    og: number;
  }[] = [
    { name: "v1 3x3 pad 1", modulated: false, options: { padding: 1 }, groups: 1, og: 1 },
    {
      name: "v2 3x3 stride 2 pad 1 groups 2 offset groups 2",
      modulated: true,
      options: { stride: 2, padding: 1 },
      groups: 2,
      og: 2,
    },
    {
      name: "v2 3x3 dilation 2 pad 2",
      modulated: true,
      options: { padding: 2, dilation: 2 },
      groups: 1,
      og: 1,
    },
    { name: "v1 'same' padding", modulated: false, options: { padding: "same" }, groups: 1, og: 4 },
  ];
  for (const v of variants) {
    it(`a fresh layer equals conv2d with the same weight and bias: ${v.name}`, () => {
      const rng = new Rng(3);
      const params = initDeformableConv2d({
        inChannels: 4,
        outChannels: 6,
        kernelSize: 3,
        groups: v.groups,
        offsetGroups: v.og,
        modulated: v.modulated,
        rng,
        ...v.options,
      });
      expect(params.offsetWeight.shape).toEqual([(v.modulated ? 3 : 2) * v.og * 9, 4, 3, 3]);
      expect(params.offsetWeight.data.every((z) => z === 0)).toBe(true);
      const x = randomInput(rng, [2, 4, 7, 6]);
      const y = deformableConv2d(x, params, { ...v.options, modulated: v.modulated });
      const ref = noGrad(() => conv2d(x, params.weight, params.bias, { ...v.options, groups: v.groups }));
      expect(y.shape).toEqual(ref.shape);
      expectClose(y.data, ref.data, { rtol: 1e-6, label: v.name });
      // A fresh layer's offset branch still learns: its gradient is not zero.
      y.backward(Float32Array.from({ length: y.numel }, () => rng.normal()));
      expect(params.offsetBias.grad!.data.some((z) => z !== 0)).toBe(true);
      expect(params.offsetWeight.grad!.data.some((z) => z !== 0)).toBe(true);
      expect(params.weight.grad).not.toBeNull();
    });
  }

  it("initialises the main weight like torch.nn.Conv2d and honours bias: false", () => {
    const p = initDeformableConv2d({
      inChannels: 8,
      outChannels: 4,
      kernelSize: [1, 3],
      bias: false,
      rng: new Rng(1),
    });
    expect(p.bias).toBeNull();
    expect(p.weight.shape).toEqual([4, 8, 1, 3]);
    const bound = 1 / Math.sqrt(8 * 3);
    expect(p.weight.data.every((w) => Math.abs(w) <= bound)).toBe(true);
    expect(Math.max(...p.weight.data.map(Math.abs))).toBeGreaterThan(0.8 * bound);
    for (const t of [p.weight, p.offsetWeight, p.offsetBias]) expect(t.requiresGrad).toBe(true);
  });

  it("learns offsets on a toy target: a few SGD steps reduce the loss and move the offsets", () => {
    // Target: the plain conv of the input shifted by (0.6, -0.4) pixels. The layer starts as the plain conv with
    // the same weight, which stays frozen: SGD moves only the offset branch (offsets and mask logits), so the
    // drop in loss is what deformable sampling learnt.
    const [n, c, h, w] = [2, 2, 8, 8];
    const smooth = (dy: number, dx: number): Tensor => {
      const data = new Float32Array(n * c * h * w);
      for (let b = 0; b < n; b++)
        for (let ch = 0; ch < c; ch++)
          for (let i = 0; i < h; i++)
            for (let j = 0; j < w; j++) {
              data[((b * c + ch) * h + i) * w + j] =
                Math.sin(0.7 * (i + dy) + ch + b) * Math.cos(0.5 * (j + dx) - ch);
            }
      return new Tensor(data, [n, c, h, w]);
    };
    const x = smooth(0, 0);
    const params = initDeformableConv2d({
      inChannels: c,
      outChannels: 3,
      kernelSize: 3,
      modulated: true,
      rng: new Rng(9),
    });
    const options = { padding: 1, modulated: true };
    const target = noGrad(() => conv2d(smooth(0.6, -0.4), params.weight, params.bias, { padding: 1 }));
    const lossOf = (y: Tensor): number => {
      let s = 0;
      for (let i = 0; i < y.numel; i++) s += (y.data[i] - target.data[i]) ** 2;
      return s / y.numel;
    };
    const losses: number[] = [];
    const lr = 10;
    for (let step = 0; step < 20; step++) {
      const y = deformableConv2d(x, params, options);
      losses.push(lossOf(y));
      y.backward(y.data.map((v, i) => (2 * (v - target.data[i])) / y.numel));
      for (const t of [params.offsetWeight, params.offsetBias]) {
        const g = t.grad!.data;
        for (let i = 0; i < t.numel; i++) t.data[i] -= lr * g[i];
      }
      for (const t of [params.weight, params.bias!, params.offsetWeight, params.offsetBias]) t.zeroGrad();
    }
    const final = lossOf(noGrad(() => deformableConv2d(x, params, options)));
    console.log(
      `deformable layer toy fit: loss ${losses[0].toExponential(3)} -> ${final.toExponential(3)} in 20 SGD steps`,
    );
    expect(final).toBeLessThan(0.4 * losses[0]);
    for (let i = 1; i < losses.length; i++) expect(losses[i]).toBeLessThan(losses[i - 1]);
    // The offsets moved away from zero (by a visible fraction of a pixel).
    const offsets = noGrad(() => conv2d(x, params.offsetWeight, params.offsetBias, { padding: 1 }));
    let largest = 0;
    for (let b = 0; b < n; b++)
      for (let ch = 0; ch < 18; ch++)
        for (let p = 0; p < h * w; p++)
          largest = Math.max(largest, Math.abs(offsets.data[(b * 27 + ch) * h * w + p]));
    expect(largest).toBeGreaterThan(0.1);
  });

  it("rejects bad configurations with clear errors", () => {
    expect(() =>
      initDeformableConv2d({ inChannels: 6, outChannels: 4, kernelSize: 3, offsetGroups: 4 }),
    ).toThrow(ArgumentError);
    expect(() =>
      initDeformableConv2d({ inChannels: 6, outChannels: 4, kernelSize: 3, offsetGroups: 4 }),
    ).toThrow(/initDeformableConv2d: offsetGroups: expected a divisor of inChannels \(6\), got 4/);
    expect(() => initDeformableConv2d({ inChannels: 6, outChannels: 4, kernelSize: 3, groups: 4 })).toThrow(
      /groups: expected a divisor of inChannels \(6\) and outChannels \(4\), got 4/,
    );
    expect(() => initDeformableConv2d({ inChannels: 6, outChannels: 4, kernelSize: 0 })).toThrow(
      /kernelSize: expected a positive integer, got 0/,
    );
    // v1 parameters applied as v2: 18 offset channels is not a multiple of 27.
    const p = initDeformableConv2d({ inChannels: 2, outChannels: 2, kernelSize: 3 });
    const x = new Tensor(new Float32Array(2 * 16), [1, 2, 4, 4]);
    expect(() => deformableConv2d(x, p, { padding: 1, modulated: true })).toThrow(ShapeError);
    expect(() => deformableConv2d(x, p, { padding: 1, modulated: true })).toThrow(
      /deformableConv2d: params.offsetWeight: expected shape \[3\*offsetGroups\*kH\*kW = a multiple of 27, Cin, 3, 3\].*got \[18, 2, 3, 3\]/,
    );
  });
});
