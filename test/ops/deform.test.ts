import { describe, expect, it } from "vitest";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { deformConv2dKernels, deformConv2dRefKernels } from "../../src/kernels/deform.js";
import { makeWasmDeform } from "../../src/kernels/wasm/deform.js";
import { instantiateSync } from "../../src/kernels/wasm/module.js";
import { type DeformConv2dOptions, deformConv2d } from "../../src/ops/deform.js";
import { conv2dGeometry } from "../../src/tensor/conv-geometry.js";
import { ArgumentError, ShapeError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";
import { fromSpec, type GoldenCase, loadGolden } from "../helpers/golden.js";
import { WASM_VARIANTS } from "../kernels/wasm-variants.js";

const golden = loadGolden("deform");
const GRAD_NAMES = ["input", "offset", "weight", "bias", "mask"] as const;

/** Runs one golden case through the op and returns the worst error of the forward and of each gradient. */
function runCase(c: GoldenCase): Record<string, number> {
  const leaves: Record<string, Tensor | null> = {};
  for (const name of GRAD_NAMES) {
    const spec = c.inputs[name];
    leaves[name] = spec ? fromSpec(spec, c.requiresGrad.includes(name)) : null;
  }
  const out = deformConv2d(leaves.input!, leaves.offset!, leaves.weight!, leaves.bias, {
    ...(c.args as Omit<DeformConv2dOptions, "mask">),
    mask: leaves.mask,
  });
  const errors: Record<string, number> = {};
  expect(out.shape, `${c.name}: output shape`).toEqual(c.output.shape);
  errors.forward = expectClose(out.data, c.output.data, { rtol: 1e-5, label: `${c.name}: forward` });
  out.backward(Float32Array.from(c.gradOutput!.data));
  for (const name of c.requiresGrad) {
    const leaf = leaves[name]!;
    expect(leaf.grad, `${c.name}: grad ${name}`).not.toBeNull();
    errors[name] = expectClose(leaf.grad!.data, c.grads[name].data, {
      rtol: 1e-4,
      label: `${c.name}: grad ${name}`,
    });
  }
  return errors;
}

function withKernels<T>(kernels: typeof deformConv2dKernels, fn: () => T): T {
  const saved = { ...deformConv2dKernels };
  Object.assign(deformConv2dKernels, kernels);
  try {
    return fn();
  } finally {
    Object.assign(deformConv2dKernels, saved);
  }
}

function summarize(path: string, all: Record<string, number>[]): string {
  const worst: Record<string, number> = {};
  for (const e of all) for (const [k, v] of Object.entries(e)) worst[k] = Math.max(worst[k] ?? 0, v);
  const parts = Object.entries(worst).map(([k, v]) => `${k} ${v.toExponential(2)}`);
  return `deformConv2d vs torchvision (${path}): ${all.length} cases; worst relative error: ${parts.join(", ")}`;
}

describe("deformConv2d against torchvision.ops.deform_conv2d (float64 golden fixtures)", () => {
  it("has the cases the fixture generator promises", () => {
    expect(golden.cases.length).toBeGreaterThanOrEqual(20);
    expect(golden.cases.every((c) => c.op === "deformConv2d")).toBe(true);
  });

  it("matches forward (1e-5) and every gradient (1e-4) through the default (plan + GEMM) path", () => {
    const all = golden.cases.map(runCase);
    console.log(summarize("plan + GEMM path", all));
    expect(all.length).toBe(golden.cases.length);
  });

  it("matches through the reference kernels too", () => {
    const all = withKernels(deformConv2dRefKernels, () => golden.cases.map(runCase));
    console.log(summarize("reference loops", all));
    expect(all.length).toBe(golden.cases.length);
  });

  it.each(WASM_VARIANTS)("matches through the WebAssembly kernels (%s)", (variant) => {
    const all = withKernels(makeWasmDeform(instantiateSync(variant)), () => golden.cases.map(runCase));
    console.log(summarize(`WebAssembly ${variant}`, all));
    expect(all.length).toBe(golden.cases.length);
  });

  it("gives torchvision's offset gradient at exactly integer sampling positions (one-sided, from above)", () => {
    const integerCases = golden.cases.filter((c) => /integer offsets|zero offsets/.test(c.name));
    expect(integerCases.length).toBeGreaterThanOrEqual(3);
    for (const c of integerCases) {
      // These fixtures really sample on integer positions...
      expect(
        c.inputs.offset.data.every((v) => Number.isInteger(v)),
        c.name,
      ).toBe(true);
      // ...where the offset gradient is not zero (the zero-offset cases have taps exactly on y = -1 / x = -1,
      // where torchvision's sample is 0 but its slope into row/column 0 is not).
      expect(
        c.grads.offset.data.some((v) => v !== 0),
        c.name,
      ).toBe(true);
      runCase(c);
    }
  });
});

/** Offsets that keep every sampling coordinate at least 0.2 away from an integer, so finite differences are smooth. */
function offTheGrid(rng: Rng, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, () => rng.int(7) - 3 + 0.2 + 0.6 * rng.uniform());
  return new Tensor(data, shape, true);
}

function randomTensor(rng: Rng, shape: number[], scale = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(
    Float32Array.from({ length: n }, () => scale * rng.normal()),
    shape,
    true,
  );
}

describe("deformConv2d gradients by finite differences", () => {
  const configs: {
    name: string;
    n: number;
    cin: number;
    cout: number;
    h: number;
    w: number;
    k: [number, number];
    og: number;
    groups: number;
    mask: boolean;
    options: Omit<DeformConv2dOptions, "mask">;
  }[] = [
    {
      name: "v1 3x3 pad 1",
      n: 1,
      cin: 2,
      cout: 2,
      h: 4,
      w: 4,
      k: [3, 3],
      og: 1,
      groups: 1,
      mask: false,
      options: { padding: 1 },
    },
    {
      name: "v2 offset groups 2, weight groups 2, stride 2",
      n: 2,
      cin: 4,
      cout: 2,
      h: 5,
      w: 4,
      k: [3, 3],
      og: 2,
      groups: 2,
      mask: true,
      options: { padding: 1, stride: 2 },
    },
    {
      name: "v2 kernel 1x3 dilation 2",
      n: 1,
      cin: 2,
      cout: 3,
      h: 3,
      w: 6,
      k: [1, 3],
      og: 1,
      groups: 1,
      mask: true,
      options: { padding: [0, 1], dilation: 2 },
    },
  ];
  for (const cfg of configs) {
    it(`agrees with central differences: ${cfg.name}`, () => {
      const rng = new Rng(cfg.name.length);
      const [kH, kW] = cfg.k;
      const x = randomTensor(rng, [cfg.n, cfg.cin, cfg.h, cfg.w]);
      const weight = randomTensor(rng, [cfg.cout, cfg.cin / cfg.groups, kH, kW], 0.5);
      const bias = randomTensor(rng, [cfg.cout]);
      const g = conv2dGeometry(x.shape, weight.shape, { ...cfg.options, groups: cfg.groups });
      const offset = offTheGrid(rng, [cfg.n, 2 * cfg.og * kH * kW, g.hOut, g.wOut]);
      const inputs = [x, offset, weight, bias];
      if (cfg.mask) {
        const m = Float32Array.from(
          { length: cfg.n * cfg.og * kH * kW * g.hOut * g.wOut },
          () => 0.2 + 0.8 * rng.uniform(),
        );
        inputs.push(new Tensor(m, [cfg.n, cfg.og * kH * kW, g.hOut, g.wOut], true));
      }
      const fn = (...t: Tensor[]) =>
        deformConv2d(t[0], t[1], t[2], t[3], { ...cfg.options, mask: t[4] ?? null });
      const result = gradcheck(fn, inputs, { eps: 1e-2, rtol: 2e-2, maxElements: 48 });
      expect(result.worst).toBeLessThan(2e-2);
    });
  }
});

describe("deformConv2d properties", () => {
  it("with a mask of ones equals v1, forward and gradients", () => {
    const rng = new Rng(11);
    const x = randomTensor(rng, [2, 4, 5, 5]);
    const w = randomTensor(rng, [4, 2, 3, 3]);
    const off = randomTensor(rng, [2, 36, 5, 5], 2);
    const ones = new Tensor(new Float32Array(2 * 18 * 25).fill(1), [2, 18, 5, 5]);
    const gradOut = Float32Array.from({ length: 2 * 4 * 25 }, () => rng.normal());
    const run = (mask: Tensor | null) => {
      const leaves = [x, off, w].map((t) => new Tensor(Float32Array.from(t.data), t.shape, true));
      const y = deformConv2d(leaves[0], leaves[1], leaves[2], null, { padding: 1, mask });
      y.backward(gradOut);
      return [y.data, ...leaves.map((t) => t.grad!.data)];
    };
    const v1 = run(null);
    const v2 = run(ones);
    for (const [i, a] of v1.entries()) expectClose(v2[i], a, { rtol: 1e-6, label: `tensor ${i}` });
  });

  it("takes explicit [top, left, bottom, right] padding as zero-padding the input", () => {
    const rng = new Rng(5);
    const x = randomTensor(rng, [1, 2, 4, 5]);
    const w = randomTensor(rng, [2, 2, 3, 3]);
    const [top, left, bottom, right] = [2, 0, 1, 1];
    const padded = new Float32Array(1 * 2 * (4 + top + bottom) * (5 + left + right));
    const ph = 4 + top + bottom;
    const pw = 5 + left + right;
    for (let c = 0; c < 2; c++)
      for (let i = 0; i < 4; i++)
        for (let j = 0; j < 5; j++) padded[(c * ph + i + top) * pw + j + left] = x.data[(c * 4 + i) * 5 + j];
    const hOut = ph - 2;
    const wOut = pw - 2;
    const off = randomTensor(rng, [1, 18, hOut, wOut], 2);
    const a = deformConv2d(x, off, w, null, { padding: [top, left, bottom, right] });
    const b = deformConv2d(new Tensor(padded, [1, 2, ph, pw]), off, w, null, { padding: 0 });
    expect(a.shape).toEqual([1, 2, hOut, wOut]);
    expectClose(a.data, b.data, { rtol: 1e-6, label: "asymmetric padding" });
  });

  it("lets a NaN pixel reach only the samples whose corners touch it, on both paths", () => {
    // 1x1 kernel on a 3x3 image whose pixel (2, 2) is NaN: a sample at (0.5, 0.5) does not touch it, one at
    // (1.5, 1.5) does, one far outside reads nothing.
    const x = new Tensor(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, Number.NaN]), [1, 1, 3, 3]);
    const w = new Tensor(Float32Array.of(1), [1, 1, 1, 1]);
    const offsets = new Float32Array(2 * 9);
    // output 3x3, positions (oh, ow) + (dy, dx): pixel 0 -> (0.5, 0.5), pixel 4 -> (1.5, 1.5), pixel 8 -> (-7, 2)
    offsets.set([0.5, 0, 0, 0, 0.5, 0, 0, 0, -9], 0);
    offsets.set([0.5, 0, 0, 0, 0.5, 0, 0, 0, 0], 9);
    for (const kernels of [deformConv2dKernels, deformConv2dRefKernels]) {
      const y = withKernels(kernels, () => deformConv2d(x, new Tensor(offsets, [1, 2, 3, 3]), w));
      expect(y.data[0]).toBe(3); // (1 + 2 + 4 + 5) / 4
      expect(y.data[4]).toBeNaN();
      expect(y.data[8]).toBe(0);
    }
  });

  it("handles an empty batch like torchvision (empty output, zero gradients)", () => {
    const x = new Tensor(new Float32Array(0), [0, 2, 4, 4], true);
    const w = new Tensor(new Float32Array(2 * 2 * 9).fill(0.5), [2, 2, 3, 3], true);
    const off = new Tensor(new Float32Array(0), [0, 18, 2, 2], true);
    const y = deformConv2d(x, off, w);
    expect(y.shape).toEqual([0, 2, 2, 2]);
    y.backward(new Float32Array(0));
    expect(Array.from(w.grad!.data).every((v) => v === 0)).toBe(true);
  });
});

describe("deformConv2d rejects bad input with clear errors", () => {
  const x = new Tensor(new Float32Array(1 * 4 * 5 * 5), [1, 4, 5, 5]);
  const w = new Tensor(new Float32Array(2 * 4 * 9), [2, 4, 3, 3]);
  const off = (shape: number[]) => new Tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);

  it("names the expected offset shape when channels or spatial size are wrong", () => {
    expect(() => deformConv2d(x, off([1, 17, 3, 3]), w)).toThrow(ShapeError);
    expect(() => deformConv2d(x, off([1, 17, 3, 3]), w)).toThrow(
      /deformConv2d: offset: expected shape \[N, 2\*offsetGroups\*kH\*kW, Hout, Wout\] = \[1, a positive multiple of 18, 3, 3\].*got \[1, 17, 3, 3\]/,
    );
    expect(() => deformConv2d(x, off([1, 18, 4, 3]), w)).toThrow(ShapeError);
    expect(() => deformConv2d(x, off([1, 18, 4, 3]), w)).toThrow(
      /offset: expected shape \[1, 18, 3, 3\].*got \[1, 18, 4, 3\]/,
    );
    expect(() => deformConv2d(x, off([2, 18, 3, 3]), w)).toThrow(/offset: expected shape \[1, 18, 3, 3\]/);
  });

  it("names the expected mask shape", () => {
    const offset = off([1, 36, 3, 3]); // 2 offset groups
    expect(() => deformConv2d(x, offset, w, null, { mask: off([1, 9, 3, 3]) })).toThrow(ShapeError);
    expect(() => deformConv2d(x, offset, w, null, { mask: off([1, 9, 3, 3]) })).toThrow(
      /deformConv2d: mask: expected shape \[1, 18, 3, 3\] \(\[N, offsetGroups\*kH\*kW, Hout, Wout\] with 2 offset groups\), got \[1, 9, 3, 3\]/,
    );
    expect(() => deformConv2d(x, offset, w, null, { mask: off([1, 18, 3, 2]) })).toThrow(
      /mask: expected shape \[1, 18, 3, 3\]/,
    );
  });

  it("rejects offset groups that do not divide the input channels", () => {
    const offset = off([1, 54, 3, 3]); // 3 offset groups, Cin = 4
    expect(() => deformConv2d(x, offset, w)).toThrow(ArgumentError);
    expect(() => deformConv2d(x, offset, w)).toThrow(
      /offset: expected offset groups \(offset channels 54 \/ \(2\*kH\*kW = 18\)\) dividing the 4 input channels, got 3/,
    );
  });

  it("rejects weight groups that do not divide", () => {
    const w3 = new Tensor(new Float32Array(2 * 3 * 9), [2, 3, 3, 3]); // 4 % 3 != 0
    expect(() => deformConv2d(x, off([1, 18, 3, 3]), w3)).toThrow(ShapeError);
    expect(() => deformConv2d(x, off([1, 18, 3, 3]), w3)).toThrow(
      /weight: expected .*divides the 4 input channels.*got \[2, 3, 3, 3\]/,
    );
    const w2 = new Tensor(new Float32Array(3 * 2 * 9), [3, 2, 3, 3]); // 2 groups, 3 outputs
    expect(() => deformConv2d(x, off([1, 18, 3, 3]), w2)).toThrow(ArgumentError);
    expect(() => deformConv2d(x, off([1, 18, 3, 3]), w2)).toThrow(
      /groups: expected a divisor of the output channels \(3\), got 2/,
    );
  });

  it("rejects tensors that are not 4-d", () => {
    const flat = new Tensor(new Float32Array(100), [4, 25]);
    expect(() => deformConv2d(flat, off([1, 18, 3, 3]), w)).toThrow(ShapeError);
    expect(() => deformConv2d(flat, off([1, 18, 3, 3]), w)).toThrow(
      /deformConv2d: input: expected a 4-d tensor \[N, Cin, H, W\], got \[4, 25\]/,
    );
    expect(() => deformConv2d(x, off([18, 3, 3]), w)).toThrow(
      /offset: expected a 4-d tensor \[N, 2\*offsetGroups\*kH\*kW, Hout, Wout\]/,
    );
    expect(() => deformConv2d(x, off([1, 18, 3, 3]), off([2, 36]))).toThrow(/weight: expected a 4-d tensor/);
    expect(() => deformConv2d(x, off([1, 18, 3, 3]), w, null, { mask: off([9, 3, 3]) })).toThrow(
      /mask: expected a 4-d tensor/,
    );
  });

  it("rejects a bias of the wrong size, unknown options and non-tensors", () => {
    expect(() => deformConv2d(x, off([1, 18, 3, 3]), w, off([3]))).toThrow(/bias: expected shape \[2\]/);
    expect(() => deformConv2d(x, off([1, 18, 3, 3]), w, null, { groups: 2 } as DeformConv2dOptions)).toThrow(
      ArgumentError,
    );
    expect(() => deformConv2d(x, off([1, 18, 3, 3]), w, null, { groups: 2 } as DeformConv2dOptions)).toThrow(
      /options: expected only stride, padding, dilation, mask, got "groups"/,
    );
    expect(() => deformConv2d(x, [1, 2] as unknown as Tensor, w)).toThrow(/offset: expected a Tensor/);
    expect(() => deformConv2d(x, off([1, 18, 3, 3]), w, null, { stride: 0 })).toThrow(
      /stride: expected a positive integer, got 0/,
    );
  });
});
