import { afterAll, describe, expect, it } from "vitest";
import { Tensor } from "../../src/autograd/tensor.js";
import { ArgumentError, FormatError } from "../../src/tensor/errors.js";
import { Adam, AdamW } from "../../src/train/adam.js";
import type { Optimizer } from "../../src/train/optimizer.js";
import { SGD } from "../../src/train/sgd.js";
import { expectClose } from "../helpers/close.js";
import { loadGolden, type TensorSpec } from "../helpers/golden.js";

interface OptimizerCase {
  op: "optimizer";
  name: string;
  optimizer: "SGD" | "Adam" | "AdamW";
  args: Record<string, unknown>;
  groups: ({ params: number[] } & Record<string, unknown>)[] | null;
  params: TensorSpec[];
  grads: TensorSpec[][];
  expected: TensorSpec[][];
}

const cases = (loadGolden("optim").cases as unknown as { op: string }[]).filter(
  (c): c is OptimizerCase => c.op === "optimizer",
);
const RTOL = 1e-6;
let worst = 0;
afterAll(() => {
  console.log(
    `optimizer fixtures: ${cases.length} cases x 5 steps, worst relative error ${worst.toExponential(2)}`,
  );
});

function build(c: OptimizerCase, params: Tensor[]): Optimizer<{ lr: number }> {
  const input =
    c.groups === null ? params : c.groups.map((g) => ({ ...g, params: g.params.map((i) => params[i]) }));
  // biome-ignore lint/suspicious/noExplicitAny: fixture options are checked by the optimizer itself
  const args = c.args as any;
  if (c.optimizer === "SGD") return new SGD(input, args);
  if (c.optimizer === "Adam") return new Adam(input, args);
  return new AdamW(input, args);
}

function fresh(c: OptimizerCase): Tensor[] {
  return c.params.map((p) => new Tensor(Float32Array.from(p.data), p.shape, true));
}

function runSteps(
  c: OptimizerCase,
  opt: Optimizer<{ lr: number }>,
  params: Tensor[],
  from: number,
  to: number,
): void {
  for (let t = from; t < to; t++) {
    params.forEach((p, i) => {
      p.grad = new Tensor(Float32Array.from(c.grads[t][i].data), p.shape);
    });
    opt.step();
    params.forEach((p, i) => {
      worst = Math.max(
        worst,
        expectClose(p.data, c.expected[t][i].data, {
          rtol: RTOL,
          label: `${c.name}: step ${t + 1}, param ${i}`,
        }),
      );
    });
  }
}

describe("optimizers against torch.optim", () => {
  it("has the fixture cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(17);
  });

  for (const c of cases) {
    it(`${c.name}: 5 steps match torch`, () => {
      const params = fresh(c);
      runSteps(c, build(c, params), params, 0, 5);
    });
  }

  for (const c of cases) {
    it(`${c.name}: stateDict after 2 steps resumes in a new optimizer`, () => {
      const params = fresh(c);
      const first = build(c, params);
      runSteps(c, first, params, 0, 2);
      const dict = first.stateDict();
      const copies = params.map((p) => new Tensor(p.data.slice(), p.shape, true));
      const second = build(c, copies);
      second.loadStateDict(dict);
      // The dict is a copy: stepping the first optimizer further must not change what was saved.
      runSteps(c, first, params, 2, 3);
      runSteps(c, second, copies, 2, 5);
    });
  }
});

describe("optimizer behaviour", () => {
  const p = () => new Tensor(Float32Array.from([1, 2, 3]), [3], true);

  it("skips parameters without a gradient, and zeroGrad clears gradients", () => {
    const a = p();
    const b = p();
    const opt = new SGD([a, b], { lr: 0.5, momentum: 0.9 });
    a.grad = new Tensor(Float32Array.from([1, 1, 1]), [3]);
    opt.step();
    expect(Array.from(a.data)).toEqual([0.5, 1.5, 2.5]);
    expect(Array.from(b.data)).toEqual([1, 2, 3]);
    expect(opt.stateDict().state[1]).toBeNull();
    opt.zeroGrad();
    expect(a.grad).toBeNull();
  });

  it("sets every group's lr through .lr, and keeps per-group options", () => {
    const a = p();
    const b = p();
    const opt = new Adam(
      [
        { params: [a], lr: 0.5 },
        { params: [b], weightDecay: 0.1 },
      ],
      { lr: 0.01 },
    );
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.5, 0.01]);
    expect(opt.paramGroups[1].weightDecay).toBe(0.1);
    opt.lr = 0.2;
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.2, 0.2]);
  });

  it("rejects bad options and parameter lists like torch", () => {
    expect(() => new SGD([p()], { lr: -1 })).toThrow(ArgumentError);
    expect(() => new SGD([p()], { lr: 0.1, nesterov: true })).toThrow(/nesterov.*momentum > 0/);
    expect(() => new SGD([p()], { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true })).toThrow(
      /dampening 0/,
    );
    expect(() => new Adam([p()], { betas: [1, 0.9] })).toThrow(/betas\[0\]/);
    expect(() => new Adam([p()], { eps: -1 })).toThrow(/eps/);
    expect(() => new AdamW([], {})).toThrow(/at least one parameter/);
    const shared = p();
    expect(() => new SGD([{ params: [shared] }, { params: [shared] }], { lr: 1 })).toThrow(
      /more than one group/,
    );
  });

  it("refuses a state dict from another optimizer or of the wrong size, leaving itself unchanged", () => {
    const a = p();
    const adam = new Adam([a], { lr: 0.1 });
    a.grad = new Tensor(Float32Array.from([1, -1, 2]), [3]);
    adam.step();
    const dict = adam.stateDict();
    expect(() => new SGD([p()], { lr: 0.1 }).loadStateDict(dict)).toThrow(FormatError);
    expect(() => new Adam([p(), p()], { lr: 0.1 }).loadStateDict(dict)).toThrow(/1 groups|params/);
    const short = { ...dict, state: [{ step: 1, buffers: { expAvg: new Float32Array(2) } }] };
    const target = new Adam([p()], { lr: 0.3 });
    expect(() => target.loadStateDict(short)).toThrow(/3 float32 values/);
    expect(target.lr).toBe(0.3);
    expect(target.stateDict().state[0]).toBeNull();
  });
});
