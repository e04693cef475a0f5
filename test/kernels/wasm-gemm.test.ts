import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { gemmKernels } from "../../src/kernels/gemm.js";
import { gemmRef } from "../../src/kernels/ref/gemm.js";
import { makeWasmGemm } from "../../src/kernels/wasm/gemm.js";
import {
  activeKernelBackend,
  detectWasmFeatures,
  useReferenceKernels,
  useWasmKernels,
  useWasmKernelsSync,
} from "../../src/kernels/wasm/index.js";
import { instantiateSync } from "../../src/kernels/wasm/module.js";
import { expectClose } from "../helpers/close.js";
import { Rng, randArray, WASM_VARIANTS } from "./wasm-variants.js";

// Tile geometry of assembly/gemm.ts: MR x NR register tile, KC depth blocks, MC x NC packed blocks.
const MR = 6;
const NR = 8;
const KC = 256;
const MC = 120;
const NC = 1024;

interface Case {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  beta: number;
  offsets: [number, number, number];
  seed: number;
}

/** Sizes around every tile edge: 1, just under/over MR and NR multiples, and occasionally past KC, MC or NC. */
const edge = (tile: number) => fc.constantFrom(1, tile - 1, tile, tile + 1, 2 * tile - 1, 2 * tile + 3);
const small = fc.oneof(fc.integer({ min: 1, max: 19 }), edge(MR), edge(NR));
const dims = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(small, small, fc.oneof(small, fc.constant(0))) },
  { weight: 1, arbitrary: fc.tuple(small, small, fc.constantFrom(KC - 1, KC + 1, 2 * KC + 7)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(MC - 1, MC + 5), small, small) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.constantFrom(NC - 3, NC + 9), small) },
);

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    transA: fc.boolean(),
    transB: fc.boolean(),
    m: fc.constant(0),
    n: fc.constant(0),
    k: fc.constant(0),
    alpha: fc.constantFrom(1, 0.5, -2),
    beta: fc.constantFrom(0, 1, 0.3),
    offsets: fc.tuple(
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 0, max: 3 }),
    ),
    seed: fc.integer({ min: 0, max: 1e6 }),
  })
  .chain((c) => dims.map(([m, n, k]) => ({ ...c, m, n, k })));

function runCase(gemm: typeof gemmRef, c: Case): void {
  const rng = new Rng(c.seed);
  const [ao, bo, co] = c.offsets;
  const a = randArray(ao + c.m * c.k, rng);
  const b = randArray(bo + c.k * c.n, rng);
  const c0 = randArray(co + c.m * c.n + 2, rng);
  // With beta 0, C must not be read (gemmRef's contract): NaN there must not leak into the result.
  if (c.beta === 0) c0.fill(Number.NaN);
  const expected = c0.slice();
  const actual = c0.slice();
  gemmRef(c.transA, c.transB, c.m, c.n, c.k, c.alpha, a, ao, b, bo, c.beta, expected, co);
  gemm(c.transA, c.transB, c.m, c.n, c.k, c.alpha, a, ao, b, bo, c.beta, actual, co);
  const label = JSON.stringify({ ...c, seed: c.seed });
  expectClose(actual.subarray(co, co + c.m * c.n), expected.subarray(co, co + c.m * c.n), {
    rtol: 1e-4,
    label,
  });
  // Entries outside [co, co + m*n) are untouched.
  for (const i of [...Array(co).keys(), co + c.m * c.n, co + c.m * c.n + 1]) {
    expect(Object.is(actual[i], c0[i]), `${label}: element ${i} outside C changed`).toBe(true);
  }
}

describe.each(WASM_VARIANTS)("wasm gemm (%s)", (variant) => {
  const gemm = makeWasmGemm(instantiateSync(variant));

  it("matches gemmRef on random shapes, transposes, alpha/beta and offsets", () => {
    fc.assert(
      fc.property(caseArb, (c) => runCase(gemm, c)),
      { numRuns: 250 },
    );
  });

  it("covers each transpose combination on a shape with edge tiles in every direction", () => {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        runCase(gemm, {
          transA,
          transB,
          m: 2 * MR + 3,
          n: 3 * NR + 5,
          k: KC + 3,
          alpha: 1,
          beta: 0.5,
          offsets: [1, 2, 3],
          seed: 7,
        });
      }
    }
  });

  it("covers every row remainder of the 6-row tile (4-row kernel, tails) with plain and general alpha/beta", () => {
    for (let m = 1; m <= 2 * MR + 1; m++) {
      for (const [alpha, beta] of [
        [1, 0],
        [1, 1],
        [-2, 0.3],
      ]) {
        runCase(gemm, {
          transA: false,
          transB: m % 2 === 0,
          m,
          n: 2 * NR + 3,
          k: KC + 3,
          alpha,
          beta,
          offsets: [0, 1, 2],
          seed: m,
        });
      }
    }
  });

  it("gives the same result on repeated calls with memory reused", () => {
    const rng = new Rng(3);
    const a = randArray(37 * 41, rng);
    const b = randArray(41 * 29, rng);
    const first = new Float32Array(37 * 29);
    gemm(false, false, 37, 29, 41, 1, a, 0, b, 0, 0, first, 0);
    // A larger call in between grows the memory and overwrites the workspaces.
    const big = new Float32Array(300 * 300);
    gemm(
      false,
      true,
      300,
      300,
      300,
      1,
      randArray(300 * 300, rng),
      0,
      randArray(300 * 300, rng),
      0,
      0,
      big,
      0,
    );
    const again = new Float32Array(37 * 29);
    gemm(false, false, 37, 29, 41, 1, a, 0, b, 0, 0, again, 0);
    expect(Array.from(again)).toEqual(Array.from(first));
  });
});

describe("wasm kernel loader", () => {
  it("detects SIMD and relaxed SIMD (flag enabled by the test helper)", () => {
    expect(detectWasmFeatures()).toEqual({ wasm: true, simd: true, relaxedSimd: true });
  });

  it("swaps the gemm seam between the wasm and reference kernels", async () => {
    expect(useWasmKernelsSync({ variant: "simd" })).toBe("simd");
    expect(activeKernelBackend()).toBe("simd");
    expect(gemmKernels.gemm).not.toBe(gemmRef);
    const rng = new Rng(11);
    const a = randArray(5 * 6, rng);
    const b = randArray(6 * 7, rng);
    const viaSeam = new Float32Array(35);
    const viaRef = new Float32Array(35);
    gemmKernels.gemm(false, false, 5, 7, 6, 1, a, 0, b, 0, 0, viaSeam, 0);
    gemmRef(false, false, 5, 7, 6, 1, a, 0, b, 0, 0, viaRef, 0);
    expectClose(viaSeam, viaRef, { rtol: 1e-5, label: "seam" });
    expect(await useWasmKernels()).toBe("relaxed-simd");
    expect(useReferenceKernels()).toBe("reference");
    expect(gemmKernels.gemm).toBe(gemmRef);
    expect(activeKernelBackend()).toBe("reference");
  });
});
