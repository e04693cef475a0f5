import { record } from "../autograd/record.js";
import type { Tensor } from "../autograd/tensor.js";
import {
  type AdaptivePool2dGeometry,
  type AvgPoolDivisor,
  type Pool2dGeometry,
  poolKernels,
} from "../kernels/pool.js";
import { ArgumentError, describe, ShapeError } from "../tensor/errors.js";
import { checkNonNegativeInt, checkPositiveInt, formatShape, pair } from "../tensor/shape.js";

/**
 * Pool padding: a number, `[h, w]` (PyTorch), or explicit `[top, left, bottom, right]` (as ONNX `pads`
 * need, and as conv padding is spelled elsewhere in convkit). Every side must be at most half the kernel.
 */
export type PoolPadding = number | readonly [number, number] | readonly [number, number, number, number];

export interface MaxPool2dOptions {
  kernelSize: number | readonly [number, number];
  /** Defaults to kernelSize (also when null, like PyTorch's stride=None). */
  stride?: number | readonly [number, number] | null;
  padding?: PoolPadding;
  dilation?: number | readonly [number, number];
  /** Round the output size up; a last window that would start in the right padding is dropped. */
  ceilMode?: boolean;
}

export interface AvgPool2dOptions {
  kernelSize: number | readonly [number, number];
  stride?: number | readonly [number, number] | null;
  padding?: PoolPadding;
  ceilMode?: boolean;
  /** Count zero padding in the divisor (default true, as PyTorch); the ceil-mode overhang never counts. */
  countIncludePad?: boolean;
  /** A non-zero integer used as divisor for every window instead of the window size. */
  divisorOverride?: number | null;
}

/** Adaptive output size: one number for both axes, or `[h, w]` where null keeps that input size. */
export type AdaptiveSize = number | readonly [number | null, number | null];

/**
 * PyTorch's pooling output length (ATen `pooling_output_shape_pad_lr`):
 * floor-or-ceil((in + padBefore + padAfter - dilation*(k-1) - 1) / stride) + 1, and in ceil mode the last
 * window is dropped when it would start at or past `in + padBefore` (inside the right padding).
 */
export function poolOutputSize(
  inSize: number,
  kernel: number,
  padBefore: number,
  padAfter: number,
  stride: number,
  dilation: number,
  ceilMode: boolean,
): number {
  const span = inSize + padBefore + padAfter - dilation * (kernel - 1) - 1 + (ceilMode ? stride - 1 : 0);
  let out = Math.floor(span / stride) + 1;
  if (ceilMode && (out - 1) * stride >= inSize + padBefore) out--;
  return out;
}

function checkInput4d(x: Tensor, op: string): void {
  if (x.shape.length !== 4) {
    throw new ShapeError(describe(op, "input", "a 4-d tensor [N, C, H, W]", `shape ${formatShape(x.shape)}`));
  }
  const [, c, h, w] = x.shape;
  if (c === 0 || h === 0 || w === 0) {
    throw new ShapeError(
      describe(op, "input", "non-zero C, H and W (N may be 0)", `shape ${formatShape(x.shape)}`),
    );
  }
}

function checkBool(value: unknown, fallback: boolean, op: string, argument: string): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw new ArgumentError(describe(op, argument, "a boolean", value));
  return value;
}

function resolvePoolPadding(padding: PoolPadding | undefined, op: string): [number, number, number, number] {
  if (Array.isArray(padding) && padding.length === 4) {
    const p = padding.map((v) => checkNonNegativeInt(v, op, "padding"));
    return [p[0], p[1], p[2], p[3]];
  }
  if (
    padding !== undefined &&
    typeof padding !== "number" &&
    !(Array.isArray(padding) && padding.length === 2)
  ) {
    throw new ArgumentError(
      describe(op, "padding", "a number, [h, w] or [top, left, bottom, right]", padding),
    );
  }
  const [ph, pw] = pair(
    padding as number | readonly number[] | undefined,
    0,
    op,
    "padding",
    checkNonNegativeInt,
  );
  return [ph, pw, ph, pw];
}

/**
 * Checks a fixed-window pooling call against PyTorch's rules (pool2d_shape_check) and resolves its geometry:
 * positive kernel, stride and dilation; padding at most half the kernel (integer half, as PyTorch); an
 * output of at least 1x1. Exported for shape inference (graph analysis, ONNX import).
 */
export function pool2dGeometry(
  inputShape: readonly number[],
  options: MaxPool2dOptions,
  op = "maxPool2d",
): Pool2dGeometry & { ceilMode: boolean } {
  if (options === null || typeof options !== "object") {
    throw new ArgumentError(describe(op, "options", "an object with kernelSize", options));
  }
  if (options.kernelSize === undefined) {
    throw new ArgumentError(describe(op, "kernelSize", "a positive integer or [h, w]", undefined));
  }
  const [kH, kW] = pair(options.kernelSize, 1, op, "kernelSize", checkPositiveInt);
  const [strideH, strideW] =
    options.stride === undefined || options.stride === null
      ? [kH, kW]
      : pair(options.stride, 1, op, "stride", checkPositiveInt);
  const [dilationH, dilationW] = pair(options.dilation, 1, op, "dilation", checkPositiveInt);
  const [padTop, padLeft, padBottom, padRight] = resolvePoolPadding(options.padding, op);
  const ceilMode = checkBool(options.ceilMode, false, op, "ceilMode");
  const halfH = Math.floor(kH / 2);
  const halfW = Math.floor(kW / 2);
  if (padTop > halfH || padBottom > halfH || padLeft > halfW || padRight > halfW) {
    throw new ArgumentError(
      describe(
        op,
        "padding",
        `at most half of kernel size ${kH}x${kW} (<= ${halfH} vertically, <= ${halfW} horizontally)`,
        options.padding,
      ),
    );
  }
  const [n, c, hIn, wIn] = inputShape;
  const hOut = poolOutputSize(hIn, kH, padTop, padBottom, strideH, dilationH, ceilMode);
  const wOut = poolOutputSize(wIn, kW, padLeft, padRight, strideW, dilationW, ceilMode);
  if (hOut < 1 || wOut < 1) {
    throw new ShapeError(
      `${op}: kernel ${kH}x${kW} (dilation ${dilationH}x${dilationW}, padding [${padTop}, ${padLeft}, ${padBottom}, ${padRight}]) does not fit input ${formatShape(inputShape)}: calculated output size ${hOut}x${wOut} is too small`,
    );
  }
  return {
    n,
    c,
    hIn,
    wIn,
    kH,
    kW,
    strideH,
    strideW,
    dilationH,
    dilationW,
    padTop,
    padLeft,
    padBottom,
    padRight,
    hOut,
    wOut,
    ceilMode,
  };
}

/**
 * 2-d max pooling, like `torch.nn.functional.max_pool2d`: padding acts as -inf; the gradient goes to the
 * first maximum of each window in scan order (PyTorch CPU), accumulating where windows overlap.
 */
export function maxPool2d(x: Tensor, options: MaxPool2dOptions): Tensor {
  const op = "maxPool2d";
  checkInput4d(x, op);
  const g = pool2dGeometry(x.shape, options, op);
  const outShape = [g.n, g.c, g.hOut, g.wOut];
  const out = new Float32Array(g.n * g.c * g.hOut * g.wOut);
  const argmax = new Int32Array(out.length);
  poolKernels.maxPool2dForward(x.data, g, out, argmax);
  return record(op, out, outShape, [x], (gradOut) => {
    const gradX = new Float32Array(x.numel);
    poolKernels.maxPoolBackward(gradOut, argmax, g.n * g.c, g.hIn * g.wIn, g.hOut * g.wOut, gradX);
    return [gradX];
  });
}

/**
 * 2-d average pooling, like `torch.nn.functional.avg_pool2d`, with PyTorch's divisor rules: the window
 * size clipped to the padded input when countIncludePad (so a ceil-mode overhang past the padding is not
 * counted), the in-image pixel count otherwise, or divisorOverride when given.
 */
export function avgPool2d(x: Tensor, options: AvgPool2dOptions): Tensor {
  const op = "avgPool2d";
  checkInput4d(x, op);
  // pool2dGeometry would honour a stray dilation that the average kernel ignores: refuse it instead.
  const stray =
    options !== null && typeof options === "object" ? (options as MaxPool2dOptions).dilation : undefined;
  if (stray !== undefined) {
    throw new ArgumentError(describe(op, "dilation", "no dilation (PyTorch's avg_pool2d has none)", stray));
  }
  const g = pool2dGeometry(x.shape, options, op);
  const d = avgDivisor(options, op);
  const outShape = [g.n, g.c, g.hOut, g.wOut];
  const out = new Float32Array(g.n * g.c * g.hOut * g.wOut);
  poolKernels.avgPool2dForward(x.data, g, d, out);
  return record(op, out, outShape, [x], (gradOut) => {
    const gradX = new Float32Array(x.numel);
    poolKernels.avgPool2dBackward(gradOut, g, d, gradX);
    return [gradX];
  });
}

function avgDivisor(options: AvgPool2dOptions, op: string): AvgPoolDivisor {
  const countIncludePad = checkBool(options.countIncludePad, true, op, "countIncludePad");
  const override = options.divisorOverride ?? null;
  if (
    override !== null &&
    (typeof override !== "number" || !Number.isSafeInteger(override) || override === 0)
  ) {
    throw new ArgumentError(
      describe(op, "divisorOverride", "a non-zero integer or null (divisor must be not zero)", override),
    );
  }
  return { countIncludePad, divisorOverride: override };
}

/** Resolves an adaptive output size (null keeps the input size, as in nn.AdaptiveAvgPool2d((None, 7))). */
export function adaptivePool2dGeometry(
  inputShape: readonly number[],
  outputSize: AdaptiveSize,
  op = "adaptiveAvgPool2d",
): AdaptivePool2dGeometry {
  const [n, c, hIn, wIn] = inputShape;
  let hOut: number;
  let wOut: number;
  if (typeof outputSize === "number") {
    hOut = checkPositiveInt(outputSize, op, "outputSize");
    wOut = hOut;
  } else if (Array.isArray(outputSize) && outputSize.length === 2) {
    hOut = outputSize[0] === null ? hIn : checkPositiveInt(outputSize[0], op, "outputSize");
    wOut = outputSize[1] === null ? wIn : checkPositiveInt(outputSize[1], op, "outputSize");
  } else {
    throw new ArgumentError(describe(op, "outputSize", "a positive integer or [h, w]", outputSize));
  }
  return { n, c, hIn, wIn, hOut, wOut };
}

/**
 * Adaptive average pooling, like `torch.nn.functional.adaptive_avg_pool2d`: output bin i along an axis
 * averages input [floor(i*in/out), ceil((i+1)*in/out)). `adaptiveAvgPool2d(x, 1)` is global average pooling.
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: AdaptiveSize): Tensor {
  const op = "adaptiveAvgPool2d";
  checkInput4d(x, op);
  const g = adaptivePool2dGeometry(x.shape, outputSize, op);
  const out = new Float32Array(g.n * g.c * g.hOut * g.wOut);
  poolKernels.adaptiveAvgPool2dForward(x.data, g, out);
  return record(op, out, [g.n, g.c, g.hOut, g.wOut], [x], (gradOut) => {
    const gradX = new Float32Array(x.numel);
    poolKernels.adaptiveAvgPool2dBackward(gradOut, g, gradX);
    return [gradX];
  });
}

/** Adaptive max pooling, like `torch.nn.functional.adaptive_max_pool2d` (same bins as the average). */
export function adaptiveMaxPool2d(x: Tensor, outputSize: AdaptiveSize): Tensor {
  const op = "adaptiveMaxPool2d";
  checkInput4d(x, op);
  const g = adaptivePool2dGeometry(x.shape, outputSize, op);
  const out = new Float32Array(g.n * g.c * g.hOut * g.wOut);
  const argmax = new Int32Array(out.length);
  poolKernels.adaptiveMaxPool2dForward(x.data, g, out, argmax);
  return record(op, out, [g.n, g.c, g.hOut, g.wOut], [x], (gradOut) => {
    const gradX = new Float32Array(x.numel);
    poolKernels.maxPoolBackward(gradOut, argmax, g.n * g.c, g.hIn * g.wIn, g.hOut * g.wOut, gradX);
    return [gradX];
  });
}
