import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { randn } from "../../src/autograd/factories.js";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { channelShuffle } from "../../src/ops/shuffle.js";
import { ArgumentError, ShapeError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";
import { fromSpec, loadGolden } from "../helpers/golden.js";

const golden = loadGolden("pool");

describe("channelShuffle: golden cases from PyTorch (nn.ChannelShuffle)", () => {
  const cases = golden.cases.filter((c) => c.op === "channelShuffle");
  it(`matches PyTorch forward and backward (${cases.length} cases)`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(5);
    let worstOut = 0;
    let worstGrad = 0;
    for (const c of cases) {
      const x = fromSpec(c.inputs.x, true);
      const y = channelShuffle(x, c.args.groups as number);
      expect(y.shape, `${c.name}: shape`).toEqual(c.output.shape);
      worstOut = Math.max(
        worstOut,
        expectClose(y.data, c.output.data, { rtol: 1e-5, label: `${c.name}: output` }),
      );
      y.backward(fromSpec(c.gradOutput!));
      worstGrad = Math.max(
        worstGrad,
        expectClose(x.grad!.data, c.grads.x.data, { rtol: 1e-4, label: `${c.name}: grad` }),
      );
    }
    console.log(
      `channelShuffle: ${cases.length} golden cases, worst output ${worstOut}, worst grad ${worstGrad}`,
    );
  });
});

describe("channelShuffle: finite differences and properties", () => {
  it("gradient is the inverse permutation", () => {
    const rng = new Rng(5);
    for (const g of [2, 3, 6])
      gradcheck((t) => channelShuffle(t, g), [randn([2, 6, 2, 2], { rng, requiresGrad: true })]);
  });

  it("shuffling with g and then with C/g gives back the input, and so does the gradient", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 1000 }),
        (g, perGroup, h, w, seed) => {
          const c = g * perGroup;
          const rng = new Rng(seed);
          const x = randn([2, c, h, w], { rng, requiresGrad: true });
          const y = channelShuffle(channelShuffle(x, g), perGroup);
          expect(Array.from(y.data)).toEqual(Array.from(x.data));
          const gy = randn([2, c, h, w], { rng }).data;
          y.backward(gy);
          expect(Array.from(x.grad!.data)).toEqual(Array.from(gy));
        },
      ),
      { numRuns: 100 },
    );
  });

  it("moves whole channels: output channel j*g + i is input channel i*(C/g) + j", () => {
    const x = new Tensor(
      Float32Array.from({ length: 6 }, (_, i) => i),
      [1, 6, 1, 1],
    );
    // independent of the kernel: build the permutation from the [g, C/g] -> [C/g, g] transpose
    const g = 2;
    const expected: number[] = [];
    for (let j = 0; j < 3; j++) for (let i = 0; i < g; i++) expected.push(i * 3 + j);
    expect(Array.from(channelShuffle(x, g).data)).toEqual(expected);
  });
});

describe("channelShuffle: bad inputs", () => {
  const x = new Tensor(new Float32Array(6 * 4), [1, 6, 2, 2]);
  it("refuses groups that do not divide the channels", () => {
    expect(() => channelShuffle(x, 4)).toThrow(ArgumentError);
    expect(() => channelShuffle(x, 4)).toThrow(
      /channelShuffle: groups: expected a divisor of the number of channels \(6\), got 4/,
    );
  });
  it("refuses non-positive or fractional groups", () => {
    expect(() => channelShuffle(x, 0)).toThrow(/channelShuffle: groups: expected a positive integer, got 0/);
    expect(() => channelShuffle(x, 1.5)).toThrow(ArgumentError);
  });
  it("refuses inputs that are not 4-d", () => {
    const x3 = new Tensor(new Float32Array(6 * 4), [6, 2, 2]);
    expect(() => channelShuffle(x3, 2)).toThrow(ShapeError);
    expect(() => channelShuffle(x3, 2)).toThrow(/channelShuffle: input: expected a 4-d tensor/);
  });
});
