import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { broadcastIndex, expandData, reduceToShape } from "../../src/ops/broadcast.js";
import { add, div, exp, log, mul, neg, type Operand, pow, sqrt, sub } from "../../src/ops/elementwise.js";
import { ArgumentError, ShapeError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";
import { fromSpec, type GoldenCase, loadGolden } from "../helpers/golden.js";

// ---------------------------------------------------------------- helpers (independent of src/ops/broadcast.ts)

function rand(shape: readonly number[], rng: Rng, requiresGrad = false, away = 0): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const v = rng.normal();
    data[i] = away > 0 ? Math.sign(v) * (away + Math.abs(v)) : v;
  }
  return new Tensor(data, shape, requiresGrad);
}

/** Coordinates of flat index i in a row-major shape, by repeated division. */
function coords(i: number, shape: readonly number[]): number[] {
  const c = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    c[k] = i % shape[k];
    i = Math.floor(i / shape[k]);
  }
  return c;
}

/** Flat index of the element of `small` that output coordinates `c` read under broadcasting. */
function readIndex(c: number[], small: readonly number[]): number {
  let idx = 0;
  const offset = c.length - small.length;
  for (let k = 0; k < small.length; k++) idx = idx * small[k] + (small[k] === 1 ? 0 : c[offset + k]);
  return idx;
}

type Binary = (a: Operand, b: Operand) => Tensor;
const BINARY: Record<string, Binary> = { add, sub, mul, div };
const UNARY: Record<string, (x: Tensor, args: Record<string, unknown>) => Tensor> = {
  neg: (x) => neg(x),
  exp: (x) => exp(x),
  log: (x) => log(x),
  sqrt: (x) => sqrt(x),
  pow: (x, args) => pow(x, args.exponent as number),
};

// ---------------------------------------------------------------- golden

const golden = loadGolden("elementwise");
const worst = new Map<string, { cases: number; out: number; grad: number }>();

function runCase(c: GoldenCase, run: (inputs: Record<string, Tensor>) => Tensor): void {
  const inputs: Record<string, Tensor> = {};
  for (const [k, spec] of Object.entries(c.inputs)) inputs[k] = fromSpec(spec, c.requiresGrad.includes(k));
  const out = run(inputs);
  expect(out.shape, `${c.name}: output shape`).toEqual(c.output.shape);
  const w = worst.get(c.op) ?? { cases: 0, out: 0, grad: 0 };
  w.cases++;
  w.out = Math.max(w.out, expectClose(out.data, c.output.data, { rtol: 1e-5, label: `${c.name}: output` }));
  expect(c.gradOutput, `${c.name}: gradOutput recorded`).not.toBeNull();
  out.backward(fromSpec(c.gradOutput!));
  for (const k of c.requiresGrad) {
    const g = inputs[k].grad;
    expect(g, `${c.name}: grad ${k}`).not.toBeNull();
    w.grad = Math.max(
      w.grad,
      expectClose(g!.data, c.grads[k].data, { rtol: 1e-4, label: `${c.name}: grad ${k}` }),
    );
  }
  worst.set(c.op, w);
}

afterAll(() => {
  for (const [op, w] of worst) {
    console.log(
      `${op}: ${w.cases} golden cases, worst output ${w.out.toExponential(2)}, worst grad ${w.grad.toExponential(2)}`,
    );
  }
});

describe("binary element-wise ops: golden cases from PyTorch", () => {
  for (const [name, fn] of Object.entries(BINARY)) {
    const cases = golden.cases.filter((c) => c.op === name);
    it(`${name} matches PyTorch with broadcasting and number operands (${cases.length} cases)`, () => {
      expect(cases.length).toBeGreaterThanOrEqual(10);
      for (const c of cases) {
        runCase(c, (t) => {
          if (c.args.scalar === undefined) return fn(t.a, t.b);
          const s = c.args.scalar as number;
          return c.args.scalarSide === "b" ? fn(t.x, s) : fn(s, t.x);
        });
      }
    });
  }
});

describe("unary element-wise ops: golden cases from PyTorch", () => {
  for (const [name, fn] of Object.entries(UNARY)) {
    const cases = golden.cases.filter((c) => c.op === name);
    it(`${name} matches PyTorch (${cases.length} cases)`, () => {
      expect(cases.length).toBeGreaterThanOrEqual(1);
      for (const c of cases) runCase(c, (t) => fn(t.x, c.args));
    });
  }
});

// ---------------------------------------------------------------- finite differences

describe("element-wise ops: finite differences", () => {
  const rng = new Rng(11);
  const pairs: [number[], number[]][] = [
    [
      [2, 3, 2, 2],
      [2, 3, 1, 1],
    ],
    [[3, 1], [4]],
    [[], [2, 3]],
    [
      [2, 3],
      [2, 3],
    ],
  ];
  for (const [name, fn] of Object.entries(BINARY)) {
    it(`${name}: gradients of both operands under broadcasting`, () => {
      for (const [sa, sb] of pairs) {
        const a = rand(sa, rng, true);
        const b = rand(sb, rng, true, name === "div" ? 0.5 : 0);
        const r = gradcheck((x, y) => fn(x, y), [a, b], { eps: 1e-3 });
        expect(r.worst).toBeLessThan(2e-2);
      }
    });
  }
  it("neg, exp, log, sqrt and pow", () => {
    const x = rand([3, 4], rng, true);
    const pos = new Tensor(
      rand([3, 4], rng).data.map((v) => Math.abs(v) + 0.5),
      [3, 4],
      true,
    );
    expect(gradcheck(neg, [x]).worst).toBeLessThan(2e-2);
    expect(gradcheck(exp, [x], { eps: 1e-3 }).worst).toBeLessThan(2e-2);
    expect(gradcheck(log, [pos], { eps: 1e-3 }).worst).toBeLessThan(2e-2);
    expect(gradcheck(sqrt, [pos], { eps: 1e-3 }).worst).toBeLessThan(2e-2);
    for (const e of [2, 3, -1, 0.5]) {
      expect(gradcheck((t) => pow(t, e), [pos], { eps: 1e-3 }).worst).toBeLessThan(2e-2);
    }
  });
});

// ---------------------------------------------------------------- properties

/** An output shape and two operand shapes derived from it by dropping leading axes and setting some to 1. */
const broadcastTriple = fc
  .array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 4 })
  .chain((full) =>
    fc.record({
      full: fc.constant(full),
      dropA: fc.integer({ min: 0, max: full.length }),
      dropB: fc.integer({ min: 0, max: full.length }),
      onesA: fc.array(fc.boolean(), { minLength: full.length, maxLength: full.length }),
      onesB: fc.array(fc.boolean(), { minLength: full.length, maxLength: full.length }),
      seed: fc.integer({ min: 0, max: 1 << 30 }),
    }),
  )
  .map(({ full, dropA, dropB, onesA, onesB, seed }) => {
    const a = full.map((d, i) => (onesA[i] ? 1 : d)).slice(dropA);
    const b = full.map((d, i) => (onesB[i] ? 1 : d)).slice(dropB);
    // Independent rule: pad both with leading 1s to the larger rank; each output dim is the non-1
    // size, or 1 if both are 1.
    const rank = Math.max(a.length, b.length);
    const pa = [...new Array<number>(rank - a.length).fill(1), ...a];
    const pb = [...new Array<number>(rank - b.length).fill(1), ...b];
    const expected = pa.map((_, i) => Math.max(pa[i], pb[i]));
    return { a, b, expected, seed };
  });

describe("broadcasting: properties", () => {
  it("the output shape follows the padding-with-ones rule, and every element reads the right operands", () => {
    fc.assert(
      fc.property(broadcastTriple, ({ a, b, expected, seed }) => {
        const rng = new Rng(seed);
        const x = rand(a, rng);
        const y = rand(b, rng);
        const out = add(x, y);
        expect(out.shape).toEqual(expected);
        for (let i = 0; i < out.numel; i++) {
          const c = coords(i, expected);
          expect(out.data[i]).toBe(Math.fround(x.data[readIndex(c, a)] + y.data[readIndex(c, b)]));
        }
      }),
      { numRuns: 80 },
    );
  });

  it("the gradient of a broadcast add w.r.t. each operand is gradOutput summed over its broadcast axes", () => {
    fc.assert(
      fc.property(broadcastTriple, ({ a, b, expected, seed }) => {
        const rng = new Rng(seed);
        const x = rand(a, rng, true);
        const y = rand(b, rng, true);
        const g = rand(expected, rng);
        add(x, y).backward(g);
        for (const [t, shape] of [
          [x, a],
          [y, b],
        ] as const) {
          const want = new Float64Array(t.numel);
          for (let i = 0; i < g.numel; i++) want[readIndex(coords(i, expected), shape)] += g.data[i];
          expectClose(t.grad!.data, want, { rtol: 1e-6, label: `grad of ${JSON.stringify(shape)}` });
        }
      }),
      { numRuns: 80 },
    );
  });

  it("broadcastIndex, expandData and reduceToShape agree with the coordinate rule", () => {
    fc.assert(
      fc.property(broadcastTriple, ({ a, expected, seed }) => {
        const rng = new Rng(seed);
        const x = rand(a, rng);
        const map = broadcastIndex(expected, a);
        const expanded = expandData(x.data, a, expected);
        for (let i = 0; i < expanded.length; i++) {
          const j = readIndex(coords(i, expected), a);
          expect(map === null ? i : map[i]).toBe(j);
          expect(expanded[i]).toBe(x.data[j]);
        }
        // reduceToShape is the adjoint of expandData: <expand(x), g> = <x, reduce(g)>
        const g = rand(expected, rng).data;
        const r = reduceToShape(g, expected, a);
        let lhs = 0;
        let rhs = 0;
        for (let i = 0; i < g.length; i++) lhs += expanded[i] * g[i];
        for (let i = 0; i < r.length; i++) rhs += x.data[i] * r[i];
        expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4 * (1 + Math.abs(lhs)));
      }),
      { numRuns: 60 },
    );
  });

  it("a number operand is the same as a 0-d tensor and gets no gradient slot", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1 << 30 }),
        fc.float({ min: 1, max: 3, noNaN: true }),
        (seed, s) => {
          const rng = new Rng(seed);
          const x = rand([2, 3], rng);
          const sc = new Tensor(Float32Array.of(s), []);
          for (const fn of Object.values(BINARY)) {
            expect(Array.from(fn(x, s).data)).toEqual(Array.from(fn(x, sc).data));
            expect(Array.from(fn(s, x).data)).toEqual(Array.from(fn(sc, x).data));
          }
        },
      ),
      { numRuns: 30 },
    );
  });
});

// ---------------------------------------------------------------- bad input

describe("element-wise ops: bad input", () => {
  it("non-broadcastable shapes: ShapeError naming both shapes", () => {
    const a = new Tensor(new Float32Array(6), [2, 3]);
    const b = new Tensor(new Float32Array(8), [2, 4]);
    for (const [name, fn] of Object.entries(BINARY)) {
      expect(() => fn(a, b)).toThrow(ShapeError);
      expect(() => fn(a, b)).toThrow(
        new RegExp(`^${name}: shapes \\[2, 3\\] and \\[2, 4\\] do not broadcast`),
      );
    }
    const c = new Tensor(new Float32Array(24), [2, 3, 4]);
    expect(() => mul(c, new Tensor(new Float32Array(3), [3]))).toThrow(/\[2, 3, 4\] and \[3\]/);
  });

  it("operands that are neither tensors nor numbers: ArgumentError", () => {
    const a = new Tensor(new Float32Array(2), [2]);
    expect(() => add(a, "1" as unknown as number)).toThrow(ArgumentError);
    expect(() => add(a, "1" as unknown as number)).toThrow(/add: b: expected a Tensor or a number, got "1"/);
    expect(() => pow(a, null as unknown as number)).toThrow(/pow: exponent: expected a number/);
  });

  it("broadcast helpers refuse shapes that do not broadcast to the target", () => {
    expect(() => broadcastIndex([2, 3], [4])).toThrow(ShapeError);
    expect(() => broadcastIndex([3], [2, 3])).toThrow(/shape \[2, 3\] does not broadcast to \[3\]/);
  });
});
