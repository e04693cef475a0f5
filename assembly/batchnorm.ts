// Batch-norm kernels over contiguous NCHW float32 buffers, the WebAssembly twins of
// src/kernels/ref/batchnorm.ts. The reference does its arithmetic in float64 (per-channel statistics and
// every element's normalisation), and so do these: each f32x4 load is promoted to two f64x2 halves and the
// results demoted once, so that the element-wise outputs are bit-identical to the reference and the sums
// differ from it only by summation order (several vector accumulators instead of one running sum).
//
// Every kernel works on the channel range [c0, c1), so that a thread pool can split the channels.
// Per-channel vectors: mean / varBiased / invstd are float64, weight / bias / gradWeight / gradBias float32.
import { f32s } from "./simd";

/** Byte size of n float64 values. */
function f64s(n: i32): usize {
  return (<usize>n) << 3;
}

/** Lanes 0 and 1 of an f32x4, as f64x2. */
function lo(v: v128): v128 {
  return f64x2.promote_low_f32x4(v);
}

/** Lanes 2 and 3 of an f32x4, as f64x2. */
function hi(v: v128): v128 {
  return f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3));
}

/** Two f64x2 rounded to one f32x4 (a's lanes first). */
function pack(a: v128, b: v128): v128 {
  return v128.shuffle<f32>(f32x4.demote_f64x2_zero(a), f32x4.demote_f64x2_zero(b), 0, 1, 4, 5);
}

function hsum(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

/** Flags of batchNormForward / batchNormBackward. */
const HAS_WEIGHT: i32 = 1;
const HAS_BIAS: i32 = 2;
const TRAINING: i32 = 4;
const NEED_X: i32 = 8;
const NEED_WEIGHT: i32 = 16;
const NEED_BIAS: i32 = 32;

/** Sum of channel ch over the batch (float64). */
function channelSum(x: usize, n: i32, c: i32, hw: i32, ch: i32): f64 {
  let a0 = f64x2.splat(0);
  let a1 = f64x2.splat(0);
  let a2 = f64x2.splat(0);
  let a3 = f64x2.splat(0);
  let tail: f64 = 0;
  for (let b = 0; b < n; b++) {
    const p = x + f32s((b * c + ch) * hw);
    let i = 0;
    for (; i + 8 <= hw; i += 8) {
      const v = v128.load(p + f32s(i));
      const w = v128.load(p + f32s(i), 16);
      a0 = f64x2.add(a0, lo(v));
      a1 = f64x2.add(a1, hi(v));
      a2 = f64x2.add(a2, lo(w));
      a3 = f64x2.add(a3, hi(w));
    }
    for (; i < hw; i++) tail += <f64>load<f32>(p + f32s(i));
  }
  return hsum(f64x2.add(f64x2.add(a0, a1), f64x2.add(a2, a3))) + tail;
}

/** Sum of (x - m)^2 over channel ch (float64). */
function channelSquares(x: usize, n: i32, c: i32, hw: i32, ch: i32, m: f64): f64 {
  const vm = f64x2.splat(m);
  let a0 = f64x2.splat(0);
  let a1 = f64x2.splat(0);
  let a2 = f64x2.splat(0);
  let a3 = f64x2.splat(0);
  let tail: f64 = 0;
  for (let b = 0; b < n; b++) {
    const p = x + f32s((b * c + ch) * hw);
    let i = 0;
    for (; i + 8 <= hw; i += 8) {
      const v = v128.load(p + f32s(i));
      const w = v128.load(p + f32s(i), 16);
      const t0 = f64x2.sub(lo(v), vm);
      const t1 = f64x2.sub(hi(v), vm);
      const t2 = f64x2.sub(lo(w), vm);
      const t3 = f64x2.sub(hi(w), vm);
      a0 = f64x2.add(a0, f64x2.mul(t0, t0));
      a1 = f64x2.add(a1, f64x2.mul(t1, t1));
      a2 = f64x2.add(a2, f64x2.mul(t2, t2));
      a3 = f64x2.add(a3, f64x2.mul(t3, t3));
    }
    for (; i < hw; i++) {
      const t = <f64>load<f32>(p + f32s(i)) - m;
      tail += t * t;
    }
  }
  return hsum(f64x2.add(f64x2.add(a0, a1), f64x2.add(a2, a3))) + tail;
}

/** Batch mean and biased variance of channels [c0, c1): two passes, as the reference. */
export function batchNormStats(
  x: usize,
  n: i32,
  c: i32,
  hw: i32,
  mean: usize,
  varBiased: usize,
  c0: i32,
  c1: i32,
): void {
  const count = <f64>n * <f64>hw;
  for (let ch = c0; ch < c1; ch++) {
    const m = channelSum(x, n, c, hw, ch) / count;
    store<f64>(mean + f64s(ch), m);
    store<f64>(varBiased + f64s(ch), channelSquares(x, n, c, hw, ch, m) / count);
  }
}

/**
 * out = (x - mean[c]) * (invstd[c] * weight[c]) + bias[c] in float64, rounded once (training passes the batch
 * statistics, evaluation the running ones). Without HAS_WEIGHT / HAS_BIAS the weight is 1 and the bias 0.
 */
export function batchNormForward(
  x: usize,
  n: i32,
  c: i32,
  hw: i32,
  mean: usize,
  invstd: usize,
  weight: usize,
  bias: usize,
  flags: i32,
  out: usize,
  c0: i32,
  c1: i32,
): void {
  for (let b = 0; b < n; b++) {
    for (let ch = c0; ch < c1; ch++) {
      const off = f32s((b * c + ch) * hw);
      const src = x + off;
      const dst = out + off;
      const m = load<f64>(mean + f64s(ch));
      const scale =
        load<f64>(invstd + f64s(ch)) * (flags & HAS_WEIGHT ? <f64>load<f32>(weight + f32s(ch)) : 1.0);
      const shift: f64 = flags & HAS_BIAS ? <f64>load<f32>(bias + f32s(ch)) : 0.0;
      const vm = f64x2.splat(m);
      const vs = f64x2.splat(scale);
      const vb = f64x2.splat(shift);
      let i = 0;
      for (; i + 4 <= hw; i += 4) {
        const v = v128.load(src + f32s(i));
        const r0 = f64x2.add(f64x2.mul(f64x2.sub(lo(v), vm), vs), vb);
        const r1 = f64x2.add(f64x2.mul(f64x2.sub(hi(v), vm), vs), vb);
        v128.store(dst + f32s(i), pack(r0, r1));
      }
      for (; i < hw; i++) {
        store<f32>(dst + f32s(i), <f32>((<f64>load<f32>(src + f32s(i)) - m) * scale + shift));
      }
    }
  }
}

/**
 * Gradients of channels [c0, c1), the reference's formulas in its order of operations:
 * gradWeight = sum(g * (x - mean)) * invstd, gradBias = sum(g), and
 * gradX = w * invstd * (g - meanG - (x - mean) * k) with meanG = sum(g) / count and
 * k = invstd^2 * sum(g * (x - mean)) / count in training (both 0 in evaluation).
 */
export function batchNormBackward(
  g: usize,
  x: usize,
  n: i32,
  c: i32,
  hw: i32,
  mean: usize,
  invstd: usize,
  weight: usize,
  flags: i32,
  gradX: usize,
  gradWeight: usize,
  gradBias: usize,
  c0: i32,
  c1: i32,
): void {
  const count = <f64>n * <f64>hw;
  const training = (flags & TRAINING) !== 0;
  for (let ch = c0; ch < c1; ch++) {
    const m = load<f64>(mean + f64s(ch));
    const is = load<f64>(invstd + f64s(ch));
    const vm = f64x2.splat(m);
    let sg0 = f64x2.splat(0);
    let sg1 = f64x2.splat(0);
    let sc0 = f64x2.splat(0);
    let sc1 = f64x2.splat(0);
    let sumGTail: f64 = 0;
    let sumGCTail: f64 = 0;
    for (let b = 0; b < n; b++) {
      const off = f32s((b * c + ch) * hw);
      const pg = g + off;
      const px = x + off;
      let i = 0;
      for (; i + 4 <= hw; i += 4) {
        const vg = v128.load(pg + f32s(i));
        const vx = v128.load(px + f32s(i));
        const g0 = lo(vg);
        const g1 = hi(vg);
        sg0 = f64x2.add(sg0, g0);
        sg1 = f64x2.add(sg1, g1);
        sc0 = f64x2.add(sc0, f64x2.mul(g0, f64x2.sub(lo(vx), vm)));
        sc1 = f64x2.add(sc1, f64x2.mul(g1, f64x2.sub(hi(vx), vm)));
      }
      for (; i < hw; i++) {
        const gv = <f64>load<f32>(pg + f32s(i));
        sumGTail += gv;
        sumGCTail += gv * (<f64>load<f32>(px + f32s(i)) - m);
      }
    }
    const sumG = hsum(f64x2.add(sg0, sg1)) + sumGTail;
    const sumGC = hsum(f64x2.add(sc0, sc1)) + sumGCTail;
    if (flags & NEED_WEIGHT) store<f32>(gradWeight + f32s(ch), <f32>(sumGC * is));
    if (flags & NEED_BIAS) store<f32>(gradBias + f32s(ch), <f32>sumG);
    if (!(flags & NEED_X)) continue;
    const w: f64 = flags & HAS_WEIGHT ? <f64>load<f32>(weight + f32s(ch)) : 1.0;
    const scale = w * is;
    const meanG: f64 = training ? sumG / count : 0.0;
    const k: f64 = training ? (is * is * sumGC) / count : 0.0;
    const vs = f64x2.splat(scale);
    const vmg = f64x2.splat(meanG);
    const vk = f64x2.splat(k);
    for (let b = 0; b < n; b++) {
      const off = f32s((b * c + ch) * hw);
      const pg = g + off;
      const px = x + off;
      const pd = gradX + off;
      let i = 0;
      for (; i + 4 <= hw; i += 4) {
        const vg = v128.load(pg + f32s(i));
        const vx = v128.load(px + f32s(i));
        const r0 = f64x2.mul(vs, f64x2.sub(f64x2.sub(lo(vg), vmg), f64x2.mul(f64x2.sub(lo(vx), vm), vk)));
        const r1 = f64x2.mul(vs, f64x2.sub(f64x2.sub(hi(vg), vmg), f64x2.mul(f64x2.sub(hi(vx), vm), vk)));
        v128.store(pd + f32s(i), pack(r0, r1));
      }
      for (; i < hw; i++) {
        const gv = <f64>load<f32>(pg + f32s(i));
        const xv = <f64>load<f32>(px + f32s(i));
        store<f32>(pd + f32s(i), <f32>(scale * (gv - meanG - (xv - m) * k)));
      }
    }
  }
}
