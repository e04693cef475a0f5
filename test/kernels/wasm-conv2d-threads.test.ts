import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KernelRunner, Task } from "../../src/kernels/threads/call.js";
import { serialRunner, ThreadPool } from "../../src/kernels/threads/pool.js";
import { threadSupport } from "../../src/kernels/threads/support.js";
import { makeWasmConv2d, wasmConvPath, weightGradientSplit } from "../../src/kernels/wasm/conv2d.js";
import { instantiateSync, type WasmKernelModule } from "../../src/kernels/wasm/module.js";
import { type Conv2dGeometry, conv2dGeometry } from "../../src/tensor/conv-geometry.js";
import { Rng, randArray, WASM_VARIANTS } from "./wasm-variants.js";

// Split invariance: a conv split into any ranges, on the calling thread or on workers, gives the one-thread
// result bit for bit: forward, input gradient and weight gradient (split by channel, or for convs with few
// input channels computed in fixed parts that any thread may compute).

/**
 * A runner that splits every call at random boundaries (not the pool's learnt ones), runs the first range
 * on this thread and the others on `pool`'s workers (or all in turn on this thread without a pool), with
 * the same write / task / read order as the pool.
 */
function randomSplitRunner(mod: WasmKernelModule, pool: ThreadPool | null, rng: Rng): KernelRunner {
  const serial = serialRunner(mod);
  return {
    threads: () => (pool ? pool.threads() : 6),
    run: (tasks) => (pool ? pool.run(tasks) : serial.run(tasks)),
    runSplit(c) {
      const t = Math.min(c.threads, c.units);
      const cuts = new Set<number>();
      while (cuts.size < t - 1) cuts.add(1 + Math.floor(rng.uniform() * (c.units - 1)));
      const bounds = [0, ...[...cuts].sort((a, b) => a - b), c.units];
      const ranges = bounds.slice(1).map((end, i): [number, number] => [bounds[i], end]);
      const exec = (tasks: Task[]) => (pool ? pool.run(tasks) : serial.run(tasks));
      c.writeShared?.();
      const st = c.stepped;
      if (st) {
        // The calling thread's range in one call, the others step by step (step s of every range at once).
        for (let p = 0; p < st.count; p++) st.write(p);
        const stepTask = ([a, b]: [number, number], i: number, p: number): Task => {
          const base = st.task(a, b, i);
          const args = base.args.map((v, j) => (j === st.accumulate && p > 0 ? 1 : v + p * st.delta[j]));
          return { kernel: base.kernel, args };
        };
        for (let p = 0; p < st.count; p++) {
          const steps = ranges.slice(1).map((r, i) => stepTask(r, i + 1, p));
          exec(p === 0 ? [c.task(ranges[0][0], ranges[0][1], 0), ...steps] : steps);
        }
        for (const [a, b] of ranges) c.readRange?.(a, b);
        return;
      }
      for (let i = 1; i < ranges.length; i++) c.writeRange?.(ranges[i][0], ranges[i][1]);
      c.writeRange?.(ranges[0][0], ranges[0][1]);
      exec(ranges.map(([a, b], i) => c.task(a, b, i)));
      for (const [a, b] of ranges) c.readRange?.(a, b);
    },
  };
}

interface Spec {
  n: number;
  groups: number;
  cInG: number;
  cOutG: number;
  k: [number, number];
  stride: [number, number];
  dilation: [number, number];
  pads: [number, number, number, number];
  extra: [number, number];
}

const int = (min: number, max: number) => fc.integer({ min, max });
const pair = (min: number, max: number) => fc.tuple(int(min, max), int(min, max));

/**
 * Every path: 1x1 (pointwise), stride 1 (Winograd: 3x3, dilated 3x3, larger kernels in 3x3 blocks),
 * depthwise (cInG 1), strided (im2col).
 */
const specArb: fc.Arbitrary<Spec> = fc.oneof(
  fc.record({
    n: int(1, 3),
    groups: int(1, 2),
    cInG: int(1, 4),
    cOutG: int(1, 5),
    k: pair(3, 7),
    stride: fc.constant<[number, number]>([1, 1]),
    dilation: fc.constant<[number, number]>([1, 1]),
    pads: fc.tuple(int(0, 3), int(0, 3), int(0, 3), int(0, 3)),
    extra: pair(0, 10),
  }),
  fc.record({
    n: int(1, 4),
    groups: int(1, 3),
    cInG: int(1, 6),
    cOutG: int(1, 9),
    k: pair(1, 4),
    stride: pair(1, 3),
    dilation: pair(1, 2),
    pads: fc.tuple(int(0, 2), int(0, 2), int(0, 2), int(0, 2)),
    extra: pair(0, 12),
  }),
  fc.record({
    n: int(1, 3),
    groups: int(1, 2),
    cInG: int(1, 6),
    cOutG: int(1, 6),
    k: fc.constant<[number, number]>([3, 3]),
    stride: fc.constant<[number, number]>([1, 1]),
    dilation: fc.oneof(fc.constant<[number, number]>([1, 1]), pair(1, 3)),
    pads: fc.tuple(int(0, 2), int(0, 2), int(0, 2), int(0, 2)),
    extra: pair(0, 14),
  }),
  fc.record({
    n: int(1, 3),
    groups: int(2, 6),
    cInG: fc.constant(1),
    cOutG: int(1, 2),
    k: pair(1, 3),
    stride: pair(1, 2),
    dilation: pair(1, 2),
    pads: fc.tuple(int(0, 1), int(0, 1), int(0, 1), int(0, 1)),
    extra: pair(0, 12),
  }),
);

function geometryOf(s: Spec): Conv2dGeometry {
  const [pt, pl, pb, pr] = s.pads;
  const h = Math.max(1, s.dilation[0] * (s.k[0] - 1) + 1 - pt - pb) + s.extra[0];
  const w = Math.max(1, s.dilation[1] * (s.k[1] - 1) + 1 - pl - pr) + s.extra[1];
  return conv2dGeometry([s.n, s.cInG * s.groups, h, w], [s.cOutG * s.groups, s.cInG, s.k[0], s.k[1]], {
    stride: s.stride,
    dilation: s.dilation,
    padding: [pt, pl, pb, pr],
    groups: s.groups,
  });
}

/** Index of the first element whose bits differ, or -1. */
function firstBitDifference(a: Float32Array, b: Float32Array): number {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (x.length !== y.length) return 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

function expectSameBits(actual: Float32Array, expected: Float32Array, label: string): void {
  const i = firstBitDifference(actual, expected);
  expect(i, `${label}: element ${i} is ${actual[i]}, one thread gave ${expected[i]}`).toBe(-1);
}

/** Runs the three kernels on both and compares them bit for bit. */
function compare(
  one: ReturnType<typeof makeWasmConv2d>,
  split: ReturnType<typeof makeWasmConv2d>,
  g: Conv2dGeometry,
  seed: number,
  winograd: "auto" | "always" | "never",
): void {
  const rng = new Rng(seed);
  const cinG = g.cIn / g.groups;
  const x = randArray(g.n * g.cIn * g.hIn * g.wIn, rng);
  const w = randArray(g.cOut * cinG * g.kH * g.kW, rng);
  const bias = randArray(g.cOut, rng);
  const gy = randArray(g.n * g.cOut * g.hOut * g.wOut, rng);
  const label = `${wasmConvPath(g, "forward", { winograd })} ${JSON.stringify(g)} seed ${seed}`;
  const fresh = (n: number) => new Float32Array(n).fill(Number.NaN);
  const y1 = fresh(gy.length);
  const y2 = fresh(gy.length);
  one.forward(x, w, bias, g, y1);
  split.forward(x, w, bias, g, y2);
  expectSameBits(y2, y1, `forward ${label}`);
  const gx1 = fresh(x.length);
  const gx2 = fresh(x.length);
  one.backwardInput(gy, w, g, gx1);
  split.backwardInput(gy, w, g, gx2);
  expectSameBits(gx2, gx1, `backwardInput ${label}`);
  const gw1 = fresh(w.length);
  const gw2 = fresh(w.length);
  one.backwardWeight(x, gy, g, gw1);
  split.backwardWeight(x, gy, g, gw2);
  expectSameBits(gw2, gw1, `backwardWeight (split by ${weightGradientSplit(g)}) ${label}`);
}

describe.each(WASM_VARIANTS)("wasm conv2d split across threads (%s)", (variant) => {
  const one = instantiateSync(variant);
  const shared = instantiateSync(variant, { shared: true });
  const reference = {
    one: makeWasmConv2d(one, { winograd: "never" }),
    w: makeWasmConv2d(one, { winograd: "always" }),
  };
  const support = threadSupport();
  let pool: ThreadPool | null = null;

  beforeAll(async () => {
    if (!support.ok) throw new Error(`threads unsupported here: ${support.reason}`);
    pool = new ThreadPool(shared, 3, support.host);
    expect(await pool.ready()).toBe(4);
  });
  afterAll(() => pool?.close());

  const seed = int(0, 1e6);

  it("any split on the calling thread gives the one-thread bits (every path)", () => {
    fc.assert(
      fc.property(specArb, seed, fc.constantFrom<"always" | "never">("always", "never"), (spec, sd, wino) => {
        const runner = randomSplitRunner(shared, null, new Rng(sd + 1));
        const split = makeWasmConv2d(shared, { winograd: wino, minFlopsPerThread: 0 }, runner);
        compare(wino === "always" ? reference.w : reference.one, split, geometryOf(spec), sd, wino);
      }),
      { numRuns: 120 },
    );
  });

  it("random splits on 4 threads (3 workers) give the one-thread bits", () => {
    fc.assert(
      fc.property(specArb, seed, fc.constantFrom<"always" | "never">("always", "never"), (spec, sd, wino) => {
        const p = pool as ThreadPool;
        const runner = randomSplitRunner(shared, p, new Rng(sd + 2));
        const split = makeWasmConv2d(shared, { winograd: wino, minFlopsPerThread: 0 }, runner);
        compare(wino === "always" ? reference.w : reference.one, split, geometryOf(spec), sd, wino);
      }),
      { numRuns: 80 },
    );
  });

  it("the pool's own (learnt) splits give the one-thread bits, call after call", () => {
    const p = pool as ThreadPool;
    const split = makeWasmConv2d(shared, { minFlopsPerThread: 0 }, p);
    const auto = makeWasmConv2d(one);
    const cases: [number[], number[], Parameters<typeof conv2dGeometry>[2]][] = [
      [[3, 40, 17, 19], [36, 40, 3, 3], { padding: 1 }], // Winograd (auto: >= 8 channels per group)
      [[2, 24, 15, 13], [16, 24, 3, 3], { padding: 2, dilation: 2 }], // im2col
      [[2, 3, 30, 31], [8, 3, 7, 7], { stride: 2, padding: 3 }], // stem: weight gradient in partial sums
      [[3, 12, 13, 14], [24, 1, 3, 3], { padding: 1, groups: 12 }], // depthwise, multiplier 2
      [[2, 16, 9, 9], [16, 4, 1, 1], { groups: 4 }], // grouped pointwise
    ];
    for (const [xs, ws, opts] of cases) {
      const g = conv2dGeometry(xs, ws, opts);
      // Several calls: the pool re-balances between them, the bits must not move.
      for (let r = 0; r < 4; r++) compare(auto, split, g, 100 + r, "auto");
    }
  });
});
