import { afterAll, describe, expect, it } from "vitest";
import { conv2dKernels } from "../../src/kernels/conv2d.js";
import {
  availableCores,
  getNumThreads,
  setNumThreads,
  threadingStatus,
  whenThreadsReady,
} from "../../src/kernels/threads/index.js";
import { makeWasmConv2d } from "../../src/kernels/wasm/conv2d.js";
import { useReferenceKernels, useWasmKernelsSync } from "../../src/kernels/wasm/index.js";
import { instantiateSync } from "../../src/kernels/wasm/module.js";
import { conv2dGeometry } from "../../src/tensor/conv-geometry.js";
import { ArgumentError } from "../../src/tensor/errors.js";
import { Rng, randArray } from "./wasm-variants.js";

afterAll(() => {
  useReferenceKernels();
});

describe("setNumThreads / getNumThreads / threadingStatus", () => {
  it("defaults to the cores available", () => {
    expect(getNumThreads()).toBe(availableCores());
    expect(availableCores()).toBeGreaterThanOrEqual(1);
  });

  it("rejects anything but a positive integer, naming the argument", () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => setNumThreads(bad)).toThrow(ArgumentError);
    }
    expect(() => setNumThreads(0)).toThrow("setNumThreads: n: expected an integer >= 1, got 0");
    expect(() => setNumThreads(2, { timeoutMs: 0 })).toThrow(/timeoutMs: expected a positive number/);
  });

  it("says why the reference kernels use one thread", () => {
    useReferenceKernels();
    setNumThreads(2);
    const s = threadingStatus();
    expect(s).toMatchObject({ requested: 2, active: 1, supported: true });
    expect(s.reason).toMatch(/reference kernels run on one thread/);
  });

  it("runs the wasm seam on the pool: same bits as one thread, and back to one thread on request", async () => {
    useWasmKernelsSync({ variant: "relaxed-simd" });
    setNumThreads(3);
    const s = await whenThreadsReady();
    expect(s).toEqual({ requested: 3, active: 3, starting: 0, supported: true, reason: null });
    const rng = new Rng(5);
    const g = conv2dGeometry([4, 32, 20, 20], [32, 32, 3, 3], { padding: 1 });
    const x = randArray(4 * 32 * 400, rng);
    const w = randArray(32 * 32 * 9, rng);
    const gy = randArray(4 * 32 * 400, rng);
    const one = makeWasmConv2d(instantiateSync("relaxed-simd"));
    const expectSame = (actual: Float32Array[], wanted: Float32Array[]) => {
      for (let i = 0; i < wanted.length; i++) expect(Array.from(actual[i])).toEqual(Array.from(wanted[i]));
    };
    const run = (k: typeof one) => {
      const y = new Float32Array(gy.length);
      const gx = new Float32Array(x.length);
      const gw = new Float32Array(w.length);
      k.forward(x, w, null, g, y);
      k.backwardInput(gy, w, g, gx);
      k.backwardWeight(x, gy, g, gw);
      return [y, gx, gw];
    };
    const expected = run(one);
    for (let r = 0; r < 3; r++) expectSame(run(conv2dKernels), expected);
    setNumThreads(1);
    expect(threadingStatus()).toEqual({
      requested: 1,
      active: 1,
      starting: 0,
      supported: true,
      reason: null,
    });
    expectSame(run(conv2dKernels), expected);
    setNumThreads(2, { timeoutMs: 30_000 });
    expect((await whenThreadsReady()).active).toBe(2);
    expectSame(run(conv2dKernels), expected);
  });
});
