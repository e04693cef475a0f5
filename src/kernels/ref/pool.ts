/**
 * Reference pooling kernels over contiguous NCHW float32 buffers: plain loops that follow PyTorch's CPU
 * kernels (ATen MaxPoolKernel.cpp, AvgPoolKernel.cpp, AdaptiveAvgPoolKernel.cpp, AdaptiveMaxPoolKernel.cpp)
 * step by step, so that they serve as the oracle for faster backends.
 *
 * Every function treats the N*C planes independently; argmax indices are positions inside one input plane
 * (h * W + w), as PyTorch's `return_indices` reports them.
 */

/** A strided, padded, dilated pooling window, resolved and checked by the op (see ops/pool.ts). */
export interface Pool2dGeometry {
  n: number;
  c: number;
  hIn: number;
  wIn: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  dilationH: number;
  dilationW: number;
  padTop: number;
  padLeft: number;
  padBottom: number;
  padRight: number;
  hOut: number;
  wOut: number;
}

/** Adaptive pooling: output bins are computed from the sizes alone. */
export interface AdaptivePool2dGeometry {
  n: number;
  c: number;
  hIn: number;
  wIn: number;
  hOut: number;
  wOut: number;
}

/** How average pooling divides a window's sum (PyTorch's `count_include_pad` and `divisor_override`). */
export interface AvgPoolDivisor {
  countIncludePad: boolean;
  /** A non-zero integer replacing the divisor, or null. */
  divisorOverride: number | null;
}

/**
 * Max pooling. Padding acts as -inf; the argmax is the first maximum in row-major scan order (strict `>`),
 * and a NaN wins over numbers (the last NaN in scan order), exactly as PyTorch's CPU kernel.
 * Writes `out` [N, C, hOut, wOut] and `argmax` (same size, plane positions).
 */
export function maxPool2dForwardRef(
  x: Float32Array,
  g: Pool2dGeometry,
  out: Float32Array,
  argmax: Int32Array,
): void {
  const planes = g.n * g.c;
  const inPlane = g.hIn * g.wIn;
  const outPlane = g.hOut * g.wOut;
  for (let p = 0; p < planes; p++) {
    const xo = p * inPlane;
    const oo = p * outPlane;
    for (let oh = 0; oh < g.hOut; oh++) {
      let ih0 = oh * g.strideH - g.padTop;
      const ih1 = Math.min(ih0 + (g.kH - 1) * g.dilationH + 1, g.hIn);
      while (ih0 < 0) ih0 += g.dilationH;
      for (let ow = 0; ow < g.wOut; ow++) {
        let iw0 = ow * g.strideW - g.padLeft;
        const iw1 = Math.min(iw0 + (g.kW - 1) * g.dilationW + 1, g.wIn);
        while (iw0 < 0) iw0 += g.dilationW;
        // PyTorch starts from the first in-image tap. A dilated window can skip the image entirely (e.g. H=1,
        // k=2, dilation 2, padding 1): PyTorch then gives -inf and an index outside the plane (its backward
        // writes out of bounds); here such a window gives -inf and index -1, which backward skips.
        let best = ih0 < ih1 && iw0 < iw1 ? ih0 * g.wIn + iw0 : -1;
        let bestVal = Number.NEGATIVE_INFINITY;
        for (let ih = ih0; ih < ih1; ih += g.dilationH) {
          for (let iw = iw0; iw < iw1; iw += g.dilationW) {
            const idx = ih * g.wIn + iw;
            const v = x[xo + idx];
            if (v > bestVal || Number.isNaN(v)) {
              bestVal = v;
              best = idx;
            }
          }
        }
        out[oo + oh * g.wOut + ow] = bestVal;
        argmax[oo + oh * g.wOut + ow] = best;
      }
    }
  }
}

/**
 * Backward of max pooling (fixed and adaptive alike): each output gradient is added to the input position
 * recorded in `argmax`. `inPlane` and `outPlane` are the element counts of one input and one output plane.
 * Overwrites `gradX`.
 */
export function maxPool2dBackwardRef(
  gradOut: Float32Array,
  argmax: Int32Array,
  planes: number,
  inPlane: number,
  outPlane: number,
  gradX: Float32Array,
): void {
  gradX.fill(0);
  for (let p = 0; p < planes; p++) {
    const xo = p * inPlane;
    const oo = p * outPlane;
    for (let o = 0; o < outPlane; o++) {
      const idx = argmax[oo + o];
      // -1 marks a window without any input tap (see maxPool2dForwardRef): no gradient.
      if (idx >= 0) gradX[xo + idx] += gradOut[oo + o];
    }
  }
}

/**
 * One average-pooling window along both axes, as PyTorch computes it: the window is first clipped to the
 * padded input (so the ceil-mode overhang past the right padding never counts), that size is the
 * count-include-pad divisor, and then it is clipped to the image for summing.
 */
interface AvgWindow {
  h0: number;
  h1: number;
  w0: number;
  w1: number;
  divisor: number;
}

function avgWindow(g: Pool2dGeometry, d: AvgPoolDivisor, oh: number, ow: number): AvgWindow {
  let h0 = oh * g.strideH - g.padTop;
  let w0 = ow * g.strideW - g.padLeft;
  let h1 = Math.min(h0 + g.kH, g.hIn + g.padBottom);
  let w1 = Math.min(w0 + g.kW, g.wIn + g.padRight);
  const poolSize = (h1 - h0) * (w1 - w0);
  h0 = Math.max(h0, 0);
  w0 = Math.max(w0, 0);
  h1 = Math.min(h1, g.hIn);
  w1 = Math.min(w1, g.wIn);
  let divisor: number;
  if (d.divisorOverride !== null) divisor = d.divisorOverride;
  else if (d.countIncludePad) divisor = poolSize;
  else divisor = (h1 - h0) * (w1 - w0);
  return { h0, h1, w0, w1, divisor };
}

/** Average pooling (zero padding, PyTorch's divisor rules). Overwrites `out`. */
export function avgPool2dForwardRef(
  x: Float32Array,
  g: Pool2dGeometry,
  d: AvgPoolDivisor,
  out: Float32Array,
): void {
  const planes = g.n * g.c;
  const inPlane = g.hIn * g.wIn;
  const outPlane = g.hOut * g.wOut;
  for (let p = 0; p < planes; p++) {
    const xo = p * inPlane;
    const oo = p * outPlane;
    for (let oh = 0; oh < g.hOut; oh++) {
      for (let ow = 0; ow < g.wOut; ow++) {
        const win = avgWindow(g, d, oh, ow);
        // A window with no image pixel gives 0, as in PyTorch (not 0/0).
        if (win.h0 >= win.h1 || win.w0 >= win.w1) {
          out[oo + oh * g.wOut + ow] = 0;
          continue;
        }
        let sum = 0;
        for (let ih = win.h0; ih < win.h1; ih++) {
          for (let iw = win.w0; iw < win.w1; iw++) sum += x[xo + ih * g.wIn + iw];
        }
        out[oo + oh * g.wOut + ow] = sum / win.divisor;
      }
    }
  }
}

/** Backward of average pooling: each output gradient spread over its window, divided by the same divisor. */
export function avgPool2dBackwardRef(
  gradOut: Float32Array,
  g: Pool2dGeometry,
  d: AvgPoolDivisor,
  gradX: Float32Array,
): void {
  gradX.fill(0);
  const planes = g.n * g.c;
  const inPlane = g.hIn * g.wIn;
  const outPlane = g.hOut * g.wOut;
  for (let p = 0; p < planes; p++) {
    const xo = p * inPlane;
    const oo = p * outPlane;
    for (let oh = 0; oh < g.hOut; oh++) {
      for (let ow = 0; ow < g.wOut; ow++) {
        const win = avgWindow(g, d, oh, ow);
        if (win.h0 >= win.h1 || win.w0 >= win.w1) continue;
        const share = gradOut[oo + oh * g.wOut + ow] / win.divisor;
        for (let ih = win.h0; ih < win.h1; ih++) {
          for (let iw = win.w0; iw < win.w1; iw++) gradX[xo + ih * g.wIn + iw] += share;
        }
      }
    }
  }
}

/** PyTorch's adaptive bin start: floor(i * inSize / outSize). */
export function adaptiveStart(i: number, outSize: number, inSize: number): number {
  return Math.floor((i * inSize) / outSize);
}

/** PyTorch's adaptive bin end (exclusive): ceil((i + 1) * inSize / outSize). */
export function adaptiveEnd(i: number, outSize: number, inSize: number): number {
  return Math.ceil(((i + 1) * inSize) / outSize);
}

/** Adaptive average pooling: output bin (i, j) is the mean of its start/end rectangle. Overwrites `out`. */
export function adaptiveAvgPool2dForwardRef(
  x: Float32Array,
  g: AdaptivePool2dGeometry,
  out: Float32Array,
): void {
  const planes = g.n * g.c;
  const inPlane = g.hIn * g.wIn;
  const outPlane = g.hOut * g.wOut;
  for (let p = 0; p < planes; p++) {
    const xo = p * inPlane;
    const oo = p * outPlane;
    for (let oh = 0; oh < g.hOut; oh++) {
      const h0 = adaptiveStart(oh, g.hOut, g.hIn);
      const h1 = adaptiveEnd(oh, g.hOut, g.hIn);
      for (let ow = 0; ow < g.wOut; ow++) {
        const w0 = adaptiveStart(ow, g.wOut, g.wIn);
        const w1 = adaptiveEnd(ow, g.wOut, g.wIn);
        let sum = 0;
        for (let ih = h0; ih < h1; ih++) {
          for (let iw = w0; iw < w1; iw++) sum += x[xo + ih * g.wIn + iw];
        }
        out[oo + oh * g.wOut + ow] = sum / ((h1 - h0) * (w1 - w0));
      }
    }
  }
}

/** Backward of adaptive average pooling. Overwrites `gradX`. */
export function adaptiveAvgPool2dBackwardRef(
  gradOut: Float32Array,
  g: AdaptivePool2dGeometry,
  gradX: Float32Array,
): void {
  gradX.fill(0);
  const planes = g.n * g.c;
  const inPlane = g.hIn * g.wIn;
  const outPlane = g.hOut * g.wOut;
  for (let p = 0; p < planes; p++) {
    const xo = p * inPlane;
    const oo = p * outPlane;
    for (let oh = 0; oh < g.hOut; oh++) {
      const h0 = adaptiveStart(oh, g.hOut, g.hIn);
      const h1 = adaptiveEnd(oh, g.hOut, g.hIn);
      for (let ow = 0; ow < g.wOut; ow++) {
        const w0 = adaptiveStart(ow, g.wOut, g.wIn);
        const w1 = adaptiveEnd(ow, g.wOut, g.wIn);
        const share = gradOut[oo + oh * g.wOut + ow] / ((h1 - h0) * (w1 - w0));
        for (let ih = h0; ih < h1; ih++) {
          for (let iw = w0; iw < w1; iw++) gradX[xo + ih * g.wIn + iw] += share;
        }
      }
    }
  }
}

/**
 * Adaptive max pooling: the maximum of each bin, first maximum in scan order, NaN propagating, as
 * PyTorch's CPU kernel. Writes `out` and `argmax` (plane positions); backward is maxPool2dBackwardRef.
 */
export function adaptiveMaxPool2dForwardRef(
  x: Float32Array,
  g: AdaptivePool2dGeometry,
  out: Float32Array,
  argmax: Int32Array,
): void {
  const planes = g.n * g.c;
  const inPlane = g.hIn * g.wIn;
  const outPlane = g.hOut * g.wOut;
  for (let p = 0; p < planes; p++) {
    const xo = p * inPlane;
    const oo = p * outPlane;
    for (let oh = 0; oh < g.hOut; oh++) {
      const h0 = adaptiveStart(oh, g.hOut, g.hIn);
      const h1 = adaptiveEnd(oh, g.hOut, g.hIn);
      for (let ow = 0; ow < g.wOut; ow++) {
        const w0 = adaptiveStart(ow, g.wOut, g.wIn);
        const w1 = adaptiveEnd(ow, g.wOut, g.wIn);
        let best = h0 * g.wIn + w0;
        let bestVal = Number.NEGATIVE_INFINITY;
        for (let ih = h0; ih < h1; ih++) {
          for (let iw = w0; iw < w1; iw++) {
            const idx = ih * g.wIn + iw;
            const v = x[xo + idx];
            if (v > bestVal || Number.isNaN(v)) {
              bestVal = v;
              best = idx;
            }
          }
        }
        out[oo + oh * g.wOut + ow] = bestVal;
        argmax[oo + oh * g.wOut + ow] = best;
      }
    }
  }
}
