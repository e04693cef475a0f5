import type { Conv2dGeometry } from "../../tensor/conv-geometry.js";

/*
 * Reference 2-d convolution (PyTorch's cross-correlation) over contiguous NCHW float32 buffers:
 *
 *   out[n, co, oh, ow] = bias[co] + sum over ci in the group of co, kh, kw of
 *                        x[n, ci, oh*sH - padTop + kh*dH, ow*sW - padLeft + kw*dW] * w[co, ci - group start, kh, kw]
 *
 * with x read as zero outside the image (this is how padding, symmetric or not, enters). Output channel co
 * belongs to group floor(co / (Cout/groups)) and reads input channels [group * Cin/groups, (group+1) * Cin/groups).
 *
 * These loops are the oracle for faster backends: each output element is one float64 sum written once
 * (buffers are overwritten, never accumulated into), and the two backward kernels are written as gathers
 * of the same index relation rather than as convolutions of their own, so they can be checked by eye
 * against the formula above.
 */

/** out[N, Cout, Hout, Wout] = conv(x, w) (+ bias). */
export function conv2dForwardRef(
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  g: Conv2dGeometry,
  out: Float32Array,
): void {
  const {
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
    hOut,
    wOut,
  } = g;
  const cInG = cIn / g.groups;
  const cOutG = cOut / g.groups;
  for (let b = 0; b < n; b++) {
    for (let co = 0; co < cOut; co++) {
      const ciStart = Math.floor(co / cOutG) * cInG;
      const outBase = (b * cOut + co) * hOut * wOut;
      const biasValue = bias === null ? 0 : bias[co];
      for (let oh = 0; oh < hOut; oh++) {
        for (let ow = 0; ow < wOut; ow++) {
          let s = 0; // float64
          for (let ci = 0; ci < cInG; ci++) {
            const xBase = (b * cIn + ciStart + ci) * hIn * wIn;
            const wBase = (co * cInG + ci) * kH * kW;
            for (let kh = 0; kh < kH; kh++) {
              const ih = oh * strideH - padTop + kh * dilationH;
              if (ih < 0 || ih >= hIn) continue;
              for (let kw = 0; kw < kW; kw++) {
                const iw = ow * strideW - padLeft + kw * dilationW;
                if (iw < 0 || iw >= wIn) continue;
                s += x[xBase + ih * wIn + iw] * w[wBase + kh * kW + kw];
              }
            }
          }
          out[outBase + oh * wOut + ow] = s + biasValue;
        }
      }
    }
  }
}

/**
 * gradX[N, Cin, H, W]: for each input pixel, the sum over every (output pixel, kernel tap) pair that read it,
 * i.e. all kh with (ih + padTop - kh*dH) a non-negative multiple of sH giving an oh inside the output (same for w).
 */
export function conv2dBackwardInputRef(
  gradOut: Float32Array,
  w: Float32Array,
  g: Conv2dGeometry,
  gradX: Float32Array,
): void {
  const {
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
    hOut,
    wOut,
  } = g;
  const cInG = cIn / g.groups;
  const cOutG = cOut / g.groups;
  for (let b = 0; b < n; b++) {
    for (let c = 0; c < cIn; c++) {
      const group = Math.floor(c / cInG);
      const ci = c - group * cInG; // index of c inside its group, i.e. along weight dim 1
      const xBase = (b * cIn + c) * hIn * wIn;
      for (let ih = 0; ih < hIn; ih++) {
        for (let iw = 0; iw < wIn; iw++) {
          let s = 0; // float64
          for (let co = group * cOutG; co < (group + 1) * cOutG; co++) {
            const gBase = (b * cOut + co) * hOut * wOut;
            const wBase = (co * cInG + ci) * kH * kW;
            for (let kh = 0; kh < kH; kh++) {
              const th = ih + padTop - kh * dilationH;
              if (th < 0 || th % strideH !== 0) continue;
              const oh = th / strideH;
              if (oh >= hOut) continue;
              for (let kw = 0; kw < kW; kw++) {
                const tw = iw + padLeft - kw * dilationW;
                if (tw < 0 || tw % strideW !== 0) continue;
                const ow = tw / strideW;
                if (ow >= wOut) continue;
                s += gradOut[gBase + oh * wOut + ow] * w[wBase + kh * kW + kw];
              }
            }
          }
          gradX[xBase + ih * wIn + iw] = s;
        }
      }
    }
  }
}

/** gradW[Cout, Cin/groups, kH, kW]: for each tap, the sum over batch and output pixels of gradOut times the input it read. */
export function conv2dBackwardWeightRef(
  x: Float32Array,
  gradOut: Float32Array,
  g: Conv2dGeometry,
  gradW: Float32Array,
): void {
  const {
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
    hOut,
    wOut,
  } = g;
  const cInG = cIn / g.groups;
  const cOutG = cOut / g.groups;
  for (let co = 0; co < cOut; co++) {
    const ciStart = Math.floor(co / cOutG) * cInG;
    for (let ci = 0; ci < cInG; ci++) {
      for (let kh = 0; kh < kH; kh++) {
        for (let kw = 0; kw < kW; kw++) {
          let s = 0; // float64
          for (let b = 0; b < n; b++) {
            const xBase = (b * cIn + ciStart + ci) * hIn * wIn;
            const gBase = (b * cOut + co) * hOut * wOut;
            for (let oh = 0; oh < hOut; oh++) {
              const ih = oh * strideH - padTop + kh * dilationH;
              if (ih < 0 || ih >= hIn) continue;
              for (let ow = 0; ow < wOut; ow++) {
                const iw = ow * strideW - padLeft + kw * dilationW;
                if (iw < 0 || iw >= wIn) continue;
                s += gradOut[gBase + oh * wOut + ow] * x[xBase + ih * wIn + iw];
              }
            }
          }
          gradW[((co * cInG + ci) * kH + kh) * kW + kw] = s;
        }
      }
    }
  }
}
