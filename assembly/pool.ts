// Pooling kernels over contiguous NCHW float32 buffers, the WebAssembly twins of src/kernels/ref/pool.ts with
// the same results bit for bit: max pooling keeps the reference's argmax rule (first maximum in row-major
// scan order by strict >, a NaN wins over numbers and the last NaN wins, a window with no input tap gives
// -inf and index -1), and the averages sum in float64 in the reference's order and divide once.
//
// Max pooling runs four output columns per f32x4 where their windows lie inside the image (stride 1: one
// load per tap; stride 2: two loads and an even-lane shuffle), and the scalar reference loop elsewhere.
// Every kernel works on the plane range [p0, p1) of the N*C planes, so that a thread pool can split them.
import { f32s } from "./simd";

// The pool geometry block the loader writes (src/kernels/wasm/pool.ts): i32 fields in this order.
const P_HIN: i32 = 0;
const P_WIN: i32 = 1;
const P_KH: i32 = 2;
const P_KW: i32 = 3;
const P_SH: i32 = 4;
const P_SW: i32 = 5;
const P_DH: i32 = 6;
const P_DW: i32 = 7;
const P_PT: i32 = 8;
const P_PL: i32 = 9;
const P_PB: i32 = 10;
const P_PR: i32 = 11;
const P_HOUT: i32 = 12;
const P_WOUT: i32 = 13;
const P_COUNT_INCLUDE_PAD: i32 = 14;

function pf(g: usize, i: i32): i32 {
  return load<i32>(g + ((<usize>i) << 2));
}

/** Byte size of n int32 values. */
function i32s(n: i32): usize {
  return (<usize>n) << 2;
}

/** One max-pool window, the reference loop: returns the value and stores the index at `at`. */
function maxWindow(
  px: usize,
  wIn: i32,
  ih0: i32,
  ih1: i32,
  iw0: i32,
  iw1: i32,
  dH: i32,
  dW: i32,
  out: usize,
  argmax: usize,
): void {
  let best = ih0 < ih1 && iw0 < iw1 ? ih0 * wIn + iw0 : -1;
  let bestVal = <f32>-Infinity;
  for (let ih = ih0; ih < ih1; ih += dH) {
    for (let iw = iw0; iw < iw1; iw += dW) {
      const idx = ih * wIn + iw;
      const v = load<f32>(px + f32s(idx));
      // biome-ignore lint/suspicious/noGlobalIsNan: AssemblyScript's isNaN is the f32 builtin (v != v), no coercion.
      if (v > bestVal || isNaN(v)) {
        bestVal = v;
        best = idx;
      }
    }
  }
  store<f32>(out, bestVal);
  store<i32>(argmax, best);
}

/**
 * Four adjacent output columns whose windows are fully inside the image, as four lanes: the taps in scan
 * order, each one taken where it is greater or NaN (the reference's test, lane by lane). `col0` is the first
 * column of the first lane's window; lanes are `sW` columns apart (1 or 2).
 */
function maxQuad(
  px: usize,
  wIn: i32,
  rowStart: i32,
  col0: i32,
  kH: i32,
  kW: i32,
  dH: i32,
  dW: i32,
  sW: i32,
  out: usize,
  argmax: usize,
): void {
  const laneStep = sW === 1 ? i32x4(0, 1, 2, 3) : i32x4(0, 2, 4, 6);
  let m = f32x4.splat(0);
  let idx = i32x4.splat(0);
  let first = true;
  for (let kh = 0; kh < kH; kh++) {
    const row = (rowStart + kh * dH) * wIn;
    for (let kw = 0; kw < kW; kw++) {
      const at = row + col0 + kw * dW;
      const p = px + f32s(at);
      let v: v128;
      if (sW === 1) v = v128.load(p);
      else v = v128.shuffle<f32>(v128.load(p), v128.load(p, 16), 0, 2, 4, 6);
      const vi = i32x4.add(i32x4.splat(at), laneStep);
      if (first) {
        // The first tap is in the image: the reference takes it (v > -inf, or NaN) or keeps -inf with its index.
        m = v;
        idx = vi;
        first = false;
      } else {
        const take = v128.or(f32x4.gt(v, m), f32x4.ne(v, v));
        m = v128.bitselect(v, m, take);
        idx = v128.bitselect(vi, idx, take);
      }
    }
  }
  v128.store(out, m);
  v128.store(argmax, idx);
}

/**
 * maxQuad for the common 2x2 window at horizontal stride 2 (undilated columns): each window row is one pair of
 * loads, split into its even (left tap) and odd (right tap) columns. `first` is the first window's top-left
 * position in the plane, `rowStep` the distance between the two window rows (vertical dilation times W).
 */
function maxQuad2x2(px: usize, first: i32, rowStep: i32, out: usize, argmax: usize): void {
  const lanes = i32x4(0, 2, 4, 6);
  const one = i32x4.splat(1);
  const p0 = px + f32s(first);
  const a0 = v128.load(p0);
  const b0 = v128.load(p0, 16);
  const p1 = px + f32s(first + rowStep);
  const a1 = v128.load(p1);
  const b1 = v128.load(p1, 16);
  const i00 = i32x4.add(i32x4.splat(first), lanes);
  const i10 = i32x4.add(i32x4.splat(first + rowStep), lanes);
  // Tap (0, 0) starts the scan; then (0, 1), (1, 0), (1, 1), each taken where greater or NaN.
  let m = v128.shuffle<f32>(a0, b0, 0, 2, 4, 6);
  let idx = i00;
  let v = v128.shuffle<f32>(a0, b0, 1, 3, 5, 7);
  let t = v128.or(f32x4.gt(v, m), f32x4.ne(v, v));
  m = v128.bitselect(v, m, t);
  idx = v128.bitselect(i32x4.add(i00, one), idx, t);
  v = v128.shuffle<f32>(a1, b1, 0, 2, 4, 6);
  t = v128.or(f32x4.gt(v, m), f32x4.ne(v, v));
  m = v128.bitselect(v, m, t);
  idx = v128.bitselect(i10, idx, t);
  v = v128.shuffle<f32>(a1, b1, 1, 3, 5, 7);
  t = v128.or(f32x4.gt(v, m), f32x4.ne(v, v));
  m = v128.bitselect(v, m, t);
  idx = v128.bitselect(i32x4.add(i10, one), idx, t);
  v128.store(out, m);
  v128.store(argmax, idx);
}

/** Max pooling of planes [p0, p1): writes out and argmax (positions inside one input plane). */
export function maxPoolForward(g: usize, x: usize, out: usize, argmax: usize, p0: i32, p1: i32): void {
  const hIn = pf(g, P_HIN);
  const wIn = pf(g, P_WIN);
  const kH = pf(g, P_KH);
  const kW = pf(g, P_KW);
  const sH = pf(g, P_SH);
  const sW = pf(g, P_SW);
  const dH = pf(g, P_DH);
  const dW = pf(g, P_DW);
  const pT = pf(g, P_PT);
  const pL = pf(g, P_PL);
  const hOut = pf(g, P_HOUT);
  const wOut = pf(g, P_WOUT);
  const inPlane = hIn * wIn;
  const outPlane = hOut * wOut;
  // Output columns [owLo, owHi) have their whole window inside the image; a quad starting at ow also needs
  // its last load (ow + 3 lanes, plus the odd lane stride 2 reads past its last tap) inside the row.
  let owLo = 0;
  while (owLo < wOut && owLo * sW - pL < 0) owLo++;
  const extent = (kW - 1) * dW;
  const quadOk = sW === 1 || sW === 2;
  // Last column a quad starting at ow reads: ow*sW - pL + extent + 3*sW (+1 with the stride-2 shuffle).
  const quadReach = 3 * sW + (sW === 2 ? 1 : 0);
  for (let p = p0; p < p1; p++) {
    const px = x + f32s(p * inPlane);
    const po = out + f32s(p * outPlane);
    const pa = argmax + i32s(p * outPlane);
    for (let oh = 0; oh < hOut; oh++) {
      let ih0 = oh * sH - pT;
      const ih1 = min(ih0 + (kH - 1) * dH + 1, hIn);
      const rowInside = ih0 >= 0 && ih0 + (kH - 1) * dH < hIn;
      while (ih0 < 0) ih0 += dH;
      const ro = oh * wOut;
      let ow = 0;
      if (rowInside && quadOk) {
        // Scalar up to the first column whose window starts inside, then quads while they fit.
        for (; ow < owLo; ow++) {
          let iw0 = ow * sW - pL;
          const iw1 = min(iw0 + extent + 1, wIn);
          while (iw0 < 0) iw0 += dW;
          maxWindow(px, wIn, ih0, ih1, iw0, iw1, dH, dW, po + f32s(ro + ow), pa + i32s(ro + ow));
        }
        // When the quads stop short of the row's end, one more quad ending at the last column (overlapping
        // the previous one, which it rewrites with the same values) saves the scalar tail where it fits.
        if (kH === 2 && kW === 2 && sW === 2 && dW === 1) {
          const rowStep = dH * wIn;
          for (; ow + 4 <= wOut && ow * 2 - pL + 8 <= wIn; ow += 4) {
            maxQuad2x2(px, ih0 * wIn + ow * 2 - pL, rowStep, po + f32s(ro + ow), pa + i32s(ro + ow));
          }
          const last = wOut - 4;
          if (ow < wOut && last >= owLo && last * 2 - pL + 8 <= wIn) {
            maxQuad2x2(px, ih0 * wIn + last * 2 - pL, rowStep, po + f32s(ro + last), pa + i32s(ro + last));
            ow = wOut;
          }
        } else {
          for (; ow + 4 <= wOut && ow * sW - pL + extent + quadReach < wIn; ow += 4) {
            maxQuad(px, wIn, ih0, ow * sW - pL, kH, kW, dH, dW, sW, po + f32s(ro + ow), pa + i32s(ro + ow));
          }
          const last = wOut - 4;
          if (ow < wOut && last >= owLo && last * sW - pL + extent + quadReach < wIn) {
            maxQuad(
              px,
              wIn,
              ih0,
              last * sW - pL,
              kH,
              kW,
              dH,
              dW,
              sW,
              po + f32s(ro + last),
              pa + i32s(ro + last),
            );
            ow = wOut;
          }
        }
      }
      for (; ow < wOut; ow++) {
        let iw0 = ow * sW - pL;
        const iw1 = min(iw0 + extent + 1, wIn);
        while (iw0 < 0) iw0 += dW;
        maxWindow(px, wIn, ih0, ih1, iw0, iw1, dH, dW, po + f32s(ro + ow), pa + i32s(ro + ow));
      }
    }
  }
}

/**
 * Backward of max pooling (fixed and adaptive) for planes [p0, p1): zeroes their input gradient, then adds
 * each output gradient at its argmax (in output order, as the reference; index -1 gets nothing).
 */
export function maxPoolBackward(
  gradOut: usize,
  argmax: usize,
  inPlane: i32,
  outPlane: i32,
  gradX: usize,
  p0: i32,
  p1: i32,
): void {
  const z = f32x4.splat(0);
  const start = gradX + f32s(p0 * inPlane);
  const total = (p1 - p0) * inPlane;
  let i = 0;
  for (; i + 4 <= total; i += 4) v128.store(start + f32s(i), z);
  for (; i < total; i++) store<f32>(start + f32s(i), 0);
  for (let p = p0; p < p1; p++) {
    const gx = gradX + f32s(p * inPlane);
    const go = gradOut + f32s(p * outPlane);
    const pa = argmax + i32s(p * outPlane);
    for (let o = 0; o < outPlane; o++) {
      const idx = load<i32>(pa + i32s(o));
      if (idx >= 0) {
        const at = gx + f32s(idx);
        store<f32>(at, load<f32>(at) + load<f32>(go + f32s(o)));
      }
    }
  }
}

// Average pooling: PyTorch's window rules as the reference's avgWindow (clipped to the padded input for the
// count-include-pad size, then to the image for summing). These globals hold the last window computed.
let winH0: i32 = 0;
let winH1: i32 = 0;
let winW0: i32 = 0;
let winW1: i32 = 0;
let winDivisor: f64 = 1;

function avgWindow(g: usize, divisorOverride: f64, oh: i32, ow: i32): void {
  const hIn = pf(g, P_HIN);
  const wIn = pf(g, P_WIN);
  let h0 = oh * pf(g, P_SH) - pf(g, P_PT);
  let w0 = ow * pf(g, P_SW) - pf(g, P_PL);
  let h1 = min(h0 + pf(g, P_KH), hIn + pf(g, P_PB));
  let w1 = min(w0 + pf(g, P_KW), wIn + pf(g, P_PR));
  const poolSize = (h1 - h0) * (w1 - w0);
  h0 = max(h0, 0);
  w0 = max(w0, 0);
  h1 = min(h1, hIn);
  w1 = min(w1, wIn);
  if (divisorOverride !== 0) winDivisor = divisorOverride;
  else if (pf(g, P_COUNT_INCLUDE_PAD)) winDivisor = <f64>poolSize;
  else winDivisor = <f64>((h1 - h0) * (w1 - w0));
  winH0 = h0;
  winH1 = h1;
  winW0 = w0;
  winW1 = w1;
}

/** Average pooling of planes [p0, p1). `divisorOverride` is 0 for none. */
export function avgPoolForward(g: usize, divisorOverride: f64, x: usize, out: usize, p0: i32, p1: i32): void {
  const hIn = pf(g, P_HIN);
  const wIn = pf(g, P_WIN);
  const hOut = pf(g, P_HOUT);
  const wOut = pf(g, P_WOUT);
  for (let p = p0; p < p1; p++) {
    const px = x + f32s(p * hIn * wIn);
    const po = out + f32s(p * hOut * wOut);
    for (let oh = 0; oh < hOut; oh++) {
      for (let ow = 0; ow < wOut; ow++) {
        avgWindow(g, divisorOverride, oh, ow);
        const at = po + f32s(oh * wOut + ow);
        if (winH0 >= winH1 || winW0 >= winW1) {
          store<f32>(at, 0);
          continue;
        }
        let sum: f64 = 0;
        for (let ih = winH0; ih < winH1; ih++) {
          for (let iw = winW0; iw < winW1; iw++) sum += <f64>load<f32>(px + f32s(ih * wIn + iw));
        }
        store<f32>(at, <f32>(sum / winDivisor));
      }
    }
  }
}

/** Backward of average pooling for planes [p0, p1): zeroes their gradient, then spreads each share. */
export function avgPoolBackward(
  g: usize,
  divisorOverride: f64,
  gradOut: usize,
  gradX: usize,
  p0: i32,
  p1: i32,
): void {
  const hIn = pf(g, P_HIN);
  const wIn = pf(g, P_WIN);
  const hOut = pf(g, P_HOUT);
  const wOut = pf(g, P_WOUT);
  memory.fill(gradX + f32s(p0 * hIn * wIn), 0, f32s((p1 - p0) * hIn * wIn));
  for (let p = p0; p < p1; p++) {
    const px = gradX + f32s(p * hIn * wIn);
    const po = gradOut + f32s(p * hOut * wOut);
    for (let oh = 0; oh < hOut; oh++) {
      for (let ow = 0; ow < wOut; ow++) {
        avgWindow(g, divisorOverride, oh, ow);
        if (winH0 >= winH1 || winW0 >= winW1) continue;
        const share = <f64>load<f32>(po + f32s(oh * wOut + ow)) / winDivisor;
        for (let ih = winH0; ih < winH1; ih++) {
          for (let iw = winW0; iw < winW1; iw++) {
            const at = px + f32s(ih * wIn + iw);
            store<f32>(at, <f32>(<f64>load<f32>(at) + share));
          }
        }
      }
    }
  }
}

/** PyTorch's adaptive bin start, floor(i * inSize / outSize). */
function binStart(i: i32, outSize: i32, inSize: i32): i32 {
  return <i32>((<i64>i * <i64>inSize) / <i64>outSize);
}

/** PyTorch's adaptive bin end (exclusive), ceil((i + 1) * inSize / outSize). */
function binEnd(i: i32, outSize: i32, inSize: i32): i32 {
  return <i32>((<i64>(i + 1) * <i64>inSize + <i64>outSize - 1) / <i64>outSize);
}

/** Adaptive average pooling of planes [p0, p1). */
export function adaptiveAvgPoolForward(
  hIn: i32,
  wIn: i32,
  hOut: i32,
  wOut: i32,
  x: usize,
  out: usize,
  p0: i32,
  p1: i32,
): void {
  for (let p = p0; p < p1; p++) {
    const px = x + f32s(p * hIn * wIn);
    const po = out + f32s(p * hOut * wOut);
    for (let oh = 0; oh < hOut; oh++) {
      const h0 = binStart(oh, hOut, hIn);
      const h1 = binEnd(oh, hOut, hIn);
      for (let ow = 0; ow < wOut; ow++) {
        const w0 = binStart(ow, wOut, wIn);
        const w1 = binEnd(ow, wOut, wIn);
        let sum: f64 = 0;
        for (let ih = h0; ih < h1; ih++) {
          const row = px + f32s(ih * wIn);
          for (let iw = w0; iw < w1; iw++) sum += <f64>load<f32>(row + f32s(iw));
        }
        store<f32>(po + f32s(oh * wOut + ow), <f32>(sum / <f64>((h1 - h0) * (w1 - w0))));
      }
    }
  }
}

/** Backward of adaptive average pooling for planes [p0, p1). */
export function adaptiveAvgPoolBackward(
  hIn: i32,
  wIn: i32,
  hOut: i32,
  wOut: i32,
  gradOut: usize,
  gradX: usize,
  p0: i32,
  p1: i32,
): void {
  memory.fill(gradX + f32s(p0 * hIn * wIn), 0, f32s((p1 - p0) * hIn * wIn));
  for (let p = p0; p < p1; p++) {
    const px = gradX + f32s(p * hIn * wIn);
    const po = gradOut + f32s(p * hOut * wOut);
    for (let oh = 0; oh < hOut; oh++) {
      const h0 = binStart(oh, hOut, hIn);
      const h1 = binEnd(oh, hOut, hIn);
      for (let ow = 0; ow < wOut; ow++) {
        const w0 = binStart(ow, wOut, wIn);
        const w1 = binEnd(ow, wOut, wIn);
        const share = <f64>load<f32>(po + f32s(oh * wOut + ow)) / <f64>((h1 - h0) * (w1 - w0));
        for (let ih = h0; ih < h1; ih++) {
          const row = px + f32s(ih * wIn);
          for (let iw = w0; iw < w1; iw++) {
            const at = row + f32s(iw);
            store<f32>(at, <f32>(<f64>load<f32>(at) + share));
          }
        }
      }
    }
  }
}

/** Adaptive max pooling of planes [p0, p1): the reference's scan and argmax rule over each bin. */
export function adaptiveMaxPoolForward(
  hIn: i32,
  wIn: i32,
  hOut: i32,
  wOut: i32,
  x: usize,
  out: usize,
  argmax: usize,
  p0: i32,
  p1: i32,
): void {
  for (let p = p0; p < p1; p++) {
    const px = x + f32s(p * hIn * wIn);
    const po = out + f32s(p * hOut * wOut);
    const pa = argmax + i32s(p * hOut * wOut);
    for (let oh = 0; oh < hOut; oh++) {
      const h0 = binStart(oh, hOut, hIn);
      const h1 = binEnd(oh, hOut, hIn);
      for (let ow = 0; ow < wOut; ow++) {
        const w0 = binStart(ow, wOut, wIn);
        const w1 = binEnd(ow, wOut, wIn);
        let best = h0 * wIn + w0;
        let bestVal = <f32>-Infinity;
        for (let ih = h0; ih < h1; ih++) {
          for (let iw = w0; iw < w1; iw++) {
            const idx = ih * wIn + iw;
            const v = load<f32>(px + f32s(idx));
            // biome-ignore lint/suspicious/noGlobalIsNan: AssemblyScript's isNaN is the f32 builtin (v != v), no coercion.
            if (v > bestVal || isNaN(v)) {
              bestVal = v;
              best = idx;
            }
          }
        }
        store<f32>(po + f32s(oh * wOut + ow), bestVal);
        store<i32>(pa + i32s(oh * wOut + ow), best);
      }
    }
  }
}
