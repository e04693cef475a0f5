// im2col and its adjoint col2im for one image and a run of channels. Row (c, kh, kw) of the column
// matrix holds, for every output pixel (oh, ow), the input value the tap reads (0 in the padding).
import { f32s, zeroF32 } from "./simd";

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
