// Weight gradient of 3x3, stride-1, undilated convs by Winograd F(3x3, 4x4): over one 4x4 output tile,
// dW[a][b] = sum_uv gy[u][v] x[u + a][v + b] is a 3x3 "output" from a 6x6 input patch and a 4x4 "filter"
// (the gradient tile), computed by the forward algorithm's matrices with the roles of A and G exchanged:
//   dW = G^T [ (A gy A^T) (.) (B^T d B) ] G,  summed over tiles inside the brackets,
// where B^T is the forward's input transform and A (6x4), G (6x3) are its output and filter transforms. The
// sum over tiles becomes 36 GEMMs (one per transformed position) of Cout x tiles by tiles x Cin, so the
// multiplications drop from 9 per tile pixel pair to 36/16 = 2.25.
// Threads split by input channel, like the im2col path: each owns whole filters' columns, summed over the
// images of its call in order (images after the first of a call, or every image of an `accumulate` call,
// are added), so any split gives the one-thread result exactly.

import { gemm } from "./gemm";
import { G_CIN, G_COUT, G_GROUPS, G_HIN, G_HOUT, G_WIN, G_WOUT, gf } from "./geometry";
import { f32s } from "./simd";
import {
  bandColumns,
  planeH,
  planeStride,
  planeW,
  roundUp,
  TMP_FLOATS,
  tilesAcross,
  tilesH,
  tilesW,
  transformInput,
} from "./winograd";

/** Floats of the zero-bordered output-gradient plane: whole 4x4 tiles, four-tile quads across. */
function gradPlaneFloats(g: usize): i32 {
  return 16 * tilesH(g) * tilesW(g);
}

/**
 * Floats of one thread's workspace: transform scratch, V (input tiles of one image's channels), Gy
 * (gradient tiles of one image's group), M (36 Cout/groups x Cin/groups products), the padded input
 * plane and the padded gradient plane.
 */
export function winogradGradWorkspaceFloats(g: usize): i32 {
  const groups = gf(g, G_GROUPS);
  const cinG = gf(g, G_CIN) / groups;
  const coutG = gf(g, G_COUT) / groups;
  const t = bandColumns(g, tilesH(g));
  return (
    TMP_FLOATS +
    36 * planeStride(cinG * t) +
    36 * planeStride(coutG * t) +
    36 * planeStride(coutG * roundUp(cinG, 4)) +
    planeH(g) * planeW(g) +
    gradPlaneFloats(g)
  );
}

/** A (6x4) applied to four vectors: g0, g0+g1+g2+g3, g0-g1+g2-g3, g0+2g1+4g2+8g3, g0-2g1+4g2-8g3, g3. */
function a6(g0: v128, g1: v128, g2: v128, g3: v128, q: usize, qs: usize): void {
  const s02 = f32x4.add(g0, g2);
  const s13 = f32x4.add(g1, g3);
  const t02 = f32x4.add(g0, f32x4.mul(g2, f32x4.splat(4)));
  const t13 = f32x4.add(f32x4.add(g1, g1), f32x4.mul(g3, f32x4.splat(8)));
  v128.store(q, g0);
  v128.store(q + qs, f32x4.add(s02, s13));
  v128.store(q + 2 * qs, f32x4.sub(s02, s13));
  v128.store(q + 3 * qs, f32x4.add(t02, t13));
  v128.store(q + 4 * qs, f32x4.sub(t02, t13));
  v128.store(q + 5 * qs, g3);
}

/**
 * Gy[xy] = (A gy_t A^T)[x][y] for every 4x4 tile t of the `coutG` gradient planes at gy (one image and
 * group), in plain rows: tile t of channel co at co * rowFloats + t, planes `xyStride` floats apart. Tiles
 * are numbered as the input transform numbers them (dense, row after row), four per step, one per lane.
 * `pad` (gradPlaneFloats) is zero past the plane's last row and column (cleared once per call).
 */
function transformGrad(
  g: usize,
  gy: usize,
  coutG: i32,
  pad: usize,
  out: usize,
  rowFloats: i32,
  xyStride: i32,
  tmp: usize,
): void {
  const hOut = gf(g, G_HOUT);
  const wOut = gf(g, G_WOUT);
  const th = tilesH(g);
  const tw = tilesW(g);
  const across = tilesAcross(g);
  const pw = 4 * tw;
  const xyStep = f32s(xyStride);
  const rows = tmp; // 4 x 6 vectors: (gy A^T)[u][y]
  for (let co = 0; co < coutG; co++) {
    const src = gy + f32s(co * hOut * wOut);
    for (let i = 0; i < hOut; i++) {
      const d = pad + f32s(i * pw);
      const s = src + f32s(i * wOut);
      let j = 0;
      for (; j + 4 <= wOut; j += 4) v128.store(d + f32s(j), v128.load(s + f32s(j)));
      for (; j < wOut; j++) store<f32>(d + f32s(j), load<f32>(s + f32s(j)));
    }
    const oc = out + f32s(co * rowFloats);
    for (let ty = 0; ty < th; ty++) {
      for (let tx = 0; tx < tw; tx += 4) {
        for (let u = 0; u < 4; u++) {
          // Row u of the four tiles (a vector each), transposed: c_v lane k = gy_k[u][v].
          const r = pad + f32s((4 * ty + u) * pw + 4 * tx);
          const x0 = v128.load(r);
          const x1 = v128.load(r, 16);
          const x2 = v128.load(r, 32);
          const x3 = v128.load(r, 48);
          const a0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
          const a1 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
          const a2 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
          const a3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
          a6(
            v128.shuffle<f32>(a0, a1, 0, 1, 4, 5),
            v128.shuffle<f32>(a0, a1, 2, 3, 6, 7),
            v128.shuffle<f32>(a2, a3, 0, 1, 4, 5),
            v128.shuffle<f32>(a2, a3, 2, 3, 6, 7),
            rows + <usize>(u * 96),
            16,
          );
        }
        // A along u: column y of rows -> Gy[x*6 + y] for x = 0 .. 5.
        const q = oc + f32s(ty * across + tx);
        for (let y = 0; y < 6; y++) {
          const p = rows + <usize>(y * 16);
          a6(
            v128.load(p),
            v128.load(p, 96),
            v128.load(p, 192),
            v128.load(p, 288),
            q + <usize>y * xyStep,
            6 * xyStep,
          );
        }
      }
    }
  }
}

/** G^T (3x6) applied to six vectors at p, p + ps, ...: three vectors at q, q + qs, q + 2 qs. */
function gt3(p: usize, ps: usize, q: usize, qs: usize): void {
  const m0 = v128.load(p);
  const m1 = v128.load(p + ps);
  const m2 = v128.load(p + 2 * ps);
  const m3 = v128.load(p + 3 * ps);
  const m4 = v128.load(p + 4 * ps);
  const m5 = v128.load(p + 5 * ps);
  const s12 = f32x4.add(m1, m2);
  const s34 = f32x4.add(m3, m4);
  // Multiplications by reciprocals, as in the forward's filter transform.
  v128.store(
    q,
    f32x4.add(
      f32x4.sub(f32x4.mul(m0, f32x4.splat(0.25)), f32x4.mul(s12, f32x4.splat(1.0 / 6.0))),
      f32x4.mul(s34, f32x4.splat(1.0 / 24.0)),
    ),
  );
  v128.store(
    q + qs,
    f32x4.add(
      f32x4.mul(f32x4.sub(m2, m1), f32x4.splat(1.0 / 6.0)),
      f32x4.mul(f32x4.sub(m3, m4), f32x4.splat(1.0 / 12.0)),
    ),
  );
  v128.store(q + 2 * qs, f32x4.add(f32x4.mul(f32x4.sub(s34, s12), f32x4.splat(1.0 / 6.0)), m5));
}

/**
 * dW[co][ci] (+)= G^T M[co][ci] G for co < coutG, ci < channels: M[xy] has rows of `ld` floats (ld a
 * multiple of 4), planes `xyStride` floats apart; filter (co, ci) at dw + (co * cinG + ci) * 9. Four input
 * channels per step, one per lane.
 */
function transformWeightGrad(
  m: usize,
  xyStride: i32,
  ld: i32,
  coutG: i32,
  channels: i32,
  dw: usize,
  cinG: i32,
  add: bool,
  tmp: usize,
): void {
  const xyStep = f32s(xyStride);
  const mid = tmp; // 3 x 6 vectors: (G^T M)[a][y]
  const fin = tmp + 18 * 16; // 3 x 3 vectors: (G^T M G)[a][b]
  for (let co = 0; co < coutG; co++) {
    for (let ci = 0; ci < channels; ci += 4) {
      const mc = m + f32s(co * ld + ci);
      for (let y = 0; y < 6; y++) gt3(mc + <usize>y * xyStep, 6 * xyStep, mid + <usize>(y * 16), 96);
      for (let a = 0; a < 3; a++) gt3(mid + <usize>(a * 96), 16, fin + <usize>(a * 48), 16);
      const lanes = min<i32>(4, channels - ci);
      for (let l = 0; l < lanes; l++) {
        const f = dw + f32s((co * cinG + ci + l) * 9);
        for (let k = 0; k < 9; k++) {
          const v = load<f32>(fin + f32s(k * 4 + l));
          store<f32>(f + f32s(k), add ? load<f32>(f + f32s(k)) + v : v);
        }
      }
    }
  }
}

/**
 * Weight gradient of input channels [c0, c1) over output rows [r0, r1) (numbered n * Hout + oh; whole
 * images only): the same contract as convBackwardWeightGemm, for 3x3, stride 1, dilation 1. `work` holds
 * winogradGradWorkspaceFloats(g) floats, `ws` a gemm workspace.
 */
export function convBackwardWeightWinograd(
  g: usize,
  x: usize,
  gradOut: usize,
  gradW: usize,
  work: usize,
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
  const hOut = gf(g, G_HOUT);
  const planeIn = gf(g, G_HIN) * gf(g, G_WIN);
  const planeOut = hOut * gf(g, G_WOUT);
  if (c1 <= c0) return;
  const n0 = hOut > 0 ? r0 / hOut : 0;
  const n1 = hOut > 0 ? r1 / hOut : 0;
  const th = tilesH(g);
  const t = bandColumns(g, th);
  const k = th * tilesAcross(g);
  const tmp = work;
  const v = tmp + f32s(TMP_FLOATS);
  const gyT = v + f32s(36 * planeStride(cinG * t));
  const m = gyT + f32s(36 * planeStride(coutG * t));
  const pad = m + f32s(36 * planeStride(coutG * roundUp(cinG, 4)));
  const gpad = pad + f32s(planeH(g) * planeW(g));
  memory.fill(pad, 0, f32s(planeH(g) * planeW(g)));
  memory.fill(gpad, 0, f32s(gradPlaneFloats(g)));
  for (let grp = c0 / cinG; grp * cinG < c1; grp++) {
    const lo = max<i32>(c0 - grp * cinG, 0);
    const hi = min<i32>(c1 - grp * cinG, cinG);
    const channels = hi - lo;
    const ld = roundUp(channels, 4);
    const vStride = planeStride(channels * t);
    const gStride = planeStride(coutG * t);
    const mStride = planeStride(coutG * ld);
    const dw = gradW + f32s((grp * coutG * cinG + lo) * 9);
    // The GEMMs fill `channels` of each row's `ld` columns, and transformWeightGrad reads them four at a
    // time: zero the rest, so it never computes on what an earlier call left there (its results are not
    // stored, but stale subnormals cost a microcode assist per operation on some CPUs).
    if (ld > channels) {
      for (let xy = 0; xy < 36; xy++) {
        for (let co = 0; co < coutG; co++) {
          memory.fill(m + f32s(xy * mStride + co * ld + channels), 0, f32s(ld - channels));
        }
      }
    }
    if (n1 <= n0 || k <= 0) {
      // No rows: a zero gradient (or nothing to add).
      if (accumulate === 0) {
        for (let co = 0; co < coutG; co++) memory.fill(dw + f32s(co * cinG * 9), 0, f32s(channels * 9));
      }
      continue;
    }
    for (let n = n0; n < n1; n++) {
      transformInput(
        g,
        x + f32s((n * cIn + grp * cinG + lo) * planeIn),
        channels,
        0,
        th,
        pad,
        v,
        vStride,
        tmp,
        t,
      );
      transformGrad(
        g,
        gradOut + f32s((n * cOut + grp * coutG) * planeOut),
        coutG,
        gpad,
        gyT,
        t,
        gStride,
        tmp,
      );
      for (let xy = 0; xy < 36; xy++) {
        gemm(
          0,
          1,
          coutG,
          channels,
          k,
          1,
          gyT + f32s(xy * gStride),
          t,
          v + f32s(xy * vStride),
          t,
          0,
          m + f32s(xy * mStride),
          ld,
          ws,
        );
      }
      transformWeightGrad(m, mStride, ld, coutG, channels, dw, cinG, accumulate !== 0 || n > n0, tmp);
    }
  }
}

/**
 * Images [n0, n1) each into its own weight gradient, all channels: image n's into gradWImages + n weight
 * sizes (overwritten). The caller adds them up in image order, which gives the bits of one
 * convBackwardWeightWinograd call over the batch (that call adds each image's finished 3x3 values to the
 * sum in the same order), so threads can split a batch by image: each image's output-gradient transform
 * is then done once, where a split by channel repeats it on every thread (a fifth of the work here).
 */
export function convBackwardWeightWinogradImages(
  g: usize,
  x: usize,
  gradOut: usize,
  gradWImages: usize,
  work: usize,
  ws: usize,
  n0: i32,
  n1: i32,
): void {
  const cIn = gf(g, G_CIN);
  const hOut = gf(g, G_HOUT);
  const size = gf(g, G_COUT) * (cIn / gf(g, G_GROUPS)) * 9;
  for (let n = n0; n < n1; n++) {
    const dw = gradWImages + f32s(n * size);
    convBackwardWeightWinograd(g, x, gradOut, dw, work, ws, 0, cIn, n * hOut, (n + 1) * hOut, 0);
  }
}
