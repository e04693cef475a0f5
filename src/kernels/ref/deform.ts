import type { Conv2dGeometry } from "../../tensor/conv-geometry.js";

/**
 * Geometry of a deformable convolution: a conv geometry (with `groups` = weight groups, inferred from
 * Cin / weight.shape[1]) plus the number of offset groups (inferred from the offset's channel count).
 * Input channel c uses offset group floor(c / (Cin / offsetGroups)).
 */
export interface DeformConv2dGeometry extends Conv2dGeometry {
  offsetGroups: number;
}

/**
 * Gradient buffers a deformable-convolution backward fills (each overwritten); null where not wanted.
 * Shapes: input [N, Cin, H, W], offset [N, 2*og*kH*kW, Hout, Wout], mask [N, og*kH*kW, Hout, Wout],
 * weight [Cout, Cin/groups, kH, kW].
 */
export interface DeformConv2dGrads {
  input: Float32Array | null;
  offset: Float32Array | null;
  mask: Float32Array | null;
  weight: Float32Array | null;
}

/**
 * Bilinear sample of an h x w plane (starting at `base`) at the real position (y, x), torchvision's rule:
 * zero unless -1 < y < h and -1 < x < w; of the four surrounding pixels, those outside the image count as 0.
 */
export function bilinearSample(
  data: Float32Array,
  base: number,
  h: number,
  w: number,
  y: number,
  x: number,
): number {
  if (!(y > -1 && y < h && x > -1 && x < w)) return 0;
  const y0 = Math.floor(y);
  const x0 = Math.floor(x);
  const ly = y - y0;
  const lx = x - x0;
  const v00 = pixel(data, base, h, w, y0, x0);
  const v01 = pixel(data, base, h, w, y0, x0 + 1);
  const v10 = pixel(data, base, h, w, y0 + 1, x0);
  const v11 = pixel(data, base, h, w, y0 + 1, x0 + 1);
  return (1 - ly) * (1 - lx) * v00 + (1 - ly) * lx * v01 + ly * (1 - lx) * v10 + ly * lx * v11;
}

/**
 * Derivative of the bilinear sample with respect to y (`alongY`) or x, the way torchvision defines it:
 * the derivative of the bilinear patch spanned by floor(y)..floor(y)+1 and floor(x)..floor(x)+1, so at an
 * exactly integer position it is the one-sided derivative from above (towards +y / +x). Unlike the sample
 * itself there is no -1 < y < h test: only the four pixels' own bounds matter (at y = -1 exactly the
 * sample is 0 but this derivative is the right-hand slope into row 0, as in torchvision).
 */
export function bilinearSlope(
  data: Float32Array,
  base: number,
  h: number,
  w: number,
  y: number,
  x: number,
  alongY: boolean,
): number {
  const y0 = Math.floor(y);
  const x0 = Math.floor(x);
  const v00 = pixel(data, base, h, w, y0, x0);
  const v01 = pixel(data, base, h, w, y0, x0 + 1);
  const v10 = pixel(data, base, h, w, y0 + 1, x0);
  const v11 = pixel(data, base, h, w, y0 + 1, x0 + 1);
  if (alongY) {
    const lx = x - x0;
    return (1 - lx) * (v10 - v00) + lx * (v11 - v01);
  }
  const ly = y - y0;
  return (1 - ly) * (v01 - v00) + ly * (v11 - v10);
}

function pixel(data: Float32Array, base: number, h: number, w: number, yi: number, xi: number): number {
  return yi >= 0 && yi < h && xi >= 0 && xi < w ? data[base + yi * w + xi] : 0;
}

/**
 * Adds `value` times the bilinear weights of (y, x) into the plane: the transpose of `bilinearSample`
 * (same zero rule), i.e. the gradient of the sample with respect to the input pixels.
 */
export function bilinearScatter(
  data: Float64Array,
  base: number,
  h: number,
  w: number,
  y: number,
  x: number,
  value: number,
): void {
  if (!(y > -1 && y < h && x > -1 && x < w)) return;
  const y0 = Math.floor(y);
  const x0 = Math.floor(x);
  const ly = y - y0;
  const lx = x - x0;
  addPixel(data, base, h, w, y0, x0, (1 - ly) * (1 - lx) * value);
  addPixel(data, base, h, w, y0, x0 + 1, (1 - ly) * lx * value);
  addPixel(data, base, h, w, y0 + 1, x0, ly * (1 - lx) * value);
  addPixel(data, base, h, w, y0 + 1, x0 + 1, ly * lx * value);
}

function addPixel(
  data: Float64Array,
  base: number,
  h: number,
  w: number,
  yi: number,
  xi: number,
  v: number,
): void {
  if (yi >= 0 && yi < h && xi >= 0 && xi < w) data[base + yi * w + xi] += v;
}

/**
 * Where tap (i, j) of output pixel (oh, ow) samples: the regular grid position plus the learned (dy, dx).
 * Offsets of image n, offset group og, tap k = i*kW + j sit at channels og*2*kk + 2k (dy) and + 1 (dx).
 */
function samplePosition(
  offset: Float32Array,
  g: DeformConv2dGeometry,
  n: number,
  og: number,
  i: number,
  j: number,
  oh: number,
  ow: number,
): [number, number] {
  const kk = g.kH * g.kW;
  const hw = g.hOut * g.wOut;
  const k = i * g.kW + j;
  const at = ((n * g.offsetGroups + og) * 2 * kk + 2 * k) * hw + oh * g.wOut + ow;
  const y = oh * g.strideH - g.padTop + i * g.dilationH + offset[at];
  const x = ow * g.strideW - g.padLeft + j * g.dilationW + offset[at + hw];
  return [y, x];
}

function maskValue(
  mask: Float32Array | null,
  g: DeformConv2dGeometry,
  n: number,
  og: number,
  k: number,
  oh: number,
  ow: number,
): number {
  if (mask === null) return 1;
  const kk = g.kH * g.kW;
  return mask[((n * g.offsetGroups + og) * kk + k) * g.hOut * g.wOut + oh * g.wOut + ow];
}

/**
 * Reference forward (the oracle), one output element at a time:
 * out[n, co, oh, ow] = bias[co] + sum over the group's input channels c and taps (i, j) of
 * weight[co, c, i, j] * mask * bilinearSample(input[n, c], position(n, og(c), i, j, oh, ow)).
 * Accumulates in float64; overwrites `out` [N, Cout, Hout, Wout].
 */
export function deformConv2dForwardRef(
  input: Float32Array,
  offset: Float32Array,
  mask: Float32Array | null,
  weight: Float32Array,
  bias: Float32Array | null,
  g: DeformConv2dGeometry,
  out: Float32Array,
): void {
  const cinG = g.cIn / g.groups;
  const coutG = g.cOut / g.groups;
  const cPerOg = g.cIn / g.offsetGroups;
  const plane = g.hIn * g.wIn;
  for (let n = 0; n < g.n; n++) {
    for (let co = 0; co < g.cOut; co++) {
      const grp = Math.floor(co / coutG);
      for (let oh = 0; oh < g.hOut; oh++) {
        for (let ow = 0; ow < g.wOut; ow++) {
          let s = bias === null ? 0 : bias[co];
          for (let cl = 0; cl < cinG; cl++) {
            const c = grp * cinG + cl;
            const og = Math.floor(c / cPerOg);
            for (let i = 0; i < g.kH; i++) {
              for (let j = 0; j < g.kW; j++) {
                const [y, x] = samplePosition(offset, g, n, og, i, j, oh, ow);
                const m = maskValue(mask, g, n, og, i * g.kW + j, oh, ow);
                const v = bilinearSample(input, (n * g.cIn + c) * plane, g.hIn, g.wIn, y, x);
                s += weight[((co * cinG + cl) * g.kH + i) * g.kW + j] * m * v;
              }
            }
          }
          out[((n * g.cOut + co) * g.hOut + oh) * g.wOut + ow] = s;
        }
      }
    }
  }
}

/**
 * Reference backward (the oracle). For every sample s = (n, c, tap, output pixel) it forms the
 * gradient reaching that sample, gs = sum over the group's output channels of weight * gradOut, then:
 * input gets gs * mask spread over the four bilinear corners; the offset's dy/dx get
 * gs * mask * bilinearSlope (torchvision's one-sided slope at integer positions); the mask gets
 * gs * sample; the weight gets gradOut * mask * sample. Bias is left to the caller (a plain sum).
 */
export function deformConv2dBackwardRef(
  input: Float32Array,
  offset: Float32Array,
  mask: Float32Array | null,
  weight: Float32Array,
  gradOut: Float32Array,
  g: DeformConv2dGeometry,
  grads: DeformConv2dGrads,
): void {
  // float64 accumulators, copied out at the end, so that the oracle sums more accurately than the fast path.
  const gIn = grads.input ? new Float64Array(grads.input.length) : null;
  const gOff = grads.offset ? new Float64Array(grads.offset.length) : null;
  const gMask = grads.mask && mask !== null ? new Float64Array(grads.mask.length) : null;
  const gW = grads.weight ? new Float64Array(grads.weight.length) : null;
  const cinG = g.cIn / g.groups;
  const coutG = g.cOut / g.groups;
  const cPerOg = g.cIn / g.offsetGroups;
  const kk = g.kH * g.kW;
  const hw = g.hOut * g.wOut;
  const plane = g.hIn * g.wIn;
  for (let n = 0; n < g.n; n++) {
    for (let c = 0; c < g.cIn; c++) {
      const grp = Math.floor(c / cinG);
      const cl = c - grp * cinG;
      const og = Math.floor(c / cPerOg);
      const base = (n * g.cIn + c) * plane;
      for (let i = 0; i < g.kH; i++) {
        for (let j = 0; j < g.kW; j++) {
          const k = i * g.kW + j;
          for (let oh = 0; oh < g.hOut; oh++) {
            for (let ow = 0; ow < g.wOut; ow++) {
              const [y, x] = samplePosition(offset, g, n, og, i, j, oh, ow);
              const m = maskValue(mask, g, n, og, k, oh, ow);
              const v = bilinearSample(input, base, g.hIn, g.wIn, y, x);
              const p = oh * g.wOut + ow;
              let gs = 0;
              for (let col = 0; col < coutG; col++) {
                const co = grp * coutG + col;
                const go = gradOut[(n * g.cOut + co) * hw + p];
                const wi = (co * cinG + cl) * kk + k;
                gs += weight[wi] * go;
                if (gW) gW[wi] += go * m * v;
              }
              if (gIn) bilinearScatter(gIn, base, g.hIn, g.wIn, y, x, gs * m);
              if (gOff) {
                const at = ((n * g.offsetGroups + og) * 2 * kk + 2 * k) * hw + p;
                gOff[at] += gs * m * bilinearSlope(input, base, g.hIn, g.wIn, y, x, true);
                gOff[at + hw] += gs * m * bilinearSlope(input, base, g.hIn, g.wIn, y, x, false);
              }
              if (gMask) gMask[((n * g.offsetGroups + og) * kk + k) * hw + p] += gs * v;
            }
          }
        }
      }
    }
  }
  if (grads.input && gIn) grads.input.set(gIn);
  if (grads.offset && gOff) grads.offset.set(gOff);
  if (grads.mask) grads.mask.set(gMask ?? new Float64Array(grads.mask.length));
  if (grads.weight && gW) grads.weight.set(gW);
}
