import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { randn } from "../../src/autograd/factories.js";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { noGrad } from "../../src/autograd/gradmode.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { batchNorm2d } from "../../src/ops/batchnorm.js";
import { ArgumentError, ShapeError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";
import { fromSpec, loadGolden } from "../helpers/golden.js";

const golden = loadGolden("norm");

function vec(values: number[], requiresGrad = false): Tensor {
  return new Tensor(Float32Array.from(values), [values.length], requiresGrad);
}

describe("batchNorm2d: golden cases from PyTorch", () => {
  const cases = golden.cases.filter((c) => c.op === "batchNorm2d");
  it(`matches PyTorch output, gradients and updated running statistics (${cases.length} cases)`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(8);
    let worstOut = 0;
    let worstGrad = 0;
    let worstStats = 0;
    for (const c of cases) {
      const opt = (name: string, grad: boolean) => (c.inputs[name] ? fromSpec(c.inputs[name], grad) : null);
      const x = fromSpec(c.inputs.x, true);
      const runningMean = opt("runningMean", false);
      const runningVar = opt("runningVar", false);
      const weight = opt("weight", true);
      const bias = opt("bias", true);
      const args = c.args as { training: boolean; momentum: number; eps: number };
      const y = batchNorm2d(x, runningMean, runningVar, weight, bias, args);
      worstOut = Math.max(
        worstOut,
        expectClose(y.data, c.output.data, { rtol: 1e-5, label: `${c.name}: output` }),
      );
      for (const [name, t] of [
        ["runningMean", runningMean],
        ["runningVar", runningVar],
      ] as const) {
        const expected = c.extra?.[name];
        expect(t === null, `${c.name}: ${name} presence`).toBe(expected === undefined);
        if (t !== null && expected) {
          worstStats = Math.max(
            worstStats,
            expectClose(t.data, expected.data, { rtol: 1e-5, label: `${c.name}: ${name}` }),
          );
        }
      }
      y.backward(fromSpec(c.gradOutput!));
      for (const [name, t] of [
        ["x", x],
        ["weight", weight],
        ["bias", bias],
      ] as const) {
        if (t === null) continue;
        worstGrad = Math.max(
          worstGrad,
          expectClose(t.grad!.data, c.grads[name].data, { rtol: 1e-4, label: `${c.name}: grad ${name}` }),
        );
      }
    }
    console.log(
      `batchNorm2d: ${cases.length} golden cases, worst output ${worstOut.toExponential(2)}, worst grad ${worstGrad.toExponential(2)}, worst running stats ${worstStats.toExponential(2)}`,
    );
  });
});

describe("batchNorm2d: finite differences", () => {
  const rng = new Rng(7);
  const x = () => randn([3, 2, 2, 3], { rng, requiresGrad: true });
  const w = () => new Tensor(Float32Array.from([0.8, -1.3]), [2], true);
  const b = () => new Tensor(Float32Array.from([0.2, -0.5]), [2], true);

  it("training mode: gradients through the batch statistics, with and without affine", () => {
    gradcheck((t, wt, bt) => batchNorm2d(t, null, null, wt, bt, { training: true }), [x(), w(), b()], {
      eps: 1e-3,
    });
    gradcheck((t) => batchNorm2d(t, null, null, null, null, { training: true, eps: 1e-3 }), [x()], {
      eps: 1e-3,
    });
  });

  it("evaluation mode: gradients with the running statistics held fixed", () => {
    const rm = vec([0.3, -0.2]);
    const rv = vec([0.7, 1.9]);
    gradcheck((t, wt, bt) => batchNorm2d(t, rm, rv, wt, bt, { training: false }), [x(), w(), b()]);
    gradcheck((t) => batchNorm2d(t, rm, rv, null, null), [x()]);
  });
});

describe("batchNorm2d: properties", () => {
  it("in training, each output channel has mean 0 and variance 1 (biased, up to eps)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 2, max: 5 }),
        fc.double({ min: 0.5, max: 20, noNaN: true }),
        fc.double({ min: -10, max: 10, noNaN: true }),
        fc.integer({ min: 0, max: 10_000 }),
        (n, c, h, w, scale, shift, seed) => {
          const rng = new Rng(seed);
          const x = randn([n, c, h, w], { rng });
          for (let i = 0; i < x.data.length; i++) x.data[i] = x.data[i] * scale + shift;
          const eps = 1e-5;
          const y = batchNorm2d(x, null, null, null, null, { training: true, eps });
          const hw = h * w;
          const channel = (t: Tensor, ch: number): number[] => {
            const values: number[] = [];
            for (let b = 0; b < n; b++)
              values.push(...t.data.subarray((b * c + ch) * hw, (b * c + ch + 1) * hw));
            return values;
          };
          const moments = (values: number[]): [number, number] => {
            const mean = values.reduce((a, v) => a + v, 0) / values.length;
            return [mean, values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length];
          };
          for (let ch = 0; ch < c; ch++) {
            const [mean, variance] = moments(channel(y, ch));
            const [, inputVar] = moments(channel(x, ch));
            expect(Math.abs(mean)).toBeLessThan(1e-5);
            // Exactly var / (var + eps): 1 up to eps / var, which only matters when a channel's few samples
            // happen to nearly coincide.
            expect(Math.abs(variance - inputVar / (inputVar + eps))).toBeLessThan(1e-4);
            if (inputVar > 1e-2) expect(Math.abs(variance - 1)).toBeLessThan(2e-3);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("updates the running statistics in place (same tensors), also under noGrad", () => {
    const x = randn([4, 2, 3, 3], { rng: new Rng(3) });
    const rm = vec([0, 0]);
    const rv = vec([1, 1]);
    const rmData = rm.data;
    noGrad(() => batchNorm2d(x, rm, rv, null, null, { training: true, momentum: 1 }));
    expect(rm.data).toBe(rmData);
    // momentum 1: the running mean becomes the batch mean, the running var the unbiased batch variance.
    const count = 4 * 9;
    for (let ch = 0; ch < 2; ch++) {
      const values: number[] = [];
      for (let b = 0; b < 4; b++) values.push(...x.data.subarray((b * 2 + ch) * 9, (b * 2 + ch + 1) * 9));
      const mean = values.reduce((a, v) => a + v, 0) / count;
      const unbiased = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (count - 1);
      expect(rm.data[ch]).toBeCloseTo(mean, 6);
      expect(rv.data[ch]).toBeCloseTo(unbiased, 5);
    }
    // evaluation leaves them alone
    const before = Array.from(rm.data);
    batchNorm2d(x, rm, rv, null, null, { training: false });
    expect(Array.from(rm.data)).toEqual(before);
  });
});

describe("batchNorm2d: bad inputs", () => {
  const x = new Tensor(
    new Float32Array(2 * 3 * 2 * 2).map((_, i) => i),
    [2, 3, 2, 2],
  );
  const three = () => vec([0, 0, 1]);

  it("refuses inputs that are not 4-d", () => {
    const x2 = new Tensor(new Float32Array(6), [2, 3]);
    expect(() => batchNorm2d(x2, null, null, null, null, { training: true })).toThrow(ShapeError);
    expect(() => batchNorm2d(x2, null, null, null, null, { training: true })).toThrow(
      /batchNorm2d: input: expected a 4-d tensor \[N, C, H, W\], got "shape \[2, 3\]"/,
    );
  });

  it("refuses running statistics, weight or bias of the wrong length", () => {
    const four = vec([0, 0, 0, 1]);
    expect(() => batchNorm2d(x, four, three(), null, null, { training: true })).toThrow(ShapeError);
    expect(() => batchNorm2d(x, four, three(), null, null, { training: true })).toThrow(
      /batchNorm2d: runningMean: expected a 1-d tensor of 3 elements.*got "shape \[4\]"/,
    );
    expect(() => batchNorm2d(x, three(), four, null, null)).toThrow(/runningVar: expected a 1-d tensor of 3/);
    expect(() => batchNorm2d(x, three(), three(), four, null)).toThrow(/weight: expected a 1-d tensor of 3/);
    const wrongRank = new Tensor(new Float32Array(3), [1, 3]);
    expect(() => batchNorm2d(x, three(), three(), null, wrongRank)).toThrow(/bias: .*got "shape \[1, 3\]"/);
  });

  it("needs running statistics in evaluation mode", () => {
    expect(() => batchNorm2d(x, null, three(), null, null, { training: false })).toThrow(ArgumentError);
    expect(() => batchNorm2d(x, three(), null, null, null)).toThrow(
      /batchNorm2d: runningVar: expected a tensor in evaluation mode/,
    );
  });

  it("needs more than one value per channel in training", () => {
    const single = new Tensor(new Float32Array(3), [1, 3, 1, 1]);
    expect(() => batchNorm2d(single, null, null, null, null, { training: true })).toThrow(ShapeError);
    expect(() => batchNorm2d(single, null, null, null, null, { training: true })).toThrow(
      /more than 1 value per channel/,
    );
  });

  it("refuses a momentum or eps that is not a usable number", () => {
    expect(() => batchNorm2d(x, null, null, null, null, { training: true, momentum: Number.NaN })).toThrow(
      /batchNorm2d: momentum: expected a finite number/,
    );
    // PyTorch's momentum=None (cumulative average) is not supported: refused, not silently replaced.
    expect(() =>
      batchNorm2d(x, null, null, null, null, { training: true, momentum: null as unknown as number }),
    ).toThrow(/momentum: expected a finite number.*got null/);
    expect(() => batchNorm2d(x, null, null, null, null, { training: true, eps: -1 })).toThrow(
      /eps: expected/,
    );
  });
});
