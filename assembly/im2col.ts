// im2col and its adjoint col2im for one image and a run of channels. Row (c, kh, kw) of the column
// matrix holds, for every output pixel (oh, ow), the input value the tap reads (0 in the padding).
import { packedBOffset, zeroPackedBTail } from "./gemm";
import { f32s, zeroF32 } from "./simd";
import { NR } from "./tiles";

function imax(a: i32, b: i32): i32 {
  return a > b ? a : b;
}
function imin(a: i32, b: i32): i32 {
  return a < b ? a : b;
}

/** First output column whose tap lands inside the row: ow * s - pad + off >= 0. */
function firstValid(pad: i32, off: i32, s: i32): i32 {
  const need = pad - off;
  return need <= 0 ? 0 : (need + s - 1) / s;
}

/** One past the last output column whose tap lands inside: ow * s - pad + off <= size - 1. */
function endValid(size: i32, pad: i32, off: i32, s: i32, out: i32): i32 {
  const num = size - 1 + pad - off;
  return num < 0 ? 0 : imin(out, num / s + 1);
}

/**
 * Fills col[(c * kH + kh) * kW + kw][(oh - oh0) * wOut + ow] for channels [0, channels) of x (channels x hIn x
 * wIn) and output rows [oh0, oh1): a thread that owns a band of output rows fills only its band.
 */
export function im2col(
  x: usize,
  channels: i32,
  hIn: i32,
  wIn: i32,
  kH: i32,
  kW: i32,
  sH: i32,
  sW: i32,
  dH: i32,
  dW: i32,
  pT: i32,
  pL: i32,
  wOut: i32,
  oh0: i32,
  oh1: i32,
  col: usize,
): void {
  const plane = (oh1 - oh0) * wOut;
  let row = col;
  for (let c = 0; c < channels; c++) {
    const xc = x + f32s(c * hIn * wIn);
    for (let kh = 0; kh < kH; kh++) {
      for (let kw = 0; kw < kW; kw++) {
        const offW = kw * dW;
        const lo = firstValid(pL, offW, sW);
        const hi = imax(lo, endValid(wIn, pL, offW, sW, wOut));
        for (let oh = oh0; oh < oh1; oh++) {
          const dst = row + f32s((oh - oh0) * wOut);
          const ih = oh * sH - pT + kh * dH;
          if (ih < 0 || ih >= hIn) {
            zeroF32(dst, wOut);
            continue;
          }
          if (lo > 0) zeroF32(dst, lo);
          const src = xc + f32s(ih * wIn + offW - pL);
          if (sW === 1) {
            // Inline vector copy (a call per row to copyF32 cost as much as the copy).
            let ow = lo;
            for (; ow + 4 <= hi; ow += 4) v128.store(dst + f32s(ow), v128.load(src + f32s(ow)));
            for (; ow < hi; ow++) store<f32>(dst + f32s(ow), load<f32>(src + f32s(ow)));
          } else if (sW === 2) {
            // Even lanes of two loads; the second load reaches one float past the last tap, hence the
            // bound (ow + 4 < hi: the next tap, two floats on, still lies inside).
            let ow = lo;
            for (; ow + 4 < hi; ow += 4) {
              const s = src + f32s(2 * ow);
              v128.store(dst + f32s(ow), v128.shuffle<f32>(v128.load(s), v128.load(s, 16), 0, 2, 4, 6));
            }
            for (; ow < hi; ow++) store<f32>(dst + f32s(ow), load<f32>(src + f32s(2 * ow)));
          } else {
            for (let ow = lo; ow < hi; ow++) store<f32>(dst + f32s(ow), load<f32>(src + f32s(ow * sW)));
          }
          if (hi < wOut) zeroF32(dst + f32s(hi), wOut - hi);
        }
        row += f32s(plane);
      }
    }
  }
}

/** Adjoint of im2col: gradX[c][ih][iw] += col[...] for every tap inside the image. gradX is not cleared. */
export function col2im(
  col: usize,
  channels: i32,
  hIn: i32,
  wIn: i32,
  kH: i32,
  kW: i32,
  sH: i32,
  sW: i32,
  dH: i32,
  dW: i32,
  pT: i32,
  pL: i32,
  hOut: i32,
  wOut: i32,
  gradX: usize,
): void {
  const plane = hOut * wOut;
  let row = col;
  for (let c = 0; c < channels; c++) {
    const gc = gradX + f32s(c * hIn * wIn);
    for (let kh = 0; kh < kH; kh++) {
      for (let kw = 0; kw < kW; kw++) {
        const offW = kw * dW;
        const lo = firstValid(pL, offW, sW);
        const hi = imax(lo, endValid(wIn, pL, offW, sW, wOut));
        for (let oh = 0; oh < hOut; oh++) {
          const ih = oh * sH - pT + kh * dH;
          if (ih < 0 || ih >= hIn) continue;
          const src = row + f32s(oh * wOut);
          const dst = gc + f32s(ih * wIn + offW - pL);
          if (sW === 1) {
            let ow = lo;
            for (; ow + 4 <= hi; ow += 4) {
              const d = dst + f32s(ow);
              v128.store(d, f32x4.add(v128.load(d), v128.load(src + f32s(ow))));
            }
            for (; ow < hi; ow++) {
              const d = dst + f32s(ow);
              store<f32>(d, load<f32>(d) + load<f32>(src + f32s(ow)));
            }
          } else {
            for (let ow = lo; ow < hi; ow++) {
              const d = dst + f32s(ow * sW);
              store<f32>(d, load<f32>(d) + load<f32>(src + f32s(ow)));
            }
          }
        }
        row += f32s(plane);
      }
    }
  }
}

/**
 * im2col straight into the GEMM's packed layout (see gemmPackedB): output pixels [oh0 * wOut, oh1 * wOut)
 * of one image, numbered q from the band's first, in panels of NR; panel q / NR holds, for each row p =
 * (c, kh, kw) of the column matrix, the NR values its pixels read, zeros past the band's last pixel.
 * Writing panels rather than rows saves the GEMM a copy of the whole matrix. wOut must be a multiple of 4:
 * then every run of four pixels of an output row is one half of a panel row, copied with one vector
 * (stride 1) or two and an even-lane shuffle (stride 2) where its inputs lie inside, lane by lane elsewhere.
 */
export function im2colPanels(
  x: usize,
  channels: i32,
  hIn: i32,
  wIn: i32,
  kH: i32,
  kW: i32,
  sH: i32,
  sW: i32,
  dH: i32,
  dW: i32,
  pT: i32,
  pL: i32,
  wOut: i32,
  oh0: i32,
  oh1: i32,
  dst: usize,
): void {
  const pixels = (oh1 - oh0) * wOut;
  const k = channels * kH * kW;
  const planeIn = hIn * wIn;
  const rowStep = f32s(NR);
  const tapStep = f32s(dW);
  for (let oh = oh0; oh < oh1; oh++) {
    const qRow = (oh - oh0) * wOut;
    // Four pixels at a time, every row p of their panel half in turn: the destination steps NR floats a
    // row and the source dW floats a tap, so the inner loop is a load (two and a shuffle at stride 2) and a
    // store; the bounds are settled once per kernel row.
    for (let ow = 0; ow < wOut; ow += 4) {
      const q = qRow + ow;
      let d = dst + f32s(packedBOffset(k, 0, q));
      const iw0 = ow * sW - pL;
      // A whole panel row (eight pixels starting a panel) inside the input: one pass for both halves.
      if ((q & 7) === 0 && ow + 8 <= wOut && sW <= 2 && iw0 >= 0 && iw0 + (kW - 1) * dW + 8 * sW <= wIn) {
        panelRows(x, channels, planeIn, wIn, kH, kW, sH, sW, dH, dW, pT, oh, hIn, iw0, d);
        ow += 4;
        continue;
      }
      const colsOk = sW <= 2 && iw0 >= 0 && iw0 + (kW - 1) * dW + 4 * sW <= wIn;
      for (let c = 0; c < channels; c++) {
        const xc = x + f32s(c * planeIn);
        for (let kh = 0; kh < kH; kh++) {
          const ih = oh * sH - pT + kh * dH;
          const xr = xc + f32s(ih * wIn);
          if (ih < 0 || ih >= hIn) {
            for (let kw = 0; kw < kW; kw++) {
              v128.store(d, f32x4.splat(0));
              d += rowStep;
            }
          } else if (colsOk && sW === 1) {
            let src = xr + f32s(iw0);
            for (let kw = 0; kw < kW; kw++) {
              v128.store(d, v128.load(src));
              src += tapStep;
              d += rowStep;
            }
          } else if (colsOk) {
            let src = xr + f32s(iw0);
            for (let kw = 0; kw < kW; kw++) {
              v128.store(d, v128.shuffle<f32>(v128.load(src), v128.load(src, 16), 0, 2, 4, 6));
              src += tapStep;
              d += rowStep;
            }
          } else {
            // Near a border: the taps whose four inputs all lie inside still go by vector.
            for (let kw = 0; kw < kW; kw++) {
              const iw = iw0 + kw * dW;
              const s = xr + f32s(iw);
              if (iw >= 0 && iw + 4 * sW <= wIn && sW === 1) v128.store(d, v128.load(s));
              else if (iw >= 0 && iw + 4 * sW <= wIn && sW === 2)
                v128.store(d, v128.shuffle<f32>(v128.load(s), v128.load(s, 16), 0, 2, 4, 6));
              else {
                for (let l = 0; l < 4; l++) {
                  const col = iw + l * sW;
                  store<f32>(d + f32s(l), col >= 0 && col < wIn ? load<f32>(xr + f32s(col)) : 0);
                }
              }
              d += rowStep;
            }
          }
        }
      }
    }
  }
  zeroPackedBTail(dst, k, pixels);
}

/**
 * im2colPanels' rows of one panel whose eight pixels lie in one output row with every tap inside the input
 * columns (rows may still fall in the padding): two vectors a row, from two loads (stride 1) or four and
 * two even-lane shuffles (stride 2).
 */
function panelRows(
  x: usize,
  channels: i32,
  planeIn: i32,
  wIn: i32,
  kH: i32,
  kW: i32,
  sH: i32,
  sW: i32,
  dH: i32,
  dW: i32,
  pT: i32,
  oh: i32,
  hIn: i32,
  iw0: i32,
  d: usize,
): void {
  const rowStep = f32s(NR);
  const tapStep = f32s(dW);
  for (let c = 0; c < channels; c++) {
    const xc = x + f32s(c * planeIn);
    for (let kh = 0; kh < kH; kh++) {
      const ih = oh * sH - pT + kh * dH;
      if (ih < 0 || ih >= hIn) {
        for (let kw = 0; kw < kW; kw++) {
          v128.store(d, f32x4.splat(0));
          v128.store(d, f32x4.splat(0), 16);
          d += rowStep;
        }
        continue;
      }
      let src = xc + f32s(ih * wIn + iw0);
      if (sW === 1) {
        for (let kw = 0; kw < kW; kw++) {
          v128.store(d, v128.load(src));
          v128.store(d, v128.load(src, 16), 16);
          src += tapStep;
          d += rowStep;
        }
      } else {
        for (let kw = 0; kw < kW; kw++) {
          v128.store(d, v128.shuffle<f32>(v128.load(src), v128.load(src, 16), 0, 2, 4, 6));
          v128.store(d, v128.shuffle<f32>(v128.load(src, 32), v128.load(src, 48), 0, 2, 4, 6), 16);
          src += tapStep;
          d += rowStep;
        }
      }
    }
  }
}
