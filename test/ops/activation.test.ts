import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { Tensor } from "../../src/autograd/tensor.js";
import {
  hardSigmoid,
  hardSwish,
  leakyRelu,
  relu,
  relu6,
  sigmoid,
  silu,
  tanh,
} from "../../src/ops/activation.js";
import { ArgumentError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";
import { fromSpec, loadGolden } from "../helpers/golden.js";

const ACTIVATIONS: Record<string, (x: Tensor, args: Record<string, unknown>) => Tensor> = {
  relu: (x) => relu(x),
  relu6: (x) => relu6(x),
  leakyRelu: (x, args) =>
    args.negativeSlope === undefined ? leakyRelu(x) : leakyRelu(x, args.negativeSlope as number),
  sigmoid: (x) => sigmoid(x),
  hardSigmoid: (x) => hardSigmoid(x),
  hardSwish: (x) => hardSwish(x),
  silu: (x) => silu(x),
  tanh: (x) => tanh(x),
};

/** Points where some activation has a kink; gradcheck keeps away from them. */
const KINKS = [0, -3, 3, 6];

function randAwayFromKinks(shape: number[], rng: Rng, scale: number): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    let v = rng.normal() * scale;
    while (KINKS.some((k) => Math.abs(v - k) < 0.1)) v = rng.normal() * scale;
    data[i] = v;
  }
  return new Tensor(data, shape, true);
}

const golden = loadGolden("elementwise");
const report: string[] = [];
afterAll(() => {
  for (const line of report) console.log(line);
});

describe("activations: golden cases from PyTorch (kink points, saturation, random)", () => {
  for (const [name, fn] of Object.entries(ACTIVATIONS)) {
    const cases = golden.cases.filter((c) => c.op === name);
    it(`${name} matches PyTorch's values and its gradient at the kinks (${cases.length} cases)`, () => {
      expect(cases.length).toBeGreaterThanOrEqual(2);
      let worstOut = 0;
      let worstGrad = 0;
      for (const c of cases) {
        const x = fromSpec(c.inputs.x, true);
        const y = fn(x, c.args);
        expect(y.shape).toEqual(c.output.shape);
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
      report.push(
        `${name}: ${cases.length} golden cases, worst output ${worstOut.toExponential(2)}, worst grad ${worstGrad.toExponential(2)}`,
      );
    });
  }

  it("the kink gradients are exactly PyTorch's: each kink point compared one by one", () => {
    // The kinks case starts with the points 0, -3, 3, 6; with gradOutput g, torch's gradient is g * d.
    for (const name of ["relu", "relu6", "leakyRelu", "hardSigmoid", "hardSwish"]) {
      const c = golden.cases.find((k) => k.name === `${name}_kinks`)!;
      const x = fromSpec(c.inputs.x, true);
      expect(Array.from(x.data.subarray(0, 4))).toEqual(KINKS);
      ACTIVATIONS[name](x, c.args).backward(fromSpec(c.gradOutput!));
      for (let i = 0; i < 4; i++) {
        expect(x.grad!.data[i], `${name}'(${KINKS[i]})`).toBeCloseTo(c.grads.x.data[i], 6);
      }
    }
  });
});

describe("activations: finite differences away from the kinks", () => {
  const rng = new Rng(5);
  for (const [name, fn] of Object.entries(ACTIVATIONS)) {
    it(name, () => {
      const x = randAwayFromKinks([3, 4, 3], rng, 4);
      expect(gradcheck((t) => fn(t, {}), [x], { eps: 1e-3 }).worst).toBeLessThan(2e-2);
    });
  }
  it("leakyRelu with a custom slope", () => {
    const x = randAwayFromKinks([10], rng, 2);
    expect(gradcheck((t) => leakyRelu(t, 0.3), [x], { eps: 1e-3 }).worst).toBeLessThan(2e-2);
  });
});

describe("activations: properties", () => {
  const values = fc.array(fc.float({ min: -10, max: 10, noNaN: true }), { minLength: 1, maxLength: 20 });
  const t = (v: number[], g = false) => new Tensor(Float32Array.from(v), [v.length], g);

  it("hardSwish = x * hardSigmoid(x), silu = x * sigmoid(x), relu6 = min(relu(x), 6)", () => {
    fc.assert(
      fc.property(values, (v) => {
        const hs = hardSigmoid(t(v)).data;
        const sg = sigmoid(t(v)).data;
        const r = relu(t(v)).data;
        const x = Float32Array.from(v);
        expectClose(
          hardSwish(t(v)).data,
          x.map((xi, i) => xi * hs[i]),
          { rtol: 1e-6, label: "hardSwish" },
        );
        expectClose(
          silu(t(v)).data,
          x.map((xi, i) => xi * sg[i]),
          { rtol: 1e-6, label: "silu" },
        );
        expect(Array.from(relu6(t(v)).data)).toEqual(Array.from(r, (ri) => Math.min(ri, 6)));
      }),
      { numRuns: 100 },
    );
  });

  it("tanh(x) = 2 sigmoid(2x) - 1; leakyRelu with slope 0 equals relu, gradients included", () => {
    fc.assert(
      fc.property(values, (v) => {
        // Absolute tolerance: 2s - 1 cancels in float32 near 0.
        const s2 = sigmoid(t(v.map((a) => 2 * a))).data;
        const th = tanh(t(v)).data;
        th.forEach((y, i) => {
          expect(Math.abs(y - (2 * s2[i] - 1))).toBeLessThan(2e-7);
        });
        const a = t(v, true);
        const b = t(v, true);
        const g = Float32Array.from(v, (_, i) => i + 1);
        leakyRelu(a, 0).backward(g);
        relu(b).backward(g);
        expect(Array.from(a.grad!.data)).toEqual(Array.from(b.grad!.data));
      }),
      { numRuns: 100 },
    );
  });

  it("sigmoid, hardSigmoid stay in [0, 1] and are monotone; NaN propagates like in PyTorch", () => {
    fc.assert(
      fc.property(values, (v) => {
        const sorted = [...v].sort((p, q) => p - q);
        for (const fn of [sigmoid, hardSigmoid]) {
          const y = fn(t(sorted)).data;
          for (let i = 0; i < y.length; i++) {
            expect(y[i]).toBeGreaterThanOrEqual(0);
            expect(y[i]).toBeLessThanOrEqual(1);
            if (i > 0) expect(y[i]).toBeGreaterThanOrEqual(y[i - 1]);
          }
        }
      }),
      { numRuns: 100 },
    );
    for (const fn of Object.values(ACTIVATIONS)) expect(fn(t([Number.NaN]), {}).data[0]).toBeNaN();
  });
});

describe("activations: bad input", () => {
  it("a non-finite negativeSlope or a non-tensor: ArgumentError", () => {
    const x = new Tensor(new Float32Array(2), [2]);
    expect(() => leakyRelu(x, Number.NaN)).toThrow(ArgumentError);
    expect(() => leakyRelu(x, Number.NaN)).toThrow(
      /leakyRelu: negativeSlope: expected a finite number, got NaN/,
    );
    expect(() => relu([1, 2] as unknown as Tensor)).toThrow(/relu: x: expected a Tensor/);
  });
});
