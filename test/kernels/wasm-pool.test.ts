import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { tensor } from "../../src/autograd/tensor.js";
import { type AvgPoolDivisor, type Pool2dGeometry, poolKernels } from "../../src/kernels/pool.js";
import {
  adaptiveAvgPool2dBackwardRef,
  adaptiveAvgPool2dForwardRef,
  adaptiveMaxPool2dForwardRef,
  avgPool2dBackwardRef,
  avgPool2dForwardRef,
  maxPool2dBackwardRef,
  maxPool2dForwardRef,
} from "../../src/kernels/ref/pool.js";
import { useReferenceKernels, useWasmKernelsSync } from "../../src/kernels/wasm/index.js";
import { instantiateSync } from "../../src/kernels/wasm/module.js";
import { makeWasmPool } from "../../src/kernels/wasm/pool.js";
import { adaptivePool2dGeometry, maxPool2d, pool2dGeometry } from "../../src/ops/pool.js";
import { Rng, WASM_VARIANTS } from "./wasm-variants.js";

/**
 * The WebAssembly pooling kernels against the reference loops. Both compare float32 values the same way and
 * sum averages in float64 in the same order, so every result must be identical bit for bit, and max pooling's
 * argmax (first maximum in scan order, NaN wins, last NaN wins, -1 for a window with no input tap) exactly.
 */

interface Spec {
  n: number;
  c: number;
  h: number;
  w: number;
  kernel: [number, number];
  stride: [number, number];
  dilation: [number, number];
  /** Fractions of the largest legal padding (half the kernel) per side: top, left, bottom, right. */
  pads: [number, number, number, number];
  ceilMode: boolean;
  /** How values are drawn: "ties" from {-2..2} (many equal maxima), "special" adds NaN and infinities. */
  values: "normal" | "ties" | "special";
  seed: number;
}

const int = (min: number, max: number) => fc.integer({ min, max });
const pair = (min: number, max: number) => fc.tuple(int(min, max), int(min, max));

// Widths up to 23 give the 4-lane quads of stride 1 and 2 room, plus their scalar edges.
const specArb: fc.Arbitrary<Spec> = fc.record({
  n: int(1, 2),
  c: int(1, 3),
  h: int(1, 12),
  w: int(1, 23),
  kernel: pair(1, 4),
  stride: pair(1, 3),
  dilation: pair(1, 3),
  pads: fc.tuple(int(0, 2), int(0, 2), int(0, 2), int(0, 2)),
  ceilMode: fc.boolean(),
  values: fc.constantFrom<Spec["values"]>("normal", "ties", "special"),
  seed: int(0, 1e6),
});

/** The pooling geometry of a spec (null when PyTorch would refuse it: output smaller than 1x1). */
function geometryOf(s: Spec, dilated: boolean): Pool2dGeometry | null {
  const [kH, kW] = s.kernel;
  const halfH = Math.floor(kH / 2);
  const halfW = Math.floor(kW / 2);
  const side = (v: number, half: number) => Math.min(v, half);
  const padding: [number, number, number, number] = [
    side(s.pads[0], halfH),
    side(s.pads[1], halfW),
    side(s.pads[2], halfH),
    side(s.pads[3], halfW),
  ];
  try {
    return pool2dGeometry(
      [s.n, s.c, s.h, s.w],
      {
        kernelSize: s.kernel,
        stride: s.stride,
        padding,
        dilation: dilated ? s.dilation : 1,
        ceilMode: s.ceilMode,
      },
      "test",
    );
  } catch {
    return null;
  }
}

function values(size: number, kind: Spec["values"], rng: Rng): Float32Array {
  const a = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    if (kind === "normal") a[i] = rng.normal();
    else {
      a[i] = rng.int(5) - 2;
      if (kind === "special") {
        const r = rng.uniform();
        if (r < 0.08) a[i] = Number.NaN;
        else if (r < 0.14) a[i] = Number.NEGATIVE_INFINITY;
        else if (r < 0.18) a[i] = Number.POSITIVE_INFINITY;
        else if (r < 0.22) a[i] = -0;
      }
    }
  }
  return a;
}

function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

function expectIdentical(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  const at = firstDifference(actual, expected);
  expect(at, `${label}: element ${at}: got ${actual[at]}, expected ${expected[at]}`).toBe(-1);
}

describe.each(WASM_VARIANTS)("wasm pooling (%s)", (variant) => {
  const wasm = makeWasmPool(instantiateSync(variant));

  it("max pooling forward and backward equal the reference (ties, NaN, infinities, padding, ceil mode, dilation)", () => {
    let checked = 0;
    fc.assert(
      fc.property(specArb, (s) => {
        const g = geometryOf(s, true);
        if (g === null) return;
        checked++;
        const rng = new Rng(s.seed);
        const planes = g.n * g.c;
        const x = values(planes * g.hIn * g.wIn, s.values, rng);
        const outLen = planes * g.hOut * g.wOut;
        const label = JSON.stringify(g);
        const outRef = new Float32Array(outLen);
        const argRef = new Int32Array(outLen);
        maxPool2dForwardRef(x, g, outRef, argRef);
        const out = new Float32Array(outLen).fill(7);
        const arg = new Int32Array(outLen).fill(-7);
        wasm.maxPool2dForward(x, g, out, arg);
        expectIdentical(out, outRef, `max forward ${label}`);
        expectIdentical(arg, argRef, `argmax ${label}`);

        const gradOut = values(outLen, "normal", rng);
        const inPlane = g.hIn * g.wIn;
        const outPlane = g.hOut * g.wOut;
        const gxRef = new Float32Array(planes * inPlane);
        maxPool2dBackwardRef(gradOut, argRef, planes, inPlane, outPlane, gxRef);
        const gx = new Float32Array(planes * inPlane).fill(Number.NaN);
        wasm.maxPoolBackward(gradOut, argRef, planes, inPlane, outPlane, gx);
        expectIdentical(gx, gxRef, `max backward ${label}`);
      }),
      { numRuns: 400 },
    );
    expect(checked).toBeGreaterThan(100);
  });

  it("the common 2x2 stride-2 pool (the vector path) equals the reference on odd sizes and ties", () => {
    for (const [h, w] of [
      [28, 28],
      [14, 14],
      [7, 9],
      [9, 31],
      [2, 2],
      [3, 17],
    ]) {
      for (const ceilMode of [false, true]) {
        const g = pool2dGeometry([2, 3, h, w], { kernelSize: 2, ceilMode }, "test");
        const rng = new Rng(h * 100 + w);
        for (const kind of ["normal", "ties", "special"] as const) {
          const x = values(6 * h * w, kind, rng);
          const outLen = 6 * g.hOut * g.wOut;
          const outRef = new Float32Array(outLen);
          const argRef = new Int32Array(outLen);
          maxPool2dForwardRef(x, g, outRef, argRef);
          const out = new Float32Array(outLen);
          const arg = new Int32Array(outLen);
          wasm.maxPool2dForward(x, g, out, arg);
          const label = `${h}x${w} ceil ${ceilMode} ${kind}`;
          expectIdentical(out, outRef, label);
          expectIdentical(arg, argRef, `argmax ${label}`);
        }
      }
    }
  });

  it("average pooling forward and backward equal the reference (countIncludePad, divisorOverride, ceil mode)", () => {
    const divisorArb = fc.record({
      countIncludePad: fc.boolean(),
      divisorOverride: fc.option(fc.oneof(int(-9, -1), int(1, 9), fc.constant(2 ** 40)), { nil: null }),
    });
    let checked = 0;
    fc.assert(
      fc.property(specArb, divisorArb, (s, d: AvgPoolDivisor) => {
        const g = geometryOf(s, false);
        if (g === null) return;
        checked++;
        const rng = new Rng(s.seed);
        const planes = g.n * g.c;
        const inLen = planes * g.hIn * g.wIn;
        const outLen = planes * g.hOut * g.wOut;
        const x = values(inLen, s.values === "special" ? "ties" : s.values, rng);
        const label = `${JSON.stringify(g)} ${JSON.stringify(d)}`;
        const outRef = new Float32Array(outLen);
        avgPool2dForwardRef(x, g, d, outRef);
        const out = new Float32Array(outLen).fill(Number.NaN);
        wasm.avgPool2dForward(x, g, d, out);
        expectIdentical(out, outRef, `avg forward ${label}`);
        const gradOut = values(outLen, "normal", rng);
        const gxRef = new Float32Array(inLen);
        avgPool2dBackwardRef(gradOut, g, d, gxRef);
        const gx = new Float32Array(inLen).fill(Number.NaN);
        wasm.avgPool2dBackward(gradOut, g, d, gx);
        expectIdentical(gx, gxRef, `avg backward ${label}`);
      }),
      { numRuns: 300 },
    );
    expect(checked).toBeGreaterThan(80);
  });

  it("adaptive average and max pooling equal the reference (bins that overlap, outputs larger than inputs)", () => {
    fc.assert(
      fc.property(
        int(1, 2),
        int(1, 3),
        int(1, 13),
        int(1, 13),
        int(1, 15),
        int(1, 15),
        fc.constantFrom<Spec["values"]>("normal", "ties", "special"),
        int(0, 1e6),
        (n, c, h, w, oh, ow, kind, seed) => {
          const g = adaptivePool2dGeometry([n, c, h, w], [oh, ow], "test");
          const rng = new Rng(seed);
          const inLen = n * c * h * w;
          const outLen = n * c * oh * ow;
          const label = JSON.stringify(g);
          const x = values(inLen, kind, rng);
          const avgRef = new Float32Array(outLen);
          adaptiveAvgPool2dForwardRef(x, g, avgRef);
          const avg = new Float32Array(outLen).fill(7);
          wasm.adaptiveAvgPool2dForward(x, g, avg);
          expectIdentical(avg, avgRef, `adaptive avg forward ${label}`);
          const gradOut = values(outLen, "normal", rng);
          const gxRef = new Float32Array(inLen);
          adaptiveAvgPool2dBackwardRef(gradOut, g, gxRef);
          const gx = new Float32Array(inLen).fill(Number.NaN);
          wasm.adaptiveAvgPool2dBackward(gradOut, g, gx);
          expectIdentical(gx, gxRef, `adaptive avg backward ${label}`);
          const maxRef = new Float32Array(outLen);
          const argRef = new Int32Array(outLen);
          adaptiveMaxPool2dForwardRef(x, g, maxRef, argRef);
          const mx = new Float32Array(outLen);
          const arg = new Int32Array(outLen).fill(-7);
          wasm.adaptiveMaxPool2dForward(x, g, mx, arg);
          expectIdentical(mx, maxRef, `adaptive max forward ${label}`);
          expectIdentical(arg, argRef, `adaptive argmax ${label}`);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("handles an empty batch (N = 0) without touching anything", () => {
    const g = pool2dGeometry([0, 2, 5, 5], { kernelSize: 2 }, "test");
    const out = new Float32Array(0);
    wasm.maxPool2dForward(new Float32Array(0), g, out, new Int32Array(0));
    wasm.maxPoolBackward(out, new Int32Array(0), 0, 25, 4, new Float32Array(0));
    wasm.avgPool2dForward(new Float32Array(0), g, { countIncludePad: true, divisorOverride: null }, out);
    expect(out.length).toBe(0);
  });
});

describe("wasm pooling through the seam", () => {
  it("useWasmKernelsSync installs the kernels, useReferenceKernels restores the reference", () => {
    try {
      useWasmKernelsSync({ variant: "simd" });
      expect(poolKernels.maxPool2dForward).not.toBe(maxPool2dForwardRef);
      expect(poolKernels.adaptiveAvgPool2dBackward).not.toBe(adaptiveAvgPool2dBackwardRef);
    } finally {
      useReferenceKernels();
    }
    expect(poolKernels.maxPool2dForward).toBe(maxPool2dForwardRef);
    expect(poolKernels.maxPoolBackward).toBe(maxPool2dBackwardRef);
    expect(poolKernels.avgPool2dForward).toBe(avgPool2dForwardRef);
    expect(poolKernels.avgPool2dBackward).toBe(avgPool2dBackwardRef);
    expect(poolKernels.adaptiveAvgPool2dForward).toBe(adaptiveAvgPool2dForwardRef);
    expect(poolKernels.adaptiveAvgPool2dBackward).toBe(adaptiveAvgPool2dBackwardRef);
    expect(poolKernels.adaptiveMaxPool2dForward).toBe(adaptiveMaxPool2dForwardRef);
  });

  it("maxPool2d gives the reference's output and gradient on the wasm kernels", () => {
    const run = () => {
      const rng = new Rng(4);
      const x = tensor(values(2 * 3 * 11 * 13, "ties", rng), [2, 3, 11, 13], { requiresGrad: true });
      const y = maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true });
      y.backward(values(y.numel, "normal", rng));
      return { y: y.data, gx: x.grad!.data };
    };
    try {
      useReferenceKernels();
      const ref = run();
      useWasmKernelsSync({ variant: "simd" });
      const got = run();
      expectIdentical(got.y, ref.y, "maxPool2d output");
      expectIdentical(got.gx, ref.gx, "maxPool2d gradient");
    } finally {
      useReferenceKernels();
    }
  });
});
