import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  conv2dBackwardInputRef,
  conv2dBackwardWeightRef,
  conv2dForwardRef,
} from "../../src/kernels/ref/conv2d.js";
import { type Conv2dGeometry, conv2dGeometry, type Padding2d } from "../../src/tensor/conv-geometry.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";

function randArray(size: number, rng: Rng): Float32Array {
  const a = new Float32Array(size);
  for (let i = 0; i < size; i++) a[i] = rng.normal();
  return a;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

const geometryArb: fc.Arbitrary<{ g: Conv2dGeometry; seed: number }> = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    groups: fc.integer({ min: 1, max: 3 }),
    cInG: fc.integer({ min: 1, max: 2 }),
    cOutG: fc.integer({ min: 1, max: 3 }),
    kH: fc.integer({ min: 1, max: 4 }),
    kW: fc.integer({ min: 1, max: 4 }),
    stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    dilation: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    pads: fc.tuple(...[0, 1, 2, 3].map(() => fc.integer({ min: 0, max: 3 }))),
    extra: fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 })),
    seed: fc.integer({ min: 0, max: 1e6 }),
  })
  .map((r) => {
    const [pt, pl, pb, pr] = r.pads;
    const h = Math.max(1, r.dilation[0] * (r.kH - 1) + 1 - pt - pb) + r.extra[0];
    const w = Math.max(1, r.dilation[1] * (r.kW - 1) + 1 - pl - pr) + r.extra[1];
    const padding: Padding2d = [pt, pl, pb, pr];
    const g = conv2dGeometry([r.n, r.cInG * r.groups, h, w], [r.cOutG * r.groups, r.cInG, r.kH, r.kW], {
      stride: r.stride,
      dilation: r.dilation,
      padding,
      groups: r.groups,
    });
    return { g, seed: r.seed };
  });

function sizes(g: Conv2dGeometry): { x: number; w: number; y: number } {
  return {
    x: g.n * g.cIn * g.hIn * g.wIn,
    w: g.cOut * (g.cIn / g.groups) * g.kH * g.kW,
    y: g.n * g.cOut * g.hOut * g.wOut,
  };
}

describe("conv2d reference kernels", () => {
  it("backward kernels are the adjoints of forward: <conv(x, w), gy> = <x, dX(gy, w)> = <w, dW(x, gy)>", () => {
    fc.assert(
      fc.property(geometryArb, ({ g, seed }) => {
        const rng = new Rng(seed);
        const s = sizes(g);
        const x = randArray(s.x, rng);
        const w = randArray(s.w, rng);
        const gy = randArray(s.y, rng);
        const y = new Float32Array(s.y);
        const gx = new Float32Array(s.x);
        const gw = new Float32Array(s.w);
        conv2dForwardRef(x, w, null, g, y);
        conv2dBackwardInputRef(gy, w, g, gx);
        conv2dBackwardWeightRef(x, gy, g, gw);
        const lhs = dot(y, gy);
        const scale = Math.sqrt(s.x * s.w) + 1;
        expect(Math.abs(dot(x, gx) - lhs) / scale).toBeLessThan(1e-5);
        expect(Math.abs(dot(w, gw) - lhs) / scale).toBeLessThan(1e-5);
      }),
      { numRuns: 100 },
    );
  });

  it("overwrite their output buffers instead of accumulating into them", () => {
    fc.assert(
      fc.property(geometryArb, fc.boolean(), ({ g, seed }, withBias) => {
        const rng = new Rng(seed);
        const s = sizes(g);
        const x = randArray(s.x, rng);
        const w = randArray(s.w, rng);
        const b = withBias ? randArray(g.cOut, rng) : null;
        const gy = randArray(s.y, rng);
        const clean = [new Float32Array(s.y), new Float32Array(s.x), new Float32Array(s.w)];
        const dirty = [new Float32Array(s.y), new Float32Array(s.x), new Float32Array(s.w)].map((a) =>
          a.fill(Number.NaN),
        );
        for (const [y, gx, gw] of [clean, dirty]) {
          conv2dForwardRef(x, w, b, g, y);
          conv2dBackwardInputRef(gy, w, g, gx);
          conv2dBackwardWeightRef(x, gy, g, gw);
        }
        expect(Array.from(dirty[0])).toEqual(Array.from(clean[0]));
        expect(Array.from(dirty[1])).toEqual(Array.from(clean[1]));
        expect(Array.from(dirty[2])).toEqual(Array.from(clean[2]));
      }),
      { numRuns: 40 },
    );
  });

  it("agree with a direct scatter formulation of the backward pass", () => {
    // gradX and gradW written the other way round (scatter from each output pixel and tap), as an independent check
    fc.assert(
      fc.property(geometryArb, ({ g, seed }) => {
        const rng = new Rng(seed);
        const s = sizes(g);
        const x = randArray(s.x, rng);
        const w = randArray(s.w, rng);
        const gy = randArray(s.y, rng);
        const gx = new Float64Array(s.x);
        const gw = new Float64Array(s.w);
        const cInG = g.cIn / g.groups;
        const cOutG = g.cOut / g.groups;
        for (let b = 0; b < g.n; b++)
          for (let co = 0; co < g.cOut; co++)
            for (let oh = 0; oh < g.hOut; oh++)
              for (let ow = 0; ow < g.wOut; ow++) {
                const go = gy[((b * g.cOut + co) * g.hOut + oh) * g.wOut + ow];
                for (let ci = 0; ci < cInG; ci++)
                  for (let kh = 0; kh < g.kH; kh++)
                    for (let kw = 0; kw < g.kW; kw++) {
                      const ih = oh * g.strideH - g.padTop + kh * g.dilationH;
                      const iw = ow * g.strideW - g.padLeft + kw * g.dilationW;
                      if (ih < 0 || ih >= g.hIn || iw < 0 || iw >= g.wIn) continue;
                      const c = Math.floor(co / cOutG) * cInG + ci;
                      const xi = ((b * g.cIn + c) * g.hIn + ih) * g.wIn + iw;
                      const wi = ((co * cInG + ci) * g.kH + kh) * g.kW + kw;
                      gx[xi] += go * w[wi];
                      gw[wi] += go * x[xi];
                    }
              }
        const ax = new Float32Array(s.x);
        const aw = new Float32Array(s.w);
        conv2dBackwardInputRef(gy, w, g, ax);
        conv2dBackwardWeightRef(x, gy, g, aw);
        expectClose(ax, gx, { rtol: 1e-6, label: "gradX" });
        expectClose(aw, gw, { rtol: 1e-6, label: "gradW" });
      }),
      { numRuns: 60 },
    );
  });
});
