// Winograd F(4x4, 3x3) forward for 3x3, stride-1, undilated convs (Lavin & Gray 2016): each 6x6 input tile
// gives a 4x4 output tile with 36 element-wise products instead of 144 multiply-adds, done as 36 GEMMs
// over channels:  U = G w G^T (per filter), V = B^T d B (per input tile), M_xy = U_xy * V_xy, Y = A^T M A.
// The input and output transforms run on four horizontally adjacent tiles at once, one tile per f32x4
// lane; tile columns are padded to a multiple of four (the extra tiles read zeros and are not stored).
// The 36 GEMMs run on the packed GEMM's micro-kernel directly: the weight transform writes U in its packed-A
// layout (MR-row panels) and the input transform writes V in its packed-B layout (NR-tile panels), so no
// GEMM call repacks them (U would otherwise be repacked for every band and image).
// Threads: the weights are transformed once per call (winogradTransformWeights, into a buffer every thread
// reads); each thread then runs a band of tile rows (numbered n * tilesH + ty across the batch) with its own
// workspace. A band changes no element's arithmetic, so any split equals the one-thread result exactly.

import { kernel4x8, kernel6x8, zeroPackedBTail } from "./gemm";
import { G_CIN, G_COUT, G_GROUPS, G_HIN, G_HOUT, G_PL, G_PT, G_WIN, G_WOUT, gf } from "./geometry";
import { f32s, zeroF32 } from "./simd";
import { MR, NR } from "./tiles";

// U panels are 6 filter rows (one quad of lanes and one pair, transformWeights); a quad of tiles is half
// a V panel row.
assert(MR === 6 && NR === 8);

export function roundUp(v: i32, m: i32): i32 {
  return ((v + m - 1) / m) * m;
}

/**
 * Tile grid of geometry g: rows, columns, and columns rounded up to a multiple of 4 (the transforms run on
 * quads of horizontally adjacent tiles, one per f32x4 lane; the tiles past the last column are computed
 * from zeros and not stored).
 */
export function tilesH(g: usize): i32 {
  return (gf(g, G_HOUT) + 3) >> 2;
}
export function tilesAcross(g: usize): i32 {
  return (gf(g, G_WOUT) + 3) >> 2;
}
export function tilesW(g: usize): i32 {
  return ((tilesAcross(g) + 3) >> 2) << 2;
}

/**
 * GEMM columns (tiles) of a band of `rows` tile rows, whole NR panels. Tiles are numbered densely, row
 * after row (ty * tilesAcross + tx), so the quads' extra tiles cost no GEMM work: the last quad of a row
 * writes its extra lanes over the next row's first tiles, which that row's first quad then overwrites,
 * and the band's last quad writes up to tilesW - tilesAcross columns past the band's tiles.
 */
export function bandColumns(g: usize, rows: i32): i32 {
  const across = tilesAcross(g);
  return roundUp(rows * across + tilesW(g) - across, NR);
}

/** Padded input plane: 6x6 tiles overlapping by 2, plus the 4 floats a transposing load reads past the last tile. */
export function planeW(g: usize): i32 {
  return 4 * tilesW(g) + 4;
}
export function planeH(g: usize): i32 {
  return 4 * tilesH(g) + 2;
}

/**
 * Stride in floats between the 36 planes of U, V or M, for `plane` floats per plane: at least one 64-byte
 * line more, and not a multiple of 4 lines. Natural strides are often multiples of 4 KiB (one L1 way),
 * which maps the 36 rows that one tile's transform loads or stores to a single L1 set, where they evict
 * each other; this way they spread over 32 sets or more (at most two rows a set). Measured: 64 channels
 * 56x56 forward 2.47 -> 2.12 ms against unpadded strides; grouped 3x3 (8 groups of 16 channels, 28x28)
 * 0.60 -> 0.50 ms against a bare one-line pad, whose M stride there was exactly 4 KiB.
 */
export function planeStride(plane: i32): i32 {
  let lines = ((plane + 15) >> 4) + 1;
  if ((lines & 3) === 0) lines++;
  return lines << 4;
}

/** Floats of one plane of U: per group, its filters rounded up to whole MR-row panels, times Cin/groups. */
function uPlane(g: usize): i32 {
  const groups = gf(g, G_GROUPS);
  return groups * roundUp(gf(g, G_COUT) / groups, MR) * (gf(g, G_CIN) / groups);
}

/** Floats of the transformed weights U (36 planes), shared by all threads of a call. */
export function winogradWeightFloats(g: usize): i32 {
  return 36 * planeStride(uPlane(g));
}

/** Floats of scratch for the transforms: 72 vectors at the start of each workspace. */
export const TMP_FLOATS: i32 = 72 * 4;

/**
 * Floats of one thread's workspace: transform scratch, V and M (one image and group), the padded plane.
 * (The scratch lives here, not in static data: threads share the static data, and instantiating the module
 * in a new worker rewrites it.)
 */
export function winogradWorkspaceFloats(g: usize): i32 {
  const groups = gf(g, G_GROUPS);
  const cinG = gf(g, G_CIN) / groups;
  const coutG = gf(g, G_COUT) / groups;
  const t = bandColumns(g, tilesH(g));
  return (
    TMP_FLOATS + 36 * planeStride(cinG * t) + 36 * planeStride(roundUp(coutG, MR) * t) + planeH(g) * planeW(g)
  );
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

/**
 * out[xy] (36 vectors) = (G k G^T)[x][y] of four 3x3 filters, filter r (9 floats at p_r) in lane r; `gk` is
 * 18 vectors of scratch.
 */
function transformFilters(p0: usize, p1: usize, p2: usize, p3: usize, gk: usize, out: usize): void {
  // Columns of k through G: gk[i][j].
  for (let j = 0; j < 3; j++) {
    const o = f32s(j);
    let a = v128.load32_splat(p0 + o);
    a = f32x4.replace_lane(a, 1, load<f32>(p1 + o));
    a = f32x4.replace_lane(a, 2, load<f32>(p2 + o));
    a = f32x4.replace_lane(a, 3, load<f32>(p3 + o));
    let b = v128.load32_splat(p0 + o, 12);
    b = f32x4.replace_lane(b, 1, load<f32>(p1 + o, 12));
    b = f32x4.replace_lane(b, 2, load<f32>(p2 + o, 12));
    b = f32x4.replace_lane(b, 3, load<f32>(p3 + o, 12));
    let c = v128.load32_splat(p0 + o, 24);
    c = f32x4.replace_lane(c, 1, load<f32>(p1 + o, 24));
    c = f32x4.replace_lane(c, 2, load<f32>(p2 + o, 24));
    c = f32x4.replace_lane(c, 3, load<f32>(p3 + o, 24));
    g6(a, b, c, gk + <usize>(j * 16), 48);
  }
  // Rows of G k through G: out[i][y].
  for (let i = 0; i < 6; i++) {
    const r = gk + <usize>(i * 48);
    g6(v128.load(r), v128.load(r, 16), v128.load(r, 32), out + <usize>(i * 96), 16);
  }
}

/**
 * U[xy] = (G w[co][ci] G^T)[x][y] for all filters, in packed-A layout: per group, panels of MR (6) filter
 * rows co, zero past the group's last, each panel Cin/groups runs of 6 floats (run ci = the panel's rows at
 * ci). Four filters per transform, one per lane: rows 0-3 of a panel at one ci, then rows 4-5 at two ci.
 */
function transformWeights(w: usize, groups: i32, coutG: i32, cinG: i32, u: usize, tmp: usize): void {
  const coutP = roundUp(coutG, MR);
  const stride = <usize>f32s(planeStride(groups * coutP * cinG));
  const gk = tmp; // 6 x 3 vectors: G k
  const out = tmp + 18 * 16; // 6 x 6 vectors: G k G^T
  const zero = out + 36 * 16; // a zero filter for the lanes of rows past the group's last
  zeroF32(zero, 12);
  for (let grp = 0; grp < groups; grp++) {
    for (let cb = 0; cb < coutG; cb += MR) {
      const rows = min<i32>(MR, coutG - cb);
      const first = w + f32s((grp * coutG + cb) * cinG * 9);
      const step = f32s(cinG * 9); // bytes from filter (co, ci) to (co + 1, ci)
      const f0 = first;
      const f1 = rows > 1 ? first + step : zero;
      const f2 = rows > 2 ? first + 2 * step : zero;
      const f3 = rows > 3 ? first + 3 * step : zero;
      const panel = u + f32s((grp * coutP + cb) * cinG);
      for (let ci = 0; ci < cinG; ci++) {
        const o = f32s(ci * 9);
        transformFilters(
          f0 + o,
          rows > 1 ? f1 + o : zero,
          rows > 2 ? f2 + o : zero,
          rows > 3 ? f3 + o : zero,
          gk,
          out,
        );
        const dst = panel + f32s(ci * MR);
        for (let xy = 0; xy < 36; xy++)
          v128.store(dst + <usize>xy * stride, v128.load(out + <usize>(xy * 16)));
      }
      // Rows 4 and 5: lanes (row 4, ci), (row 5, ci), (row 4, ci + 1), (row 5, ci + 1).
      const f4 = rows > 4 ? first + 4 * step : zero;
      const f5 = rows > 5 ? first + 5 * step : zero;
      for (let ci = 0; ci < cinG; ci += 2) {
        const o = f32s(ci * 9);
        const next = ci + 1 < cinG;
        const a4 = rows > 4 ? f4 + o : zero;
        const a5 = rows > 5 ? f5 + o : zero;
        const b4 = rows > 4 && next ? f4 + o + 36 : zero;
        const b5 = rows > 5 && next ? f5 + o + 36 : zero;
        transformFilters(a4, a5, b4, b5, gk, out);
        const dst = panel + f32s(ci * MR + 4);
        for (let xy = 0; xy < 36; xy++) {
          const v = v128.load(out + <usize>(xy * 16));
          v128.store64_lane(dst + <usize>xy * stride, v, 0);
          if (next) v128.store64_lane(dst + <usize>xy * stride, v, 1, 4 * MR);
        }
      }
    }
  }
}

/** B^T applied to six vectors d0 .. d5, written at q, q + qs, ..., q + 5 qs. */
function bt6(d0: v128, d1: v128, d2: v128, d3: v128, d4: v128, d5: v128, q: usize, qs: usize): void {
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
 * Stores v at q0, or when a quad of tiles straddles two V panels, its first `split` lanes at q0 and the
 * rest at q1 (the next panel's row).
 */
function storeQuad(q0: usize, q1: usize, v: v128, split: i32): void {
  if (split >= 4) {
    v128.store(q0, v);
  } else if (split === 2) {
    v128.store64_lane(q0, v, 0);
    v128.store64_lane(q1, v, 1);
  } else if (split === 1) {
    v128.store32_lane(q0, v, 0);
    v128.store32_lane(q1, v, 1);
    v128.store64_lane(q1, v, 1, 4);
  } else {
    v128.store64_lane(q0, v, 0);
    v128.store32_lane(q0, v, 2, 8);
    v128.store32_lane(q1, v, 3);
  }
}

/** bt6 whose results go to V panels through storeQuad (q1 = q0's counterpart in the next panel). */
function bt6Packed(p: usize, ps: usize, q0: usize, q1: usize, qs: usize, split: i32): void {
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
  storeQuad(q0, q1, f32x4.add(f32x4.sub(f32x4.mul(four, d0), f32x4.mul(five, d2)), d4), split);
  storeQuad(q0 + qs, q1 + qs, f32x4.add(t1, t2), split);
  storeQuad(q0 + 2 * qs, q1 + 2 * qs, f32x4.sub(t1, t2), split);
  storeQuad(q0 + 3 * qs, q1 + 3 * qs, f32x4.add(t3, t4), split);
  storeQuad(q0 + 4 * qs, q1 + 4 * qs, f32x4.sub(t3, t4), split);
  storeQuad(
    q0 + 5 * qs,
    q1 + 5 * qs,
    f32x4.add(f32x4.sub(f32x4.mul(four, d1), f32x4.mul(five, d3)), d5),
    split,
  );
}

/**
 * V[xy] = (B^T d B)[x][y] for every tile t of tile rows [ty0, ty1) of channels [0, cinG) of x, in packed-B
 * layout: panels of NR tiles (numbered as bandColumns says), each cinG rows of NR floats (row ci = the
 * panel's tiles in channel ci), or with `rowFloats` > 0 in plain rows (tile t of channel ci at
 * ci * rowFloats + t, for the weight gradient's GEMMs); the 36 planes are `xyStride` floats apart. `pad`
 * holds the padded rows of that band (4 (ty1 - ty0) + 2 rows of planeW); its left and right borders are
 * zero (cleared once per call) and the rows outside the image are cleared here, so only the interior is
 * rewritten per channel.
 */
export function transformInput(
  g: usize,
  x: usize,
  cinG: i32,
  ty0: i32,
  ty1: i32,
  pad: usize,
  v: usize,
  xyStride: i32,
  tmp: usize,
  rowFloats: i32,
): void {
  const hIn = gf(g, G_HIN);
  const wIn = gf(g, G_WIN);
  const pT = gf(g, G_PT);
  const pL = gf(g, G_PL);
  const th = ty1 - ty0;
  const tw = tilesW(g);
  const across = tilesAcross(g);
  const pw = planeW(g);
  const xyStep = f32s(xyStride);
  const rows = tmp;
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
    const vc = v + f32s(ci * NR);
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
          // d B straight from the registers: rows[i][y] = sum_j d[i][j] B[j][y].
          bt6(
            v128.shuffle<f32>(a0, a1, 0, 1, 4, 5),
            v128.shuffle<f32>(a0, a1, 2, 3, 6, 7),
            v128.shuffle<f32>(a2, a3, 0, 1, 4, 5),
            v128.shuffle<f32>(a2, a3, 2, 3, 6, 7),
            v128.shuffle<f32>(b0, b1, 0, 1, 4, 5),
            v128.shuffle<f32>(b0, b1, 2, 3, 6, 7),
            rows + <usize>(i * 96),
            16,
          );
        }
        // B^T (d B): column y of rows -> V[x*6 + y] for x = 0 .. 5, tiles t0 .. t0+3 of row ci.
        const t0 = ty * across + tx;
        const plain = rowFloats > 0;
        const q0 = plain
          ? v + f32s(ci * rowFloats + t0)
          : vc + f32s((t0 & ~(NR - 1)) * cinG + (t0 & (NR - 1)));
        const q1 = vc + f32s(((t0 & ~(NR - 1)) + NR) * cinG);
        const split = plain ? 4 : NR - (t0 & (NR - 1));
        for (let y = 0; y < 6; y++) {
          const o = <usize>y * xyStep;
          bt6Packed(rows + <usize>(y * 16), 96, q0 + o, q1 + o, 6 * xyStep, split);
        }
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

/**
 * out[co] = (A^T M A) + bias for every tile of tile rows [ty0, ty1), four tiles (one per lane) at a time.
 * M[xy][co][t] has rows of `rowFloats` floats, planes `xyStride` floats apart.
 */
function transformOutput(
  g: usize,
  m: usize,
  coutG: i32,
  rowFloats: i32,
  xyStride: i32,
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
  const across = tilesAcross(g);
  const xyStep = f32s(xyStride);
  const rows = tmp;
  const fin = tmp + 24 * 16;
  for (let co = 0; co < coutG; co++) {
    const b = bias !== 0 ? f32x4.splat(load<f32>(bias + f32s(co))) : f32x4.splat(0);
    const mc = m + f32s(co * rowFloats);
    const oc = out + f32s(co * hOut * wOut);
    for (let ty = 0; ty < th; ty++) {
      for (let tx = 0; tx < tw; tx += 4) {
        const tile = f32s(ty * across + tx);
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
  const groups = gf(g, G_GROUPS);
  transformWeights(w, groups, gf(g, G_COUT) / groups, gf(g, G_CIN) / groups, u, work);
}

/**
 * Forward for tile rows [r0, r1) (numbered n * tilesH + ty; 3x3, stride 1, dilation 1, any padding and
 * groups). `u` holds winogradTransformWeights' output, `bias` is 0 for none, `work` winogradWorkspaceFloats(g)
 * floats of this thread's own.
 */
export function convForwardWinograd(
  g: usize,
  x: usize,
  u: usize,
  bias: usize,
  out: usize,
  work: usize,
  r0: i32,
  r1: i32,
): void {
  const cIn = gf(g, G_CIN);
  const cOut = gf(g, G_COUT);
  const groups = gf(g, G_GROUPS);
  const cinG = cIn / groups;
  const coutG = cOut / groups;
  const coutP = roundUp(coutG, MR);
  const planeIn = gf(g, G_HIN) * gf(g, G_WIN);
  const planeOut = gf(g, G_HOUT) * gf(g, G_WOUT);
  const th = tilesH(g);
  if (th <= 0 || r1 <= r0) return;
  const across = tilesAcross(g);
  const tw = tilesW(g);
  const t = bandColumns(g, th);
  const tmp = work;
  const v = tmp + f32s(TMP_FLOATS);
  const m = v + f32s(36 * planeStride(cinG * t));
  const pad = m + f32s(36 * planeStride(coutP * t));
  memory.fill(pad, 0, f32s(planeH(g) * planeW(g)));
  const uStride = f32s(planeStride(uPlane(g)));
  for (let n = r0 / th; n * th < r1; n++) {
    const ty0 = max<i32>(r0 - n * th, 0);
    const ty1 = min<i32>(r1 - n * th, th);
    const tb = bandColumns(g, ty1 - ty0);
    const written = (ty1 - ty0) * across + tw - across;
    const vStride = planeStride(cinG * tb);
    const mStride = planeStride(coutP * tb);
    const ldm = f32s(tb);
    for (let grp = 0; grp < groups; grp++) {
      transformInput(g, x + f32s((n * cIn + grp * cinG) * planeIn), cinG, ty0, ty1, pad, v, vStride, tmp, 0);
      // The band's tiles end inside its last NR panel: zero the rest of that panel, so the GEMM multiplies
      // zeros there rather than what an earlier call left. Those columns are never stored, but a stale
      // subnormal costs a microcode assist per multiply on some CPUs (calls measured 60x slower).
      if (written < tb) {
        for (let xy = 0; xy < 36; xy++) zeroPackedBTail(v + f32s(xy * vStride), cinG, written);
      }
      const ug = u + f32s(grp * coutP * cinG);
      for (let xy = 0; xy < 36; xy++) {
        const ux = ug + <usize>xy * uStride;
        const vx = v + f32s(xy * vStride);
        const mx = m + f32s(xy * mStride);
        // M_xy = U_xy V_xy, one NR-tile panel of V at a time (it stays in L1 while U_xy's panels pass).
        for (let jp = 0; jp < tb; jp += NR) {
          const bp = vx + f32s(jp * cinG);
          for (let ip = 0; ip < coutP; ip += MR) {
            const pa = ux + f32s(ip * cinG);
            const pm = mx + f32s(ip * tb + jp);
            if (coutG - ip > 4) kernel6x8(cinG, pa, bp, pm, ldm, 0);
            else kernel4x8(cinG, pa, bp, pm, ldm, 0);
          }
        }
      }
      const bg = bias !== 0 ? bias + f32s(grp * coutG) : 0;
      transformOutput(
        g,
        m,
        coutG,
        tb,
        mStride,
        bg,
        out + f32s((n * cOut + grp * coutG) * planeOut),
        ty0,
        ty1,
        tmp,
      );
    }
  }
}
