// Which WebAssembly kernel computes a conv, and the kernel rearrangements the Winograd paths need.
import type { Conv2dGeometry } from "../../tensor/conv-geometry.js";

/** How the WebAssembly backend computes one conv geometry. */
export type WasmConvPath =
  | "pointwise-gemm"
  | "im2col-gemm"
  | "depthwise-direct"
  | "winograd-f4x4"
  | "winograd-dilated"
  | "winograd-blocks";

export interface WasmConvOptions {
  /**
   * Winograd F(4x4, 3x3) for the forward and input gradient of stride-1 convs: 3x3 ("winograd-f4x4"),
   * dilated 3x3 through space-to-batch ("winograd-dilated"), undilated kernels up to 9x9 as sums of 3x3
   * blocks ("winograd-blocks"): "auto" (default) when both the input and output channels per group are
   * >= WINOGRAD_MIN_CHANNELS (3x3; blocks and dilated: WINOGRAD_INDIRECT_MIN_CHANNELS) and the output has
   * enough 4x4 tiles (WINOGRAD_MIN_TILES; blocks: WINOGRAD_BLOCKS_MIN_TILES and WINOGRAD_BLOCKS_MIN_SIDE),
   * "always" where it applies (tests), "never".
   * The weight gradient of a 3x3 stride-1 undilated conv uses Winograd F(3x3, 4x4) under the same rule
   * when its threads split by input channel (weightGradientSplit); other weight gradients use im2col + GEMM.
   */
  winograd?: "auto" | "always" | "never";
  /**
   * A call is split across no more threads than it has this many direct-conv FLOPs per thread (default
   * MIN_FLOPS_PER_THREAD; tests set 0 to split the smallest convs).
   */
  minFlopsPerThread?: number;
}

/**
 * Below this many channels per group (input and output) a 3x3 conv's transforms and the 36 small GEMMs'
 * packing cost more than the multiplications saved. Measured here (relaxed SIMD, one thread, forward /
 * input gradient against im2col + GEMM): 16 -> 16 channels 28x28 1.71x / 1.65x at batch 1 and 1.83x / 1.86x
 * at batch 64; grouped 128 channels / 8 groups (16 per group) 28x28 1.42x at batch 1, 1.85x at batch 8;
 * 8 -> 8 channels 28x28 batch 64 1.40x / 1.58x; but 1 -> 32 channels 0.40x.
 */
export const WINOGRAD_MIN_CHANNELS = 8;

/**
 * The same for the kernels Winograd serves indirectly (5x5 to 9x9 as 3x3 blocks, dilated 3x3 through
 * space-to-batch), whose extra copies move the break-even up: 16 -> 16 channels 56x56, 5x5: 0.92x at batch
 * 1 and 16; dilation 2 at 28x28: 1.00x; 8 -> 8 channels 5x5: 0.77x.
 */
export const WINOGRAD_INDIRECT_MIN_CHANNELS = 32;

/** The Winograd variant for geometry g's kernel and dilation (stride 1), or null when none applies. */
function winogradKind(g: Conv2dGeometry): WasmConvPath | null {
  if (g.strideH !== 1 || g.strideW !== 1) return null;
  const dilated = g.dilationH > 1 || g.dilationW > 1;
  if (g.kH === 3 && g.kW === 3) return dilated ? "winograd-dilated" : "winograd-f4x4";
  const fits = (k: number) => k >= 3 && k <= MAX_BLOCKED_KERNEL;
  return !dilated && fits(g.kH) && fits(g.kW) ? "winograd-blocks" : null;
}

/**
 * Largest kernel side computed as 3x3 blocks: a k x k kernel takes ceil(k/3)^2 blocks of 2.25 multiplies
 * per output each (5x5: 9 against 25 direct; 7x7: 20.25 against 49).
 */
export const MAX_BLOCKED_KERNEL = 9;

/**
 * Fewest 4x4 output tiles (over the batch) for which Winograd F(4x4, 3x3) beats im2col + GEMM: the weights are
 * transformed on every call and the 36 GEMMs are as wide as the tiles, so small maps lose (measured on this
 * machine, 1 thread, 32-128 channels: 7x7 maps at batch 8 (32 tiles) 0.7-0.9x, 14x14 at batch 1 (16) 0.7-0.8x;
 * 28x28 at batch 1 (49) 1.7-1.9x, 14x14 at batch 8 (128) 1.5-1.6x).
 */
export const WINOGRAD_MIN_TILES = 48;

/**
 * The same for kernels computed as 3x3 blocks, which also pay for the shifted input copies and lose on maps
 * below 24 pixels a side whatever the batch (5x5 and 7x7, 32-128 channels: 14x14 at batch 8 0.7-1.0x, 7x7
 * 0.1-0.6x; 28x28 at batch 8 1.3-1.4x, 56x56 at batch 1 1.1-1.7x).
 */
export const WINOGRAD_BLOCKS_MIN_TILES = 128;
export const WINOGRAD_BLOCKS_MIN_SIDE = 24;

function enoughTiles(g: Conv2dGeometry, kind: WasmConvPath): boolean {
  const tiles = g.n * Math.ceil(g.hOut / 4) * Math.ceil(g.wOut / 4);
  if (kind !== "winograd-blocks") return tiles >= WINOGRAD_MIN_TILES;
  return tiles >= WINOGRAD_BLOCKS_MIN_TILES && Math.min(g.hOut, g.wOut) >= WINOGRAD_BLOCKS_MIN_SIDE;
}

/** Which kernel of a conv: forward, input gradient or weight gradient. */
export type WasmConvDirection = "forward" | "backwardInput" | "backwardWeight";

/**
 * The path for geometry g: depthwise (every group has one input channel, Cout = Cin x multiplier) runs the
 * direct kernel; 1x1 stride-1 unpadded is a plain GEMM; 3x3 stride-1 may use Winograd for the forward, for
 * the input gradient (itself a stride-1 3x3 conv, see transposedGeometry) and, undilated, for the weight
 * gradient; the rest is im2col + GEMM.
 */
export function wasmConvPath(
  g: Conv2dGeometry,
  direction: WasmConvDirection = "forward",
  options: WasmConvOptions = {},
): WasmConvPath {
  if (g.groups > 1 && g.cIn === g.groups) return "depthwise-direct";
  const pointwise =
    g.kH === 1 &&
    g.kW === 1 &&
    g.strideH === 1 &&
    g.strideW === 1 &&
    g.padTop === 0 &&
    g.padLeft === 0 &&
    g.padBottom === 0 &&
    g.padRight === 0;
  if (pointwise) return "pointwise-gemm";
  const mode = options.winograd ?? "auto";
  // The input gradient pads the output gradient by the kernel extent minus the padding: no crop allowed.
  const padsFit =
    Math.max(g.padTop, g.padBottom) <= (g.kH - 1) * g.dilationH &&
    Math.max(g.padLeft, g.padRight) <= (g.kW - 1) * g.dilationW;
  const kind = winogradKind(g);
  const winogradable =
    direction === "forward" ||
    (direction === "backwardInput" && padsFit) ||
    (direction === "backwardWeight" && kind === "winograd-f4x4" && weightGradientSplit(g) === "channels");
  if (winogradable && mode !== "never" && kind) {
    const least = kind === "winograd-f4x4" ? WINOGRAD_MIN_CHANNELS : WINOGRAD_INDIRECT_MIN_CHANNELS;
    const wide = g.cIn / g.groups >= least && g.cOut / g.groups >= least;
    if (mode === "always" || (wide && enoughTiles(g, kind))) return kind;
  }
  return "im2col-gemm";
}

/**
 * The input gradient of a stride-1 conv as a forward conv: gradOut (Cout channels, Hout x Wout) padded by
 * (k - 1) x dilation - pad on each side, with the same dilation, the kernel flipped and its two channel axes
 * swapped per group.
 */
export function transposedGeometry(g: Conv2dGeometry): Conv2dGeometry {
  return {
    ...g,
    cIn: g.cOut,
    hIn: g.hOut,
    wIn: g.wOut,
    cOut: g.cIn,
    padTop: (g.kH - 1) * g.dilationH - g.padTop,
    padLeft: (g.kW - 1) * g.dilationW - g.padLeft,
    padBottom: (g.kH - 1) * g.dilationH - g.padBottom,
    padRight: (g.kW - 1) * g.dilationW - g.padRight,
    hOut: g.hIn,
    wOut: g.wIn,
  };
}

/** w'[grp * cinG + ci][co][taps - 1 - t] = w[grp * coutG + co][ci][t]: the kernel of transposedGeometry. */
export function writeTransposedFlipped(dst: Float32Array, w: Float32Array, g: Conv2dGeometry): void {
  const taps = g.kH * g.kW;
  const cinG = g.cIn / g.groups;
  const coutG = g.cOut / g.groups;
  for (let grp = 0; grp < g.groups; grp++) {
    for (let co = 0; co < coutG; co++) {
      for (let ci = 0; ci < cinG; ci++) {
        const src = ((grp * coutG + co) * cinG + ci) * taps;
        const to = ((grp * cinG + ci) * coutG + co) * taps;
        for (let t = 0; t < taps; t++) dst[to + taps - 1 - t] = w[src + t];
      }
    }
  }
}

/**
 * Weight gradients are split by input channel (each thread owns whole columns of gradW: the one-thread
 * sums, no partials) when there are at least this many input channels; convs with fewer (stems) are
 * computed in WEIGHT_PARTS parts of output rows instead, summed in order.
 */
export const WEIGHT_SPLIT_MIN_CHANNELS = 8;
/** Parts of a few-channel weight gradient: fixed, so the sum's rounding never depends on the threads. */
export const WEIGHT_PARTS = 8;

/** How the weight gradient of geometry g is computed (the same for any thread count). */
export function weightGradientSplit(g: Conv2dGeometry): "channels" | "parts" {
  const depthwise = g.groups > 1 && g.cIn === g.groups;
  return depthwise || g.cIn >= WEIGHT_SPLIT_MIN_CHANNELS ? "channels" : "parts";
}

/**
 * The 3x3 kernel of a kH x kW conv's blocks: w3[co][(p bw + q) cinG + ci][a][b] = w[co][ci][3p + a][3q + b]
 * (0 past the kernel's edge), matching the input channels of assembly/spacebatch.ts shiftStack.
 */
export function writeBlockKernel(
  dst: Float32Array,
  w: Float32Array,
  g: Conv2dGeometry,
  bh: number,
  bw: number,
): void {
  const cinG = g.cIn / g.groups;
  const blocks = bh * bw;
  for (let co = 0; co < g.cOut; co++) {
    for (let blk = 0; blk < blocks; blk++) {
      const p = Math.floor(blk / bw);
      const q = blk - p * bw;
      for (let ci = 0; ci < cinG; ci++) {
        const to = ((co * blocks + blk) * cinG + ci) * 9;
        const from = (co * cinG + ci) * g.kH * g.kW;
        for (let a = 0; a < 3; a++) {
          for (let b = 0; b < 3; b++) {
            const kh = 3 * p + a;
            const kw = 3 * q + b;
            dst[to + a * 3 + b] = kh < g.kH && kw < g.kW ? w[from + kh * g.kW + kw] : 0;
          }
        }
      }
    }
  }
}
