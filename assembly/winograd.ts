// Winograd F(4x4, 3x3) forward for 3x3, stride-1, undilated convs (Lavin & Gray 2016): each 6x6 input tile
// gives a 4x4 output tile with 36 element-wise products instead of 144 multiply-adds, done as 36 GEMMs
// over channels:  U = G w G^T (per filter), V = B^T d B (per input tile), M_xy = U_xy * V_xy, Y = A^T M A.
// The input and output transforms run on four horizontally adjacent tiles at once, one tile per f32x4
// lane; tile columns are padded to a multiple of four (the extra tiles read zeros and are not stored).
// Threads: the weights are transformed once per call (winogradTransformWeights, into a buffer every thread
// reads); each thread then runs a band of tile rows (numbered n * tilesH + ty across the batch) with its own
// workspace. A band changes no element's arithmetic, so any split equals the one-thread result exactly.

import { gemm } from "./gemm";
import { G_CIN, G_COUT, G_GROUPS, G_HIN, G_HOUT, G_PL, G_PT, G_WIN, G_WOUT, gf } from "./geometry";
import { f32s } from "./simd";

/** Tile grid of geometry g: rows, and columns rounded up to a multiple of 4 (one f32x4 lane per tile). */
function tilesH(g: usize): i32 {
  return (gf(g, G_HOUT) + 3) >> 2;
}
function tilesW(g: usize): i32 {
  return ((((gf(g, G_WOUT) + 3) >> 2) + 3) >> 2) << 2;
}

/** Padded input plane: 6x6 tiles overlapping by 2, plus the 4 floats a transposing load reads past the last tile. */
function planeW(g: usize): i32 {
  return 4 * tilesW(g) + 4;
}
function planeH(g: usize): i32 {
  return 4 * tilesH(g) + 2;
}

/** Floats of the transformed weights U (36 x Cout x Cin/groups), shared by all threads of a call. */
export function winogradWeightFloats(g: usize): i32 {
  return 36 * gf(g, G_COUT) * (gf(g, G_CIN) / gf(g, G_GROUPS));
}

/** Floats of scratch for the transforms: 72 vectors at the start of each workspace. */
const TMP_FLOATS: i32 = 72 * 4;

/**
 * Floats of one thread's workspace: transform scratch, V and M (one image and group), the padded plane.
 * (The scratch lives here, not in static data: threads share the static data, and instantiating the module
 * in a new worker rewrites it.)
 */
export function winogradWorkspaceFloats(g: usize): i32 {
  const groups = gf(g, G_GROUPS);
  const cinG = gf(g, G_CIN) / groups;
  const coutG = gf(g, G_COUT) / groups;
  const t = tilesH(g) * tilesW(g);
  return TMP_FLOATS + 36 * cinG * t + 36 * coutG * t + planeH(g) * planeW(g);
}

/** G (6x3) applied to three values a, b, c (one column or row of a 3x3 filter), in f32x4 lanes. */
function g6(a: v128, b: v128, c: v128, q: usize, qs: usize): void {
  // Multiplications by reciprocals: f32 division costs about ten times more and dominated the transform.
  const s = f32x4.add(a, c);
  v128.store(q, f32x4.mul(a, f32x4.splat(0.25)));
  v128.store(q + qs, f32x4.mul(f32x4.add(s, b), f32x4.splat(-1.0 / 6.0)));
  v128.store(q + 2 * qs, f32x4.mul(f32x4.sub(s, b), f32x4.splat(-1.0 / 6.0)));
  const e = f32x4.add(f32x4.mul(a, f32x4.splat(1.0 / 24.0)), f32x4.mul(c, f32x4.splat(1.0 / 6.0)));
  const h = f32x4.mul(b, f32x4.splat(1.0 / 12.0));
  v128.store(q + 3 * qs, f32x4.add(e, h));
  v128.store(q + 4 * qs, f32x4.sub(e, h));
  v128.store(q + 5 * qs, c);
}

/** Lanes k = element j of filters f .. f+3 (filters are 9 floats apart). */
function gather4(k: usize, j: i32): v128 {
  let v = v128.load32_splat(k + f32s(j));
  v = f32x4.replace_lane(v, 1, load<f32>(k + f32s(9 + j)));
  v = f32x4.replace_lane(v, 2, load<f32>(k + f32s(18 + j)));
  return f32x4.replace_lane(v, 3, load<f32>(k + f32s(27 + j)));
}

/** Lane-broadcast filter f alone (the tail when the filter count is not a multiple of 4). */
function gather1(k: usize, j: i32): v128 {
  return v128.load32_splat(k + f32s(j));
}

/**
 * U[xy][co][ci] = (G w[co][ci] G^T)[x][y] for all filters (groups stacked along co), four filters per step,
 * one per lane.
 */
function transformWeights(w: usize, cOut: i32, cinG: i32, u: usize, tmp: usize): void {
  const plane = cOut * cinG;
  const gk = tmp; // 6 x 3 vectors: G k
  const out = tmp + 18 * 16; // 6 x 6 vectors: G k G^T
  for (let f = 0; f < plane; f += 4) {
    const k = w + f32s(f * 9);
    const full = f + 4 <= plane;
    // Columns of k through G: gk[i][j].
    for (let j = 0; j < 3; j++) {
      const a = full ? gather4(k, j) : gather1(k, j);
      const b = full ? gather4(k, 3 + j) : gather1(k, 3 + j);
      const c = full ? gather4(k, 6 + j) : gather1(k, 6 + j);
      g6(a, b, c, gk + <usize>(j * 16), 48);
    }
    // Rows of G k through G: out[i][y].
    for (let i = 0; i < 6; i++) {
      const r = gk + <usize>(i * 48);
      g6(v128.load(r), v128.load(r, 16), v128.load(r, 32), out + <usize>(i * 96), 16);
    }
    if (full) {
      for (let xy = 0; xy < 36; xy++) v128.store(u + f32s(xy * plane + f), v128.load(out + <usize>(xy * 16)));
    } else {
      // Tail: one filter at a time (lane 0), the rest of the block redone below.
      for (let xy = 0; xy < 36; xy++) store<f32>(u + f32s(xy * plane + f), load<f32>(out + <usize>(xy * 16)));
      f -= 3;
    }
  }
}

/** B^T applied to six vectors at p, p + stride, ..., written the same way at q. */
function bt6(p: usize, ps: usize, q: usize, qs: usize): void {
  const d0 = v128.load(p);
  const d1 = v128.load(p + ps);
  const d2 = v128.load(p + 2 * ps);
  const d3 = v128.load(p + 3 * ps);
  const d4 = v128.load(p + 4 * ps);
  const d5 = v128.load(p + 5 * ps);
  const four = f32x4.splat(4);
  const five = f32x4.splat(5);
  const t1 = f32x4.sub(d4, f32x4.mul(four, d2));
  const t2 = f32x4.sub(d3, f32x4.mul(four, d1));
  const t3 = f32x4.sub(d4, d2);
  const t4 = f32x4.add(f32x4.sub(d3, d1), f32x4.sub(d3, d1));
  v128.store(q, f32x4.add(f32x4.sub(f32x4.mul(four, d0), f32x4.mul(five, d2)), d4));
  v128.store(q + qs, f32x4.add(t1, t2));
  v128.store(q + 2 * qs, f32x4.sub(t1, t2));
  v128.store(q + 3 * qs, f32x4.add(t3, t4));
  v128.store(q + 4 * qs, f32x4.sub(t3, t4));
  v128.store(q + 5 * qs, f32x4.add(f32x4.sub(f32x4.mul(four, d1), f32x4.mul(five, d3)), d5));
}

/**
 * V[xy][ci][t] = (B^T d B)[x][y] for every tile t of tile rows [ty0, ty1) of channels [0, cinG) of x. `pad`
 * holds the padded rows of that band (4 (ty1 - ty0) + 2 rows of planeW); its left and right borders are
 * zero (cleared once per call) and the rows outside the image are cleared here, so only the interior is
 * rewritten per channel.
 */
function transformInput(
  g: usize,
  x: usize,
  cinG: i32,
  ty0: i32,
  ty1: i32,
  pad: usize,
  v: usize,
  tmp: usize,
): void {
  const hIn = gf(g, G_HIN);
  const wIn = gf(g, G_WIN);
  const pT = gf(g, G_PT);
  const pL = gf(g, G_PL);
  const th = ty1 - ty0;
  const tw = tilesW(g);
  const pw = planeW(g);
  const t = th * tw;
  const xyStep = f32s(cinG * t);
  const rows = tmp;
  const cols = tmp + 36 * 16;
  // Local row r of the band is padded row 4 ty0 + r, image row 4 ty0 + r - pT.
  const bandRows = 4 * th + 2;
  const first = 4 * ty0 - pT;
  const i0 = max<i32>(first, 0);
  const i1 = min<i32>(first + bandRows, hIn);
  for (let r = 0; r < bandRows; r++) {
    const i = first + r;
    if (i < 0 || i >= hIn) memory.fill(pad + f32s(r * pw), 0, f32s(pw));
  }
  for (let ci = 0; ci < cinG; ci++) {
    const src = x + f32s(ci * hIn * wIn);
    for (let i = i0; i < i1; i++) {
      const d = pad + f32s((i - first) * pw + pL);
      const s = src + f32s(i * wIn);
      let j = 0;
      for (; j + 4 <= wIn; j += 4) v128.store(d + f32s(j), v128.load(s + f32s(j)));
      for (; j < wIn; j++) store<f32>(d + f32s(j), load<f32>(s + f32s(j)));
    }
    const vc = v + f32s(ci * t);
    for (let ty = 0; ty < th; ty++) {
      for (let tx = 0; tx < tw; tx += 4) {
        // Six rows of the four 6x6 tiles, transposed so that lane k holds tile k: rows[i][j] = d_k[i][j].
        for (let i = 0; i < 6; i++) {
          const r = pad + f32s((4 * ty + i) * pw + 4 * tx);
          const x0 = v128.load(r);
          const x1 = v128.load(r, 16);
          const x2 = v128.load(r, 32);
          const x3 = v128.load(r, 48);
          const x4 = v128.load(r, 64);
          const a0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
          const a1 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
          const a2 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
          const a3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
          const b0 = v128.shuffle<f32>(x1, x2, 0, 4, 1, 5);
          const b1 = v128.shuffle<f32>(x3, x4, 0, 4, 1, 5);
          const o = rows + <usize>(i * 6 * 16);
          v128.store(o, v128.shuffle<f32>(a0, a1, 0, 1, 4, 5));
          v128.store(o, v128.shuffle<f32>(a0, a1, 2, 3, 6, 7), 16);
          v128.store(o, v128.shuffle<f32>(a2, a3, 0, 1, 4, 5), 32);
          v128.store(o, v128.shuffle<f32>(a2, a3, 2, 3, 6, 7), 48);
          v128.store(o, v128.shuffle<f32>(b0, b1, 0, 1, 4, 5), 64);
          v128.store(o, v128.shuffle<f32>(b0, b1, 2, 3, 6, 7), 80);
        }
        // B^T d: column j of rows -> column j of cols.
        for (let j = 0; j < 6; j++) bt6(rows + <usize>(j * 16), 96, cols + <usize>(j * 16), 96);
        // (B^T d) B: row x of cols -> V[x*6 + y][ci][t .. t+3].
        const tile = f32s(ty * tw + tx);
        for (let r = 0; r < 6; r++)
          bt6(cols + <usize>(r * 96), 16, vc + tile + <usize>(r * 6) * xyStep, xyStep);
      }
    }
  }
}

/** A^T applied to six vectors at p, p + ps, ... -> four vectors at q, q + qs, ... */
function at6(p: usize, ps: usize, q: usize, qs: usize): void {
  const m0 = v128.load(p);
  const m1 = v128.load(p + ps);
  const m2 = v128.load(p + 2 * ps);
  const m3 = v128.load(p + 3 * ps);
  const m4 = v128.load(p + 4 * ps);
  const m5 = v128.load(p + 5 * ps);
  const s12 = f32x4.add(m1, m2);
  const d12 = f32x4.sub(m1, m2);
  const s34 = f32x4.add(m3, m4);
  const d34 = f32x4.sub(m3, m4);
  v128.store(q, f32x4.add(f32x4.add(m0, s12), s34));
  v128.store(q + qs, f32x4.add(d12, f32x4.add(d34, d34)));
  v128.store(q + 2 * qs, f32x4.add(s12, f32x4.mul(f32x4.splat(4), s34)));
  v128.store(q + 3 * qs, f32x4.add(f32x4.add(d12, f32x4.mul(f32x4.splat(8), d34)), m5));
}

/** out[co] = (A^T M A) + bias for every tile of tile rows [ty0, ty1), four tiles (one per lane) at a time. */
function transformOutput(
  g: usize,
  m: usize,
  coutG: i32,
  bias: usize,
  out: usize,
  ty0: i32,
  ty1: i32,
  tmp: usize,
): void {
  const hOut = gf(g, G_HOUT);
  const wOut = gf(g, G_WOUT);
  const th = ty1 - ty0;
  const tw = tilesW(g);
  const t = th * tw;
  const xyStep = f32s(coutG * t);
  const rows = tmp;
  const fin = tmp + 24 * 16;
  for (let co = 0; co < coutG; co++) {
    const b = bias !== 0 ? f32x4.splat(load<f32>(bias + f32s(co))) : f32x4.splat(0);
    const mc = m + f32s(co * t);
    const oc = out + f32s(co * hOut * wOut);
    for (let ty = 0; ty < th; ty++) {
      for (let tx = 0; tx < tw; tx += 4) {
        const tile = f32s(ty * tw + tx);
        // A^T over x for each y: rows[i][y].
        for (let y = 0; y < 6; y++)
          at6(mc + tile + <usize>y * xyStep, 6 * xyStep, rows + <usize>(y * 16), 96);
        // ... then over y: fin[i][j], lane k = output (4ty + i, 4(tx + k) + j).
        for (let i = 0; i < 4; i++) at6(rows + <usize>(i * 96), 16, fin + <usize>(i * 64), 16);
        const col0 = 4 * tx;
        for (let i = 0; i < 4; i++) {
          const oh = 4 * (ty0 + ty) + i;
          if (oh >= hOut) break;
          const f = fin + <usize>(i * 64);
          const y0 = f32x4.add(v128.load(f), b);
          const y1 = f32x4.add(v128.load(f, 16), b);
          const y2 = f32x4.add(v128.load(f, 32), b);
          const y3 = f32x4.add(v128.load(f, 48), b);
          // Transpose: r_k = the four outputs of tile k in this row (columns 4(tx+k) .. +3).
          const a0 = v128.shuffle<f32>(y0, y1, 0, 4, 1, 5);
          const a1 = v128.shuffle<f32>(y2, y3, 0, 4, 1, 5);
          const a2 = v128.shuffle<f32>(y0, y1, 2, 6, 3, 7);
          const a3 = v128.shuffle<f32>(y2, y3, 2, 6, 3, 7);
          const r0 = v128.shuffle<f32>(a0, a1, 0, 1, 4, 5);
          const r1 = v128.shuffle<f32>(a0, a1, 2, 3, 6, 7);
          const r2 = v128.shuffle<f32>(a2, a3, 0, 1, 4, 5);
          const r3 = v128.shuffle<f32>(a2, a3, 2, 3, 6, 7);
          const o = oc + f32s(oh * wOut + col0);
          if (col0 + 16 <= wOut) {
            v128.store(o, r0);
            v128.store(o, r1, 16);
            v128.store(o, r2, 32);
            v128.store(o, r3, 48);
          } else {
            // Right edge: spill the row through scratch and store the columns inside the image.
            const s = tmp + 40 * 16;
            v128.store(s, r0);
            v128.store(s, r1, 16);
            v128.store(s, r2, 32);
            v128.store(s, r3, 48);
            const n = wOut - col0;
            for (let j = 0; j < n; j++) store<f32>(o + f32s(j), load<f32>(s + f32s(j)));
          }
        }
      }
    }
  }
}

/** U = the transformed weights of w for geometry g (winogradWeightFloats floats); `work` is a workspace. */
export function winogradTransformWeights(g: usize, w: usize, u: usize, work: usize): void {
  transformWeights(w, gf(g, G_COUT), gf(g, G_CIN) / gf(g, G_GROUPS), u, work);
}

/**
 * Forward for tile rows [r0, r1) (numbered n * tilesH + ty; 3x3, stride 1, dilation 1, any padding and
 * groups). `u` holds winogradTransformWeights' output, `bias` is 0 for none, `work` winogradWorkspaceFloats(g)
 * floats of this thread's own, `ws` this thread's gemm workspace.
 */
export function convForwardWinograd(
  g: usize,
  x: usize,
  u: usize,
  bias: usize,
  out: usize,
  work: usize,
  ws: usize,
  r0: i32,
  r1: i32,
): void {
  const cIn = gf(g, G_CIN);
  const cOut = gf(g, G_COUT);
  const groups = gf(g, G_GROUPS);
  const cinG = cIn / groups;
  const coutG = cOut / groups;
  const planeIn = gf(g, G_HIN) * gf(g, G_WIN);
  const planeOut = gf(g, G_HOUT) * gf(g, G_WOUT);
  const th = tilesH(g);
  const tw = tilesW(g);
  if (th <= 0 || r1 <= r0) return;
  const t = th * tw;
  const tmp = work;
  const v = tmp + f32s(TMP_FLOATS);
  const m = v + f32s(36 * cinG * t);
  const pad = m + f32s(36 * coutG * t);
  memory.fill(pad, 0, f32s(planeH(g) * planeW(g)));
  const uPlane = cOut * cinG;
  for (let n = r0 / th; n * th < r1; n++) {
    const ty0 = max<i32>(r0 - n * th, 0);
    const ty1 = min<i32>(r1 - n * th, th);
    const tb = (ty1 - ty0) * tw;
    for (let grp = 0; grp < groups; grp++) {
      transformInput(g, x + f32s((n * cIn + grp * cinG) * planeIn), cinG, ty0, ty1, pad, v, tmp);
      for (let xy = 0; xy < 36; xy++) {
        const a = u + f32s(xy * uPlane + grp * coutG * cinG);
        gemm(
          0,
          0,
          coutG,
          tb,
          cinG,
          1,
          a,
          cinG,
          v + f32s(xy * cinG * tb),
          tb,
          0,
          m + f32s(xy * coutG * tb),
          tb,
          ws,
        );
      }
      const bg = bias !== 0 ? bias + f32s(grp * coutG) : 0;
      transformOutput(g, m, coutG, bg, out + f32s((n * cOut + grp * coutG) * planeOut), ty0, ty1, tmp);
    }
  }
}
