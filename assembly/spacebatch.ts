// Space-to-batch and back, for dilated convs (the way TensorFlow's atrous_conv2d runs them): a stride-1
// conv with dilation (dH, dW) reads, for the outputs of phase (a, b) (rows oh = dH i + a, columns
// ow = dW j + b), only input rows dH r + a - padTop and columns dW s + b - padLeft, as an undilated conv.
// So the input is regrouped into dH x dW phase images (zero where the padding is), each of hS x wS,
// an undilated valid conv runs on the batch of N x dH x dW phase images, and its outputs are interleaved
// back. Phase image (n, a, b) is batch entry (n dH + a) dW + b. Plain strided copies, split by planes.
// shiftStack does the like for larger kernels: shifted copies of the input as extra channels.
import { f32s } from "./simd";

/**
 * dst[((n dH + a) dW + b), c, r, s] = x[n, c, dH r + a - pT, dW s + b - pL] (0 outside the image), for
 * input planes [u0, u1) numbered n * channels + c; dst planes are hS x wS.
 */
export function spaceToBatch(
  x: usize,
  channels: i32,
  hIn: i32,
  wIn: i32,
  dH: i32,
  dW: i32,
  pT: i32,
  pL: i32,
  hS: i32,
  wS: i32,
  dst: usize,
  u0: i32,
  u1: i32,
): void {
  const plane = hS * wS;
  for (let u = u0; u < u1; u++) {
    const n = u / channels;
    const c = u - n * channels;
    const src = x + f32s(u * hIn * wIn);
    for (let a = 0; a < dH; a++) {
      for (let b = 0; b < dW; b++) {
        const out = dst + f32s((((n * dH + a) * dW + b) * channels + c) * plane);
        // Columns s whose input column dW s + b - pL lies inside [0, wIn).
        const off = b - pL;
        const s0 = off >= 0 ? 0 : (-off + dW - 1) / dW;
        let s1 = (wIn - 1 - off) / dW + 1;
        if (wIn - 1 - off < 0) s1 = 0;
        if (s1 > wS) s1 = wS;
        for (let r = 0; r < hS; r++) {
          const row = out + f32s(r * wS);
          const i = dH * r + a - pT;
          if (i < 0 || i >= hIn || s1 <= s0) {
            memory.fill(row, 0, f32s(wS));
            continue;
          }
          const line = src + f32s(i * wIn + off);
          for (let s = 0; s < s0; s++) store<f32>(row + f32s(s), 0);
          for (let s = s0; s < s1; s++) store<f32>(row + f32s(s), load<f32>(line + f32s(dW * s)));
          for (let s = max<i32>(s0, s1); s < wS; s++) store<f32>(row + f32s(s), 0);
        }
      }
    }
  }
}

/**
 * out[n, c, oh, ow] = src[((n dH + oh % dH) dW + ow % dW), c, oh / dH, ow / dW] for output planes [u0, u1)
 * numbered n * channels + c; src planes are hS x wS (the phase outputs), out planes hOut x wOut.
 */
export function batchToSpace(
  src: usize,
  channels: i32,
  hS: i32,
  wS: i32,
  dH: i32,
  dW: i32,
  hOut: i32,
  wOut: i32,
  out: usize,
  u0: i32,
  u1: i32,
): void {
  const plane = hS * wS;
  for (let u = u0; u < u1; u++) {
    const n = u / channels;
    const c = u - n * channels;
    const dstPlane = out + f32s(u * hOut * wOut);
    for (let oh = 0; oh < hOut; oh++) {
      const r = oh / dH;
      const a = oh - r * dH;
      const row = dstPlane + f32s(oh * wOut);
      for (let b = 0; b < dW; b++) {
        const line = src + f32s((((n * dH + a) * dW + b) * channels + c) * plane + r * wS);
        let s = 0;
        for (let ow = b; ow < wOut; ow += dW) {
          store<f32>(row + f32s(ow), load<f32>(line + f32s(s)));
          s++;
        }
      }
    }
  }
}

/**
 * For a stride-1 undilated kH x kW conv computed as one 3x3 conv (kernel blocks, see
 * src/kernels/wasm/conv2d.ts): the input planes [u0, u1) (numbered n * cIn + c) copied bh x bw times, block
 * (p, q) shifted by (3p, 3q) taps: dst[n, c'', r, s] = x[n, c, r + 3p - pT, s + 3q - pL] (0 outside the
 * image), with c'' = grp * (bh bw cinG) + (p bw + q) cinG + ci for c = grp * cinG + ci, planes hS x wS.
 */
export function shiftStack(
  x: usize,
  cIn: i32,
  groups: i32,
  hIn: i32,
  wIn: i32,
  pT: i32,
  pL: i32,
  bh: i32,
  bw: i32,
  hS: i32,
  wS: i32,
  dst: usize,
  u0: i32,
  u1: i32,
): void {
  const cinG = cIn / groups;
  const plane = hS * wS;
  for (let u = u0; u < u1; u++) {
    const n = u / cIn;
    const c = u - n * cIn;
    const grp = c / cinG;
    const ci = c - grp * cinG;
    const src = x + f32s(u * hIn * wIn);
    for (let p = 0; p < bh; p++) {
      for (let q = 0; q < bw; q++) {
        const cc = grp * bh * bw * cinG + (p * bw + q) * cinG + ci;
        const out = dst + f32s((n * cIn * bh * bw + cc) * plane);
        // Columns s whose input column s + off lies inside [0, wIn).
        const off = 3 * q - pL;
        const s0 = off >= 0 ? 0 : min<i32>(-off, wS);
        const s1 = max<i32>(s0, min<i32>(wS, wIn - off));
        for (let r = 0; r < hS; r++) {
          const row = out + f32s(r * wS);
          const i = r + 3 * p - pT;
          if (i < 0 || i >= hIn || s1 <= s0) {
            memory.fill(row, 0, f32s(wS));
            continue;
          }
          const line = src + f32s(i * wIn + off);
          for (let s = 0; s < s0; s++) store<f32>(row + f32s(s), 0);
          let s = s0;
          for (; s + 4 <= s1; s += 4) v128.store(row + f32s(s), v128.load(line + f32s(s)));
          for (; s < s1; s++) store<f32>(row + f32s(s), load<f32>(line + f32s(s)));
          for (s = s1; s < wS; s++) store<f32>(row + f32s(s), 0);
        }
      }
    }
  }
}
