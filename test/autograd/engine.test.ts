import { describe, expect, it } from "vitest";
import { noGrad } from "../../src/autograd/gradmode.js";
import { record } from "../../src/autograd/record.js";
import { type Tensor, tensor } from "../../src/autograd/tensor.js";

// A tiny op defined only for these tests, so the engine is tested apart from the real ops.
function times(a: Tensor, b: Tensor): Tensor {
  const out = new Float32Array(a.numel);
  for (let i = 0; i < out.length; i++) out[i] = a.data[i] * b.data[i];
  return record("times", out, a.shape, [a, b], (g, needs) => [
    needs[0] ? g.map((v, i) => v * b.data[i]) : null,
    needs[1] ? g.map((v, i) => v * a.data[i]) : null,
  ]);
}
function plus(a: Tensor, b: Tensor): Tensor {
  const out = a.data.map((v, i) => v + b.data[i]);
  return record("plus", out, a.shape, [a, b], (g) => [g, g]);
}

describe("autograd engine", () => {
  it("accumulates gradients across uses and across backward calls, like PyTorch", () => {
    const x = tensor([2, 3], [2], { requiresGrad: true });
    const y = times(x, x); // x^2 -> 2x
    y.backward(tensor([1, 1], [2]));
    expect(Array.from(x.grad!.data)).toEqual([4, 6]);
    times(x, x).backward([1, 1]);
    expect(Array.from(x.grad!.data)).toEqual([8, 12]);
  });

  it("does not corrupt gradients when an op hands one buffer to two inputs", () => {
    const a = tensor([1, 2], [2], { requiresGrad: true });
    const b = tensor([3, 4], [2], { requiresGrad: true });
    const s = plus(a, b); // ds/da = ds/db = g
    const y = plus(s, times(a, a)); // extra path into a only
    y.backward([1, 1]);
    expect(Array.from(a.grad!.data)).toEqual([3, 5]);
    expect(Array.from(b.grad!.data)).toEqual([1, 1]);
  });

  it("needs no gradOutput for one-element outputs and refuses to guess otherwise", () => {
    const x = tensor([5], [1], { requiresGrad: true });
    times(x, x).backward();
    expect(x.grad!.item()).toBe(10);
    const v = tensor([1, 2], [2], { requiresGrad: true });
    expect(() => times(v, v).backward()).toThrow(/one-element output/);
  });

  it("frees the graph after backward unless retainGraph", () => {
    const x = tensor([1], [1], { requiresGrad: true });
    const y = times(x, x);
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expect(x.grad!.item()).toBe(4);
    expect(() => y.backward()).toThrow(/already freed/);
    expect(y.gradFn!.backward).toBeNull();
  });

  it("records nothing inside noGrad", () => {
    const x = tensor([1], [1], { requiresGrad: true });
    const y = noGrad(() => times(x, x));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
  });

  it("keeps grads of non-leaves only when asked", () => {
    const x = tensor([3], [1], { requiresGrad: true });
    const h = times(x, x).retainGrad();
    const k = times(x, x);
    times(h, k).backward();
    expect(h.grad!.item()).toBe(9);
    expect(k.grad).toBeNull();
    expect(x.grad!.item()).toBe(4 * 27);
  });

  it("handles deep chains without overflowing the stack", () => {
    const x = tensor([1], [1], { requiresGrad: true });
    let y = x;
    for (let i = 0; i < 50_000; i++) y = plus(y, tensor([0], [1]));
    y.backward();
    expect(x.grad!.item()).toBe(1);
  });

  it("rejects data that does not fit the shape", () => {
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow(/3 elements but shape \[2, 2\] needs 4/);
    expect(() => tensor([1], [Number.NaN])).toThrow(/non-negative integer/);
    expect(
      tensor([
        [1, 2],
        [3, 4],
      ]).shape,
    ).toEqual([2, 2]);
  });
});
