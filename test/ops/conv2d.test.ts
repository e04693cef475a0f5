import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { randn, zeros } from "../../src/autograd/factories.js";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { noGrad } from "../../src/autograd/gradmode.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { gemmRef } from "../../src/kernels/ref/gemm.js";
import { conv2d } from "../../src/ops/conv.js";
import type { Conv2dOptions, Padding2d } from "../../src/tensor/conv-geometry.js";
import { ArgumentError, ShapeError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";
import { fromSpec, loadGolden } from "../helpers/golden.js";

// ---------------------------------------------------------------- helpers (independent of src/ops/conv.ts)

function rand(shape: number[], rng: Rng, requiresGrad = false): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = rng.normal();
  return new Tensor(data, shape, requiresGrad);
}

/** PyTorch's padding rules, written again here so the shape property does not reuse resolvePadding. */
function torchPads(padding: Padding2d | undefined, k: [number, number], d: [number, number]): number[] {
  if (padding === undefined || padding === "valid") return [0, 0, 0, 0];
  if (padding === "same") {
    const th = d[0] * (k[0] - 1);
    const tw = d[1] * (k[1] - 1);
    return [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
  }
  if (typeof padding === "number") return [padding, padding, padding, padding];
  if (padding.length === 2) return [padding[0], padding[1], padding[0], padding[1]];
  return [...padding];
}

/** Channels [start, start + count) of an NCHW tensor, as a new leaf. */
function sliceChannels(t: Tensor, start: number, count: number, requiresGrad = false): Tensor {
  const [n, c, h, w] = t.shape;
  const out = new Float32Array(n * count * h * w);
  for (let b = 0; b < n; b++) {
    out.set(t.data.subarray((b * c + start) * h * w, (b * c + start + count) * h * w), b * count * h * w);
  }
  return new Tensor(out, [n, count, h, w], requiresGrad);
}

/** Rows [start, start + count) along dim 0 (weights [Cout, ...], biases [Cout]). */
function sliceRows(t: Tensor, start: number, count: number, requiresGrad = false): Tensor {
  const row = t.numel / t.shape[0];
  return new Tensor(
    t.data.slice(start * row, (start + count) * row),
    [count, ...t.shape.slice(1)],
    requiresGrad,
  );
}

function concatChannels(parts: Float32Array[], shapes: (readonly number[])[]): Float32Array {
  const [n, , h, w] = shapes[0];
  const c = shapes.reduce((s, sh) => s + sh[1], 0);
  const out = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b++) {
    let offset = 0;
    parts.forEach((p, i) => {
      const ci = shapes[i][1];
      out.set(p.subarray(b * ci * h * w, (b + 1) * ci * h * w), (b * c + offset) * h * w);
      offset += ci;
    });
  }
  return out;
}

function expectError(
  fn: () => unknown,
  cls: typeof ArgumentError | typeof ShapeError,
  patterns: RegExp[],
): void {
  let caught: unknown = null;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, "should have thrown").toBeInstanceOf(cls);
  const message = (caught as Error).message;
  expect(message).toMatch(/^conv2d: /);
  for (const p of patterns) expect(message).toMatch(p);
}

// ---------------------------------------------------------------- golden fixtures from PyTorch

describe("conv2d matches torch.nn.functional.conv2d (golden fixtures)", () => {
  const golden = loadGolden("conv2d");
  let worstForward = 0;
  let worstGrad = 0;
  let checked = 0;

  afterAll(() => {
    console.log(
      `conv2d golden: ${checked}/${golden.cases.length} cases, worst forward error ${worstForward.toExponential(2)}, worst gradient error ${worstGrad.toExponential(2)} (torch ${golden.torch})`,
    );
  });

  it("covers every option the brief lists", () => {
    const args = golden.cases.map((c) => c.args as Conv2dOptions);
    const kernels = new Set(golden.cases.map((c) => c.inputs.weight.shape.slice(2).join("x")));
    for (const k of ["1x1", "3x3", "5x5", "7x7", "1x3", "3x1", "1x7", "2x4"]) expect(kernels, k).toContain(k);
    expect(golden.cases.length).toBeGreaterThanOrEqual(35);
    expect(args.some((a) => a.padding === "same")).toBe(true);
    expect(args.some((a) => a.padding === "valid")).toBe(true);
    expect(args.some((a) => Array.isArray(a.padding) && a.padding.length === 4)).toBe(true);
    expect(args.some((a) => Array.isArray(a.stride))).toBe(true);
    expect(args.some((a) => Array.isArray(a.dilation))).toBe(true);
    expect(
      golden.cases.some(
        (c) => (c.args.groups as number) === c.inputs.x.shape[1] && c.output.shape[1] > c.inputs.x.shape[1],
      ),
    ).toBe(true);
    expect(golden.cases.some((c) => c.inputs.bias === undefined)).toBe(true);
    expect(golden.cases.some((c) => c.inputs.x.shape[0] > 1)).toBe(true);
  });

  for (const c of golden.cases) {
    it(c.name, () => {
      const leaves: Record<string, Tensor> = {};
      for (const [name, spec] of Object.entries(c.inputs))
        leaves[name] = fromSpec(spec, c.requiresGrad.includes(name));
      const y = conv2d(leaves.x, leaves.weight, leaves.bias ?? null, c.args as Conv2dOptions);
      expect(y.shape, `${c.name}: output shape`).toEqual(c.output.shape);
      worstForward = Math.max(
        worstForward,
        expectClose(y.data, c.output.data, { rtol: 1e-5, label: `${c.name}: output` }),
      );
      expect(c.gradOutput, `${c.name}: gradOutput`).not.toBeNull();
      y.backward(Float32Array.from(c.gradOutput?.data ?? []));
      for (const name of c.requiresGrad) {
        const grad = leaves[name].grad;
        expect(grad, `${c.name}: grad of ${name}`).not.toBeNull();
        const err = expectClose(grad?.data ?? [], c.grads[name].data, {
          rtol: 1e-4,
          label: `${c.name}: grad of ${name}`,
        });
        worstGrad = Math.max(worstGrad, err);
      }
      checked++;
    });
  }
});

// ---------------------------------------------------------------- finite differences

interface GradCase {
  name: string;
  x: number[];
  w: number[];
  bias: boolean;
  options: Conv2dOptions;
}

const GRAD_CASES: GradCase[] = [
  { name: "3x3 pad 1", x: [1, 2, 5, 5], w: [3, 2, 3, 3], bias: true, options: { padding: 1 } },
  { name: "stride 2", x: [2, 2, 6, 5], w: [2, 2, 3, 3], bias: true, options: { stride: 2, padding: 1 } },
  {
    name: "stride [2, 1] no bias",
    x: [1, 2, 5, 4],
    w: [2, 2, 2, 3],
    bias: false,
    options: { stride: [2, 1] },
  },
  { name: "dilation 2", x: [1, 2, 6, 6], w: [2, 2, 3, 3], bias: true, options: { dilation: 2, padding: 2 } },
  {
    name: "dilation [1, 3] stride 2",
    x: [1, 1, 6, 8],
    w: [2, 1, 3, 3],
    bias: true,
    options: { dilation: [1, 3], stride: 2 },
  },
  { name: "groups 2", x: [1, 4, 4, 4], w: [4, 2, 3, 3], bias: true, options: { groups: 2, padding: 1 } },
  { name: "depthwise", x: [2, 3, 4, 5], w: [3, 1, 3, 3], bias: true, options: { groups: 3, padding: 1 } },
  {
    name: "channel multiplier",
    x: [1, 2, 4, 4],
    w: [6, 1, 3, 3],
    bias: false,
    options: { groups: 2, padding: "same" },
  },
  {
    name: "asymmetric padding",
    x: [1, 2, 4, 5],
    w: [2, 2, 3, 3],
    bias: true,
    options: { padding: [1, 0, 2, 3] },
  },
  {
    name: "asymmetric + stride + dilation",
    x: [1, 2, 6, 6],
    w: [2, 2, 2, 2],
    bias: true,
    options: { padding: [0, 2, 1, 0], stride: 2, dilation: 2 },
  },
  { name: "same even kernel", x: [1, 2, 4, 5], w: [2, 2, 2, 4], bias: true, options: { padding: "same" } },
  { name: "1x7 valid", x: [1, 2, 3, 9], w: [2, 2, 1, 7], bias: true, options: { padding: "valid" } },
];

describe("conv2d gradients agree with finite differences", () => {
  for (const c of GRAD_CASES) {
    it(c.name, () => {
      const rng = new Rng(c.name.length * 7919);
      const inputs = [rand(c.x, rng, true), rand(c.w, rng, true)];
      if (c.bias) inputs.push(rand([c.w[0]], rng, true));
      const result = gradcheck((x, w, b) => conv2d(x, w, b ?? null, c.options), inputs, { maxElements: 48 });
      expect(result.worst).toBeLessThan(2e-2);
    });
  }
});

// ---------------------------------------------------------------- properties

interface Config {
  n: number;
  groups: number;
  cIn: number;
  cOut: number;
  k: [number, number];
  stride: [number, number];
  dilation: [number, number];
  padding: Padding2d;
  h: number;
  w: number;
  seed: number;
}

const configArb: fc.Arbitrary<Config> = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    groups: fc.integer({ min: 1, max: 3 }),
    cInG: fc.integer({ min: 1, max: 2 }),
    cOutG: fc.integer({ min: 1, max: 2 }),
    k: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })),
    stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    dilation: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    padKind: fc.constantFrom("number", "pair", "quad", "same", "valid"),
    pads: fc.tuple(...[0, 1, 2, 3].map(() => fc.integer({ min: 0, max: 3 }))),
    extra: fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 4 })),
    seed: fc.integer({ min: 0, max: 1e6 }),
  })
  .map((r) => {
    const p = r.pads;
    const padding: Padding2d =
      r.padKind === "number"
        ? p[0]
        : r.padKind === "pair"
          ? [p[0], p[1]]
          : r.padKind === "quad"
            ? [p[0], p[1], p[2], p[3]]
            : (r.padKind as "same" | "valid");
    const stride: [number, number] = r.padKind === "same" ? [1, 1] : r.stride;
    const [pt, pl, pb, pr] = torchPads(padding, r.k, r.dilation);
    // smallest input the kernel fits in, plus a random margin
    const h = Math.max(1, r.dilation[0] * (r.k[0] - 1) + 1 - pt - pb) + r.extra[0];
    const w = Math.max(1, r.dilation[1] * (r.k[1] - 1) + 1 - pl - pr) + r.extra[1];
    return {
      n: r.n,
      groups: r.groups,
      cIn: r.cInG * r.groups,
      cOut: r.cOutG * r.groups,
      k: r.k,
      stride,
      dilation: r.dilation,
      padding,
      h,
      w,
      seed: r.seed,
    };
  });

function optionsOf(c: Config, groups = c.groups): Conv2dOptions {
  return { stride: c.stride, padding: c.padding, dilation: c.dilation, groups };
}

describe("conv2d properties", () => {
  it("output shape follows PyTorch's formula floor((H + pt + pb - d(k-1) - 1) / s) + 1", () => {
    fc.assert(
      fc.property(configArb, (c) => {
        const rng = new Rng(c.seed);
        const y = conv2d(
          rand([c.n, c.cIn, c.h, c.w], rng),
          rand([c.cOut, c.cIn / c.groups, ...c.k], rng),
          null,
          optionsOf(c),
        );
        const [pt, pl, pb, pr] = torchPads(c.padding, c.k, c.dilation);
        const hOut = Math.floor((c.h + pt + pb - c.dilation[0] * (c.k[0] - 1) - 1) / c.stride[0]) + 1;
        const wOut = Math.floor((c.w + pl + pr - c.dilation[1] * (c.k[1] - 1) - 1) / c.stride[1]) + 1;
        expect(y.shape).toEqual([c.n, c.cOut, hOut, wOut]);
        if (c.padding === "same") expect([hOut, wOut]).toEqual([c.h, c.w]);
      }),
      { numRuns: 150 },
    );
  });

  it("groups=g equals g separate convs on channel slices (forward and weight gradient)", () => {
    fc.assert(
      fc.property(
        configArb.filter((c) => c.groups > 1),
        fc.boolean(),
        (c, withBias) => {
          const rng = new Rng(c.seed);
          const x = rand([c.n, c.cIn, c.h, c.w], rng);
          const w = rand([c.cOut, c.cIn / c.groups, ...c.k], rng, true);
          const b = withBias ? rand([c.cOut], rng) : null;
          const y = conv2d(x, w, b, optionsOf(c));
          const gy = rand([...y.shape], rng);
          y.backward(gy);

          const cInG = c.cIn / c.groups;
          const cOutG = c.cOut / c.groups;
          const outs: Float32Array[] = [];
          const shapes: (readonly number[])[] = [];
          const wGrads: Float32Array[] = [];
          for (let g = 0; g < c.groups; g++) {
            const wg = sliceRows(w, g * cOutG, cOutG, true);
            const bg = b ? sliceRows(b, g * cOutG, cOutG) : null;
            const yg = conv2d(sliceChannels(x, g * cInG, cInG), wg, bg, optionsOf(c, 1));
            yg.backward(sliceChannels(gy, g * cOutG, cOutG).data);
            outs.push(yg.data);
            shapes.push(yg.shape);
            wGrads.push(wg.grad!.data);
          }
          expectClose(y.data, concatChannels(outs, shapes), { label: "grouped forward" });
          const wGrad = new Float32Array(w.numel);
          wGrads.forEach((gw, g) => {
            wGrad.set(gw, g * gw.length);
          });
          expectClose(w.grad!.data, wGrad, { label: "grouped weight gradient" });
        },
      ),
      { numRuns: 60 },
    );
  });

  it("a 1x1 conv is a matrix product W[Cout x Cin] X[Cin x HW] per image, plus bias", () => {
    fc.assert(
      fc.property(
        fc.record({
          n: fc.integer({ min: 1, max: 3 }),
          cIn: fc.integer({ min: 1, max: 6 }),
          cOut: fc.integer({ min: 1, max: 6 }),
          h: fc.integer({ min: 1, max: 5 }),
          w: fc.integer({ min: 1, max: 5 }),
          seed: fc.integer({ min: 0, max: 1e6 }),
        }),
        ({ n, cIn, cOut, h, w, seed }) => {
          const rng = new Rng(seed);
          const x = rand([n, cIn, h, w], rng);
          const wt = rand([cOut, cIn, 1, 1], rng);
          const b = rand([cOut], rng);
          const y = conv2d(x, wt, b);
          const hw = h * w;
          const expected = new Float32Array(n * cOut * hw);
          for (let i = 0; i < n; i++) {
            gemmRef(
              false,
              false,
              cOut,
              hw,
              cIn,
              1,
              wt.data,
              0,
              x.data,
              i * cIn * hw,
              0,
              expected,
              i * cOut * hw,
            );
            for (let co = 0; co < cOut; co++) {
              for (let p = 0; p < hw; p++) expected[(i * cOut + co) * hw + p] += b.data[co];
            }
          }
          expect(y.shape).toEqual([n, cOut, h, w]);
          expectClose(y.data, expected, { label: "1x1 conv vs GEMM" });
        },
      ),
      { numRuns: 60 },
    );
  });

  it("is linear in the input: conv(a x1 + b x2) = a conv(x1) + b conv(x2)", () => {
    fc.assert(
      fc.property(
        configArb,
        // scalars on a 1/16 grid in [-2, 2]: arbitrary doubles would include subnormals that float32 flushes
        fc.integer({ min: -32, max: 32 }).map((v) => v / 16),
        fc.integer({ min: -32, max: 32 }).map((v) => v / 16),
        (c, a, bb) => {
          const rng = new Rng(c.seed);
          const shape = [c.n, c.cIn, c.h, c.w];
          const x1 = rand(shape, rng);
          const x2 = rand(shape, rng);
          const w = rand([c.cOut, c.cIn / c.groups, ...c.k], rng);
          const mixed = new Tensor(
            x1.data.map((v, i) => a * v + bb * x2.data[i]),
            shape,
          );
          const y = conv2d(mixed, w, null, optionsOf(c));
          const y1 = conv2d(x1, w, null, optionsOf(c));
          const y2 = conv2d(x2, w, null, optionsOf(c));
          const expected = y1.data.map((v, i) => a * v + bb * y2.data[i]);
          expectClose(y.data, expected, { rtol: 1e-5, label: `linearity a=${a} b=${bb}` });
        },
      ),
      { numRuns: 80 },
    );
  });
});

// ---------------------------------------------------------------- autograd plumbing

describe("conv2d autograd", () => {
  it("computes only the gradients that are needed and records nothing under noGrad", () => {
    const rng = new Rng(5);
    const x = rand([1, 2, 4, 4], rng);
    const w = rand([3, 2, 3, 3], rng, true);
    const b = rand([3], rng);
    const y = conv2d(x, w, b, { padding: 1 });
    y.backward(rand([1, 3, 4, 4], rng).data);
    expect(x.grad).toBeNull();
    expect(b.grad).toBeNull();
    expect(w.grad?.shape).toEqual([3, 2, 3, 3]);
    const z = noGrad(() => conv2d(x, w, b));
    expect(z.requiresGrad).toBe(false);
    expect(z.gradFn).toBeNull();
  });

  it("bias gradient is the sum of gradOutput per channel", () => {
    const rng = new Rng(9);
    const b = rand([2], rng, true);
    const y = conv2d(rand([2, 1, 3, 3], rng), rand([2, 1, 2, 2], rng), b);
    const g = rand([...y.shape], rng);
    y.backward(g);
    const expected = [0, 0];
    g.data.forEach((v, i) => {
      expected[Math.floor(i / 4) % 2] += v;
    });
    expectClose(b.grad!.data, expected, { label: "bias grad" });
  });

  it("accepts an empty batch like PyTorch", () => {
    const y = conv2d(zeros([0, 3, 5, 5]), randn([4, 3, 3, 3]));
    expect(y.shape).toEqual([0, 4, 3, 3]);
  });
});

// ---------------------------------------------------------------- bad input

describe("conv2d rejects bad input with a clear error", () => {
  const x = zeros([1, 3, 5, 5]);
  const w = zeros([4, 3, 3, 3]);

  it("input channels that do not match the weight", () => {
    expectError(() => conv2d(zeros([1, 4, 5, 5]), w), ShapeError, [
      /weight \[4, 3, 3, 3\]/,
      /expects 3 input channels/,
      /got input \[1, 4, 5, 5\] with 4/,
    ]);
    expectError(() => conv2d(zeros([1, 4, 5, 5]), zeros([4, 1, 3, 3]), null, { groups: 2 }), ShapeError, [
      /groups=2 expects 2 input channels/,
      /got input \[1, 4, 5, 5\] with 4/,
    ]);
  });

  it("groups that do not divide the channels", () => {
    expectError(() => conv2d(zeros([1, 4, 5, 5]), zeros([3, 2, 3, 3]), null, { groups: 3 }), ArgumentError, [
      /groups: expected a divisor of the input channels \(4\), got 3/,
    ]);
    expectError(() => conv2d(zeros([1, 4, 5, 5]), zeros([3, 2, 3, 3]), null, { groups: 2 }), ArgumentError, [
      /groups: expected a divisor of the output channels \(3\), got 2/,
    ]);
    for (const groups of [0, -1, 1.5, Number.NaN]) {
      expectError(() => conv2d(x, w, null, { groups }), ArgumentError, [
        /groups: expected a positive integer/,
        new RegExp(`got ${Number.isNaN(groups) ? "NaN" : groups}$`),
      ]);
    }
  });

  it("a kernel larger than the padded input", () => {
    expectError(() => conv2d(zeros([1, 3, 2, 2]), w), ShapeError, [
      /kernel 3x3/,
      /larger than the padded input 2x2/,
    ]);
    expectError(() => conv2d(zeros([1, 3, 4, 4]), w, null, { dilation: 2 }), ShapeError, [
      /dilated extent 5x5/,
      /padded input 4x4/,
    ]);
    expectError(() => conv2d(zeros([1, 3, 2, 5]), w, null, { padding: [0, 0, 0, 0] }), ShapeError, [
      /padded input 2x5/,
    ]);
    // one pixel of padding is enough: no error
    expect(conv2d(zeros([1, 3, 1, 1]), w, null, { padding: 1 }).shape).toEqual([1, 4, 1, 1]);
  });

  it("negative, zero, non-integer or NaN stride and dilation", () => {
    for (const argument of ["stride", "dilation"] as const) {
      for (const bad of [0, -1, 1.5, Number.NaN]) {
        const got = Number.isNaN(bad) ? "NaN" : String(bad);
        expectError(() => conv2d(x, w, null, { [argument]: bad }), ArgumentError, [
          new RegExp(`${argument}: expected a positive integer, got ${got}$`),
        ]);
        expectError(() => conv2d(x, w, null, { [argument]: [1, bad] }), ArgumentError, [
          new RegExp(`${argument}: expected a positive integer, got ${got}$`),
        ]);
      }
      expectError(() => conv2d(x, w, null, { [argument]: [1, 1, 1] as unknown as number }), ArgumentError, [
        new RegExp(`${argument}: expected a number or \\[h, w\\], got \\[1, 1, 1\\]`),
      ]);
    }
  });

  it("negative, non-integer or NaN padding, and padding of the wrong form", () => {
    for (const bad of [-1, 0.5, Number.NaN]) {
      const got = Number.isNaN(bad) ? "NaN" : String(bad);
      for (const padding of [bad, [0, bad], [0, 0, bad, 0]] as Padding2d[]) {
        expectError(() => conv2d(x, w, null, { padding }), ArgumentError, [
          new RegExp(`padding: expected a non-negative integer, got ${got}$`),
        ]);
      }
    }
    expectError(() => conv2d(x, w, null, { padding: [1, 1, 1] as unknown as Padding2d }), ArgumentError, [
      /padding: expected a number, \[h, w\], \[top, left, bottom, right\], 'same' or 'valid', got \[1, 1, 1\]/,
    ]);
    expectError(() => conv2d(x, w, null, { padding: "full" as Padding2d }), ArgumentError, [
      /padding: expected .*'same' or 'valid', got "full"/,
    ]);
  });

  it("'same' padding with a stride other than 1", () => {
    expectError(() => conv2d(x, w, null, { padding: "same", stride: 2 }), ArgumentError, [
      /padding: expected 'same' only with stride 1/,
      /got "?stride \[2, 2\]/,
    ]);
    expectError(() => conv2d(x, w, null, { padding: "same", stride: [1, 2] }), ArgumentError, [
      /got "?stride \[1, 2\]/,
    ]);
  });

  it("a bias whose shape is not [Cout]", () => {
    expectError(() => conv2d(x, w, zeros([3])), ShapeError, [/bias: expected shape \[4\]/, /got \[3\]$/]);
    expectError(() => conv2d(x, w, zeros([4, 1])), ShapeError, [
      /bias: expected shape \[4\]/,
      /got \[4, 1\]$/,
    ]);
    expectError(() => conv2d(x, w, zeros([])), ShapeError, [/bias: expected shape \[4\]/, /got \[\]$/]);
  });

  it("input or weight that is not 4-d", () => {
    expectError(() => conv2d(zeros([3, 5, 5]), w), ShapeError, [
      /input: expected a 4-d tensor \[N, C, H, W\]/,
      /got "?shape \[3, 5, 5\]/,
    ]);
    expectError(() => conv2d(x, zeros([4, 3, 3])), ShapeError, [
      /weight: expected a 4-d tensor/,
      /got "?shape \[4, 3, 3\]/,
    ]);
  });

  it("unknown options and non-tensors (plain JavaScript callers)", () => {
    expectError(() => conv2d(x, w, null, { kernelSize: 3 } as unknown as Conv2dOptions), ArgumentError, [
      /options: expected only stride, padding, dilation, groups, got "kernelSize"/,
    ]);
    expectError(() => conv2d([1, 2] as unknown as Tensor, w), ArgumentError, [
      /input: expected a Tensor, got "object"/,
    ]);
  });
});
