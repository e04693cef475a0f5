import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deformConv2dKernels } from "../../src/kernels/deform.js";
import { deformConv2dBackwardColumns, deformConv2dForwardColumns } from "../../src/kernels/deform-columns.js";
import { deformConv2dBackwardRef, deformConv2dForwardRef } from "../../src/kernels/ref/deform.js";
import { ThreadPool } from "../../src/kernels/threads/pool.js";
import { threadSupport } from "../../src/kernels/threads/support.js";
import { makeWasmDeform } from "../../src/kernels/wasm/deform.js";
import { useReferenceKernels, useWasmKernelsSync } from "../../src/kernels/wasm/index.js";
import { instantiateSync } from "../../src/kernels/wasm/module.js";
import { expectClose } from "../helpers/close.js";
import {
  buffersOf,
  type Config,
  compareWithReference,
  configArb,
  GRAD_KEYS,
  geometryOf,
  gradBuffers,
} from "./deform-configs.js";
import { WASM_VARIANTS } from "./wasm-variants.js";

/**
 * The WebAssembly deformable kernels (assembly/deform.ts) against the reference loops: same algorithm as the
 * TypeScript plan + GEMM path, but float32 sums (the reference sums in float64), hence a tolerance.
 */

/** A configuration with room for full 4-pixel blocks, tails, several GEMM tiles and both group kinds. */
const larger: Config = {
  n: 2,
  groups: 2,
  offsetGroups: 4,
  cinMul: 3,
  channelQuads: false,
  coutPerGroup: 5,
  kH: 3,
  kW: 3,
  strideH: 1,
  strideW: 2,
  dilationH: 2,
  dilationW: 1,
  padTop: 2,
  padLeft: 1,
  padBottom: 2,
  padRight: 1,
  hIn: 13,
  wIn: 19,
  offsetScale: 2,
  integerOffsets: false,
  withMask: true,
  withBias: true,
  seed: 11,
};

describe.each(WASM_VARIANTS)("deformable convolution, WebAssembly (%s)", (variant) => {
  const kernels = makeWasmDeform(instantiateSync(variant));

  it("equals the reference loops, forward and every gradient, on random configurations", () => {
    let worst = 0;
    let runs = 0;
    fc.assert(
      fc.property(configArb, (c) => {
        worst = Math.max(worst, compareWithReference(kernels, c, JSON.stringify(c)));
        runs++;
      }),
      { numRuns: 150, seed: 20261128 },
    );
    console.log(
      `wasm deform (${variant}): ${runs} configurations, worst relative error ${worst.toExponential(2)}`,
    );
    expect(runs).toBe(150);
  });

  it("equals the reference on a larger case (full blocks, tails, offset groups, weight groups)", () => {
    const quads = { ...larger, channelQuads: true }; // 48 channels: the channel-last forward fill
    for (const c of [larger, { ...larger, withMask: false, integerOffsets: true, n: 1 }, quads])
      compareWithReference(kernels, c, JSON.stringify(c));
  });

  it("computes only the gradients asked for, and overwrites what it fills", () => {
    const g = geometryOf(larger);
    const b = buffersOf(larger, g);
    const full = gradBuffers(b);
    deformConv2dBackwardRef(b.input, b.offset, b.mask, b.weight, b.gradOut, g, full);
    for (const key of GRAD_KEYS) {
      const target = new Float32Array(full[key]?.length ?? 0).fill(123);
      const only = { input: null, offset: null, mask: null, weight: null, [key]: target };
      kernels.backward(b.input, b.offset, b.mask, b.weight, b.gradOut, g, only);
      expectClose(target, full[key] ?? [], { rtol: 1e-5, label: `only ${key}` });
    }
    // v1 (no mask): a mask-gradient buffer is overwritten with zeros, as by the other paths.
    const stale = new Float32Array(b.mask?.length ?? 0).fill(5);
    kernels.backward(b.input, b.offset, null, b.weight, b.gradOut, g, {
      input: null,
      offset: null,
      mask: stale,
      weight: null,
    });
    expect(stale.every((v) => v === 0)).toBe(true);
  });

  it.each([false, true])(
    "propagates NaN and infinity where the reference does, and nowhere else (channel quads: %s)",
    (channelQuads) => {
      const c: Config = { ...larger, seed: 5, channelQuads };
      const g = geometryOf(c);
      const b = buffersOf(c, g);
      b.input[3] = Number.NaN;
      b.input[40] = Number.POSITIVE_INFINITY;
      b.input[b.input.length - 1] = Number.NEGATIVE_INFINITY;
      const outRef = new Float32Array(g.n * g.cOut * g.hOut * g.wOut);
      const out = new Float32Array(outRef.length);
      deformConv2dForwardRef(b.input, b.offset, b.mask, b.weight, b.bias, g, outRef);
      kernels.forward(b.input, b.offset, b.mask, b.weight, b.bias, g, out);
      const bad = (v: number) => !Number.isFinite(v);
      expect(outRef.some(bad)).toBe(true);
      const mismatch = Array.from(out.keys()).filter((i) => bad(out[i]) !== bad(outRef[i]));
      expect(mismatch).toEqual([]);
    },
  );

  it("reuses its memory: repeated calls of one shape do not grow it", () => {
    const g = geometryOf(larger);
    const b = buffersOf(larger, g);
    const mod = instantiateSync(variant);
    const k = makeWasmDeform(mod);
    const out = new Float32Array(g.n * g.cOut * g.hOut * g.wOut);
    k.forward(b.input, b.offset, b.mask, b.weight, b.bias, g, out);
    k.backward(b.input, b.offset, b.mask, b.weight, b.gradOut, g, gradBuffers(b));
    const bytes = mod.memoryBytes;
    for (let i = 0; i < 3; i++) {
      k.forward(b.input, b.offset, b.mask, b.weight, b.bias, g, out);
      k.backward(b.input, b.offset, b.mask, b.weight, b.gradOut, g, gradBuffers(b));
    }
    expect(mod.memoryBytes).toBe(bytes);
  });

  it("never computes on what earlier calls left in memory (same bits, no NaN from stale +Infinity)", () => {
    // See the conv2d test of the same name: stale subnormals slow the arithmetic that reads them.
    for (const c of [larger, { ...larger, channelQuads: true }, { ...larger, withMask: false, n: 1 }]) {
      const g = geometryOf(c);
      const b = buffersOf(c, g);
      const mod = instantiateSync(variant);
      const k = makeWasmDeform(mod);
      const out = new Float32Array(g.n * g.cOut * g.hOut * g.wOut);
      const grads = gradBuffers(b);
      const run = () => {
        k.forward(b.input, b.offset, b.mask, b.weight, b.bias, g, out);
        const y = out.slice();
        k.backward(b.input, b.offset, b.mask, b.weight, b.gradOut, g, grads);
        return [y, ...GRAD_KEYS.map((key) => grads[key]?.slice() ?? new Float32Array(0))];
      };
      const clean = run();
      new Float32Array(mod.memory.buffer, mod.gemmWs).fill(Number.POSITIVE_INFINITY);
      const again = run();
      const where = JSON.stringify(c);
      for (const [i, a] of again.entries()) {
        expect(
          a.findIndex((v, j) => !Object.is(v, clean[i][j])),
          `${where} result ${i}`,
        ).toBe(-1);
      }
      const after = new Float32Array(mod.memory.buffer, mod.gemmWs);
      expect(
        after.findIndex((v) => Number.isNaN(v)),
        where,
      ).toBe(-1);
    }
  });
});

describe("deformable convolution, WebAssembly on 4 threads (split by image)", () => {
  const support = threadSupport();
  const shared = instantiateSync("relaxed-simd", { shared: true });
  const one = makeWasmDeform(instantiateSync("relaxed-simd"));
  let pool: ThreadPool | null = null;
  beforeAll(async () => {
    if (!support.ok) throw new Error(`threads unsupported here: ${support.reason}`);
    pool = new ThreadPool(shared, 3, support.host);
    expect(await pool.ready()).toBe(4);
  });
  afterAll(() => pool?.close());

  it("gives the one-thread bits, forward and every gradient, call after call", () => {
    const split = makeWasmDeform(shared, { minFlopsPerThread: 0 }, pool as ThreadPool);
    let calls = 0;
    fc.assert(
      fc.property(configArb, fc.integer({ min: 1, max: 7 }), (c, n) => {
        const cfg = { ...c, n };
        const g = geometryOf(cfg);
        const b = buffersOf(cfg, g);
        const outLen = g.n * g.cOut * g.hOut * g.wOut;
        const [a, z] = [new Float32Array(outLen), new Float32Array(outLen)];
        one.forward(b.input, b.offset, b.mask, b.weight, b.bias, g, a);
        split.forward(b.input, b.offset, b.mask, b.weight, b.bias, g, z);
        expect(z).toEqual(a);
        const [ga, gz] = [gradBuffers(b), gradBuffers(b)];
        one.backward(b.input, b.offset, b.mask, b.weight, b.gradOut, g, ga);
        split.backward(b.input, b.offset, b.mask, b.weight, b.gradOut, g, gz);
        for (const key of GRAD_KEYS) expect(gz[key], key).toEqual(ga[key]);
        calls++;
      }),
      { numRuns: 60, seed: 7 },
    );
    expect(calls).toBe(60);
  });
});

describe("deformable convolution seam", () => {
  it("points at WebAssembly when its kernels load, and back at the TypeScript plan + GEMM path", () => {
    try {
      expect(useWasmKernelsSync({ variant: "simd" })).toBe("simd");
      expect(deformConv2dKernels.forward).not.toBe(deformConv2dForwardColumns);
      expect(deformConv2dKernels.backward).not.toBe(deformConv2dBackwardColumns);
    } finally {
      useReferenceKernels();
    }
    expect(deformConv2dKernels.forward).toBe(deformConv2dForwardColumns);
    expect(deformConv2dKernels.backward).toBe(deformConv2dBackwardColumns);
  });
});
