// Direct depthwise conv (groups == Cin, so each output channel reads one input channel; Cout = Cin x
// multiplier, output channel oc reads input channel oc / multiplier). Each plane is first copied into a
// zero-bordered plane so that the inner loops need no bounds tests. Stride 1 runs f32x4 lanes along the
// output row (3x3 has its own kernel with the nine weights held in registers); other strides run scalar.
// The input gradient at stride 1 is itself a stride-1 depthwise conv: the output gradient, zero-bordered by
// the dilated kernel extent minus the padding, correlated with the flipped kernel.
// Threads split by channel: forward and input gradient take a range of planes numbered n * Cin + c, the
// weight gradient a range of input channels (each thread owns those filters' gradients, summed over images
// in the same order as one thread). Each thread has its own workspace (planes and the bias slot).
import {
  G_CIN,
  G_COUT,
  G_DH,
  G_DW,
  G_HIN,
  G_HOUT,
  G_KH,
  G_KW,
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
import { copyF32, f32s, fmadd } from "./simd";

/** Copies plane src (h x w) into dst (rows of wp floats) at row offset top and column offset left. */
function copyIn(src: usize, h: i32, w: i32, dst: usize, wp: i32, top: i32, left: i32): void {
  // Inline vector copy: one call per row (copyF32) cost 20% of a 28x28 depthwise forward.
  const vecEnd = w & ~3;
  for (let i = 0; i < h; i++) {
    const d = dst + f32s((i + top) * wp + left);
    const s = src + f32s(i * w);
    let j = 0;
    for (; j < vecEnd; j += 4) v128.store(d + f32s(j), v128.load(s + f32s(j)));
    for (; j < w; j++) store<f32>(d + f32s(j), load<f32>(s + f32s(j)));
  }
}

/** Copies the h x w window at (top, left) of the plane src (rows of wp floats) out to dst. */
function copyOut(src: usize, wp: i32, top: i32, left: i32, dst: usize, h: i32, w: i32): void {
  for (let i = 0; i < h; i++) copyF32(dst + f32s(i * w), src + f32s((i + top) * wp + left), w);
}

function hsum(v: v128): f32 {
  return (
    f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3)
  );
}

/**
 * One output plane at stride 1: out[oh][ow] (+)= b + sum w[kh][kw] * pad[oh + kh*dH][ow + kw*dW]. With
 * `accumulate` the plane is added to (and b ignored); else overwritten.
 */
function planeS1(
  pad: usize,
  wp: i32,
  wk: usize,
  b: f32,
  slot: usize,
  accumulate: bool,
  kH: i32,
  kW: i32,
  dH: i32,
  dW: i32,
  out: usize,
  hOut: i32,
  wOut: i32,
): void {
  if (kH === 3 && kW === 3 && !accumulate) {
    store<f32>(slot, b);
    plane3x3S1(pad, wp, wk, slot, dH, dW, out, hOut, wOut);
    return;
  }
  const vb = f32x4.splat(b);
  for (let oh = 0; oh < hOut; oh++) {
    const orow = out + f32s(oh * wOut);
    let ow = 0;
    for (; ow + 8 <= wOut; ow += 8) {
      let a0 = accumulate ? v128.load(orow + f32s(ow)) : vb;
      let a1 = accumulate ? v128.load(orow + f32s(ow), 16) : vb;
      for (let kh = 0; kh < kH; kh++) {
        let src = pad + f32s((oh + kh * dH) * wp + ow);
        const wr = wk + f32s(kh * kW);
        for (let kw = 0; kw < kW; kw++) {
          const wv = v128.load32_splat(wr + f32s(kw));
          a0 = fmadd(wv, v128.load(src), a0);
          a1 = fmadd(wv, v128.load(src, 16), a1);
          src += f32s(dW);
        }
      }
      v128.store(orow + f32s(ow), a0);
      v128.store(orow + f32s(ow), a1, 16);
    }
    for (; ow + 4 <= wOut; ow += 4) {
      let a0 = accumulate ? v128.load(orow + f32s(ow)) : vb;
      for (let kh = 0; kh < kH; kh++) {
        let src = pad + f32s((oh + kh * dH) * wp + ow);
        const wr = wk + f32s(kh * kW);
        for (let kw = 0; kw < kW; kw++) {
          a0 = fmadd(v128.load32_splat(wr + f32s(kw)), v128.load(src), a0);
          src += f32s(dW);
        }
      }
      v128.store(orow + f32s(ow), a0);
    }
    for (; ow < wOut; ow++) {
      let s: f32 = accumulate ? load<f32>(orow + f32s(ow)) : b;
      for (let kh = 0; kh < kH; kh++) {
        const src = pad + f32s((oh + kh * dH) * wp + ow);
        for (let kw = 0; kw < kW; kw++)
          s += load<f32>(wk + f32s(kh * kW + kw)) * load<f32>(src + f32s(kw * dW));
      }
      store<f32>(orow + f32s(ow), s);
    }
  }
}

/**
 * planeS1 for a 3x3 kernel, overwriting: the nine weight vectors stay in registers. The bias is read from
 * memory at `bp` (a broadcast load per step) rather than held in a register: V8 gives wasm 15 vector
 * registers, and 9 weights + 3 accumulators + 3 input vectors take them all.
 */
function plane3x3S1(
  pad: usize,
  wp: i32,
  wk: usize,
  bp: usize,
  dH: i32,
  dW: i32,
  out: usize,
  hOut: i32,
  wOut: i32,
): void {
  const w00 = v128.load32_splat(wk);
  const w01 = v128.load32_splat(wk, 4);
  const w02 = v128.load32_splat(wk, 8);
  const w10 = v128.load32_splat(wk, 12);
  const w11 = v128.load32_splat(wk, 16);
  const w12 = v128.load32_splat(wk, 20);
  const w20 = v128.load32_splat(wk, 24);
  const w21 = v128.load32_splat(wk, 28);
  const w22 = v128.load32_splat(wk, 32);
  const rowStep = f32s(dH * wp);
  const c1 = f32s(dW);
  const c2 = f32s(2 * dW);
  let oh = 0;
  // Undilated rows: each strip of four output columns runs down the plane, one input row per step. That
  // input row's three shifted vectors feed the three output rows that read it (kernel rows 2, 1, 0), whose
  // accumulators roll down with the step; only three vectors are loaded per step, so with the nine weights
  // and three accumulators everything stays in V8's 15 vector registers even though V8 issues a step's
  // loads ahead of its arithmetic. The previous version (four output rows per step, 18 loads) spilled:
  // 23 GFLOP/s on 256 channels of 28x28, against 33 for this one (relaxed SIMD, one thread). Unrolling the
  // roll three times to drop the register moves measured slower (29).
  if (dH === 1 && hOut >= 1) {
    const os = f32s(wOut);
    const vecEnd = wOut & ~3;
    for (let ow = 0; ow < vecEnd; ow += 4) {
      let p = pad + f32s(ow);
      let o = out + f32s(ow);
      // Input row 0 feeds output row 0; input row 1 feeds output rows 0 and 1.
      let a0 = fmadd(w00, v128.load(p), v128.load32_splat(bp));
      a0 = fmadd(w01, v128.load(p + c1), a0);
      a0 = fmadd(w02, v128.load(p + c2), a0);
      p += rowStep;
      let x0 = v128.load(p);
      let x1 = v128.load(p + c1);
      let x2 = v128.load(p + c2);
      a0 = fmadd(w10, x0, a0);
      let a1 = fmadd(w00, x0, v128.load32_splat(bp));
      a0 = fmadd(w11, x1, a0);
      a1 = fmadd(w01, x1, a1);
      a0 = fmadd(w12, x2, a0);
      a1 = fmadd(w02, x2, a1);
      // Input row r + 2 completes output row r; the padded plane has hOut + 2 rows, so the last two
      // steps' third accumulator reads real (border) rows and is dropped.
      for (let r = 0; r < hOut; r++) {
        p += rowStep;
        x0 = v128.load(p);
        x1 = v128.load(p + c1);
        x2 = v128.load(p + c2);
        a0 = fmadd(w20, x0, a0);
        a1 = fmadd(w10, x0, a1);
        let a2 = fmadd(w00, x0, v128.load32_splat(bp));
        a0 = fmadd(w21, x1, a0);
        a1 = fmadd(w11, x1, a1);
        a2 = fmadd(w01, x1, a2);
        a0 = fmadd(w22, x2, a0);
        a1 = fmadd(w12, x2, a1);
        a2 = fmadd(w02, x2, a2);
        v128.store(o, a0);
        o += os;
        a0 = a1;
        a1 = a2;
      }
    }
    for (; oh < hOut; oh++) {
      const orow = out + f32s(oh * wOut);
      for (let ow = vecEnd; ow < wOut; ow++) {
        let sum = load<f32>(bp);
        for (let kh = 0; kh < 3; kh++) {
          const src = pad + f32s((oh + kh) * wp + ow);
          for (let kw = 0; kw < 3; kw++)
            sum += load<f32>(wk + f32s(kh * 3 + kw)) * load<f32>(src + f32s(kw * dW));
        }
        store<f32>(orow + f32s(ow), sum);
      }
    }
    return;
  }
  for (; oh < hOut; oh++) {
    const orow = out + f32s(oh * wOut);
    const r0 = pad + f32s(oh * wp);
    const r1 = r0 + rowStep;
    const r2 = r1 + rowStep;
    let ow = 0;
    for (; ow + 8 <= wOut; ow += 8) {
      const o = f32s(ow);
      let a0 = v128.load32_splat(bp);
      let a1 = a0;
      let p = r0 + o;
      a0 = fmadd(w00, v128.load(p), a0);
      a1 = fmadd(w00, v128.load(p, 16), a1);
      a0 = fmadd(w01, v128.load(p + c1), a0);
      a1 = fmadd(w01, v128.load(p + c1, 16), a1);
      a0 = fmadd(w02, v128.load(p + c2), a0);
      a1 = fmadd(w02, v128.load(p + c2, 16), a1);
      p = r1 + o;
      a0 = fmadd(w10, v128.load(p), a0);
      a1 = fmadd(w10, v128.load(p, 16), a1);
      a0 = fmadd(w11, v128.load(p + c1), a0);
      a1 = fmadd(w11, v128.load(p + c1, 16), a1);
      a0 = fmadd(w12, v128.load(p + c2), a0);
      a1 = fmadd(w12, v128.load(p + c2, 16), a1);
      p = r2 + o;
      a0 = fmadd(w20, v128.load(p), a0);
      a1 = fmadd(w20, v128.load(p, 16), a1);
      a0 = fmadd(w21, v128.load(p + c1), a0);
      a1 = fmadd(w21, v128.load(p + c1, 16), a1);
      a0 = fmadd(w22, v128.load(p + c2), a0);
      a1 = fmadd(w22, v128.load(p + c2, 16), a1);
      v128.store(orow + o, a0);
      v128.store(orow + o, a1, 16);
    }
    for (; ow + 4 <= wOut; ow += 4) {
      const o = f32s(ow);
      let a0 = v128.load32_splat(bp);
      let p = r0 + o;
      a0 = fmadd(w00, v128.load(p), a0);
      a0 = fmadd(w01, v128.load(p + c1), a0);
      a0 = fmadd(w02, v128.load(p + c2), a0);
      p = r1 + o;
      a0 = fmadd(w10, v128.load(p), a0);
      a0 = fmadd(w11, v128.load(p + c1), a0);
      a0 = fmadd(w12, v128.load(p + c2), a0);
      p = r2 + o;
      a0 = fmadd(w20, v128.load(p), a0);
      a0 = fmadd(w21, v128.load(p + c1), a0);
      a0 = fmadd(w22, v128.load(p + c2), a0);
      v128.store(orow + o, a0);
    }
    for (; ow < wOut; ow++) {
      let s = load<f32>(bp);
      for (let kh = 0; kh < 3; kh++) {
        const src = pad + f32s((oh + kh * dH) * wp + ow);
        for (let kw = 0; kw < 3; kw++)
          s += load<f32>(wk + f32s(kh * 3 + kw)) * load<f32>(src + f32s(kw * dW));
      }
      store<f32>(orow + f32s(ow), s);
    }
  }
}

/**
 * True when a 3x3 plane can go through plane3x3Same: stride 1, undilated, one pixel of zero padding on every
 * side (the "same" conv of MobileNet-style blocks), rows of a multiple of 4 floats and at least 8.
 */
function sameShape(
  kH: i32,
  kW: i32,
  sH: i32,
  sW: i32,
  dH: i32,
  dW: i32,
  pT: i32,
  pL: i32,
  pB: i32,
  pR: i32,
  h: i32,
  w: i32,
): bool {
  return (
    kH === 3 &&
    kW === 3 &&
    sH === 1 &&
    sW === 1 &&
    dH === 1 &&
    dW === 1 &&
    pT === 1 &&
    pL === 1 &&
    pB === 1 &&
    pR === 1 &&
    (w & 3) === 0 &&
    w >= 8 &&
    h >= 2
  );
}

/**
 * plane3x3S1 for a plane x (h x w, see sameShape) read where it lies, without the zero-bordered copy: the
 * output has the input's size, and the padding is supplied in registers instead (a zero lane shuffled in
 * at the row ends, the rows above the first and below the last left out of the sums). The copy cost a
 * quarter of the time: 0.112 -> 0.084 ms on 256 channels of 28x28 (relaxed SIMD, one thread). Same strips
 * rolling down the rows as plane3x3S1; the bias is read from `bp`.
 */
function plane3x3Same(x: usize, h: i32, w: i32, wk: usize, bp: usize, out: usize): void {
  const w00 = v128.load32_splat(wk);
  const w01 = v128.load32_splat(wk, 4);
  const w02 = v128.load32_splat(wk, 8);
  const w10 = v128.load32_splat(wk, 12);
  const w11 = v128.load32_splat(wk, 16);
  const w12 = v128.load32_splat(wk, 20);
  const w20 = v128.load32_splat(wk, 24);
  const w21 = v128.load32_splat(wk, 28);
  const w22 = v128.load32_splat(wk, 32);
  const rs = f32s(w);
  const zero = f32x4.splat(0);
  for (let ow = 0; ow < w; ow += 4) {
    // The first strip's left neighbours and the last strip's right ones are the padding.
    const first = ow === 0;
    const last = ow + 4 === w;
    let p = x + f32s(ow);
    let o = out + f32s(ow);
    let xc = v128.load(p);
    let xl = first ? v128.shuffle<f32>(zero, xc, 3, 4, 5, 6) : v128.load(p - 4);
    let xr = last ? v128.shuffle<f32>(xc, zero, 1, 2, 3, 4) : v128.load(p + 4);
    // Input row 0 feeds output row 0 (kernel row 1) and output row 1 (kernel row 0).
    let a0 = fmadd(w10, xl, v128.load32_splat(bp));
    let a1 = fmadd(w00, xl, v128.load32_splat(bp));
    a0 = fmadd(w11, xc, a0);
    a1 = fmadd(w01, xc, a1);
    a0 = fmadd(w12, xr, a0);
    a1 = fmadd(w02, xr, a1);
    // Input row r completes output row r - 1.
    for (let r = 1; r < h; r++) {
      p += rs;
      xc = v128.load(p);
      xl = first ? v128.shuffle<f32>(zero, xc, 3, 4, 5, 6) : v128.load(p - 4);
      xr = last ? v128.shuffle<f32>(xc, zero, 1, 2, 3, 4) : v128.load(p + 4);
      a0 = fmadd(w20, xl, a0);
      a1 = fmadd(w10, xl, a1);
      let a2 = fmadd(w00, xl, v128.load32_splat(bp));
      a0 = fmadd(w21, xc, a0);
      a1 = fmadd(w11, xc, a1);
      a2 = fmadd(w01, xc, a2);
      a0 = fmadd(w22, xr, a0);
      a1 = fmadd(w12, xr, a1);
      a2 = fmadd(w02, xr, a2);
      v128.store(o, a0);
      o += rs;
      a0 = a1;
      a1 = a2;
    }
    // The last output row has only the padding below it.
    v128.store(o, a0);
  }
}

/**
 * Floats of one thread's workspace for geometry g (the loader reserves it): the planes (see planeFloats),
 * then one vector for the bias slot that plane3x3S1 reads its bias from.
 */
export function depthwiseWorkspaceFloats(g: usize): i32 {
  return planeFloats(g) + 4;
}

/** The bias slot of a workspace. */
function biasSlot(g: usize, work: usize): usize {
  return work + f32s(planeFloats(g));
}

/**
 * Floats of the planes: the padded input plane (rows the kernel reaches x padded width); for the stride-1
 * input gradient the flipped weights and the bordered gradient plane; for the strided input gradient the
 * scatter plane.
 */
function planeFloats(g: usize): i32 {
  const hIn = gf(g, G_HIN);
  const wIn = gf(g, G_WIN);
  const kH = gf(g, G_KH);
  const kW = gf(g, G_KW);
  const sH = gf(g, G_SH);
  const dH = gf(g, G_DH);
  const dW = gf(g, G_DW);
  const wp = wIn + gf(g, G_PL) + gf(g, G_PR);
  const hp = (gf(g, G_HOUT) - 1) * sH + (kH - 1) * dH + 1;
  const hScatter = max<i32>(hp, hIn + gf(g, G_PT));
  const padded = hScatter * wp;
  const bordered = gf(g, G_COUT) * kH * kW + (hIn + (kH - 1) * dH) * (wIn + (kW - 1) * dW);
  return max<i32>(padded, bordered);
}

/** One output plane, any stride, scalar. */
function planeStrided(
  pad: usize,
  wp: i32,
  wk: usize,
  b: f32,
  kH: i32,
  kW: i32,
  sH: i32,
  sW: i32,
  dH: i32,
  dW: i32,
  out: usize,
  hOut: i32,
  wOut: i32,
): void {
  for (let oh = 0; oh < hOut; oh++) {
    for (let ow = 0; ow < wOut; ow++) {
      let s = b;
      for (let kh = 0; kh < kH; kh++) {
        const src = pad + f32s((oh * sH + kh * dH) * wp + ow * sW);
        for (let kw = 0; kw < kW; kw++)
          s += load<f32>(wk + f32s(kh * kW + kw)) * load<f32>(src + f32s(kw * dW));
      }
      store<f32>(out + f32s(oh * wOut + ow), s);
    }
  }
}

/**
 * Forward for input planes [u0, u1) (numbered n * Cin + c; each with its output channels). `bias` is 0 for
 * none. `work` holds depthwiseWorkspaceFloats floats (see src/kernels/wasm/conv2d.ts): the padded input plane.
 */
export function depthwiseForward(
  g: usize,
  x: usize,
  w: usize,
  bias: usize,
  out: usize,
  work: usize,
  u0: i32,
  u1: i32,
): void {
  const cIn = gf(g, G_CIN);
  const cOut = gf(g, G_COUT);
  const mult = cOut / cIn;
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
  const hOut = gf(g, G_HOUT);
  const wOut = gf(g, G_WOUT);
  const wp = wIn + pL + gf(g, G_PR);
  // Only rows the kernel can reach: the conv floors, so the padded plane may extend past the last tap.
  const hp = (hOut - 1) * sH + (kH - 1) * dH + 1;
  // Borders are zeroed once; copyIn only ever writes the interior (clipped to the rows read).
  memory.fill(work, 0, f32s(hp * wp));
  const rows = min<i32>(hp - pT, hIn);
  const slot = biasSlot(g, work);
  const same = sameShape(kH, kW, sH, sW, dH, dW, pT, pL, gf(g, G_PB), gf(g, G_PR), hIn, wIn);
  for (let u = u0; u < u1; u++) {
    const n = u / cIn;
    const ic = u - n * cIn;
    const xu = x + f32s(u * hIn * wIn);
    if (!same) copyIn(xu, rows, wIn, work, wp, pT, pL);
    for (let m = 0; m < mult; m++) {
      const oc = ic * mult + m;
      const wk = w + f32s(oc * kH * kW);
      const b: f32 = bias !== 0 ? load<f32>(bias + f32s(oc)) : 0;
      const o = out + f32s((n * cOut + oc) * hOut * wOut);
      if (same) {
        store<f32>(slot, b);
        plane3x3Same(xu, hIn, wIn, wk, slot, o);
      } else if (sH === 1 && sW === 1) planeS1(work, wp, wk, b, slot, false, kH, kW, dH, dW, o, hOut, wOut);
      else planeStrided(work, wp, wk, b, kH, kW, sH, sW, dH, dW, o, hOut, wOut);
    }
  }
}

/**
 * Input gradient for input planes [u0, u1) (numbered n * Cin + c); overwrites those planes of gradX. Stride 1: a depthwise conv of the
 * bordered output gradient with the flipped kernel (work: flipped weights, then the bordered plane). Other
 * strides: scatter w * gradOut into a padded plane and copy its interior out.
 */
export function depthwiseBackwardInput(
  g: usize,
  gradOut: usize,
  w: usize,
  gradX: usize,
  work: usize,
  u0: i32,
  u1: i32,
): void {
  const cIn = gf(g, G_CIN);
  const cOut = gf(g, G_COUT);
  const mult = cOut / cIn;
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
  const hOut = gf(g, G_HOUT);
  const wOut = gf(g, G_WOUT);
  const taps = kH * kW;
  if (sH === 1 && sW === 1) {
    const flipped = work;
    for (let oc = 0; oc < cOut; oc++) {
      for (let t = 0; t < taps; t++) {
        store<f32>(flipped + f32s(oc * taps + t), load<f32>(w + f32s(oc * taps + taps - 1 - t)));
      }
    }
    const plane = work + f32s(cOut * taps);
    // gradX[ih][iw] = sum w[kh][kw] gradOut[ih + pT - kh*dH][iw + pL - kw*dW]; with kh' = kH-1-kh this reads
    // the bordered plane at [ih + kh'*dH][iw + kw'*dW], where gradOut row r sits at row r + top.
    const top = (kH - 1) * dH - pT;
    const left = (kW - 1) * dW - pL;
    const hp = hIn + (kH - 1) * dH;
    const wp = wIn + (kW - 1) * dW;
    // The part of gradOut that lands inside the plane (padding beyond the kernel extent drops rows/columns).
    const r0 = top < 0 ? -top : 0;
    const c0 = left < 0 ? -left : 0;
    const r1 = min<i32>(hOut, hp - top);
    const c1 = min<i32>(wOut, wp - left);
    memory.fill(plane, 0, f32s(hp * wp));
    const slot = biasSlot(g, work);
    // A "same" 3x3 conv's input gradient is the same shape of conv of gradOut: read in place (the first
    // output channel of an input channel; the others add to its result through the bordered plane).
    const same = sameShape(kH, kW, sH, sW, dH, dW, pT, pL, gf(g, G_PB), gf(g, G_PR), hIn, wIn);
    store<f32>(slot, 0);
    for (let u = u0; u < u1; u++) {
      const n = u / cIn;
      const ic = u - n * cIn;
      const gx = gradX + f32s(u * hIn * wIn);
      for (let m = 0; m < mult; m++) {
        const oc = ic * mult + m;
        const go = gradOut + f32s((n * cOut + oc) * hOut * wOut);
        if (same && m === 0) {
          plane3x3Same(go, hOut, wOut, flipped + f32s(oc * taps), slot, gx);
          continue;
        }
        for (let r = r0; r < r1 && c0 < c1; r++) {
          copyF32(plane + f32s((r + top) * wp + c0 + left), go + f32s(r * wOut + c0), c1 - c0);
        }
        planeS1(plane, wp, flipped + f32s(oc * taps), 0, slot, m > 0, kH, kW, dH, dW, gx, hIn, wIn);
      }
    }
    return;
  }
  const wp = wIn + pL + gf(g, G_PR);
  const hp = (hOut - 1) * sH + (kH - 1) * dH + 1;
  const hPad = max<i32>(hp, hIn + pT);
  const padBytes = f32s(hPad * wp);
  for (let u = u0; u < u1; u++) {
    const n = u / cIn;
    const ic = u - n * cIn;
    memory.fill(work, 0, padBytes);
    for (let m = 0; m < mult; m++) {
      const oc = ic * mult + m;
      const wk = w + f32s(oc * taps);
      const go = gradOut + f32s((n * cOut + oc) * hOut * wOut);
      for (let kh = 0; kh < kH; kh++) {
        for (let kw = 0; kw < kW; kw++) {
          const wt = load<f32>(wk + f32s(kh * kW + kw));
          for (let oh = 0; oh < hOut; oh++) {
            const src = go + f32s(oh * wOut);
            const dst = work + f32s((oh * sH + kh * dH) * wp + kw * dW);
            for (let ow = 0; ow < wOut; ow++) {
              const d = dst + f32s(ow * sW);
              store<f32>(d, load<f32>(d) + wt * load<f32>(src + f32s(ow)));
            }
          }
        }
      }
    }
    copyOut(work, wp, pT, pL, gradX + f32s(u * hIn * wIn), hIn, wIn);
  }
}

/**
 * Adds a 3x3 stride-1 weight gradient: gw[kh][kw] += sum gradOut[oh][ow] * pad[oh + kh*dH][ow + kw*dW],
 * one kernel row per pass. A pass holds six accumulators (three taps x two 4-column halves of an 8-column
 * step) and loads two gradient and six input vectors a step: 14 of V8's 15 vector registers, since V8
 * issues a step's loads ahead of its arithmetic. All nine taps in one pass (nine accumulators and ten
 * loads a step) spilled: 12.8 against 19.9 GFLOP/s for this (256 channels of 28x28, relaxed SIMD).
 */
function weight3x3S1(
  go: usize,
  pad: usize,
  wp: i32,
  dH: i32,
  dW: i32,
  hOut: i32,
  wOut: i32,
  gw: usize,
): void {
  const c1 = f32s(dW);
  const c2 = f32s(2 * dW);
  const vecEnd = wOut & ~3;
  const pairEnd = wOut & ~7;
  for (let kh = 0; kh < 3; kh++) {
    let a0 = f32x4.splat(0);
    let a1 = a0;
    let a2 = a0;
    let b0 = a0;
    let b1 = a0;
    let b2 = a0;
    for (let oh = 0; oh < hOut; oh++) {
      const grow = go + f32s(oh * wOut);
      const xrow = pad + f32s((oh + kh * dH) * wp);
      let ow = 0;
      for (; ow < pairEnd; ow += 8) {
        const o = f32s(ow);
        const g0 = v128.load(grow + o);
        const g1 = v128.load(grow + o, 16);
        const p = xrow + o;
        a0 = fmadd(g0, v128.load(p), a0);
        b0 = fmadd(g1, v128.load(p, 16), b0);
        a1 = fmadd(g0, v128.load(p + c1), a1);
        b1 = fmadd(g1, v128.load(p + c1, 16), b1);
        a2 = fmadd(g0, v128.load(p + c2), a2);
        b2 = fmadd(g1, v128.load(p + c2, 16), b2);
      }
      if (ow < vecEnd) {
        const o = f32s(ow);
        const g0 = v128.load(grow + o);
        const p = xrow + o;
        a0 = fmadd(g0, v128.load(p), a0);
        a1 = fmadd(g0, v128.load(p + c1), a1);
        a2 = fmadd(g0, v128.load(p + c2), a2);
      }
    }
    tapTail(f32x4.add(a0, b0), kh, 0, go, pad, wp, dH, dW, hOut, wOut, vecEnd, gw);
    tapTail(f32x4.add(a1, b1), kh, 1, go, pad, wp, dH, dW, hOut, wOut, vecEnd, gw);
    tapTail(f32x4.add(a2, b2), kh, 2, go, pad, wp, dH, dW, hOut, wOut, vecEnd, gw);
  }
}

/** Adds tap (kh, kw) of a 3x3 stride-1 weight gradient: the lanes of acc plus the scalar tail columns. */
function tapTail(
  acc: v128,
  kh: i32,
  kw: i32,
  go: usize,
  pad: usize,
  wp: i32,
  dH: i32,
  dW: i32,
  hOut: i32,
  wOut: i32,
  vecEnd: i32,
  gw: usize,
): void {
  let s = hsum(acc);
  for (let oh = 0; vecEnd < wOut && oh < hOut; oh++) {
    const grow = go + f32s(oh * wOut);
    const xrow = pad + f32s((oh + kh * dH) * wp + kw * dW);
    for (let ow = vecEnd; ow < wOut; ow++) s += load<f32>(grow + f32s(ow)) * load<f32>(xrow + f32s(ow));
  }
  const d = gw + f32s(kh * 3 + kw);
  store<f32>(d, load<f32>(d) + s);
}

/** Any-size weight gradient of one plane pair, added to gw: one tap at a time, two accumulators at stride 1. */
function weightGeneric(
  go: usize,
  pad: usize,
  wp: i32,
  kH: i32,
  kW: i32,
  sH: i32,
  sW: i32,
  dH: i32,
  dW: i32,
  hOut: i32,
  wOut: i32,
  gw: usize,
): void {
  for (let kh = 0; kh < kH; kh++) {
    for (let kw = 0; kw < kW; kw++) {
      let acc0 = f32x4.splat(0);
      let acc1 = acc0;
      let s: f32 = 0;
      for (let oh = 0; oh < hOut; oh++) {
        const grow = go + f32s(oh * wOut);
        const xrow = pad + f32s((oh * sH + kh * dH) * wp + kw * dW);
        if (sW === 1) {
          let ow = 0;
          for (; ow + 8 <= wOut; ow += 8) {
            acc0 = fmadd(v128.load(grow + f32s(ow)), v128.load(xrow + f32s(ow)), acc0);
            acc1 = fmadd(v128.load(grow + f32s(ow), 16), v128.load(xrow + f32s(ow), 16), acc1);
          }
          for (; ow < wOut; ow++) s += load<f32>(grow + f32s(ow)) * load<f32>(xrow + f32s(ow));
        } else {
          for (let ow = 0; ow < wOut; ow++) s += load<f32>(grow + f32s(ow)) * load<f32>(xrow + f32s(ow * sW));
        }
      }
      const d = gw + f32s(kh * kW + kw);
      store<f32>(d, load<f32>(d) + hsum(f32x4.add(acc0, acc1)) + s);
    }
  }
}

/**
 * Weight gradient of the filters of input channels [c0, c1) summed over images [n0, n1); overwrites those
 * filters' gradients unless `accumulate`. `work`: padded input plane.
 */
export function depthwiseBackwardWeight(
  g: usize,
  x: usize,
  gradOut: usize,
  gradW: usize,
  work: usize,
  c0: i32,
  c1: i32,
  n0: i32,
  n1: i32,
  accumulate: i32,
): void {
  const cIn = gf(g, G_CIN);
  const cOut = gf(g, G_COUT);
  const mult = cOut / cIn;
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
  const hOut = gf(g, G_HOUT);
  const wOut = gf(g, G_WOUT);
  const wp = wIn + pL + gf(g, G_PR);
  const hp = (hOut - 1) * sH + (kH - 1) * dH + 1;
  if (c1 <= c0) return;
  if (accumulate === 0) memory.fill(gradW + f32s(c0 * mult * kH * kW), 0, f32s((c1 - c0) * mult * kH * kW));
  memory.fill(work, 0, f32s(hp * wp));
  const rows = min<i32>(hp - pT, hIn);
  for (let n = n0; n < n1; n++) {
    for (let ic = c0; ic < c1; ic++) {
      copyIn(x + f32s((n * cIn + ic) * hIn * wIn), rows, wIn, work, wp, pT, pL);
      for (let m = 0; m < mult; m++) {
        const oc = ic * mult + m;
        const go = gradOut + f32s((n * cOut + oc) * hOut * wOut);
        const gw = gradW + f32s(oc * kH * kW);
        if (kH === 3 && kW === 3 && sH === 1 && sW === 1) weight3x3S1(go, work, wp, dH, dW, hOut, wOut, gw);
        else weightGeneric(go, work, wp, kH, kW, sH, sW, dH, dW, hOut, wOut, gw);
      }
    }
  }
}
