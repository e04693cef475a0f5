import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { mean, sum } from "../../src/ops/reduce.js";
import { ArgumentError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";
import { fromSpec, loadGolden } from "../helpers/golden.js";

function rand(shape: readonly number[], rng: Rng, requiresGrad = false): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = rng.normal();
  return new Tensor(data, shape, requiresGrad);
}

const OPS = { sum, mean };
const golden = loadGolden("shape");

describe("sum and mean: golden cases from PyTorch", () => {
  for (const [op, fn] of Object.entries(OPS)) {
    const cases = golden.cases.filter((c) => c.op === op);
    it(`${op} matches PyTorch over various dims, with and without keepdim (${cases.length} cases)`, () => {
      expect(cases.length).toBeGreaterThanOrEqual(8);
      let worstOut = 0;
      let worstGrad = 0;
      for (const c of cases) {
        const x = fromSpec(c.inputs.x, true);
        const dims = c.args.dims as number | number[] | undefined;
        const y = fn(x, dims, c.args.keepdim as boolean);
        expect(y.shape, `${c.name}: shape`).toEqual(c.output.shape);
        worstOut = Math.max(
          worstOut,
          expectClose(y.data, c.output.data, { rtol: 1e-5, label: `${c.name}: output` }),
        );
        y.backward(fromSpec(c.gradOutput!));
        worstGrad = Math.max(
          worstGrad,
          expectClose(x.grad!.data, c.grads.x.data, { rtol: 1e-4, label: `${c.name}: grad x` }),
        );
      }
      console.log(
        `${op}: ${cases.length} golden cases, worst output ${worstOut.toExponential(2)}, worst grad ${worstGrad.toExponential(2)}`,
      );
    });
  }
});

describe("sum and mean: finite differences", () => {
  const rng = new Rng(9);
  for (const [op, fn] of Object.entries(OPS)) {
    it(op, () => {
      for (const [dims, keepdim] of [
        [undefined, false],
        [1, false],
        [[0, 2], true],
        [-1, false],
      ] as const) {
        const x = rand([2, 3, 4], rng, true);
        expect(gradcheck((t) => fn(t, dims, keepdim), [x]).worst).toBeLessThan(2e-2);
      }
    });
  }
});

describe("sum and mean: properties", () => {
  const config = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }).chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      dims: fc.subarray(shape.map((_, i) => i)),
      keepdim: fc.boolean(),
      seed: fc.integer({ min: 0, max: 1 << 30 }),
    }),
  );

  it("each output element is the sum over the reduced coordinates (brute force), mean = sum / count", () => {
    fc.assert(
      fc.property(config, ({ shape, dims, keepdim, seed }) => {
        const x = rand(shape, new Rng(seed));
        const reduced = dims.length === 0 ? shape.map((_, i) => i) : dims;
        const kept = shape.map((d, i) => (reduced.includes(i) ? 1 : d));
        const expectedShape = keepdim ? kept : shape.filter((_, i) => !reduced.includes(i));
        const want = new Float64Array(kept.reduce((a, b) => a * b, 1));
        for (let i = 0; i < x.numel; i++) {
          let rest = i;
          let outIdx = 0;
          let mulAcc = 1;
          for (let k = shape.length - 1; k >= 0; k--) {
            const c = rest % shape[k];
            rest = Math.floor(rest / shape[k]);
            if (!reduced.includes(k)) outIdx += c * mulAcc;
            mulAcc *= kept[k];
          }
          want[outIdx] += x.data[i];
        }
        const s = sum(x, dims, keepdim);
        expect(s.shape).toEqual(expectedShape);
        expectClose(s.data, want, { rtol: 1e-6, label: "sum" });
        const count = x.numel / want.length;
        const m = mean(x, dims, keepdim);
        expectClose(
          m.data,
          want.map((v) => v / count),
          { rtol: 1e-6, label: "mean" },
        );
      }),
      { numRuns: 100 },
    );
  });

  it("the gradient spreads gradOutput to every reduced element (divided by the count for mean)", () => {
    fc.assert(
      fc.property(config, ({ shape, dims, seed }) => {
        const rng = new Rng(seed);
        const x = rand(shape, rng, true);
        const y = rand(shape, rng, true);
        const s = sum(x, dims, true);
        const g = rand(s.shape, rng);
        s.backward(g);
        mean(y, dims, true).backward(g);
        const count = x.numel / s.numel;
        // Each input element's gradient is the gradOutput of its own output element.
        const again = sum(x.grad!, dims, true).data;
        expectClose(
          again,
          g.data.map((v) => v * count),
          { rtol: 1e-6, label: "sum grad" },
        );
        expectClose(
          y.grad!.data,
          x.grad!.data.map((v) => v / count),
          { rtol: 1e-6, label: "mean grad" },
        );
      }),
      { numRuns: 60 },
    );
  });

  it("mean of an empty reduction is NaN and sum is 0, like PyTorch", () => {
    const e = new Tensor(new Float32Array(0), [0, 3]);
    expect(Array.from(sum(e, 0).data)).toEqual([0, 0, 0]);
    expect(Number.isNaN(mean(e).item())).toBe(true);
  });
});

describe("sum and mean: bad input", () => {
  const x = new Tensor(new Float32Array(6), [2, 3]);
  it("dims out of range, repeated, or of the wrong type: ArgumentError naming the op", () => {
    for (const [op, fn] of Object.entries(OPS)) {
      expect(() => fn(x, 2)).toThrow(ArgumentError);
      expect(() => fn(x, 2)).toThrow(`${op}: dims: expected an integer in [-2, 1], got 2`);
      expect(() => fn(x, [0, -2])).toThrow(`${op}: dims: expected each dimension at most once, got [0, -2]`);
      expect(() => fn(x, "0" as unknown as number)).toThrow(/dims: expected a number or an array of numbers/);
      expect(() => fn(x, 0, 1 as unknown as boolean)).toThrow(`${op}: keepdim: expected a boolean, got 1`);
    }
  });
});
