// Deformable convolution (torchvision's deform_conv2d, v1 and v2) as "sample once, then GEMM", the same
// algorithm as src/kernels/deform-columns.ts (read its comment first), here over the module's memory so that
// the sampling runs as WebAssembly and the column matrix never leaves it for the GEMM.
//
// Layouts (the loader, src/kernels/wasm/deform.ts, writes and reads them):
// - geometry: the conv block of geometry.ts plus field G_OG = offset groups;
// - input and input gradient: planes of H*W floats at a stride of H*W + 1, the extra float being the "zero
//   slot" that corners outside the image point at (the input's is 0; the gradient's collects junk nobody
//   reads). Outside corners thus need no test and add exactly 0, even beside NaN or infinite pixels;
// - sampling plan of one image: per (offset group o, tap k) a row of nb = ceil(Hout*Wout / 4) blocks, each
//   block holding 4 consecutive output pixels lane by lane: corner indices [4 corners x 4 lanes] (i32),
//   weights times mask [4 x 4] and, for backward, [12 x 4] slopes (dy x 4 corners, dx x 4, unmasked x 4).
//   Lane-major blocks let one f32x4 multiply-add serve four pixels; the last block's spare lanes point at
//   the zero slot with weight 0.
// - offset and mask gradient sums: per (o, k) a row of nb * 4 floats, written out once per image;
// - forward columns: packed in the GEMM's panels; when the channels of every weight group and offset group
//   come in fours, filled from a channel-last copy of the image ((H*W + 1) pixels x Cin, the last pixel the
//   zero slot) so that each corner gathers four channels in one load (deformForwardColumnFloats).
// The plan is computed in float64 as in TypeScript, so both paths use the very same float32 weights.

import { gemm, gemmPackedB, packedBOffset, zeroPackedBTail } from "./gemm";
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
  G_PL,
  G_PT,
  G_SH,
  G_SW,
  G_WIN,
  G_WOUT,
  gf,
} from "./geometry";
import { addF32, copyF32, f32s, fmadd, storeTransposed4, zeroF32 } from "./simd";
import { NR } from "./tiles";

/** Offset groups: the field after the conv geometry block's 18. */
export const G_OG: i32 = 18;

function blocksOf(g: usize): i32 {
  return (gf(g, G_HOUT) * gf(g, G_WOUT) + 3) >> 2;
}

/** Floats (or i32s) per plan array of one image: offsetGroups * kH*kW * nb blocks of 4 lanes, per corner. */
export function deformPlanFloats(g: usize): i32 {
  return gf(g, G_OG) * gf(g, G_KH) * gf(g, G_KW) * blocksOf(g) * 16;
}

/** Floats of one offset or mask gradient accumulator (one image). */
export function deformSumFloats(g: usize): i32 {
  return gf(g, G_OG) * gf(g, G_KH) * gf(g, G_KW) * blocksOf(g) * 4;
}

/**
 * Floats of a column matrix of one weight group: (Cin/groups * kH*kW) x Hout*Wout, pixels rounded up to
 * whole NR-column panels for the forward's packed layout.
 */
export function deformColumnFloats(g: usize): i32 {
  return (
    (gf(g, G_CIN) / gf(g, G_GROUPS)) * gf(g, G_KH) * gf(g, G_KW) * (gf(g, G_HOUT) * gf(g, G_WOUT) + NR - 1)
  );
}

/** True when the forward can gather four channels at a time (see fillColumnsChannelLast). */
function channelQuads(g: usize): bool {
  const cIn = gf(g, G_CIN);
  return (cIn / gf(g, G_GROUPS)) % 4 === 0 && (cIn / gf(g, G_OG)) % 4 === 0;
}

/** Floats of the channel-last copy of one image: (H*W + 1) pixels of Cin floats, the last pixel zero. */
function channelLastFloats(g: usize): i32 {
  return (gf(g, G_HIN) * gf(g, G_WIN) + 1) * gf(g, G_CIN);
}

/**
 * Floats of the forward's column workspace: the packed column matrix (deformColumnFloats) and, when
 * channels go four at a time, the image's channel-last copy and a scratch of 4 x Cin floats after it.
 */
export function deformForwardColumnFloats(g: usize): i32 {
  const cols = (deformColumnFloats(g) + 3) & ~3;
  return channelQuads(g) ? cols + channelLastFloats(g) + 4 * gf(g, G_CIN) : cols;
}

/**
 * Builds image n's plan: `idx` and `wt` of deformPlanFloats(g) each, and `slopes` (3 times that) when
 * `withSlopes`. Same arithmetic as buildSamplingPlan in src/kernels/deform-columns.ts.
 */
function buildPlan(
  g: usize,
  offset: usize,
  mask: usize,
  hasMask: bool,
  n: i32,
  idx: usize,
  wt: usize,
  slopes: usize,
  withSlopes: bool,
): void {
  const og = gf(g, G_OG);
  const kH = gf(g, G_KH);
  const kW = gf(g, G_KW);
  const kk = kH * kW;
  const wOut = gf(g, G_WOUT);
  const hw = gf(g, G_HOUT) * wOut;
  const nb = blocksOf(g);
  const hIn = gf(g, G_HIN);
  const wIn = gf(g, G_WIN);
  const sH = gf(g, G_SH);
  const sW = gf(g, G_SW);
  const dH = gf(g, G_DH);
  const dW = gf(g, G_DW);
  const pT = gf(g, G_PT);
  const pL = gf(g, G_PL);
  const zero = hIn * wIn;
  const hInF = <f64>hIn;
  const wInF = <f64>wIn;
  for (let o = 0; o < og; o++) {
    const offBase = (n * og + o) * 2 * kk * hw;
    const maskBase = (n * og + o) * kk * hw;
    for (let i = 0; i < kH; i++) {
      for (let j = 0; j < kW; j++) {
        const k = i * kW + j;
        const dyAt = offset + f32s(offBase + 2 * k * hw);
        const dxAt = dyAt + f32s(hw);
        const maskAt = mask + f32s(maskBase + k * hw);
        const rowBlock = (o * kk + k) * nb;
        for (let p = 0; p < nb * 4; p++) {
          const lane = f32s(16 * (rowBlock + (p >> 2)) + (p & 3));
          const ib = idx + lane;
          const wb = wt + lane;
          // Defaults: all four corners at the zero slot, weight and slopes 0.
          for (let r = 0; r < 4; r++) {
            store<i32>(ib + f32s(4 * r), zero);
            store<f32>(wb + f32s(4 * r), 0);
          }
          const sb = slopes + f32s(48 * (rowBlock + (p >> 2)) + (p & 3));
          if (withSlopes) for (let r = 0; r < 12; r++) store<f32>(sb + f32s(4 * r), 0);
          if (p >= hw) continue;
          const oh = p / wOut;
          const ow = p - oh * wOut;
          const y = <f64>(oh * sH - pT + i * dH) + <f64>load<f32>(dyAt + f32s(p));
          const x = <f64>(ow * sW - pL + j * dW) + <f64>load<f32>(dxAt + f32s(p));
          // No corner is inside unless -1 <= y < H and -1 <= x < W; also keeps NaN away from the indices.
          if (!(y >= -1 && y < hInF && x >= -1 && x < wInF)) continue;
          const m: f64 = hasMask ? <f64>load<f32>(maskAt + f32s(p)) : 1;
          const y0 = Math.floor(y);
          const x0 = Math.floor(x);
          const ly = y - y0;
          const lx = x - x0;
          const iy0 = <i32>y0;
          const ix0 = <i32>x0;
          const inY0 = iy0 >= 0;
          const inY1 = iy0 + 1 < hIn;
          const inX0 = ix0 >= 0;
          const inX1 = ix0 + 1 < wIn;
          const at = iy0 * wIn + ix0;
          if (inY0 && inX0) store<i32>(ib, at);
          if (inY0 && inX1) store<i32>(ib + 16, at + 1);
          if (inY1 && inX0) store<i32>(ib + 32, at + wIn);
          if (inY1 && inX1) store<i32>(ib + 48, at + wIn + 1);
          const w00 = (1 - ly) * (1 - lx);
          const w01 = (1 - ly) * lx;
          const w10 = ly * (1 - lx);
          const w11 = ly * lx;
          store<f32>(wb, <f32>(m * w00));
          store<f32>(wb + 16, <f32>(m * w01));
          store<f32>(wb + 32, <f32>(m * w10));
          store<f32>(wb + 48, <f32>(m * w11));
          if (!withSlopes) continue;
          store<f32>(sb, <f32>(-m * (1 - lx)));
          store<f32>(sb + 16, <f32>(-m * lx));
          store<f32>(sb + 32, <f32>(m * (1 - lx)));
          store<f32>(sb + 48, <f32>(m * lx));
          store<f32>(sb + 64, <f32>(-m * (1 - ly)));
          store<f32>(sb + 80, <f32>(m * (1 - ly)));
          store<f32>(sb + 96, <f32>(-m * ly));
          store<f32>(sb + 112, <f32>(m * ly));
          store<f32>(sb + 128, <f32>w00);
          store<f32>(sb + 144, <f32>w01);
          store<f32>(sb + 160, <f32>w10);
          store<f32>(sb + 176, <f32>w11);
        }
      }
    }
  }
}

/** The four pixels of `plane` at the lane indices of the 4 i32 at `ib`. */
function gather(plane: usize, ib: usize): v128 {
  let v = f32x4.splat(load<f32>(plane + f32s(load<i32>(ib))));
  v = f32x4.replace_lane(v, 1, load<f32>(plane + f32s(load<i32>(ib, 4))));
  v = f32x4.replace_lane(v, 2, load<f32>(plane + f32s(load<i32>(ib, 8))));
  return f32x4.replace_lane(v, 3, load<f32>(plane + f32s(load<i32>(ib, 12))));
}

/** One plan pixel (block `b`, lane `r`) sampled from `plane`: the sum over corners of weight x pixel. */
function sampleOne(plane: usize, idx: usize, wt: usize, b: i32, r: i32): f32 {
  const lane = f32s(16 * b + r);
  let s: f32 = 0;
  for (let c = 0; c < 4; c++) {
    const q = lane + f32s(4 * c);
    s += load<f32>(wt + q) * load<f32>(plane + f32s(load<i32>(idx + q)));
  }
  return s;
}

/**
 * Column matrix of weight group `grp` of image n: row cl*kH*kW + k, column p = sample of channel cl, tap k.
 * Channels sharing an offset group share the plan, so a block's indices and weights are loaded once and
 * serve every such channel (the inner loop), rather than once per channel.
 */
function fillColumns(
  g: usize,
  x: usize,
  n: i32,
  grp: i32,
  idx: usize,
  wt: usize,
  col: usize,
  panels: bool,
): void {
  const cIn = gf(g, G_CIN);
  const cinG = cIn / gf(g, G_GROUPS);
  const cPerOg = cIn / gf(g, G_OG);
  const kk = gf(g, G_KH) * gf(g, G_KW);
  const hw = gf(g, G_HOUT) * gf(g, G_WOUT);
  const nb = blocksOf(g);
  const full = hw >> 2;
  const stride = gf(g, G_HIN) * gf(g, G_WIN) + 1;
  // Row layout: row r at r * hw. Panels (the forward GEMM's packed B, see gemmPackedB): pixel p of row r
  // at ((p / 8) * rows + r) * 8 + p % 8, so one channel step is kk * 8 floats further.
  const rows = cinG * kk;
  const rowBytes = panels ? f32s(kk * NR) : f32s(kk * hw);
  // Channels [c0, c1) of this weight group that fall in one offset group.
  for (let c0 = grp * cinG; c0 < (grp + 1) * cinG; ) {
    const o = c0 / cPerOg;
    const c1 = min((o + 1) * cPerOg, (grp + 1) * cinG);
    const plane0 = x + f32s((n * cIn + c0) * stride);
    for (let k = 0; k < kk; k++) {
      const rowBlock = (o * kk + k) * nb;
      // Row of channel c0's tap k; the segment's later channels follow kk rows apart.
      const r0 = (c0 - grp * cinG) * kk + k;
      for (let b = 0; b < full; b++) {
        const at = f32s(16 * (rowBlock + b));
        const ib = idx + at;
        const wb = wt + at;
        const w0 = v128.load(wb);
        const w1 = v128.load(wb, 16);
        const w2 = v128.load(wb, 32);
        const w3 = v128.load(wb, 48);
        const i00 = f32s(load<i32>(ib));
        const i01 = f32s(load<i32>(ib, 4));
        const i02 = f32s(load<i32>(ib, 8));
        const i03 = f32s(load<i32>(ib, 12));
        const i10 = f32s(load<i32>(ib, 16));
        const i11 = f32s(load<i32>(ib, 20));
        const i12 = f32s(load<i32>(ib, 24));
        const i13 = f32s(load<i32>(ib, 28));
        const i20 = f32s(load<i32>(ib, 32));
        const i21 = f32s(load<i32>(ib, 36));
        const i22 = f32s(load<i32>(ib, 40));
        const i23 = f32s(load<i32>(ib, 44));
        const i30 = f32s(load<i32>(ib, 48));
        const i31 = f32s(load<i32>(ib, 52));
        const i32_ = f32s(load<i32>(ib, 56));
        const i33 = f32s(load<i32>(ib, 60));
        let plane = plane0;
        let dst = col + f32s(panels ? packedBOffset(rows, r0, 4 * b) : r0 * hw + 4 * b);
        for (let c = c0; c < c1; c++) {
          let v0 = f32x4.splat(load<f32>(plane + i00));
          v0 = f32x4.replace_lane(v0, 1, load<f32>(plane + i01));
          v0 = f32x4.replace_lane(v0, 2, load<f32>(plane + i02));
          v0 = f32x4.replace_lane(v0, 3, load<f32>(plane + i03));
          let v1 = f32x4.splat(load<f32>(plane + i10));
          v1 = f32x4.replace_lane(v1, 1, load<f32>(plane + i11));
          v1 = f32x4.replace_lane(v1, 2, load<f32>(plane + i12));
          v1 = f32x4.replace_lane(v1, 3, load<f32>(plane + i13));
          let v2 = f32x4.splat(load<f32>(plane + i20));
          v2 = f32x4.replace_lane(v2, 1, load<f32>(plane + i21));
          v2 = f32x4.replace_lane(v2, 2, load<f32>(plane + i22));
          v2 = f32x4.replace_lane(v2, 3, load<f32>(plane + i23));
          let v3 = f32x4.splat(load<f32>(plane + i30));
          v3 = f32x4.replace_lane(v3, 1, load<f32>(plane + i31));
          v3 = f32x4.replace_lane(v3, 2, load<f32>(plane + i32_));
          v3 = f32x4.replace_lane(v3, 3, load<f32>(plane + i33));
          let v = f32x4.mul(w0, v0);
          v = fmadd(w1, v1, v);
          v = fmadd(w2, v2, v);
          v = fmadd(w3, v3, v);
          v128.store(dst, v);
          plane += f32s(stride);
          dst += rowBytes;
        }
      }
      for (let p = full * 4; p < hw; p++) {
        let plane = plane0;
        let dst = col + f32s(panels ? packedBOffset(rows, r0, p) : r0 * hw + p);
        for (let c = c0; c < c1; c++) {
          store<f32>(dst, sampleOne(plane, idx, wt, rowBlock + (p >> 2), p & 3));
          plane += f32s(stride);
          dst += rowBytes;
        }
      }
    }
    c0 = c1;
  }
  if (panels) zeroPackedBTail(col, rows, hw);
}

/**
 * Image n's input planes (at a stride of H*W + 1) copied channel-last: pixel p's Cin channels at xh + p*Cin,
 * and the zero slot's (pixel H*W) all 0, so that a corner index serves every channel. Cin is a multiple of
 * 4: 4x4 blocks of (channel, pixel) are transposed with shuffles.
 */
function toChannelLast(g: usize, x: usize, n: i32, xh: usize): void {
  const cIn = gf(g, G_CIN);
  const hwIn = gf(g, G_HIN) * gf(g, G_WIN);
  const stride = hwIn + 1;
  const row = f32s(cIn);
  for (let c = 0; c < cIn; c += 4) {
    const p0 = x + f32s((n * cIn + c) * stride);
    const p1 = p0 + f32s(stride);
    const p2 = p1 + f32s(stride);
    const p3 = p2 + f32s(stride);
    let d = xh + f32s(c);
    let p = 0;
    for (; p + 4 <= hwIn; p += 4) {
      const o = f32s(p);
      storeTransposed4(v128.load(p0 + o), v128.load(p1 + o), v128.load(p2 + o), v128.load(p3 + o), d, row);
      d += 4 * row;
    }
    for (; p < hwIn; p++) {
      const o = f32s(p);
      store<f32>(d, load<f32>(p0 + o));
      store<f32>(d, load<f32>(p1 + o), 4);
      store<f32>(d, load<f32>(p2 + o), 8);
      store<f32>(d, load<f32>(p3 + o), 12);
      d += row;
    }
    v128.store(d, f32x4.splat(0));
  }
}

/**
 * fillColumns into panels from the channel-last copy xh: a corner index and weight serve four channels
 * with one vector load and one multiply-add, where the plane-by-plane fill gathers each channel's four
 * pixels a lane at a time (16 scalar loads per four outputs). The same products in the same order, so the
 * same bits. Each block's four pixels x the segment's channels go to `scratch` pixel by pixel, then are
 * transposed four channels at a time into the panels.
 */
function fillColumnsChannelLast(
  g: usize,
  xh: usize,
  grp: i32,
  idx: usize,
  wt: usize,
  col: usize,
  scratch: usize,
): void {
  const cIn = gf(g, G_CIN);
  const cinG = cIn / gf(g, G_GROUPS);
  const cPerOg = cIn / gf(g, G_OG);
  const kk = gf(g, G_KH) * gf(g, G_KW);
  const nb = blocksOf(g);
  const rows = cinG * kk;
  const pixel = cIn * 4;
  const channelStep = f32s(4 * kk * NR);
  for (let c0 = grp * cinG; c0 < (grp + 1) * cinG; ) {
    const o = c0 / cPerOg;
    const c1 = min((o + 1) * cPerOg, (grp + 1) * cinG);
    const quads = (c1 - c0) >> 2;
    const base = xh + f32s(c0);
    for (let k = 0; k < kk; k++) {
      const rowBlock = (o * kk + k) * nb;
      // Panel row of channel c0's tap k; the segment's later channels follow kk rows apart.
      const r0 = (c0 - grp * cinG) * kk + k;
      for (let b = 0; b < nb; b++) {
        const at = f32s(16 * (rowBlock + b));
        for (let l = 0; l < 4; l++) {
          const ib = idx + at + f32s(l);
          const wb = wt + at + f32s(l);
          const s0 = v128.load32_splat(wb);
          const s1 = v128.load32_splat(wb, 16);
          const s2 = v128.load32_splat(wb, 32);
          const s3 = v128.load32_splat(wb, 48);
          let a0 = base + <usize>(load<i32>(ib) * pixel);
          let a1 = base + <usize>(load<i32>(ib, 16) * pixel);
          let a2 = base + <usize>(load<i32>(ib, 32) * pixel);
          let a3 = base + <usize>(load<i32>(ib, 48) * pixel);
          let d = scratch + f32s(4 * l);
          for (let q = 0; q < quads; q++) {
            let v = f32x4.mul(s0, v128.load(a0));
            v = fmadd(s1, v128.load(a1), v);
            v = fmadd(s2, v128.load(a2), v);
            v = fmadd(s3, v128.load(a3), v);
            v128.store(d, v);
            a0 += 16;
            a1 += 16;
            a2 += 16;
            a3 += 16;
            d += 64;
          }
        }
        // Pixel-major quads -> channel rows of the panel (the block is half a panel row).
        let dst = col + f32s(packedBOffset(rows, r0, 4 * b));
        let src = scratch;
        for (let q = 0; q < quads; q++) {
          const x0 = v128.load(src);
          const x1 = v128.load(src, 16);
          const x2 = v128.load(src, 32);
          const x3 = v128.load(src, 48);
          storeTransposed4(x0, x1, x2, x3, dst, f32s(kk * NR));
          dst += channelStep;
          src += 64;
        }
      }
    }
    c0 = c1;
  }
}

/**
 * Forward of images [n0, n1): their out [N, Cout, Hout, Wout] planes (overwritten) from x (strided planes,
 * see above), offset, mask (0: none, v1), weight and bias (when hasBias). idx, wt: plan arrays; col: a
 * column matrix; ws: the GEMM workspace (all four the calling thread's own: threads split by image).
 */
export function deformForward(
  g: usize,
  x: usize,
  offset: usize,
  mask: usize,
  weight: usize,
  bias: usize,
  hasBias: i32,
  out: usize,
  idx: usize,
  wt: usize,
  col: usize,
  ws: usize,
  n0: i32,
  n1: i32,
): void {
  const cOut = gf(g, G_COUT);
  const groups = gf(g, G_GROUPS);
  const coutG = cOut / groups;
  const rows = (gf(g, G_CIN) / groups) * gf(g, G_KH) * gf(g, G_KW);
  const hw = gf(g, G_HOUT) * gf(g, G_WOUT);
  const quads = channelQuads(g);
  const xh = col + f32s((deformColumnFloats(g) + 3) & ~3);
  const scratch = xh + f32s(channelLastFloats(g));
  for (let n = n0; n < n1; n++) {
    buildPlan(g, offset, mask, mask !== 0, n, idx, wt, 0, false);
    if (quads) toChannelLast(g, x, n, xh);
    for (let grp = 0; grp < groups; grp++) {
      // Filled straight into the GEMM's packed panels (a copy of the matrix fewer).
      if (quads) {
        fillColumnsChannelLast(g, xh, grp, idx, wt, col, scratch);
        zeroPackedBTail(col, rows, hw);
      } else {
        fillColumns(g, x, n, grp, idx, wt, col, true);
      }
      const outG = out + f32s((n * cOut + grp * coutG) * hw);
      gemmPackedB(coutG, hw, rows, weight + f32s(grp * coutG * rows), rows, col, 0, outG, hw, ws);
    }
    if (hasBias === 0) continue;
    for (let co = 0; co < cOut; co++) {
      const b = f32x4.splat(load<f32>(bias + f32s(co)));
      const at = out + f32s((n * cOut + co) * hw);
      let p = 0;
      for (; p + 4 <= hw; p += 4) v128.store(at + f32s(p), f32x4.add(v128.load(at + f32s(p)), b));
      for (; p < hw; p++) store<f32>(at + f32s(p), load<f32>(at + f32s(p)) + f32x4.extract_lane(b, 0));
    }
  }
}

/**
 * Sends the column gradients of weight group `grp` of image n back through the plan: into the input
 * gradient planes (when gradX is not 0) and, summed over the group's channels per (offset group, tap,
 * pixel), into dy, dx (slopes x pixels) and dm (unmasked weights x pixels) when withSums. As in
 * fillColumns, channels sharing an offset group are the inner loop: a block's plan is loaded once and its
 * three sums stay in registers until the last channel.
 */
function scatterColumns(
  g: usize,
  x: usize,
  n: i32,
  grp: i32,
  idx: usize,
  wt: usize,
  slopes: usize,
  gradCol: usize,
  gradX: usize,
  withSums: bool,
  dy: usize,
  dx: usize,
  dm: usize,
): void {
  const cIn = gf(g, G_CIN);
  const cinG = cIn / gf(g, G_GROUPS);
  const cPerOg = cIn / gf(g, G_OG);
  const kk = gf(g, G_KH) * gf(g, G_KW);
  const hw = gf(g, G_HOUT) * gf(g, G_WOUT);
  const nb = blocksOf(g);
  const full = hw >> 2;
  const stride = gf(g, G_HIN) * gf(g, G_WIN) + 1;
  const rowBytes = f32s(kk * hw);
  const planeBytes = f32s(stride);
  const toInput = gradX !== 0;
  for (let c0 = grp * cinG; c0 < (grp + 1) * cinG; ) {
    const o = c0 / cPerOg;
    const c1 = min((o + 1) * cPerOg, (grp + 1) * cinG);
    const planeAt = f32s((n * cIn + c0) * stride);
    const col0 = gradCol + f32s((c0 - grp * cinG) * kk * hw);
    for (let k = 0; k < kk; k++) {
      const rowBlock = (o * kk + k) * nb;
      for (let b = 0; b < full; b++) {
        const ib = idx + f32s(16 * (rowBlock + b));
        const wb = wt + f32s(16 * (rowBlock + b));
        const sb = slopes + f32s(48 * (rowBlock + b));
        const w0 = v128.load(wb);
        const w1 = v128.load(wb, 16);
        const w2 = v128.load(wb, 32);
        const w3 = v128.load(wb, 48);
        let accY = f32x4.splat(0);
        let accX = f32x4.splat(0);
        let accM = f32x4.splat(0);
        let plane = x + planeAt;
        let gx = gradX + planeAt;
        let src = col0 + f32s(k * hw + 4 * b);
        for (let c = c0; c < c1; c++) {
          const gs = v128.load(src);
          if (toInput) {
            // Scalar adds: the four lanes of a block may hit the same pixel.
            scatterLanes(gx, ib, f32x4.mul(gs, w0));
            scatterLanes(gx, ib + 16, f32x4.mul(gs, w1));
            scatterLanes(gx, ib + 32, f32x4.mul(gs, w2));
            scatterLanes(gx, ib + 48, f32x4.mul(gs, w3));
          }
          if (withSums) {
            const v0 = gather(plane, ib);
            const v1 = gather(plane, ib + 16);
            const v2 = gather(plane, ib + 32);
            const v3 = gather(plane, ib + 48);
            let sy = f32x4.mul(v128.load(sb), v0);
            sy = fmadd(v128.load(sb, 16), v1, sy);
            sy = fmadd(v128.load(sb, 32), v2, sy);
            sy = fmadd(v128.load(sb, 48), v3, sy);
            let sx = f32x4.mul(v128.load(sb, 64), v0);
            sx = fmadd(v128.load(sb, 80), v1, sx);
            sx = fmadd(v128.load(sb, 96), v2, sx);
            sx = fmadd(v128.load(sb, 112), v3, sx);
            let sm = f32x4.mul(v128.load(sb, 128), v0);
            sm = fmadd(v128.load(sb, 144), v1, sm);
            sm = fmadd(v128.load(sb, 160), v2, sm);
            sm = fmadd(v128.load(sb, 176), v3, sm);
            accY = fmadd(gs, sy, accY);
            accX = fmadd(gs, sx, accX);
            accM = fmadd(gs, sm, accM);
          }
          plane += planeBytes;
          gx += planeBytes;
          src += rowBytes;
        }
        if (!withSums) continue;
        const a = f32s(rowBlock * 4 + 4 * b);
        v128.store(dy + a, f32x4.add(v128.load(dy + a), accY));
        v128.store(dx + a, f32x4.add(v128.load(dx + a), accX));
        v128.store(dm + a, f32x4.add(v128.load(dm + a), accM));
      }
      for (let p = full * 4; p < hw; p++) {
        const at = f32s(16 * (rowBlock + (p >> 2)) + (p & 3));
        const sb = slopes + f32s(48 * (rowBlock + (p >> 2)) + (p & 3));
        let accY: f32 = 0;
        let accX: f32 = 0;
        let accM: f32 = 0;
        let plane = x + planeAt;
        let gx = gradX + planeAt;
        let src = col0 + f32s(k * hw + p);
        for (let c = c0; c < c1; c++) {
          const gs = load<f32>(src);
          for (let r = 0; r < 4; r++) {
            const q = at + f32s(4 * r);
            const i = f32s(load<i32>(idx + q));
            if (toInput) store<f32>(gx + i, load<f32>(gx + i) + gs * load<f32>(wt + q));
            if (!withSums) continue;
            const v = load<f32>(plane + i);
            accY += gs * load<f32>(sb + f32s(4 * r)) * v;
            accX += gs * load<f32>(sb + f32s(16 + 4 * r)) * v;
            accM += gs * load<f32>(sb + f32s(32 + 4 * r)) * v;
          }
          plane += planeBytes;
          gx += planeBytes;
          src += rowBytes;
        }
        if (!withSums) continue;
        const a = f32s(rowBlock * 4 + p);
        store<f32>(dy + a, load<f32>(dy + a) + accY);
        store<f32>(dx + a, load<f32>(dx + a) + accX);
        store<f32>(dm + a, load<f32>(dm + a) + accM);
      }
    }
    c0 = c1;
  }
}

/** Adds lane r of t to the float at gx + 4 * (i32 lane r at ib), lane by lane. */
function scatterLanes(gx: usize, ib: usize, t: v128): void {
  const a0 = gx + f32s(load<i32>(ib));
  store<f32>(a0, load<f32>(a0) + f32x4.extract_lane(t, 0));
  const a1 = gx + f32s(load<i32>(ib, 4));
  store<f32>(a1, load<f32>(a1) + f32x4.extract_lane(t, 1));
  const a2 = gx + f32s(load<i32>(ib, 8));
  store<f32>(a2, load<f32>(a2) + f32x4.extract_lane(t, 2));
  const a3 = gx + f32s(load<i32>(ib, 12));
  store<f32>(a3, load<f32>(a3) + f32x4.extract_lane(t, 3));
}

/**
 * Backward of images [n0, n1). Fills, when their pointer is not 0, for those images: gradX (strided planes),
 * gradOffset [N, 2*og*kk, Hout, Wout], gradMask [N, og*kk, Hout, Wout] (only with a mask; mask 0 means none) and gradWImages
 * [N, Cout, Cin/groups, kH, kW], each image's own weight gradient, all overwritten; deformSumImages adds
 * the images' weight gradients up afterwards, in image order, so that any split by image gives the same
 * bits. Scratch (the calling thread's own): idx, wt, slopes (plan), col and gradCol (column matrices), dy
 * and after it dx and dm (deformSumFloats each, rounded up to 16 floats), ws (GEMM workspace).
 */
export function deformBackward(
  g: usize,
  x: usize,
  offset: usize,
  mask: usize,
  weight: usize,
  gradOut: usize,
  gradX: usize,
  gradOffset: usize,
  gradMask: usize,
  gradWImages: usize,
  idx: usize,
  wt: usize,
  slopes: usize,
  col: usize,
  gradCol: usize,
  dy: usize,
  ws: usize,
  n0: i32,
  n1: i32,
): void {
  const hasMask = mask !== 0;
  // dx and dm follow dy, each deformSumFloats rounded up to 16 floats (64 bytes).
  const sumStride = f32s((deformSumFloats(g) + 15) & ~15);
  const dx = dy + sumStride;
  const dm = dx + sumStride;
  const cIn = gf(g, G_CIN);
  const cOut = gf(g, G_COUT);
  const groups = gf(g, G_GROUPS);
  const coutG = cOut / groups;
  const kk = gf(g, G_KH) * gf(g, G_KW);
  const rows = (cIn / groups) * kk;
  const hw = gf(g, G_HOUT) * gf(g, G_WOUT);
  const og = gf(g, G_OG);
  const sums = deformSumFloats(g);
  const nb4 = blocksOf(g) * 4;
  const withSums = gradOffset !== 0 || (gradMask !== 0 && hasMask);
  const throughSamples = gradX !== 0 || withSums;
  const stride = gf(g, G_HIN) * gf(g, G_WIN) + 1;
  if (gradX !== 0) zeroF32(gradX + f32s(n0 * cIn * stride), (n1 - n0) * cIn * stride);
  for (let n = n0; n < n1; n++) {
    buildPlan(g, offset, mask, hasMask, n, idx, wt, slopes, withSums);
    if (withSums) {
      zeroF32(dy, sums);
      zeroF32(dx, sums);
      zeroF32(dm, sums);
    }
    for (let grp = 0; grp < groups; grp++) {
      const gOut = gradOut + f32s((n * cOut + grp * coutG) * hw);
      const wG = weight + f32s(grp * coutG * rows);
      if (gradWImages !== 0) {
        fillColumns(g, x, n, grp, idx, wt, col, false);
        const gw = gradWImages + f32s((n * cOut + grp * coutG) * rows);
        gemm(0, 1, coutG, rows, hw, 1, gOut, hw, col, hw, 0, gw, rows, ws);
      }
      if (!throughSamples) continue;
      gemm(1, 0, rows, hw, coutG, 1, wG, rows, gOut, hw, 0, gradCol, hw, ws);
      scatterColumns(g, x, n, grp, idx, wt, slopes, gradCol, gradX, withSums, dy, dx, dm);
    }
    if (!withSums) continue;
    // Offset channels of (o, k): 2*(o*kk + k) is dy, the next dx; mask channel o*kk + k.
    for (let e = 0; e < og * kk; e++) {
      if (gradOffset !== 0) {
        const at = gradOffset + f32s((n * og * kk + e) * 2 * hw);
        copyF32(at, dy + f32s(e * nb4), hw);
        copyF32(at + f32s(hw), dx + f32s(e * nb4), hw);
      }
      if (gradMask !== 0 && hasMask) copyF32(gradMask + f32s((n * og * kk + e) * hw), dm + f32s(e * nb4), hw);
    }
  }
}

/** dst[i] = sum over images n (in order) of src[n * len + i], for i < len: the batch's weight gradient. */
export function deformSumImages(dst: usize, src: usize, images: i32, len: i32): void {
  zeroF32(dst, len);
  for (let n = 0; n < images; n++) addF32(dst, src + f32s(n * len), len);
}
