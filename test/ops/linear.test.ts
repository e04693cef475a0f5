import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { type Gemm, gemmKernels } from "../../src/kernels/gemm.js";
import { gemmRef } from "../../src/kernels/ref/gemm.js";
import { linear } from "../../src/ops/linear.js";
import { ArgumentError, ShapeError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";
import { fromSpec, loadGolden } from "../helpers/golden.js";

function rand(shape: readonly number[], rng: Rng, requiresGrad = false): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = rng.normal();
  return new Tensor(data, shape, requiresGrad);
}

const golden = loadGolden("loss");

describe("linear: golden cases from PyTorch", () => {
  const cases = golden.cases.filter((c) => c.op === "linear");
  it(`matches PyTorch for 1-d, 2-d and 3-d x, with and without bias (${cases.length} cases)`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(8);
    let worstOut = 0;
    let worstGrad = 0;
    for (const c of cases) {
      const x = fromSpec(c.inputs.x, true);
      const w = fromSpec(c.inputs.weight, true);
      const b = c.inputs.bias ? fromSpec(c.inputs.bias, true) : undefined;
      const y = linear(x, w, b);
      expect(y.shape, `${c.name}: shape`).toEqual(c.output.shape);
      worstOut = Math.max(
        worstOut,
        expectClose(y.data, c.output.data, { rtol: 1e-5, label: `${c.name}: output` }),
      );
      y.backward(fromSpec(c.gradOutput!));
      for (const [name, t] of [
        ["x", x],
        ["weight", w],
        ["bias", b],
      ] as const) {
        if (t === undefined) continue;
        worstGrad = Math.max(
          worstGrad,
          expectClose(t.grad!.data, c.grads[name].data, { rtol: 1e-4, label: `${c.name}: grad ${name}` }),
        );
      }
    }
    console.log(
      `linear: ${cases.length} golden cases, worst output ${worstOut.toExponential(2)}, worst grad ${worstGrad.toExponential(2)}`,
    );
  });
});

describe("linear: finite differences", () => {
  const rng = new Rng(21);
  it("gradients of x, weight and bias, 2-d and 3-d x", () => {
    for (const xs of [[3, 4], [2, 3, 4], [4]]) {
      const x = rand(xs, rng, true);
      const w = rand([5, 4], rng, true);
      const b = rand([5], rng, true);
      expect(gradcheck(linear, [x, w, b]).worst).toBeLessThan(2e-2);
      expect(gradcheck((p, q) => linear(p, q), [x, w]).worst).toBeLessThan(2e-2);
    }
  });
});

describe("linear: properties", () => {
  const saved = gemmKernels.gemm;
  afterEach(() => {
    gemmKernels.gemm = saved;
  });

  it("each output is the dot product of a row of x with a row of weight plus bias (brute force)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 2 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 1 << 30 }),
        (lead, inF, outF, seed) => {
          const rng = new Rng(seed);
          const x = rand([...lead, inF], rng);
          const w = rand([outF, inF], rng);
          const b = rand([outF], rng);
          const y = linear(x, w, b);
          expect(y.shape).toEqual([...lead, outF]);
          const rows = x.numel / inF;
          const want = new Float64Array(rows * outF);
          for (let r = 0; r < rows; r++)
            for (let o = 0; o < outF; o++) {
              let s = b.data[o];
              for (let k = 0; k < inF; k++) s += x.data[r * inF + k] * w.data[o * inF + k];
              want[r * outF + o] = s;
            }
          expectClose(y.data, want, { rtol: 1e-5, label: "linear" });
        },
      ),
      { numRuns: 60 },
    );
  });

  it("forward and backward go through the GEMM seam", () => {
    let calls = 0;
    const counting: Gemm = (...args) => {
      calls++;
      gemmRef(...args);
    };
    gemmKernels.gemm = counting;
    const rng = new Rng(1);
    const x = rand([3, 4], rng, true);
    const w = rand([2, 4], rng, true);
    const y = linear(x, w);
    expect(calls).toBe(1);
    y.backward(new Float32Array(6).fill(1));
    expect(calls).toBe(3);
  });
});

describe("linear: bad input", () => {
  const x = new Tensor(new Float32Array(12), [3, 4]);
  it("weight mismatch, weight rank, bias shape: ShapeError naming both shapes", () => {
    const w = new Tensor(new Float32Array(10), [2, 5]);
    expect(() => linear(x, w)).toThrow(ShapeError);
    expect(() => linear(x, w)).toThrow(
      "linear: x of shape [3, 4] and weight of shape [2, 5] do not match: x's last dimension must be in_features = 5",
    );
    expect(() => linear(x, new Tensor(new Float32Array(4), [4]))).toThrow(
      'linear: weight: expected a 2-d tensor [out, in], got "shape [4]"',
    );
    const w2 = new Tensor(new Float32Array(8), [2, 4]);
    expect(() => linear(x, w2, new Tensor(new Float32Array(3), [3]))).toThrow(
      'linear: bias: expected shape [2] (out_features of weight), got "shape [3]"',
    );
    expect(() => linear(new Tensor(Float32Array.of(1), []), w2)).toThrow(
      /x of shape \[\] and weight of shape \[2, 4\]/,
    );
    expect(() => linear(x, [1] as unknown as Tensor)).toThrow(ArgumentError);
  });
});
