// Conv2d through GEMM, per image and group (NCHW, weight [Cout, Cin/groups, kH, kW]):
//   forward         out_g[CoutG x P]  = W_g[CoutG x K] * col_g[K x P]          (+ bias)
//   backward input  col_g[K x P]      = W_g^T * gradOut_g, then col2im into gradX
//   backward weight gradW_g[CoutG x K] = sum over images of gradOut_g * col_g^T
// with K = CinG * kH * kW and P = Hout * Wout. A 1x1, stride-1, unpadded conv skips im2col: the input
// plane already is the column matrix. (Packing the column matrix straight from the image into the GEMM
// panels, skipping the K x P buffer, was measured slower: 31 vs 41 GFLOP/s on grouped 3x3, 51 vs 53 on
// dense 3x3 -- per-panel index work costs more than the buffer's second pass through L2.)

import { gemm, gemmPackedB } from "./gemm";
import {
  G_CIN,
  G_COUT,
  G_DH,
  G_DW,
  G_GROUPS,
  G_HIN,
  G_HOUT,
  G_KH,
  G_KW,
  G_N,
  G_PB,
  G_PL,
  G_PR,
  G_PT,
  G_SH,
  G_SW,
  G_WIN,
  G_WOUT,
  gf,
} from "./geometry";
import { col2im, im2col, im2colPanels } from "./im2col";
import { f32s } from "./simd";
import { NR } from "./tiles";

/** True when the input plane is its own column matrix (1x1 kernel, stride 1, no padding). */
export function isPointwise(g: usize): bool {
  return (
    gf(g, G_KH) === 1 &&
    gf(g, G_KW) === 1 &&
    gf(g, G_SH) === 1 &&
    gf(g, G_SW) === 1 &&
    gf(g, G_PT) === 0 &&
    gf(g, G_PL) === 0 &&
    gf(g, G_PB) === 0 &&
    gf(g, G_PR) === 0
  );
}

/**
 * Floats of workspace the GEMM conv paths need for geometry g: one image-and-group column matrix (K x P),
 * its pixels rounded up to whole NR-column panels for the forward's packed layout.
 */
export function convWorkspaceFloats(g: usize): i32 {
  if (isPointwise(g)) return 0;
  return (
    (gf(g, G_CIN) / gf(g, G_GROUPS)) * gf(g, G_KH) * gf(g, G_KW) * (gf(g, G_HOUT) * gf(g, G_WOUT) + NR - 1)
  );
}

/** im2col of one image's channels for output rows [oh0, oh1): rows of the column matrix, or GEMM panels. */
function fillCol(
  g: usize,
  xg: usize,
  channels: i32,
  oh0: i32,
  oh1: i32,
  col: usize,
  panels: bool = false,
): void {
  const hIn = gf(g, G_HIN);
  const wIn = gf(g, G_WIN);
  const kH = gf(g, G_KH);
  const kW = gf(g, G_KW);
  const sH = gf(g, G_SH);
  const sW = gf(g, G_SW);
  const dH = gf(g, G_DH);
  const dW = gf(g, G_DW);
  const pT = gf(g, G_PT);
  const pL = gf(g, G_PL);
  const wOut = gf(g, G_WOUT);
  if (panels) im2colPanels(xg, channels, hIn, wIn, kH, kW, sH, sW, dH, dW, pT, pL, wOut, oh0, oh1, col);
  else im2col(xg, channels, hIn, wIn, kH, kW, sH, sW, dH, dW, pT, pL, wOut, oh0, oh1, col);
}

// Work ranges. Every kernel takes a range of "units" so that threads can split a call without changing any
// element's arithmetic (same dot products, same depth blocking, same summation order as one thread):
//   forward:         output rows, numbered n * Hout + oh across the batch (a band of rows is a band of GEMM
//                    columns; the whole range [0, N * Hout) is the one-thread call);
//   input gradient:  input channels, numbered n * Cin + c (rows of W^T, and disjoint planes of gradX);
//   weight gradient: input channels [c0, c1) (disjoint columns of gradW) over output rows [r0, r1). Splitting
//                    channels is exact; rows are split only into the fixed parts of
//                    convBackwardWeightGemmParts (few input channels), whose sums the caller adds in order.

/** Floats of column matrix per forward GEMM band (512 KiB: half of L2). */
const COL_BAND_FLOATS: i32 = 128 * 1024;

function imax(a: i32, b: i32): i32 {
  return a > b ? a : b;
}
function imin(a: i32, b: i32): i32 {
  return a < b ? a : b;
}

/**
 * Forward for output rows [r0, r1) (numbered n * Hout + oh). `bias` is 0 for none. `col` holds K x P floats
 * (unused when pointwise), `ws` the gemm workspace.
 */
export function convForwardGemm(
  g: usize,
  x: usize,
  w: usize,
  bias: usize,
  out: usize,
  col: usize,
  ws: usize,
  r0: i32,
  r1: i32,
): void {
  const cIn = gf(g, G_CIN);
  const cOut = gf(g, G_COUT);
  const groups = gf(g, G_GROUPS);
  const cinG = cIn / groups;
  const coutG = cOut / groups;
  const kk = cinG * gf(g, G_KH) * gf(g, G_KW);
  const planeIn = gf(g, G_HIN) * gf(g, G_WIN);
  const hOut = gf(g, G_HOUT);
  const wOut = gf(g, G_WOUT);
  const p = hOut * wOut;
  if (p <= 0 || r1 <= r0) return;
  const pointwise = isPointwise(g);
  for (let n = r0 / hOut; n * hOut < r1; n++) {
    const oh0 = imax(r0 - n * hOut, 0);
    const oh1 = imin(r1 - n * hOut, hOut);
    const j0 = oh0 * wOut;
    const pw = (oh1 - oh0) * wOut;
    for (let grp = 0; grp < groups; grp++) {
      const xg = x + f32s((n * cIn + grp * cinG) * planeIn);
      const og = out + f32s((n * cOut + grp * coutG) * p + j0);
      const wg = w + f32s(grp * coutG * kk);
      let beta: f32 = 0;
      if (bias !== 0) {
        for (let r = 0; r < coutG; r++) {
          const v = load<f32>(bias + f32s(grp * coutG + r));
          const row = og + f32s(r * p);
          const vv = f32x4.splat(v);
          let j = 0;
          for (; j + 4 <= pw; j += 4) v128.store(row + f32s(j), vv);
          for (; j < pw; j++) store<f32>(row + f32s(j), v);
        }
        beta = 1;
      }
      if (pointwise) {
        gemm(0, 0, coutG, pw, kk, 1, wg, kk, xg + f32s(j0), p, beta, og, p, ws);
      } else {
        // Bands of output rows whose columns fit in L2, so the GEMM packs them from L2 rather than memory
        // (a band of columns changes no element's sum: same dot products, same depth blocks).
        const band = imax(COL_BAND_FLOATS / imax(kk * wOut, 1), 1);
        // Output rows of a multiple of 4 pixels are filled straight into the GEMM's packed panels, four
        // pixels a vector (stem 7x7 stride 2: fill + GEMM 5.4 -> 4.6 ms); other widths would go lane by
        // lane, which measured slower than rows + the GEMM's own packing (1x7 on 17x17: 0.60 vs 0.40 ms).
        const panels = (wOut & 3) === 0;
        for (let b0 = oh0; b0 < oh1; b0 += band) {
          const b1 = imin(b0 + band, oh1);
          const bw = (b1 - b0) * wOut;
          const ob = og + f32s((b0 - oh0) * wOut);
          if (panels) {
            fillCol(g, xg, cinG, b0, b1, col, true);
            gemmPackedB(coutG, bw, kk, wg, kk, col, beta, ob, p, ws);
          } else {
            fillCol(g, xg, cinG, b0, b1, col);
            gemm(0, 0, coutG, bw, kk, 1, wg, kk, col, bw, beta, ob, p, ws);
          }
        }
      }
    }
  }
}

/**
 * Input gradient for input channels [u0, u1) (numbered n * Cin + c); overwrites those planes of gradX. Rows
 * (c, kh, kw) of the column matrix W_g^T * gradOut_g depend on channel c's weights only, so a channel range
 * is a range of GEMM rows.
 */
export function convBackwardInputGemm(
  g: usize,
  gradOut: usize,
  w: usize,
  gradX: usize,
  col: usize,
  ws: usize,
  u0: i32,
  u1: i32,
): void {
  const cIn = gf(g, G_CIN);
  const cOut = gf(g, G_COUT);
  const groups = gf(g, G_GROUPS);
  const cinG = cIn / groups;
  const coutG = cOut / groups;
  const hIn = gf(g, G_HIN);
  const wIn = gf(g, G_WIN);
  const taps = gf(g, G_KH) * gf(g, G_KW);
  const kk = cinG * taps;
  const planeIn = hIn * wIn;
  const p = gf(g, G_HOUT) * gf(g, G_WOUT);
  if (cIn <= 0 || u1 <= u0) return;
  const pointwise = isPointwise(g);
  for (let n = u0 / cIn; n * cIn < u1; n++) {
    const c0 = imax(u0 - n * cIn, 0);
    const c1 = imin(u1 - n * cIn, cIn);
    for (let grp = c0 / cinG; grp * cinG < c1; grp++) {
      const lo = imax(c0 - grp * cinG, 0);
      const hi = imin(c1 - grp * cinG, cinG);
      const gxg = gradX + f32s((n * cIn + grp * cinG + lo) * planeIn);
      if (p <= 0) {
        memory.fill(gxg, 0, f32s((hi - lo) * planeIn));
        continue;
      }
      const gog = gradOut + f32s((n * cOut + grp * coutG) * p);
      const wg = w + f32s(grp * coutG * kk + lo * taps);
      const m = (hi - lo) * taps;
      if (pointwise) {
        gemm(1, 0, m, p, coutG, 1, wg, kk, gog, p, 0, gxg, p, ws);
        continue;
      }
      gemm(1, 0, m, p, coutG, 1, wg, kk, gog, p, 0, col, p, ws);
      memory.fill(gxg, 0, f32s((hi - lo) * planeIn));
      col2im(
        col,
        hi - lo,
        hIn,
        wIn,
        gf(g, G_KH),
        gf(g, G_KW),
        gf(g, G_SH),
        gf(g, G_SW),
        gf(g, G_DH),
        gf(g, G_DW),
        gf(g, G_PT),
        gf(g, G_PL),
        gf(g, G_HOUT),
        gf(g, G_WOUT),
        gxg,
      );
    }
  }
}

/**
 * Weight gradient of input channels [c0, c1) (columns (c, kh, kw) of gradW, per group) summed over output
 * rows [r0, r1) (numbered n * Hout + oh). With `accumulate` 0 it overwrites those entries of gradW, else adds
 * to them. The whole range is one thread's call; a channel range is exact, a row range a partial sum.
 */
export function convBackwardWeightGemm(
  g: usize,
  x: usize,
  gradOut: usize,
  gradW: usize,
  col: usize,
  ws: usize,
  c0: i32,
  c1: i32,
  r0: i32,
  r1: i32,
  accumulate: i32,
): void {
  const cIn = gf(g, G_CIN);
  const cOut = gf(g, G_COUT);
  const groups = gf(g, G_GROUPS);
  const cinG = cIn / groups;
  const coutG = cOut / groups;
  const taps = gf(g, G_KH) * gf(g, G_KW);
  const kk = cinG * taps;
  const planeIn = gf(g, G_HIN) * gf(g, G_WIN);
  const hOut = gf(g, G_HOUT);
  const wOut = gf(g, G_WOUT);
  const p = hOut * wOut;
  if (c1 <= c0) return;
  const pointwise = isPointwise(g);
  if (r1 <= r0 || p <= 0) {
    if (accumulate !== 0) return;
    for (let grp = c0 / cinG; grp * cinG < c1; grp++) {
      const lo = imax(c0 - grp * cinG, 0);
      const hi = imin(c1 - grp * cinG, cinG);
      for (let co = 0; co < coutG; co++) {
        memory.fill(gradW + f32s((grp * coutG + co) * kk + lo * taps), 0, f32s((hi - lo) * taps));
      }
    }
    return;
  }
  const nFirst = r0 / hOut;
  for (let n = nFirst; n * hOut < r1; n++) {
    const oh0 = imax(r0 - n * hOut, 0);
    const oh1 = imin(r1 - n * hOut, hOut);
    const j0 = oh0 * wOut;
    const pw = (oh1 - oh0) * wOut;
    const beta: f32 = n === nFirst && accumulate === 0 ? 0 : 1;
    for (let grp = c0 / cinG; grp * cinG < c1; grp++) {
      const lo = imax(c0 - grp * cinG, 0);
      const hi = imin(c1 - grp * cinG, cinG);
      const xg = x + f32s((n * cIn + grp * cinG + lo) * planeIn);
      const gog = gradOut + f32s((n * cOut + grp * coutG) * p + j0);
      const gwg = gradW + f32s(grp * coutG * kk + lo * taps);
      if (pointwise) {
        gemm(0, 1, coutG, hi - lo, pw, 1, gog, p, xg + f32s(j0), p, beta, gwg, kk, ws);
      } else {
        fillCol(g, xg, hi - lo, oh0, oh1, col);
        gemm(0, 1, coutG, (hi - lo) * taps, pw, 1, gog, p, col, pw, beta, gwg, kk, ws);
      }
    }
  }
}

/**
 * Weight gradient in parts: part p (output rows [p * rowsPerPart, (p + 1) * rowsPerPart), the last one
 * shorter) summed into its own buffer partials + p * (Cout x K) floats, for parts [p0, p1). The caller adds
 * the parts in order; since the parts depend on the geometry alone, so does the result, whichever threads
 * computed which parts (for convs with too few input channels to split by channel).
 */
export function convBackwardWeightGemmParts(
  g: usize,
  x: usize,
  gradOut: usize,
  partials: usize,
  col: usize,
  ws: usize,
  rowsPerPart: i32,
  p0: i32,
  p1: i32,
): void {
  const cIn = gf(g, G_CIN);
  const rows = gf(g, G_N) * gf(g, G_HOUT);
  const size = gf(g, G_COUT) * (cIn / gf(g, G_GROUPS)) * gf(g, G_KH) * gf(g, G_KW);
  for (let p = p0; p < p1; p++) {
    const r0 = imin(p * rowsPerPart, rows);
    const r1 = imin(r0 + rowsPerPart, rows);
    convBackwardWeightGemm(g, x, gradOut, partials + f32s(p * size), col, ws, 0, cIn, r0, r1, 0);
  }
}
