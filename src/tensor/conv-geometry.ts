import { ArgumentError, describe, ShapeError, verbatim } from "./errors.js";
import { checkNonNegativeInt, checkPositiveInt, formatShape, pair } from "./shape.js";

/** Padding as PyTorch accepts it, plus explicit `[top, left, bottom, right]` (asymmetric, like ONNX pads). */
export type Padding2d =
  | number
  | readonly [number, number]
  | readonly [number, number, number, number]
  | "same"
  | "valid";

export interface Conv2dOptions {
  stride?: number | readonly [number, number];
  padding?: Padding2d;
  dilation?: number | readonly [number, number];
  groups?: number;
}

/** Everything a conv-like kernel needs, resolved and checked once. */
export interface Conv2dGeometry {
  n: number;
  cIn: number;
  hIn: number;
  wIn: number;
  cOut: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  dilationH: number;
  dilationW: number;
  /** top, left, bottom, right */
  padTop: number;
  padLeft: number;
  padBottom: number;
  padRight: number;
  groups: number;
  hOut: number;
  wOut: number;
}

/** Output length of one axis: floor((in + padBefore + padAfter - dilation*(k-1) - 1) / stride) + 1. */
export function convOutSize(
  size: number,
  k: number,
  stride: number,
  dilation: number,
  padBefore: number,
  padAfter: number,
): number {
  return Math.floor((size + padBefore + padAfter - dilation * (k - 1) - 1) / stride) + 1;
}

/**
 * Resolves the padding argument into [top, left, bottom, right].
 * 'same' follows PyTorch: stride must be 1; total padding d*(k-1) per axis, the extra pixel of an odd total
 * going to the bottom/right (PyTorch pads the end side, as does TensorFlow's SAME).
 */
export function resolvePadding(
  padding: Padding2d | undefined,
  kH: number,
  kW: number,
  dH: number,
  dW: number,
  sH: number,
  sW: number,
  op: string,
): [number, number, number, number] {
  if (padding === undefined) return [0, 0, 0, 0];
  if (padding === "valid") return [0, 0, 0, 0];
  if (padding === "same") {
    if (sH !== 1 || sW !== 1) {
      throw new ArgumentError(
        describe(
          op,
          "padding",
          "'same' only with stride 1 (as in PyTorch)",
          verbatim(`stride [${sH}, ${sW}]`),
        ),
      );
    }
    const th = dH * (kH - 1);
    const tw = dW * (kW - 1);
    return [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
  }
  if (typeof padding === "string") {
    throw new ArgumentError(
      describe(op, "padding", "a number, [h, w], [top, left, bottom, right], 'same' or 'valid'", padding),
    );
  }
  if (Array.isArray(padding) && padding.length === 4) {
    const p = padding.map((v) => checkNonNegativeInt(v, op, "padding"));
    return [p[0], p[1], p[2], p[3]];
  }
  if (Array.isArray(padding) && padding.length !== 2) {
    throw new ArgumentError(
      describe(op, "padding", "a number, [h, w], [top, left, bottom, right], 'same' or 'valid'", padding),
    );
  }
  const [ph, pw] = pair(padding as number | readonly number[], 0, op, "padding", checkNonNegativeInt);
  return [ph, pw, ph, pw];
}

/**
 * Checks shapes and options of a 2-d convolution (PyTorch's conv2d rules) and returns its geometry.
 * `weightShape` is [Cout, Cin/groups, kH, kW].
 */
export function conv2dGeometry(
  inputShape: readonly number[],
  weightShape: readonly number[],
  options: Conv2dOptions,
  op = "conv2d",
): Conv2dGeometry {
  if (inputShape.length !== 4) {
    throw new ShapeError(
      describe(op, "input", "a 4-d tensor [N, C, H, W]", verbatim(`shape ${formatShape(inputShape)}`)),
    );
  }
  if (weightShape.length !== 4) {
    throw new ShapeError(
      describe(
        op,
        "weight",
        "a 4-d tensor [Cout, Cin/groups, kH, kW]",
        verbatim(`shape ${formatShape(weightShape)}`),
      ),
    );
  }
  const [n, cIn, hIn, wIn] = inputShape;
  const [cOut, cInPerGroup, kH, kW] = weightShape;
  const groups = checkPositiveInt(options.groups ?? 1, op, "groups");
  const [strideH, strideW] = pair(options.stride, 1, op, "stride", checkPositiveInt);
  const [dilationH, dilationW] = pair(options.dilation, 1, op, "dilation", checkPositiveInt);
  for (const [name, v] of [
    ["kernel height", kH],
    ["kernel width", kW],
    ["output channels", cOut],
    ["weight input channels", cInPerGroup],
  ] as const) {
    if (v < 1)
      throw new ShapeError(
        describe(op, "weight", `a positive ${name}`, verbatim(`shape ${formatShape(weightShape)}`)),
      );
  }
  if (cIn % groups !== 0) {
    throw new ArgumentError(describe(op, "groups", `a divisor of the input channels (${cIn})`, groups));
  }
  if (cOut % groups !== 0) {
    throw new ArgumentError(describe(op, "groups", `a divisor of the output channels (${cOut})`, groups));
  }
  if (cInPerGroup * groups !== cIn) {
    throw new ShapeError(
      `${op}: weight ${formatShape(weightShape)} with groups=${groups} expects ${cInPerGroup * groups} input channels, got input ${formatShape(inputShape)} with ${cIn}`,
    );
  }
  const [padTop, padLeft, padBottom, padRight] = resolvePadding(
    options.padding,
    kH,
    kW,
    dilationH,
    dilationW,
    strideH,
    strideW,
    op,
  );
  const effH = dilationH * (kH - 1) + 1;
  const effW = dilationW * (kW - 1) + 1;
  if (hIn + padTop + padBottom < effH || wIn + padLeft + padRight < effW) {
    throw new ShapeError(
      `${op}: kernel ${kH}x${kW} (dilated extent ${effH}x${effW}) is larger than the padded input ${hIn + padTop + padBottom}x${wIn + padLeft + padRight} (input ${formatShape(inputShape)})`,
    );
  }
  const hOut = convOutSize(hIn, kH, strideH, dilationH, padTop, padBottom);
  const wOut = convOutSize(wIn, kW, strideW, dilationW, padLeft, padRight);
  return {
    n,
    cIn,
    hIn,
    wIn,
    cOut,
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
    groups,
    hOut,
    wOut,
  };
}
