import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { mul } from "../../src/ops/elementwise.js";
import { concat, flatten, narrow, permute, reshape, split, transpose } from "../../src/ops/shape.js";
import { ArgumentError, ShapeError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";
import { fromSpec, type GoldenCase, loadGolden } from "../helpers/golden.js";

function rand(shape: readonly number[], rng: Rng, requiresGrad = false): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = rng.normal();
  return new Tensor(data, shape, requiresGrad);
}

/** Joins the pieces of a split flattened, as tools/fixtures_shape.py does on the torch side. */
function flatCat(pieces: Tensor[]): Tensor {
  return concat(pieces.map((p) => reshape(p, [-1])));
}

type Run = (inputs: Tensor[], args: Record<string, unknown>) => Tensor;
const OPS: Record<string, Run> = {
  reshape: ([x], a) => reshape(x, a.shape as number[]),
  flatten: ([x], a) =>
    a.startDim === undefined ? flatten(x) : flatten(x, a.startDim as number, a.endDim as number),
  transpose: ([x], a) => transpose(x, a.dim0 as number, a.dim1 as number),
  permute: ([x], a) => permute(x, a.dims as number[]),
  concat: (xs, a) => concat(xs, a.axis as number),
  narrow: ([x], a) => narrow(x, a.dim as number, a.start as number, a.length as number),
  split: ([x], a) => {
    const pieces = split(x, a.splitSizeOrSections as number | number[], a.axis as number);
    expect(pieces.map((p) => p.shape)).toEqual(a.pieceShapes);
    return flatCat(pieces);
  },
};

const golden = loadGolden("shape");
const report: string[] = [];
afterAll(() => {
  for (const line of report) console.log(line);
});

function runCase(c: GoldenCase, run: Run): [number, number] {
  const names = Object.keys(c.inputs);
  const inputs = names.map((k) => fromSpec(c.inputs[k], c.requiresGrad.includes(k)));
  const out = run(inputs, c.args);
  expect(out.shape, `${c.name}: output shape`).toEqual(c.output.shape);
  const fwd = expectClose(out.data, c.output.data, { rtol: 1e-5, label: `${c.name}: output` });
  out.backward(fromSpec(c.gradOutput!));
  let grad = 0;
  names.forEach((k, i) => {
    const g = inputs[i].grad;
    expect(g, `${c.name}: grad ${k}`).not.toBeNull();
    grad = Math.max(
      grad,
      expectClose(g!.data, c.grads[k].data, { rtol: 1e-4, label: `${c.name}: grad ${k}` }),
    );
  });
  return [fwd, grad];
}

describe("shape ops: golden cases from PyTorch", () => {
  for (const [op, run] of Object.entries(OPS)) {
    const cases = golden.cases.filter((c) => c.op === op);
    it(`${op} matches PyTorch (${cases.length} cases)`, () => {
      expect(cases.length).toBeGreaterThanOrEqual(3);
      let worstOut = 0;
      let worstGrad = 0;
      for (const c of cases) {
        const [f, g] = runCase(c, run);
        worstOut = Math.max(worstOut, f);
        worstGrad = Math.max(worstGrad, g);
      }
      report.push(
        `${op}: ${cases.length} golden cases, worst output ${worstOut.toExponential(2)}, worst grad ${worstGrad.toExponential(2)}`,
      );
    });
  }
});

describe("shape ops: finite differences", () => {
  const rng = new Rng(3);
  // A multiplication by fixed weights in front makes each gradient position-dependent.
  const w = rand([2, 3, 4], rng);
  it("reshape, flatten, transpose, permute, narrow", () => {
    const x = rand([2, 3, 4], rng, true);
    for (const fn of [
      (t: Tensor) => reshape(mul(t, w), [4, -1]),
      (t: Tensor) => flatten(mul(t, w), 1),
      (t: Tensor) => transpose(mul(t, w), 0, 2),
      (t: Tensor) => permute(mul(t, w), [1, 2, 0]),
      (t: Tensor) => narrow(mul(t, w), 2, 1, 2),
    ]) {
      expect(gradcheck(fn, [x]).worst).toBeLessThan(2e-2);
    }
  });
  it("concat and split", () => {
    const a = rand([2, 1, 4], rng, true);
    const b = rand([2, 2, 4], rng, true);
    const wc = rand([2, 3, 4], rng);
    expect(gradcheck((p, q) => mul(concat([p, q], 1), wc), [a, b]).worst).toBeLessThan(2e-2);
    const x = rand([2, 5], rng, true);
    const ws = [rand([2, 2], rng), rand([2, 3], rng)];
    const fn = (t: Tensor) => flatCat(split(t, [2, 3], 1).map((p, i) => mul(p, ws[i])));
    expect(gradcheck(fn, [x]).worst).toBeLessThan(2e-2);
  });
});

// ---------------------------------------------------------------- properties

const shapeArb = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 });

describe("shape ops: properties", () => {
  it("permute then the inverse permutation is the identity, values and gradients", () => {
    fc.assert(
      fc.property(
        shapeArb.chain((s) =>
          fc.tuple(
            fc.constant(s),
            fc.shuffledSubarray(
              s.map((_, i) => i),
              { minLength: s.length },
            ),
          ),
        ),
        fc.integer({ min: 0, max: 1 << 30 }),
        ([shape, dims], seed) => {
          const rng = new Rng(seed);
          const x = rand(shape, rng, true);
          const inverse = new Array<number>(dims.length);
          dims.forEach((d, k) => {
            inverse[d] = k;
          });
          const p = permute(x, dims);
          expect(p.shape).toEqual(dims.map((d) => shape[d]));
          const back = permute(p, inverse);
          expect(back.shape).toEqual(shape);
          expect(Array.from(back.data)).toEqual(Array.from(x.data));
          const g = rand(shape, rng);
          back.backward(g);
          expect(Array.from(x.grad!.data)).toEqual(Array.from(g.data));
        },
      ),
      { numRuns: 80 },
    );
  });

  it("permute moves element at coordinates c to coordinates c[dims] (independent index arithmetic)", () => {
    fc.assert(
      fc.property(
        shapeArb.chain((s) =>
          fc.tuple(
            fc.constant(s),
            fc.shuffledSubarray(
              s.map((_, i) => i),
              { minLength: s.length },
            ),
          ),
        ),
        ([shape, dims]) => {
          const x = new Tensor(
            Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i),
            shape,
          );
          const y = permute(x, dims);
          const outShape = dims.map((d) => shape[d]);
          for (let o = 0; o < y.numel; o++) {
            let rest = o;
            const oc = new Array<number>(outShape.length);
            for (let k = outShape.length - 1; k >= 0; k--) {
              oc[k] = rest % outShape[k];
              rest = Math.floor(rest / outShape[k]);
            }
            const ic = new Array<number>(shape.length);
            dims.forEach((d, k) => {
              ic[d] = oc[k];
            });
            const flat = ic.reduce((acc, c, k) => acc * shape[k] + c, 0);
            expect(y.data[o]).toBe(flat);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("concat then split with the same sizes gives the pieces back, and gradients route to each piece", () => {
    fc.assert(
      fc.property(
        shapeArb,
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        fc.integer({ min: 0, max: 1 << 30 }),
        (shape, sizes, axisSeed, seed) => {
          const rng = new Rng(seed);
          const axis = axisSeed % shape.length;
          const parts = sizes.map((s) => {
            const ps = [...shape];
            ps[axis] = s;
            return rand(ps, rng, true);
          });
          const whole = concat(parts, axis - shape.length); // negative axis on purpose
          expect(whole.shape[axis]).toBe(sizes.reduce((a, b) => a + b, 0));
          const back = split(whole, sizes, axis);
          expect(back.length).toBe(parts.length);
          const grads = back.map((b) => rand(b.shape, rng));
          back.forEach((b, i) => {
            expect(b.shape).toEqual(parts[i].shape);
            expect(Array.from(b.data)).toEqual(Array.from(parts[i].data));
          });
          // d/dparts of sum_i <back_i, grads_i> is grads_i
          flatCat(back.map((b, i) => mul(b, grads[i]))).backward(new Float32Array(whole.numel).fill(1));
          parts.forEach((p, i) => {
            expect(Array.from(p.grad?.data ?? new Float32Array(0))).toEqual(Array.from(grads[i].data));
          });
        },
      ),
      { numRuns: 60 },
    );
  });

  it("split by a chunk size gives ceil(n / size) pieces, all of that size but a smaller last one", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 14 }), (n, size) => {
        const x = new Tensor(new Float32Array(n * 2), [2, n]);
        const pieces = split(x, size, 1);
        expect(pieces.length).toBe(Math.ceil(n / size));
        pieces.forEach((p, i) => {
          expect(p.shape).toEqual([2, i < pieces.length - 1 ? size : n - size * (pieces.length - 1)]);
        });
      }),
      { numRuns: 60 },
    );
  });

  it("reshape with -1 infers the size; flatten(x, s, e) multiplies exactly those sizes", () => {
    fc.assert(
      fc.property(shapeArb, fc.nat(), fc.nat(), (shape, p, q) => {
        const x = new Tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
        const s = p % shape.length;
        const e = s + (q % (shape.length - s));
        const y = flatten(x, s, e);
        const merged = shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
        expect(y.shape).toEqual([...shape.slice(0, s), merged, ...shape.slice(e + 1)]);
        const r = reshape(x, [shape[0], -1]);
        expect(r.shape).toEqual([shape[0], x.numel / shape[0]]);
      }),
      { numRuns: 60 },
    );
  });
});

// ---------------------------------------------------------------- bad input

describe("shape ops: bad input", () => {
  const x = new Tensor(new Float32Array(24), [2, 3, 4]);

  it("reshape: wrong size, two -1s, negative sizes, ambiguous -1", () => {
    expect(() => reshape(x, [5, 5])).toThrow(ShapeError);
    expect(() => reshape(x, [5, 5])).toThrow("reshape: shape [5, 5] is invalid for input of size 24");
    expect(() => reshape(x, [5, -1])).toThrow(/shape \[5, -1\] is invalid for input of size 24/);
    expect(() => reshape(x, [-1, -1])).toThrow(ArgumentError);
    expect(() => reshape(x, [-1, -1])).toThrow("reshape: shape: expected at most one -1, got [-1, -1]");
    expect(() => reshape(x, [-2, -12])).toThrow(
      /reshape: shape: expected non-negative integers and at most one -1/,
    );
    const empty = new Tensor(new Float32Array(0), [0, 3]);
    expect(() => reshape(empty, [0, -1])).toThrow(/cannot infer the -1 in shape \[0, -1\] for 0 elements/);
  });

  it("bad dimensions for flatten, transpose, permute", () => {
    expect(() => flatten(x, 3)).toThrow(ArgumentError);
    expect(() => flatten(x, 3)).toThrow("flatten: startDim: expected an integer in [-3, 2], got 3");
    expect(() => flatten(x, 2, 1)).toThrow(/flatten: startDim: expected a dimension not after endDim/);
    expect(() => transpose(x, 0, -4)).toThrow("transpose: dim1: expected an integer in [-3, 2], got -4");
    expect(() => permute(x, [0, 1])).toThrow(
      "permute: dims: expected a permutation of 3 dimensions, got [0, 1]",
    );
    expect(() => permute(x, [0, 1, 1])).toThrow(
      "permute: dims: expected each dimension exactly once, got [0, 1, 1]",
    );
    expect(() => permute(x, [0, -3, 1])).toThrow(/each dimension exactly once/); // -3 is 0 again
  });

  it("concat: empty list, mismatched shapes naming the tensor, rank mismatch, 0-d", () => {
    expect(() => concat([])).toThrow("concat: xs: expected a non-empty array of tensors, got []");
    const y = new Tensor(new Float32Array(10), [2, 5]);
    expect(() => concat([x, new Tensor(new Float32Array(12), [2, 3, 2])], 1)).toThrow(ShapeError);
    expect(() => concat([x, new Tensor(new Float32Array(12), [2, 3, 2])], 1)).toThrow(
      "concat: xs[1] has shape [2, 3, 2], expected 3 dimensions matching [2, 3, 4] except along axis 1",
    );
    expect(() => concat([x, y])).toThrow(/xs\[1\] has shape \[2, 5\]/);
    expect(() => concat([x], 3)).toThrow("concat: axis: expected an integer in [-3, 2], got 3");
    expect(() => concat([new Tensor(Float32Array.of(1), [])])).toThrow(/zero-dimensional/);
  });

  it("split: sizes that do not sum to the axis, zero chunk size, bad sizes", () => {
    expect(() => split(x, [1, 1], 1)).toThrow(ShapeError);
    expect(() => split(x, [1, 1], 1)).toThrow(
      "split: splitSizeOrSections: expected sizes summing to 3 (axis 1 of [2, 3, 4]), got [1, 1]",
    );
    expect(() => split(x, 0, 1)).toThrow(ArgumentError);
    expect(() => split(x, 0, 1)).toThrow(/a positive chunk size \(0 only for an empty axis; axis 1 has 3\)/);
    expect(() => split(x, [2, -1, 2], 1)).toThrow(/non-negative integer sizes/);
    expect(() => split(x, 1.5)).toThrow(
      /split: splitSizeOrSections: expected a non-negative integer, got 1.5/,
    );
  });

  it("narrow: out-of-range start or length", () => {
    expect(() => narrow(x, 1, 4, 0)).toThrow("narrow: start: expected an integer in [-3, 3], got 4");
    expect(() => narrow(x, 1, 2, 2)).toThrow("narrow: length: expected an integer in [0, 1], got 2");
  });
});
