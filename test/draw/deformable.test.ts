import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Tensor } from "../../src/autograd/tensor.js";
import {
  drawDeformableFigures,
  drawDeformableSampling,
  layerOffsets,
  offsetsAt,
  rotationOffsets,
  samplePoints,
  scaleOffsets,
} from "../../src/draw/deformable.js";
import { resolveWindow } from "../../src/draw/geometry.js";
import { deformConv2d } from "../../src/ops/deform.js";
import { initDeformableConv2d } from "../../src/ops/deform-layer.js";
import { ArgumentError, ShapeError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";
import { byClass, parseSvg } from "./xml.js";

const H = 14;
const W = 14;

/**
 * Where deformConv2d samples for each tap of output (oh, ow), read back from the op itself: the input's two
 * channels hold the row and the column coordinate, and a one-hot weight copies tap k of channel c to output
 * channel 2k + c. Bilinear interpolation of a linear ramp is exact away from the border.
 */
function opSamples(
  k: number,
  dilation: number,
  padding: number,
  oh: number,
  ow: number,
  offsets: Float32Array,
): number[][] {
  const x = new Float32Array(2 * H * W);
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      x[r * W + c] = r;
      x[H * W + r * W + c] = c;
    }
  }
  const kk = k * k;
  const hOut = H + 2 * padding - dilation * (k - 1);
  const wOut = W + 2 * padding - dilation * (k - 1);
  const off = new Float32Array(2 * kk * hOut * wOut);
  for (let ch = 0; ch < 2 * kk; ch++) off[(ch * hOut + oh) * wOut + ow] = offsets[ch];
  const weight = new Float32Array(2 * kk * 2 * kk);
  for (let t = 0; t < kk; t++) {
    for (let c = 0; c < 2; c++) weight[((2 * t + c) * 2 + c) * kk + t] = 1;
  }
  const y = deformConv2d(
    new Tensor(x, [1, 2, H, W]),
    new Tensor(off, [1, 2 * kk, hOut, wOut]),
    new Tensor(weight, [2 * kk, 2, k, k]),
    null,
    { padding, dilation },
  );
  return Array.from({ length: kk }, (_, t) =>
    [0, 1].map((c) => y.data[((2 * t + c) * hOut + oh) * wOut + ow]),
  );
}

describe("deformable sampling points", () => {
  it("are where deformConv2d samples (random offsets, dilation, position)", () => {
    const config = fc.record({
      k: fc.constantFrom(1, 2, 3),
      d: fc.integer({ min: 1, max: 2 }),
      oh: fc.integer({ min: 3, max: 8 }),
      ow: fc.integer({ min: 3, max: 8 }),
      seed: fc.nat(1000),
    });
    fc.assert(
      fc.property(config, ({ k, d, oh, ow, seed }) => {
        const rng = new Rng(seed);
        const offsets = Float32Array.from({ length: 2 * k * k }, () => 1.8 * (rng.uniform() - 0.5));
        const padding = Math.floor((d * (k - 1)) / 2);
        const svg = drawDeformableSampling({
          image: { data: new Float32Array(H * W), height: H, width: W },
          kernelSize: k,
          dilation: d,
          padding,
          at: [oh, ow],
          panels: [{ label: "offsets", offsets }],
        });
        const drawn = byClass(parseSvg(svg), "sample").map((e) => [
          Number(e.attrs["data-y"]),
          Number(e.attrs["data-x"]),
        ]);
        const sampled = opSamples(k, d, padding, oh, ow, offsets);
        expect(drawn.length).toBe(k * k);
        drawn.forEach(([y, x], t) => {
          expect(
            Math.abs(y - sampled[t][0]),
            JSON.stringify({
              k,
              d,
              oh,
              ow,
              t,
              y,
              x,
              s: sampled[t],
              off: [offsets[2 * t], offsets[2 * t + 1]],
            }),
          ).toBeLessThan(2e-3);
          expect(Math.abs(x - sampled[t][1])).toBeLessThan(2e-3);
        });
      }),
      { numRuns: 25 },
    );
  });

  it("scale moves every tap away from the centre by the factor; rotation keeps its distance and turns it", () => {
    const g = resolveWindow({ kernelSize: 3, dilation: 2 }, "test");
    const regular = samplePoints(g, 0, 0, new Float32Array(18));
    const scaled = samplePoints(g, 0, 0, scaleOffsets({ kernelSize: 3, dilation: 2 }, 1.5));
    const rotated = samplePoints(g, 0, 0, rotationOffsets({ kernelSize: 3, dilation: 2 }, 90));
    regular.forEach((p, t) => {
      const [dy, dx] = [p.y - 2, p.x - 2];
      expect(scaled[t].y - 2).toBeCloseTo(1.5 * dy, 5);
      expect(scaled[t].x - 2).toBeCloseTo(1.5 * dx, 5);
      // 90 degrees: (dy, dx) -> (-dx, dy) with y downwards.
      expect(rotated[t].y - 2).toBeCloseTo(-dx, 5);
      expect(rotated[t].x - 2).toBeCloseTo(dy, 5);
    });
  });

  it("reads a trained layer's offsets from its offset branch", () => {
    const p = initDeformableConv2d({
      inChannels: 1,
      outChannels: 2,
      kernelSize: 3,
      padding: 1,
      rng: new Rng(0),
    });
    p.offsetBias.data.set(Float32Array.from({ length: 18 }, (_, i) => i / 10));
    const x = new Tensor(new Float32Array(64), [1, 1, 8, 8]);
    const off = layerOffsets(x, p, { padding: 1 });
    expect(off.shape).toEqual([1, 18, 8, 8]);
    expect(Array.from(offsetsAt(off, 9, 4, 5))).toEqual(Array.from(p.offsetBias.data));
    const v2 = initDeformableConv2d({
      inChannels: 1,
      outChannels: 2,
      kernelSize: 3,
      padding: 1,
      modulated: true,
      rng: new Rng(0),
    });
    expect(layerOffsets(x, v2, { padding: 1, modulated: true }).shape).toEqual([1, 18, 8, 8]);
    expect(() => offsetsAt(off, 9, 8, 0)).toThrow(ArgumentError);
    expect(() => offsetsAt(off, 4, 0, 0)).toThrow(ShapeError);
  });

  it("draws the article's four panels with a regular grid in (a)", () => {
    const image = { data: Float32Array.from({ length: 28 * 28 }, (_, i) => i % 28), height: 28, width: 28 };
    const root = parseSvg(drawDeformableFigures({ image, kernelSize: 3, padding: 1 }));
    const panels = byClass(root, "panel");
    expect(panels.map((p) => p.attrs["data-label"])).toEqual([
      "(a) regular grid",
      "(b) random offsets",
      "(c) scale ×1.8",
      "(d) rotation 30°",
    ]);
    for (const p of panels) expect(byClass(p, "sample").length).toBe(9);
    const a = byClass(panels[0], "sample").map((s) => [s.attrs["data-y"], s.attrs["data-x"]]);
    const reg = byClass(panels[0], "regular").map((s) => [s.attrs["data-y"], s.attrs["data-x"]]);
    expect(a).toEqual(reg);
  });

  it("rejects offsets of the wrong length and images of the wrong size", () => {
    const image = { data: new Float32Array(10), height: 4, width: 4 };
    expect(() =>
      drawDeformableSampling({ image, kernelSize: 3, panels: [{ label: "x", offsets: [] }] }),
    ).toThrow(ShapeError);
    const ok = { data: new Float32Array(16), height: 4, width: 4 };
    expect(() =>
      drawDeformableSampling({
        image: ok,
        kernelSize: 3,
        padding: 1,
        panels: [{ label: "x", offsets: [0] }],
      }),
    ).toThrow(ShapeError);
  });
});
