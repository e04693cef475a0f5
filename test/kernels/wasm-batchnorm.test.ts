import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { tensor } from "../../src/autograd/tensor.js";
import { type BatchNormDims, batchNormKernels } from "../../src/kernels/batchnorm.js";
import {
  batchNormBackwardRef,
  batchNormForwardRef,
  batchNormStatsRef,
} from "../../src/kernels/ref/batchnorm.js";
import { makeWasmBatchNorm } from "../../src/kernels/wasm/batchnorm.js";
import { useReferenceKernels, useWasmKernelsSync } from "../../src/kernels/wasm/index.js";
import { instantiateSync } from "../../src/kernels/wasm/module.js";
import { batchNorm2d } from "../../src/ops/batchnorm.js";
import { expectClose } from "../helpers/close.js";
import { Rng, WASM_VARIANTS } from "./wasm-variants.js";

/**
 * The WebAssembly batch-norm kernels against the reference loops. They do the reference's float64 arithmetic
 * in its order for every element, so the normalised outputs must be identical bit for bit; the statistics
 * and the gradient sums are float64 sums in another order (vector accumulators), so they may differ in the
 * last float64 bits, which can move a float32 result by one rounding step at most.
 */

interface Case {
  n: number;
  c: number;
  h: number;
  w: number;
  /** Mean and spread of the input (a large mean makes the two-pass variance matter). */
  offset: number;
  spread: number;
  affine: [boolean, boolean];
  training: boolean;
  seed: number;
}

const int = (min: number, max: number) => fc.integer({ min, max });

// H * W from 1 to 81 crosses the 4- and 8-lane steps and leaves every tail length.
const caseArb: fc.Arbitrary<Case> = fc.record({
  n: int(1, 4),
  c: int(1, 6),
  h: int(1, 9),
  w: int(1, 9),
  offset: fc.constantFrom(0, 3, -50, 1000),
  spread: fc.constantFrom(1, 0.01, 20),
  affine: fc.tuple(fc.boolean(), fc.boolean()),
  training: fc.boolean(),
  seed: int(0, 1e6),
});

function normals(size: number, rng: Rng, offset = 0, spread = 1): Float32Array {
  const a = new Float32Array(size);
  for (let i = 0; i < size; i++) a[i] = offset + spread * rng.normal();
  return a;
}

/** Index of the first element that differs (NaN equals NaN, -0 differs from 0), or -1. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

function expectIdentical(actual: Float32Array, expected: Float32Array, label: string): void {
  const at = firstDifference(actual, expected);
  expect(at, `${label}: element ${at}: got ${actual[at]}, expected ${expected[at]}`).toBe(-1);
}

/** Float64 vectors equal up to summation order: relative 1e-12 of the larger of the value and `scale`. */
function expectNear64(actual: Float64Array, expected: Float64Array, scale: number, label: string): void {
  for (let i = 0; i < expected.length; i++) {
    const tol = 1e-12 * Math.max(Math.abs(expected[i]), scale);
    expect(
      Math.abs(actual[i] - expected[i]),
      `${label}[${i}]: ${actual[i]} vs ${expected[i]}`,
    ).toBeLessThanOrEqual(tol);
  }
}

describe.each(WASM_VARIANTS)("wasm batch norm (%s)", (variant) => {
  const wasm = makeWasmBatchNorm(instantiateSync(variant));

  it("statistics, forward and backward match the reference on random shapes (affine or not, training or eval)", () => {
    fc.assert(
      fc.property(caseArb, (k) => {
        const rng = new Rng(k.seed);
        const d: BatchNormDims = { n: k.n, c: k.c, hw: k.h * k.w };
        const len = k.n * k.c * d.hw;
        const label = JSON.stringify(k);
        const x = normals(len, rng, k.offset, k.spread);
        const weight = k.affine[0] ? normals(k.c, rng, 1, 0.5) : null;
        const bias = k.affine[1] ? normals(k.c, rng) : null;
        const gradOut = normals(len, rng);

        const meanRef = new Float64Array(k.c);
        const varRef = new Float64Array(k.c);
        batchNormStatsRef(x, d, meanRef, varRef);
        const mean = new Float64Array(k.c).fill(Number.NaN);
        const varBiased = new Float64Array(k.c).fill(Number.NaN);
        wasm.stats(x, d, mean, varBiased);
        expectNear64(mean, meanRef, Math.abs(k.offset) + k.spread, `mean ${label}`);
        expectNear64(varBiased, varRef, k.spread * k.spread, `var ${label}`);

        // Training normalises with the batch statistics, evaluation with "running" ones (here: made up).
        const meanUsed = Float64Array.from(k.training ? meanRef : normals(k.c, rng, k.offset, 1));
        const invstd = new Float64Array(k.c);
        for (let ch = 0; ch < k.c; ch++) {
          const v = k.training ? varRef[ch] : Math.abs(rng.normal()) * k.spread * k.spread + 0.1;
          invstd[ch] = 1 / Math.sqrt(v + 1e-5);
        }

        const outRef = new Float32Array(len);
        batchNormForwardRef(x, d, meanUsed, invstd, weight, bias, outRef);
        const out = new Float32Array(len).fill(Number.NaN);
        wasm.forward(x, d, meanUsed, invstd, weight, bias, out);
        expectIdentical(out, outRef, `forward ${label}`);

        const gxRef = new Float32Array(len);
        const gwRef = new Float32Array(k.c);
        const gbRef = new Float32Array(k.c);
        batchNormBackwardRef(gradOut, x, d, meanUsed, invstd, weight, k.training, gxRef, gwRef, gbRef);
        const gx = new Float32Array(len).fill(Number.NaN);
        const gw = new Float32Array(k.c).fill(Number.NaN);
        const gb = new Float32Array(k.c).fill(Number.NaN);
        wasm.backward(gradOut, x, d, meanUsed, invstd, weight, k.training, gx, gw, gb);
        expectClose(gx, gxRef, { rtol: 1e-6, label: `gradX ${label}` });
        expectClose(gw, gwRef, { rtol: 1e-6, label: `gradWeight ${label}` });
        expectClose(gb, gbRef, { rtol: 1e-6, label: `gradBias ${label}` });
      }),
      { numRuns: 250 },
    );
  });

  it("backward computes only the gradients asked for and leaves the others untouched", () => {
    const rng = new Rng(7);
    const d: BatchNormDims = { n: 3, c: 5, hw: 13 };
    const len = 3 * 5 * 13;
    const x = normals(len, rng);
    const g = normals(len, rng);
    const weight = normals(5, rng, 1, 0.3);
    const mean = new Float64Array(5);
    const varBiased = new Float64Array(5);
    batchNormStatsRef(x, d, mean, varBiased);
    const invstd = varBiased.map((v) => 1 / Math.sqrt(v + 1e-5));
    for (const mask of [0, 1, 2, 3, 4, 5, 6, 7]) {
      const gx = mask & 1 ? new Float32Array(len) : null;
      const gw = mask & 2 ? new Float32Array(5) : null;
      const gb = mask & 4 ? new Float32Array(5) : null;
      wasm.backward(g, x, d, mean, invstd, weight, true, gx, gw, gb);
      const gxRef = new Float32Array(len);
      const gwRef = new Float32Array(5);
      const gbRef = new Float32Array(5);
      batchNormBackwardRef(g, x, d, mean, invstd, weight, true, gxRef, gwRef, gbRef);
      if (gx) expectClose(gx, gxRef, { rtol: 1e-6, label: `gradX mask ${mask}` });
      if (gw) expectClose(gw, gwRef, { rtol: 1e-6, label: `gradWeight mask ${mask}` });
      if (gb) expectClose(gb, gbRef, { rtol: 1e-6, label: `gradBias mask ${mask}` });
    }
  });

  it("propagates NaN and infinity like the reference (element-wise results identical)", () => {
    const d: BatchNormDims = { n: 2, c: 2, hw: 9 };
    const rng = new Rng(3);
    const x = normals(36, rng);
    x[4] = Number.NaN;
    x[20] = Number.POSITIVE_INFINITY;
    const mean = Float64Array.of(0.5, -0.25);
    const invstd = Float64Array.of(2, 0.5);
    const outRef = new Float32Array(36);
    const out = new Float32Array(36);
    batchNormForwardRef(x, d, mean, invstd, null, Float32Array.of(1, -1), outRef);
    wasm.forward(x, d, mean, invstd, null, Float32Array.of(1, -1), out);
    expectIdentical(out, outRef, "forward with NaN and Infinity");
    const g = normals(36, rng);
    const gxRef = new Float32Array(36);
    const gx = new Float32Array(36);
    batchNormBackwardRef(g, x, d, mean, invstd, null, false, gxRef, null, null);
    wasm.backward(g, x, d, mean, invstd, null, false, gx, null, null);
    expectIdentical(gx, gxRef, "eval backward with NaN and Infinity");
  });
});

describe("wasm batch norm through the seam", () => {
  it("useWasmKernelsSync installs the kernels, useReferenceKernels restores the reference", () => {
    try {
      useWasmKernelsSync({ variant: "simd" });
      expect(batchNormKernels.stats).not.toBe(batchNormStatsRef);
      expect(batchNormKernels.forward).not.toBe(batchNormForwardRef);
      expect(batchNormKernels.backward).not.toBe(batchNormBackwardRef);
    } finally {
      useReferenceKernels();
    }
    expect(batchNormKernels.stats).toBe(batchNormStatsRef);
    expect(batchNormKernels.forward).toBe(batchNormForwardRef);
    expect(batchNormKernels.backward).toBe(batchNormBackwardRef);
  });

  it("batchNorm2d gives the reference's output, running statistics and gradients on the wasm kernels", () => {
    const shape = [4, 3, 5, 7];
    const len = 4 * 3 * 5 * 7;
    const run = (wasmOn: boolean, training: boolean) => {
      if (wasmOn) useWasmKernelsSync({ variant: "simd" });
      else useReferenceKernels();
      const local = new Rng(5);
      const x = tensor(normals(len, local, 2, 3), shape, { requiresGrad: true });
      const w = tensor(normals(3, local, 1, 0.2), [3], { requiresGrad: true });
      const b = tensor(normals(3, local), [3], { requiresGrad: true });
      const rm = tensor(normals(3, local), [3]);
      const rv = tensor(Float32Array.of(1.5, 0.5, 2), [3]);
      const y = batchNorm2d(x, rm, rv, w, b, { training, momentum: 0.1, eps: 1e-5 });
      y.backward(normals(len, new Rng(9)));
      return { y: y.data, rm: rm.data, rv: rv.data, gx: x.grad!.data, gw: w.grad!.data, gb: b.grad!.data };
    };
    try {
      for (const training of [true, false]) {
        const ref = run(false, training);
        const got = run(true, training);
        const label = training ? "training" : "eval";
        expectClose(got.y, ref.y, { rtol: 1e-6, label: `${label} output` });
        expectClose(got.rm, ref.rm, { rtol: 1e-6, label: `${label} running mean` });
        expectClose(got.rv, ref.rv, { rtol: 1e-6, label: `${label} running var` });
        expectClose(got.gx, ref.gx, { rtol: 1e-6, label: `${label} gradX` });
        expectClose(got.gw, ref.gw, { rtol: 1e-6, label: `${label} gradWeight` });
        expectClose(got.gb, ref.gb, { rtol: 1e-6, label: `${label} gradBias` });
      }
    } finally {
      useReferenceKernels();
    }
  });
});
