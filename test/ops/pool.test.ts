import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { Tensor } from "../../src/autograd/tensor.js";
import {
  type AdaptiveSize,
  type AvgPool2dOptions,
  adaptiveAvgPool2d,
  adaptiveMaxPool2d,
  avgPool2d,
  type MaxPool2dOptions,
  maxPool2d,
} from "../../src/ops/pool.js";
import { ArgumentError, ShapeError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";
import { fromSpec, loadGolden } from "../helpers/golden.js";

const golden = loadGolden("pool");

function run(op: string, x: Tensor, args: Record<string, unknown>): Tensor {
  switch (op) {
    case "maxPool2d":
      return maxPool2d(x, args as unknown as MaxPool2dOptions);
    case "avgPool2d":
      return avgPool2d(x, args as unknown as AvgPool2dOptions);
    case "adaptiveAvgPool2d":
      return adaptiveAvgPool2d(x, args.outputSize as AdaptiveSize);
    case "adaptiveMaxPool2d":
      return adaptiveMaxPool2d(x, args.outputSize as AdaptiveSize);
    default:
      throw new Error(`unknown op ${op}`);
  }
}

/**
 * Distinct values on a 0.05 grid, shuffled: no ties, and every gap is far wider than gradcheck's
 * finite-difference step (1e-2), so no perturbation changes which element is a window's maximum.
 */
function distinct(shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = Array.from({ length: n }, (_, i) => (i - n / 2) * 0.05);
  new Rng(seed).shuffle(values);
  return new Tensor(Float32Array.from(values), shape, true);
}

/**
 * PyTorch's output length, computed independently of poolOutputSize by enumerating window starts:
 * window i starts at i*s in padded coordinates; floor mode keeps windows that fit in the padded input,
 * ceil mode also keeps a last partial window, unless it starts inside the right padding.
 */
function enumeratedOutSize(size: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const padded = size + 2 * p;
  const extent = d * (k - 1) + 1;
  let count = 0;
  for (let i = 0; i * s < padded + s; i++) {
    const start = i * s;
    const fits = start + extent <= padded;
    const partial = start <= padded - extent + s - 1 && start < size + p;
    if (fits || (ceil && partial)) count = i + 1;
  }
  return count;
}

/** Whether a window starting at `start` with k taps `d` apart touches [0, size). */
function hasTap(start: number, k: number, d: number, size: number): boolean {
  for (let j = 0; j < k; j++) {
    const i = start + j * d;
    if (i >= 0 && i < size) return true;
  }
  return false;
}

describe("pooling: golden cases from PyTorch", () => {
  const ops = ["maxPool2d", "avgPool2d", "adaptiveAvgPool2d", "adaptiveMaxPool2d"];
  for (const op of ops) {
    const cases = golden.cases.filter((c) => c.op === op);
    it(`${op} matches PyTorch forward and backward (${cases.length} cases)`, () => {
      expect(cases.length).toBeGreaterThan(5);
      let worstOut = 0;
      let worstGrad = 0;
      for (const c of cases) {
        const x = fromSpec(c.inputs.x, true);
        const y = run(op, x, c.args);
        expect(y.shape, `${c.name}: shape`).toEqual(c.output.shape);
        worstOut = Math.max(
          worstOut,
          expectClose(y.data, c.output.data, { rtol: 1e-5, label: `${op} ${c.name}` }),
        );
        y.backward(fromSpec(c.gradOutput!));
        worstGrad = Math.max(
          worstGrad,
          expectClose(x.grad!.data, c.grads.x.data, { rtol: 1e-4, label: `${op} ${c.name}: grad x` }),
        );
      }
      console.log(
        `${op}: ${cases.length} golden cases, worst output ${worstOut.toExponential(2)}, worst grad ${worstGrad.toExponential(2)}`,
      );
    });
  }
});

describe("pooling: finite differences", () => {
  it("maxPool2d gradient (padding, dilation, ceil mode, asymmetric)", () => {
    const configs: MaxPool2dOptions[] = [
      { kernelSize: 2 },
      { kernelSize: 3, stride: 2, padding: 1, ceilMode: true },
      { kernelSize: [2, 3], stride: [1, 2], dilation: [2, 1], padding: [1, 1] },
      { kernelSize: 3, stride: 2, padding: [1, 0, 0, 1] },
    ];
    configs.forEach((opts, i) => {
      const x = distinct([2, 2, 6, 7], 10 + i);
      gradcheck((t) => maxPool2d(t, opts), [x]);
    });
  });

  it("avgPool2d gradient (include/exclude pad, ceil overhang, divisor override)", () => {
    const configs: AvgPool2dOptions[] = [
      { kernelSize: 3, stride: 3, padding: 1, ceilMode: true },
      { kernelSize: 3, stride: 3, padding: 1, ceilMode: true, countIncludePad: false },
      { kernelSize: [2, 3], stride: [2, 1], padding: [1, 1], divisorOverride: 4 },
    ];
    configs.forEach((opts, i) => {
      const x = distinct([1, 2, 6, 6], 20 + i);
      gradcheck((t) => avgPool2d(t, opts), [x]);
    });
  });

  it("adaptive pooling gradients", () => {
    for (const size of [1, [2, 3], [4, 6]] as AdaptiveSize[]) {
      gradcheck((t) => adaptiveAvgPool2d(t, size), [distinct([1, 2, 5, 4], 30)]);
      gradcheck((t) => adaptiveMaxPool2d(t, size), [distinct([1, 2, 5, 4], 31)]);
    }
  });
});

describe("pooling: properties", () => {
  const config = fc.record({
    h: fc.integer({ min: 1, max: 12 }),
    w: fc.integer({ min: 1, max: 12 }),
    kH: fc.integer({ min: 1, max: 5 }),
    kW: fc.integer({ min: 1, max: 5 }),
    sH: fc.integer({ min: 1, max: 4 }),
    sW: fc.integer({ min: 1, max: 4 }),
    dH: fc.integer({ min: 1, max: 3 }),
    dW: fc.integer({ min: 1, max: 3 }),
    pH: fc.integer({ min: 0, max: 2 }),
    pW: fc.integer({ min: 0, max: 2 }),
    ceil: fc.boolean(),
  });

  it("maxPool2d and avgPool2d output shapes follow PyTorch's formula, or the op refuses the config", () => {
    fc.assert(
      fc.property(config, (c) => {
        const x = new Tensor(new Float32Array(2 * c.h * c.w).fill(1), [1, 2, c.h, c.w]);
        const padOk = c.pH <= Math.floor(c.kH / 2) && c.pW <= Math.floor(c.kW / 2);
        const hOut = enumeratedOutSize(c.h, c.kH, c.sH, c.pH, c.dH, c.ceil);
        const wOut = enumeratedOutSize(c.w, c.kW, c.sW, c.pW, c.dW, c.ceil);
        const opts = {
          kernelSize: [c.kH, c.kW],
          stride: [c.sH, c.sW],
          padding: [c.pH, c.pW],
          dilation: [c.dH, c.dW],
          ceilMode: c.ceil,
        } as const;
        const call = () => maxPool2d(x, opts);
        if (!padOk) {
          expect(call).toThrow(ArgumentError);
          return;
        }
        if (hOut < 1 || wOut < 1) {
          expect(call).toThrow(ShapeError);
          return;
        }
        const y = call();
        expect(y.shape).toEqual([1, 2, hOut, wOut]);
        // A constant input gives that constant wherever a window holds an input pixel, and -inf (the
        // padding value) where a dilated window's taps all fall in the padding.
        for (let oh = 0; oh < hOut; oh++) {
          for (let ow = 0; ow < wOut; ow++) {
            const hit =
              hasTap(oh * c.sH - c.pH, c.kH, c.dH, c.h) && hasTap(ow * c.sW - c.pW, c.kW, c.dW, c.w);
            expect(y.data[oh * wOut + ow]).toBe(hit ? 1 : Number.NEGATIVE_INFINITY);
          }
        }
        const { dilation: _d, ...avgOpts } = opts;
        const hAvg = enumeratedOutSize(c.h, c.kH, c.sH, c.pH, 1, c.ceil);
        const wAvg = enumeratedOutSize(c.w, c.kW, c.sW, c.pW, 1, c.ceil);
        if (hAvg >= 1 && wAvg >= 1) {
          const a = avgPool2d(x, { ...avgOpts, countIncludePad: false });
          expect(a.shape).toEqual([1, 2, hAvg, wAvg]);
          for (const v of a.data) expect(v).toBeCloseTo(1, 6);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("adaptive pooling to the input size is the identity, forward and backward", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 0, max: 1000 }),
        (h, w, seed) => {
          for (const pool of [adaptiveAvgPool2d, adaptiveMaxPool2d]) {
            const x = distinct([2, 2, h, w], seed);
            const y = pool(x, [h, w]);
            expect(Array.from(y.data)).toEqual(Array.from(x.data));
            const g = distinct([2, 2, h, w], seed + 1).data;
            y.backward(g);
            expect(Array.from(x.grad!.data)).toEqual(Array.from(g));
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it("global adaptive pooling equals the mean / maximum of each plane", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), (h, w) => {
        const x = distinct([2, 3, h, w], h * 10 + w);
        const avg = adaptiveAvgPool2d(x, 1);
        const max = adaptiveMaxPool2d(x, [1, 1]);
        for (let p = 0; p < 6; p++) {
          const plane = Array.from(x.data.subarray(p * h * w, (p + 1) * h * w));
          const mean = plane.reduce((a, b) => a + b, 0) / plane.length;
          expect(avg.data[p]).toBeCloseTo(mean, 5);
          expect(max.data[p]).toBe(Math.max(...plane));
        }
      }),
      { numRuns: 40 },
    );
  });

  it("a NaN inside a max-pool window propagates, as in PyTorch", () => {
    const x = new Tensor(Float32Array.from([1, Number.NaN, 3, 4]), [1, 1, 2, 2]);
    expect(Number.isNaN(maxPool2d(x, { kernelSize: 2 }).data[0])).toBe(true);
    expect(Number.isNaN(adaptiveMaxPool2d(x, 1).data[0])).toBe(true);
  });

  it("null in an adaptive size keeps that input dimension", () => {
    const x = distinct([1, 1, 5, 4], 3);
    expect(adaptiveAvgPool2d(x, [null, 2]).shape).toEqual([1, 1, 5, 2]);
    expect(adaptiveMaxPool2d(x, [3, null]).shape).toEqual([1, 1, 3, 4]);
  });
});

describe("pooling: bad inputs", () => {
  const x = new Tensor(new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]);

  it("refuses inputs that are not 4-d", () => {
    const x3 = new Tensor(new Float32Array(3 * 4 * 4), [3, 4, 4]);
    expect(() => maxPool2d(x3, { kernelSize: 2 })).toThrow(ShapeError);
    expect(() => maxPool2d(x3, { kernelSize: 2 })).toThrow(
      /maxPool2d: input: expected a 4-d tensor.*\[3, 4, 4\]/,
    );
    expect(() => avgPool2d(x3, { kernelSize: 2 })).toThrow(/avgPool2d: input: expected a 4-d tensor/);
    expect(() => adaptiveAvgPool2d(x3, 1)).toThrow(/adaptiveAvgPool2d: input: expected a 4-d tensor/);
    expect(() => adaptiveMaxPool2d(x3, 1)).toThrow(ShapeError);
  });

  it("refuses a kernel larger than the padded input", () => {
    expect(() => maxPool2d(x, { kernelSize: 5 })).toThrow(ShapeError);
    expect(() => maxPool2d(x, { kernelSize: 5 })).toThrow(
      /maxPool2d: kernel 5x5.*output size 0x0 is too small/,
    );
    expect(() => avgPool2d(x, { kernelSize: [2, 7], padding: [0, 1] })).toThrow(/avgPool2d: kernel 2x7/);
    // dilation widens the window: 3 taps 2 apart span 5 > 4
    expect(() => maxPool2d(x, { kernelSize: 3, dilation: 2 })).toThrow(/too small/);
  });

  it("refuses padding larger than half the kernel", () => {
    expect(() => maxPool2d(x, { kernelSize: 3, padding: 2 })).toThrow(ArgumentError);
    expect(() => maxPool2d(x, { kernelSize: 3, padding: 2 })).toThrow(
      /maxPool2d: padding: expected at most half/,
    );
    expect(() => avgPool2d(x, { kernelSize: [2, 3], padding: [1, 2] })).toThrow(
      /avgPool2d: padding.*got \[1, 2\]/,
    );
    expect(() => maxPool2d(x, { kernelSize: 2, padding: [0, 0, 0, 2] })).toThrow(ArgumentError);
  });

  it("refuses bad kernel, stride, dilation, divisor and flags", () => {
    expect(() => maxPool2d(x, { kernelSize: 0 })).toThrow(/kernelSize: expected a positive integer, got 0/);
    expect(() => maxPool2d(x, { kernelSize: 2, stride: 0 })).toThrow(/stride: expected a positive integer/);
    expect(() => maxPool2d(x, { kernelSize: 2, dilation: 1.5 })).toThrow(/dilation/);
    expect(() => maxPool2d(x, { kernelSize: 2, padding: -1 })).toThrow(
      /padding: expected a non-negative integer/,
    );
    expect(() => maxPool2d(x, {} as MaxPool2dOptions)).toThrow(/kernelSize/);
    expect(() => avgPool2d(x, { kernelSize: 2, divisorOverride: 0 })).toThrow(/divisorOverride.*not zero/);
    expect(() => avgPool2d(x, { kernelSize: 2, dilation: 2 } as AvgPool2dOptions)).toThrow(
      /avgPool2d: dilation/,
    );
    expect(() => maxPool2d(x, { kernelSize: 2, ceilMode: 1 as unknown as boolean })).toThrow(
      /ceilMode: expected a boolean/,
    );
  });

  it("refuses bad adaptive sizes", () => {
    expect(() => adaptiveAvgPool2d(x, 0)).toThrow(ArgumentError);
    expect(() => adaptiveAvgPool2d(x, 0)).toThrow(
      /adaptiveAvgPool2d: outputSize: expected a positive integer, got 0/,
    );
    expect(() => adaptiveMaxPool2d(x, [1, 2, 3] as unknown as AdaptiveSize)).toThrow(
      /adaptiveMaxPool2d: outputSize/,
    );
  });
});
