import { describe, expect, it } from "vitest";
import { full, ones, randn } from "../../src/autograd/factories.js";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { dropout } from "../../src/ops/dropout.js";
import { ArgumentError } from "../../src/tensor/errors.js";
import { manualSeed, Rng } from "../../src/tensor/rng.js";

/**
 * Hoeffding: the zeroed fraction of n independent Bernoulli(p) draws is within t of p except with probability
 * 2 exp(-2 n t^2). Choosing that probability 1e-9 gives t = sqrt(ln(2e9) / (2n)), about 0.0103 for n = 1e5:
 * a bound that holds for every seed, not just the one used here.
 */
function hoeffdingTolerance(n: number, failure = 1e-9): number {
  return Math.sqrt(Math.log(2 / failure) / (2 * n));
}

describe("dropout: statistics and scaling", () => {
  const n = 100_000;

  for (const p of [0.1, 0.3, 0.5, 0.9]) {
    it(`zeroes a fraction near p = ${p} and scales the rest by 1/(1-p)`, () => {
      const x = full([n], 2);
      const y = dropout(x, { p, rng: new Rng(42) });
      let zeros = 0;
      const scaled = Math.fround(2 * Math.fround(1 / Math.fround(1 - p)));
      for (const v of y.data) {
        if (v === 0) zeros++;
        else expect(v).toBe(scaled);
      }
      expect(Math.abs(zeros / n - p)).toBeLessThan(hoeffdingTolerance(n));
      // mean preserved in expectation: |mean(y) - 2| = 2 |kept/n - (1-p)| / (1-p)
      const mean = y.data.reduce((a, v) => a + v, 0) / n;
      expect(Math.abs(mean - 2)).toBeLessThan((2 * hoeffdingTolerance(n)) / (1 - p) + 1e-5);
    });
  }

  it("is deterministic for a seed and differs between seeds", () => {
    const x = randn([4, 3, 5, 5], { rng: new Rng(1) });
    const a = dropout(x, { p: 0.4, rng: new Rng(9) });
    const b = dropout(x, { p: 0.4, rng: new Rng(9) });
    const c = dropout(x, { p: 0.4, rng: new Rng(10) });
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(Array.from(a.data)).not.toEqual(Array.from(c.data));
    // the default generator follows manualSeed
    manualSeed(123);
    const d = dropout(x, { p: 0.4 });
    manualSeed(123);
    const e = dropout(x, { p: 0.4 });
    expect(Array.from(d.data)).toEqual(Array.from(e.data));
  });
});

describe("dropout: backward", () => {
  it("uses the forward mask and scale", () => {
    const p = 0.35;
    const x = randn([3, 4, 6, 6], { rng: new Rng(2), requiresGrad: true });
    const y = dropout(x, { p, rng: new Rng(4) });
    const g = randn([3, 4, 6, 6], { rng: new Rng(3) });
    y.backward(g);
    const scale = Math.fround(1 / Math.fround(1 - p));
    for (let i = 0; i < x.numel; i++) {
      const kept = y.data[i] !== 0;
      // + 0 turns -0 (a negative gradient times the zero mask) into 0
      expect(x.grad!.data[i] + 0).toBe(kept ? Math.fround(g.data[i] * scale) : 0);
      if (kept) expect(y.data[i]).toBe(Math.fround(x.data[i] * scale));
    }
  });

  it("passes finite differences with a fixed mask", () => {
    const x = randn([2, 3, 4, 4], { rng: new Rng(6), requiresGrad: true });
    gradcheck((t) => dropout(t, { p: 0.3, rng: new Rng(77) }), [x]);
  });
});

describe("dropout: special values of p and training", () => {
  it("is the identity for p = 0 and when not training", () => {
    const x = randn([2, 3], { rng: new Rng(8), requiresGrad: true });
    expect(dropout(x, { p: 0 })).toBe(x);
    expect(dropout(x, { p: 0.7, training: false })).toBe(x);
  });

  it("gives zeros and a zero gradient for p = 1", () => {
    const x = ones([2, 5], { requiresGrad: true });
    const y = dropout(x, { p: 1 });
    expect(Array.from(y.data).every((v) => v === 0)).toBe(true);
    y.backward(ones([2, 5]));
    expect(Array.from(x.grad!.data).every((v) => v === 0)).toBe(true);
  });

  it("refuses p outside [0, 1] and a non-boolean training flag", () => {
    const x = ones([3]);
    for (const p of [-0.1, 1.5, Number.NaN]) {
      expect(() => dropout(x, { p })).toThrow(ArgumentError);
      expect(() => dropout(x, { p })).toThrow(/dropout: p: expected a probability between 0 and 1/);
    }
    expect(() => dropout(x, { training: "yes" as unknown as boolean })).toThrow(
      /dropout: training: expected a boolean/,
    );
  });
});
