import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { crossEntropy, logSoftmax, nllLoss, type Reduction, softmax } from "../../src/ops/loss.js";
import { ArgumentError, DataError, ShapeError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";
import { fromSpec, type GoldenCase, loadGolden } from "../helpers/golden.js";

function rand(shape: readonly number[], rng: Rng, requiresGrad = false, scale = 1): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = rng.normal() * scale;
  return new Tensor(data, shape, requiresGrad);
}

function randLabels(n: number, classes: number, rng: Rng): number[] {
  return Array.from({ length: n }, () => rng.int(classes));
}

type Run = (x: Tensor, args: Record<string, unknown>) => Tensor;
const OPS: Record<string, Run> = {
  softmax: (x, a) => softmax(x, a.dim as number),
  logSoftmax: (x, a) => logSoftmax(x, a.dim as number),
  crossEntropy: (x, a) =>
    crossEntropy(x, a.labels as number[], {
      reduction: a.reduction as Reduction,
      labelSmoothing: a.labelSmoothing as number,
    }),
  nllLoss: (x, a) => nllLoss(x, a.labels as number[], { reduction: a.reduction as Reduction }),
};

const golden = loadGolden("loss");
const report: string[] = [];
afterAll(() => {
  for (const line of report) console.log(line);
});

describe("softmax, logSoftmax, crossEntropy, nllLoss: golden cases from PyTorch", () => {
  for (const [op, run] of Object.entries(OPS)) {
    const cases = golden.cases.filter((c) => c.op === op);
    it(`${op} matches PyTorch (${cases.length} cases)`, () => {
      expect(cases.length).toBeGreaterThanOrEqual(3);
      let worstOut = 0;
      let worstGrad = 0;
      for (const c of cases as GoldenCase[]) {
        const name = Object.keys(c.inputs)[0];
        const x = fromSpec(c.inputs[name], true);
        const y = run(x, c.args);
        expect(y.shape, `${c.name}: shape`).toEqual(c.output.shape);
        worstOut = Math.max(
          worstOut,
          expectClose(y.data, c.output.data, { rtol: 1e-5, label: `${c.name}: output` }),
        );
        y.backward(fromSpec(c.gradOutput!));
        worstGrad = Math.max(
          worstGrad,
          expectClose(x.grad!.data, c.grads[name].data, { rtol: 1e-4, label: `${c.name}: grad ${name}` }),
        );
      }
      report.push(
        `${op}: ${cases.length} golden cases, worst output ${worstOut.toExponential(2)}, worst grad ${worstGrad.toExponential(2)}`,
      );
    });
  }
  it("the labels given as a Tensor or an Int32Array give the same loss as a number array", () => {
    const c = golden.cases.find((k) => k.name === "crossEntropy_kdim_mean_ls0.1")!;
    const labels = c.args.labels as number[];
    const x = fromSpec(c.inputs.logits);
    const opts = { labelSmoothing: 0.1 };
    const asTensor = crossEntropy(x, new Tensor(Float32Array.from(labels), [2, 2, 2]), opts);
    const asInt = crossEntropy(x, Int32Array.from(labels), opts);
    expectClose(asTensor.data, c.output.data, { rtol: 1e-5, label: "Tensor labels" });
    expectClose(asInt.data, c.output.data, { rtol: 1e-5, label: "Int32Array labels" });
  });
});

describe("softmax and losses: finite differences", () => {
  const rng = new Rng(17);
  it("softmax and logSoftmax over each dim", () => {
    for (const dim of [0, 1, -1]) {
      const x = rand([3, 4, 2], rng, true);
      expect(gradcheck((t) => softmax(t, dim), [x], { eps: 1e-3 }).worst).toBeLessThan(2e-2);
      expect(gradcheck((t) => logSoftmax(t, dim), [x], { eps: 1e-3 }).worst).toBeLessThan(2e-2);
    }
  });
  it("crossEntropy with every reduction and label smoothing; nllLoss", () => {
    for (const reduction of ["mean", "sum", "none"] as const) {
      for (const labelSmoothing of [0, 0.1]) {
        const x = rand([4, 5], rng, true);
        const labels = randLabels(4, 5, rng);
        labels[2] = -100;
        const fn = (t: Tensor) => crossEntropy(t, labels, { reduction, labelSmoothing });
        expect(gradcheck(fn, [x], { eps: 1e-3 }).worst).toBeLessThan(2e-2);
      }
      const x = rand([4, 5], rng, true);
      const labels = randLabels(4, 5, rng);
      expect(gradcheck((t) => nllLoss(t, labels, { reduction }), [x]).worst).toBeLessThan(2e-2);
    }
    const k = rand([2, 3, 2, 2], rng, true);
    const kl = randLabels(8, 3, rng);
    expect(
      gradcheck((t) => crossEntropy(t, kl, { labelSmoothing: 0.2 }), [k], { eps: 1e-3 }).worst,
    ).toBeLessThan(2e-2);
  });
});

describe("softmax and losses: properties", () => {
  const config = fc.record({
    n: fc.integer({ min: 1, max: 5 }),
    c: fc.integer({ min: 1, max: 6 }),
    scale: fc.constantFrom(1, 10, 100),
    seed: fc.integer({ min: 0, max: 1 << 30 }),
  });

  it("softmax rows sum to 1 and are invariant to a shift; logSoftmax = log(softmax)", () => {
    fc.assert(
      fc.property(config, fc.constantFrom(0, 1, -1), ({ n, c, scale, seed }, dim) => {
        const x = rand([n, c], new Rng(seed), false, scale);
        const p = softmax(x, dim);
        const lp = logSoftmax(x, dim);
        const [outer, size] = dim === 0 ? [c, n] : [n, c];
        const at = (o: number, k: number) => (dim === 0 ? k * c + o : o * c + k);
        for (let o = 0; o < outer; o++) {
          let s = 0;
          for (let k = 0; k < size; k++) s += p.data[at(o, k)];
          expect(Math.abs(s - 1)).toBeLessThan(1e-5);
        }
        for (let i = 0; i < x.numel; i++) {
          // (where softmax underflows to 0, log(softmax) is -Infinity and logSoftmax stays finite)
          if (p.data[i] > 1e-30) expect(Math.abs(lp.data[i] - Math.log(p.data[i]))).toBeLessThan(1e-4);
          expect(Number.isFinite(lp.data[i])).toBe(true);
          expect(lp.data[i]).toBeLessThanOrEqual(0);
        }
        const shifted = new Tensor(
          x.data.map((v) => v + 3),
          x.shape,
        );
        expectClose(softmax(shifted, dim).data, p.data, { rtol: 1e-5, label: "shift" });
      }),
      { numRuns: 80 },
    );
  });

  it("crossEntropy = (1 - s) * nllLoss(logSoftmax) + s * mean over classes of -logSoftmax, values and gradients", () => {
    fc.assert(
      fc.property(config, fc.constantFrom(0, 0.1, 0.5), ({ n, c, scale, seed }, s) => {
        const rng = new Rng(seed);
        const x = rand([n, c], rng, true, scale);
        const labels = randLabels(n, c, rng);
        const loss = crossEntropy(x, labels, { labelSmoothing: s, reduction: "none" });
        const lp = logSoftmax(x, 1).data;
        const want = labels.map((y, i) => {
          let uniform = 0;
          for (let k = 0; k < c; k++) uniform -= lp[i * c + k];
          return -(1 - s) * lp[i * c + y] + (s / c) * uniform;
        });
        expectClose(loss.data, want, { rtol: 1e-5, label: "loss" });
        // Gradient of the mean: (softmax - target) / n, target = (1 - s) onehot + s / C
        const mean = crossEntropy(x, labels, { labelSmoothing: s });
        expect(mean.shape).toEqual([]);
        mean.backward();
        // softmax in float64, written out here (float32 softmax loses 1 - p when p is near 1)
        const p = Array.from(x.data, (_, i) => {
          const row = x.data.subarray(Math.floor(i / c) * c, Math.floor(i / c) * c + c);
          const max = Math.max(...row);
          let z = 0;
          for (const v of row) z += Math.exp(v - max);
          return Math.exp(x.data[i] - max) / z;
        });
        const g = p.map((pv, i) => {
          const row = Math.floor(i / c);
          const target = (i % c === labels[row] ? 1 - s : 0) + s / c;
          return (pv - target) / n;
        });
        // Relative 1e-4, plus an absolute 1e-7 / n: when every row saturates, all gradients are
        // ~1e-15 and 1 - p carries float64 rounding of 1e-16 in any implementation.
        x.grad!.data.forEach((v, i) => {
          expect(Math.abs(v - g[i]), `grad ${i}: ${v} vs ${g[i]}`).toBeLessThanOrEqual(
            1e-4 * Math.abs(g[i]) + 1e-7 / n,
          );
        });
        // With s = 0 and no smoothing, crossEntropy is nllLoss of logSoftmax.
        if (s === 0) {
          const nll = nllLoss(logSoftmax(x.detach(), 1), labels);
          expectClose(mean.data, nll.data, { rtol: 1e-5, label: "nll" });
        }
      }),
      { numRuns: 80 },
    );
  });

  it("ignoreIndex positions contribute nothing and are not counted in the mean; all ignored gives NaN", () => {
    const rng = new Rng(2);
    const x = rand([4, 3], rng, true);
    const kept = [0, 2];
    const labels = [1, -100, 2, -100];
    const full = crossEntropy(x, labels, { labelSmoothing: 0.1 });
    const sub = new Tensor(Float32Array.from([...x.data.subarray(0, 3), ...x.data.subarray(6, 9)]), [2, 3]);
    const ref = crossEntropy(
      sub,
      kept.map((i) => labels[i]),
      { labelSmoothing: 0.1 },
    );
    expectClose(full.data, ref.data, { rtol: 1e-6, label: "ignored" });
    full.backward();
    expect(Array.from(x.grad!.data.subarray(3, 6))).toEqual([0, 0, 0]);
    expect(crossEntropy(x, [-100, -100, -100, -100]).item()).toBeNaN();
    expect(crossEntropy(x, [7, 7, 7, 7], { ignoreIndex: 7, reduction: "sum" }).item()).toBe(0);
  });

  it("no overflow: logits of +-1e4 give finite losses and gradients", () => {
    const x = new Tensor(Float32Array.from([1e4, -1e4, 0, -1e4, 1e4, 5]), [2, 3], true);
    const l = crossEntropy(x, [1, 1]);
    expect(Number.isFinite(l.item())).toBe(true);
    expect(l.item()).toBeCloseTo(1e4, 0);
    l.backward();
    for (const v of x.grad!.data) expect(Number.isFinite(v)).toBe(true);
  });
});

describe("losses: bad input", () => {
  const x = new Tensor(new Float32Array(6), [2, 3]);
  it("labels out of range or not integers: DataError naming the index and value", () => {
    expect(() => crossEntropy(x, [0, 3])).toThrow(DataError);
    expect(() => crossEntropy(x, [0, 3])).toThrow(
      "crossEntropy: labels[1]: expected an integer class index in [0, 2] (or ignoreIndex -100), got 3",
    );
    expect(() => crossEntropy(x, [-1, 0])).toThrow(/labels\[0\]: .* got -1/);
    expect(() => crossEntropy(x, new Tensor(Float32Array.from([0, 1.5]), [2]))).toThrow(
      /labels\[1\]: .* got 1.5/,
    );
    expect(() => nllLoss(x, [Number.NaN, 0])).toThrow(/nllLoss: labels\[0\]: .* got NaN/);
  });

  it("label count or shape mismatch: ShapeError", () => {
    expect(() => crossEntropy(x, [0, 1, 2])).toThrow(ShapeError);
    expect(() => crossEntropy(x, [0, 1, 2])).toThrow(
      'crossEntropy: labels: expected 2 labels (input without its class dimension: [2]), got "3 labels"',
    );
    expect(() => crossEntropy(x, new Tensor(new Float32Array(2), [1, 2]))).toThrow(
      /labels: expected shape \[2\]/,
    );
    expect(() => crossEntropy(new Tensor(Float32Array.of(1), []), [0])).toThrow(ShapeError);
  });

  it("bad options: reduction, labelSmoothing, ignoreIndex, softmax dim", () => {
    expect(() => crossEntropy(x, [0, 1], { reduction: "avg" as Reduction })).toThrow(ArgumentError);
    expect(() => crossEntropy(x, [0, 1], { reduction: "avg" as Reduction })).toThrow(
      "crossEntropy: reduction: expected 'mean', 'sum' or 'none', got \"avg\"",
    );
    expect(() => crossEntropy(x, [0, 1], { labelSmoothing: 1.5 })).toThrow(
      "crossEntropy: labelSmoothing: expected a number in [0, 1], got 1.5",
    );
    expect(() => nllLoss(x, [0, 1], { ignoreIndex: 0.5 })).toThrow(/ignoreIndex: expected an integer/);
    expect(() => softmax(x, 2)).toThrow("softmax: dim: expected an integer in [-2, 1], got 2");
    expect(() => logSoftmax(x, undefined as unknown as number)).toThrow(
      /logSoftmax: dim: expected an explicit dimension/,
    );
  });
});
