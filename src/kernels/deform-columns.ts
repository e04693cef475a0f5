import { gemmKernels } from "./gemm.js";
import type { DeformConv2dGeometry, DeformConv2dGrads } from "./ref/deform.js";

/**
 * Deformable convolution as "sample once, then GEMM" (the deformable im2col of DCN, with the bilinear
 * sampling plan that ONNX Runtime precomputes):
 *
 * 1. For one image, a plan holds for every (offset group, tap, output pixel) the four corner pixels of its
 *    sampling position and their bilinear weights times the mask. The plan depends only on offset and mask,
 *    so all Cin/offsetGroups channels of the group reuse it.
 * 2. Per weight group, the column buffer [Cin/groups * kH*kW, Hout*Wout] is filled through the plan, and
 *    out_g = W_g [Cout/groups, Cin/groups*kH*kW] x columns goes through the GEMM seam.
 * 3. Backward: gradColumns = W_g^T x gradOut_g (GEMM); scattering them through the plan's weights gives the
 *    input gradient, through the weights' slopes in y and x the offset gradient, and through the unmasked
 *    weights the mask gradient; gradW_g += gradOut_g x columns^T (GEMM).
 *
 * Corners outside the image point at a "zero slot": index H*W, one past the plane, in a per-channel copy of
 * the plane that ends with a 0 (and, for the input gradient, a scratch plane whose last slot is discarded).
 * The inner loops then need no bounds tests, and an outside corner contributes exactly 0 (even next to NaN or
 * infinite pixels, as torchvision skips them).
 *
 * Semantics are torchvision's (see ref/deform.ts, the oracle this is tested against).
 */

/**
 * Sampling plan of one image. Entry e = (og*kH*kW + k)*Hout*Wout + p; its corner r (00, 01, 10, 11) is at
 * 4e + r in `index` and `weight`, and at 12e + r (dy slope), 12e + 4 + r (dx slope), 12e + 8 + r (unmasked
 * weight) in `grad`.
 */
export interface SamplingPlan {
  /** Index of the corner pixel inside its H x W plane; H*W (the zero slot) when the corner lies outside. */
  index: Int32Array;
  /** Bilinear weight of the corner times the mask value (what the columns and the input gradient use). */
  weight: Float32Array;
  /**
   * For backward: d(weight)/dy and d(weight)/dx times the mask (the offset gradient) and the weight without
   * the mask (the mask gradient), interleaved per entry as described above; null for a forward-only plan.
   */
  grad: Float32Array | null;
}

/**
 * Builds the sampling plan of image `n`. Corners are floor(y), floor(y)+1 by floor(x), floor(x)+1, each
 * valid only inside the image; the slopes are those of that bilinear patch, which is torchvision's
 * definition of the offset gradient (one-sided, from above, at exactly integer positions).
 */
export function buildSamplingPlan(
  offset: Float32Array,
  mask: Float32Array | null,
  g: DeformConv2dGeometry,
  n: number,
  forBackward: boolean,
): SamplingPlan {
  const kk = g.kH * g.kW;
  const hw = g.hOut * g.wOut;
  const entries = g.offsetGroups * kk * hw;
  const { hIn, wIn } = g;
  const zero = hIn * wIn;
  const index = new Int32Array(4 * entries).fill(zero);
  const weight = new Float32Array(4 * entries);
  const grad = forBackward ? new Float32Array(12 * entries) : null;
  for (let og = 0; og < g.offsetGroups; og++) {
    const offBase = (n * g.offsetGroups + og) * 2 * kk * hw;
    const maskBase = (n * g.offsetGroups + og) * kk * hw;
    for (let i = 0; i < g.kH; i++) {
      for (let j = 0; j < g.kW; j++) {
        const k = i * g.kW + j;
        const dyAt = offBase + 2 * k * hw;
        const dxAt = dyAt + hw;
        const maskAt = maskBase + k * hw;
        let e = (og * kk + k) * hw;
        for (let oh = 0; oh < g.hOut; oh++) {
          const gridY = oh * g.strideH - g.padTop + i * g.dilationH;
          for (let ow = 0; ow < g.wOut; ow++, e++) {
            const p = oh * g.wOut + ow;
            const y = gridY + offset[dyAt + p];
            const x = ow * g.strideW - g.padLeft + j * g.dilationW + offset[dxAt + p];
            // No corner can be inside unless -1 <= y < H and -1 <= x < W (at exactly -1 the forward weight of the
            // inside corner is 0 but its slope is not, as in torchvision). Also keeps NaN away from the indices.
            if (!(y >= -1 && y < hIn && x >= -1 && x < wIn)) continue;
            const m = mask === null ? 1 : mask[maskAt + p];
            const y0 = Math.floor(y);
            const x0 = Math.floor(x);
            const ly = y - y0;
            const lx = x - x0;
            const inY0 = y0 >= 0;
            const inY1 = y0 + 1 < hIn;
            const inX0 = x0 >= 0;
            const inX1 = x0 + 1 < wIn;
            const at = y0 * wIn + x0;
            const q = 4 * e;
            if (inY0 && inX0) index[q] = at;
            if (inY0 && inX1) index[q + 1] = at + 1;
            if (inY1 && inX0) index[q + 2] = at + wIn;
            if (inY1 && inX1) index[q + 3] = at + wIn + 1;
            const w00 = (1 - ly) * (1 - lx);
            const w01 = (1 - ly) * lx;
            const w10 = ly * (1 - lx);
            const w11 = ly * lx;
            weight[q] = m * w00;
            weight[q + 1] = m * w01;
            weight[q + 2] = m * w10;
            weight[q + 3] = m * w11;
            if (grad) {
              const r = 12 * e;
              grad[r] = -m * (1 - lx);
              grad[r + 1] = -m * lx;
              grad[r + 2] = m * (1 - lx);
              grad[r + 3] = m * lx;
              grad[r + 4] = -m * (1 - ly);
              grad[r + 5] = m * (1 - ly);
              grad[r + 6] = -m * ly;
              grad[r + 7] = m * ly;
              grad[r + 8] = w00;
              grad[r + 9] = w01;
              grad[r + 10] = w10;
              grad[r + 11] = w11;
            }
          }
        }
      }
    }
  }
  return { index, weight, grad };
}

/** Copies plane `c` of image `n` into `scratch` (length H*W + 1), whose last slot stays 0: the zero slot. */
function loadPlane(
  input: Float32Array,
  g: DeformConv2dGeometry,
  n: number,
  c: number,
  scratch: Float32Array,
): void {
  const plane = g.hIn * g.wIn;
  const base = (n * g.cIn + c) * plane;
  scratch.set(input.subarray(base, base + plane));
  scratch[plane] = 0;
}

/**
 * Fills the column buffer of weight group `grp` of image `n`: row cl*kH*kW + k, column p holds
 * mask * bilinear sample of input channel grp*Cin/groups + cl at tap k of output pixel p.
 */
export function fillColumns(
  input: Float32Array,
  plan: SamplingPlan,
  g: DeformConv2dGeometry,
  n: number,
  grp: number,
  columns: Float32Array,
): void {
  const kk = g.kH * g.kW;
  const hw = g.hOut * g.wOut;
  const cinG = g.cIn / g.groups;
  const cPerOg = g.cIn / g.offsetGroups;
  const xs = new Float32Array(g.hIn * g.wIn + 1);
  const { index, weight } = plan;
  for (let cl = 0; cl < cinG; cl++) {
    const c = grp * cinG + cl;
    const og = Math.floor(c / cPerOg);
    loadPlane(input, g, n, c, xs);
    for (let k = 0; k < kk; k++) {
      const rowAt = (cl * kk + k) * hw;
      let q = 4 * (og * kk + k) * hw;
      for (let p = 0; p < hw; p++, q += 4) {
        columns[rowAt + p] =
          weight[q] * xs[index[q]] +
          weight[q + 1] * xs[index[q + 1]] +
          weight[q + 2] * xs[index[q + 2]] +
          weight[q + 3] * xs[index[q + 3]];
      }
    }
  }
}

/** Forward through sampling plan + GEMM; overwrites `out` [N, Cout, Hout, Wout]. */
export function deformConv2dForwardColumns(
  input: Float32Array,
  offset: Float32Array,
  mask: Float32Array | null,
  weight: Float32Array,
  bias: Float32Array | null,
  g: DeformConv2dGeometry,
  out: Float32Array,
): void {
  const kk = g.kH * g.kW;
  const hw = g.hOut * g.wOut;
  const cinG = g.cIn / g.groups;
  const coutG = g.cOut / g.groups;
  const rows = cinG * kk;
  const columns = new Float32Array(rows * hw);
  for (let n = 0; n < g.n; n++) {
    const plan = buildSamplingPlan(offset, mask, g, n, false);
    for (let grp = 0; grp < g.groups; grp++) {
      fillColumns(input, plan, g, n, grp, columns);
      const outAt = (n * g.cOut + grp * coutG) * hw;
      gemmKernels.gemm(
        false,
        false,
        coutG,
        hw,
        rows,
        1,
        weight,
        grp * coutG * rows,
        columns,
        0,
        0,
        out,
        outAt,
      );
    }
    if (bias !== null) {
      for (let co = 0; co < g.cOut; co++) {
        const b = bias[co];
        const at = (n * g.cOut + co) * hw;
        for (let p = 0; p < hw; p++) out[at + p] += b;
      }
    }
  }
}

/**
 * Backward through sampling plan + GEMM: fills the requested gradients of `grads` (each overwritten).
 * The mask gradient is written only when a mask was given.
 */
export function deformConv2dBackwardColumns(
  input: Float32Array,
  offset: Float32Array,
  mask: Float32Array | null,
  weight: Float32Array,
  gradOut: Float32Array,
  g: DeformConv2dGeometry,
  grads: DeformConv2dGrads,
): void {
  const kk = g.kH * g.kW;
  const hw = g.hOut * g.wOut;
  const cinG = g.cIn / g.groups;
  const coutG = g.cOut / g.groups;
  const rows = cinG * kk;
  const entries = g.offsetGroups * kk * hw;
  const gradOff = grads.offset;
  const gradMask = mask === null ? null : grads.mask;
  grads.input?.fill(0);
  gradOff?.fill(0);
  grads.mask?.fill(0);
  grads.weight?.fill(0);
  const throughSamples = grads.input !== null || gradOff !== null || gradMask !== null;
  const columns = grads.weight ? new Float32Array(rows * hw) : null;
  const gradColumns = throughSamples ? new Float32Array(rows * hw) : null;
  // Per-image float64 sums over the channels of an offset group (dy, dx, mask), written out once.
  const acc: Accumulators = {
    dy: gradOff ? new Float64Array(entries) : null,
    dx: gradOff ? new Float64Array(entries) : null,
    mask: gradMask ? new Float64Array(entries) : null,
  };

  for (let n = 0; n < g.n; n++) {
    const plan = buildSamplingPlan(offset, mask, g, n, gradOff !== null || gradMask !== null);
    acc.dy?.fill(0);
    acc.dx?.fill(0);
    acc.mask?.fill(0);
    for (let grp = 0; grp < g.groups; grp++) {
      const gradOutAt = (n * g.cOut + grp * coutG) * hw;
      const wAt = grp * coutG * rows;
      if (grads.weight && columns) {
        fillColumns(input, plan, g, n, grp, columns);
        gemmKernels.gemm(
          false,
          true,
          coutG,
          rows,
          hw,
          1,
          gradOut,
          gradOutAt,
          columns,
          0,
          1,
          grads.weight,
          wAt,
        );
      }
      if (gradColumns === null) continue;
      gemmKernels.gemm(true, false, rows, hw, coutG, 1, weight, wAt, gradOut, gradOutAt, 0, gradColumns, 0);
      scatterColumns(input, plan, g, n, grp, gradColumns, grads.input, acc);
    }
    if (gradOff && acc.dy && acc.dx) {
      // Offset channels of (og, k) are 2*(og*kk + k) (dy) and +1 (dx): entry e = (og*kk + k)*hw + p.
      for (let e = 0; e < entries; e++) {
        const ek = Math.floor(e / hw);
        const p = e - ek * hw;
        const at = (n * entries + ek * hw) * 2 + p;
        gradOff[at] = acc.dy[e];
        gradOff[at + hw] = acc.dx[e];
      }
    }
    if (gradMask && acc.mask) {
      for (let e = 0; e < entries; e++) gradMask[n * entries + e] = acc.mask[e];
    }
  }
}

interface Accumulators {
  dy: Float64Array | null;
  dx: Float64Array | null;
  mask: Float64Array | null;
}

/**
 * Sends the column gradients of weight group `grp` back through the plan: into the input pixels (plan
 * weights), and summed per (offset group, tap, pixel) into dy, dx (slopes times pixel values) and the mask
 * (unmasked weights times pixel values).
 */
function scatterColumns(
  input: Float32Array,
  plan: SamplingPlan,
  g: DeformConv2dGeometry,
  n: number,
  grp: number,
  gradColumns: Float32Array,
  gradIn: Float32Array | null,
  acc: Accumulators,
): void {
  const kk = g.kH * g.kW;
  const hw = g.hOut * g.wOut;
  const cinG = g.cIn / g.groups;
  const cPerOg = g.cIn / g.offsetGroups;
  const plane = g.hIn * g.wIn;
  const { index, weight, grad } = plan;
  const xs = new Float32Array(plane + 1);
  // The input gradient of one channel, with the zero slot at the end absorbing outside corners.
  const gx = gradIn ? new Float64Array(plane + 1) : null;
  const { dy, dx, mask: dm } = acc;
  for (let cl = 0; cl < cinG; cl++) {
    const c = grp * cinG + cl;
    const og = Math.floor(c / cPerOg);
    const base = (n * g.cIn + c) * plane;
    if (grad) loadPlane(input, g, n, c, xs);
    gx?.fill(0);
    for (let k = 0; k < kk; k++) {
      const rowAt = (cl * kk + k) * hw;
      const e0 = (og * kk + k) * hw;
      if (grad === null) {
        if (gx === null) continue;
        let q = 4 * e0;
        for (let p = 0; p < hw; p++, q += 4) {
          const gs = gradColumns[rowAt + p];
          gx[index[q]] += gs * weight[q];
          gx[index[q + 1]] += gs * weight[q + 1];
          gx[index[q + 2]] += gs * weight[q + 2];
          gx[index[q + 3]] += gs * weight[q + 3];
        }
        continue;
      }
      for (let p = 0; p < hw; p++) {
        const gs = gradColumns[rowAt + p];
        const e = e0 + p;
        const q = 4 * e;
        const r = 12 * e;
        const i0 = index[q];
        const i1 = index[q + 1];
        const i2 = index[q + 2];
        const i3 = index[q + 3];
        if (gx) {
          gx[i0] += gs * weight[q];
          gx[i1] += gs * weight[q + 1];
          gx[i2] += gs * weight[q + 2];
          gx[i3] += gs * weight[q + 3];
        }
        const v0 = xs[i0];
        const v1 = xs[i1];
        const v2 = xs[i2];
        const v3 = xs[i3];
        if (dy && dx) {
          dy[e] += gs * (grad[r] * v0 + grad[r + 1] * v1 + grad[r + 2] * v2 + grad[r + 3] * v3);
          dx[e] += gs * (grad[r + 4] * v0 + grad[r + 5] * v1 + grad[r + 6] * v2 + grad[r + 7] * v3);
        }
        if (dm) dm[e] += gs * (grad[r + 8] * v0 + grad[r + 9] * v1 + grad[r + 10] * v2 + grad[r + 11] * v3);
      }
    }
    if (gradIn && gx) for (let i = 0; i < plane; i++) gradIn[base + i] += gx[i];
  }
}
