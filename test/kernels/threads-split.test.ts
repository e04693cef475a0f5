import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Balance, clampShares, type ThreadTiming } from "../../src/kernels/threads/balance.js";
import { splitByShares, splitRange } from "../../src/kernels/threads/split.js";

/** Ranges are contiguous, non-empty, in order and cover [0, total). */
function expectPartition(ranges: [number, number][], total: number): void {
  expect(ranges[0][0]).toBe(0);
  expect(ranges[ranges.length - 1][1]).toBe(total);
  for (let i = 0; i < ranges.length; i++) {
    expect(ranges[i][1]).toBeGreaterThan(ranges[i][0]);
    if (i > 0) expect(ranges[i][0]).toBe(ranges[i - 1][1]);
  }
}

describe("splitRange", () => {
  it("splits into min(parts, total) contiguous ranges whose sizes differ by at most one", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 64 }), (total, parts) => {
        const r = splitRange(total, parts);
        expect(r.length).toBe(Math.min(parts, total));
        expectPartition(r, total);
        const sizes = r.map(([a, b]) => b - a);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }),
    );
  });
});

describe("splitByShares", () => {
  it("gives every thread at least one unit and follows the shares to within one unit each", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.01, max: 10, noNaN: true }), { minLength: 1, maxLength: 16 }),
        fc.integer({ min: 0, max: 5000 }),
        (shares, extra) => {
          const total = shares.length + extra;
          const r = splitByShares(total, shares);
          expect(r.length).toBe(shares.length);
          expectPartition(r, total);
          const sum = shares.reduce((a, b) => a + b, 0);
          let acc = 0;
          r.forEach(([, end], i) => {
            acc += shares[i];
            // Each boundary is the rounded cumulative share, moved only to leave a unit for every range.
            const ideal = (acc / sum) * total;
            expect(Math.abs(end - ideal)).toBeLessThanOrEqual(shares.length + 0.5);
          });
        },
      ),
    );
  });

  it("equal shares give the same sizes as splitRange", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 0, max: 3000 }), (t, extra) => {
        const total = t + extra;
        const sizes = (r: [number, number][]) => r.map(([a, b]) => b - a).sort((a, b) => a - b);
        const bySize = sizes(splitByShares(total, new Array<number>(t).fill(1)));
        const even = sizes(splitRange(total, t));
        for (let i = 0; i < t; i++) expect(Math.abs(bySize[i] - even[i])).toBeLessThanOrEqual(1);
      }),
    );
  });
});

describe("Balance", () => {
  it("starts from equal shares", () => {
    expect(new Balance().shares("k", 4)).toEqual([0.25, 0.25, 0.25, 0.25]);
  });

  it("moves units away from the thread that also copies, until all finish together", () => {
    // Same speed (1 ms per unit) everywhere; thread 0 starts at once but then reads its outputs for
    // `tail` ms, workers start after `delay` ms. Simulate calls and let the balance converge.
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 8 }),
        fc.double({ min: 0, max: 30, noNaN: true }),
        fc.double({ min: 0, max: 5, noNaN: true }),
        (t, tail, delay) => {
          const b = new Balance();
          const total = 400;
          let finishes: number[] = [];
          for (let call = 0; call < 30; call++) {
            const units = b.shares("conv", t).map((s) => s * total);
            const timings: ThreadTiming[] = units.map((u, i) => ({
              units: u,
              start: i === 0 ? 0 : delay,
              compute: u,
              tail: i === 0 ? tail : 0,
            }));
            finishes = timings.map((x) => x.start + x.compute + x.tail);
            b.update("conv", timings);
          }
          const shares = b.shares("conv", t);
          expect(shares.reduce((a, c) => a + c, 0)).toBeCloseTo(1, 9);
          // Converged: all finish within 1% of the call's length of each other, unless that needs a thread
          // below half an equal share, where it stays.
          const ideal = (total + tail + (t - 1) * delay) / t - tail;
          const floor = (0.5 * total) / t;
          if (ideal >= floor && ideal - delay + tail >= floor) {
            expect(Math.max(...finishes) - Math.min(...finishes)).toBeLessThan(
              0.01 * Math.max(...finishes) + 1e-9,
            );
          } else {
            expect(Math.min(...shares)).toBeCloseTo(0.5 / t, 6);
          }
          // The calling thread gets less than an equal share when its tail outweighs the workers' late
          // start, more when it does not.
          if (tail >= delay) expect(shares[0]).toBeLessThanOrEqual(1 / t + 1e-6);
          else expect(shares[0]).toBeGreaterThanOrEqual(1 / t - 1e-6);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("keeps every thread at half an equal share at least, and learns per key and thread count", () => {
    const b = new Balance();
    // A worker that started long after the calling thread (a preempted one, say).
    b.update("k", [
      { units: 50, start: 0, compute: 50, tail: 0 },
      { units: 50, start: 5000, compute: 50, tail: 0 },
    ]);
    const s = b.shares("k", 2);
    expect(s[1]).toBeGreaterThanOrEqual(0.5 * 0.5 * 0.5);
    expect(s[0]).toBeGreaterThan(0.5);
    expect(b.shares("k", 3)).toEqual([1 / 3, 1 / 3, 1 / 3]);
    expect(b.shares("other", 2)).toEqual([0.5, 0.5]);
  });

  it("clampShares keeps every share at the floor or above and sums to 1", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1000, noNaN: true }), { minLength: 1, maxLength: 16 }),
        (units) => {
          const floor = 0.5 / units.length;
          const f = clampShares(units, floor);
          expect(f.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
          for (const x of f) expect(x).toBeGreaterThanOrEqual(floor - 1e-12);
        },
      ),
    );
  });

  it("ignores calls too short to time", () => {
    const b = new Balance();
    b.update("k", [
      { units: 5, start: 0, compute: 0.01, tail: 0.02 },
      { units: 5, start: 0.01, compute: 0.01, tail: 0 },
    ]);
    expect(b.shares("k", 2)).toEqual([0.5, 0.5]);
  });
});
