// Vector helpers shared by every kernel. The build compiles this source twice: with relaxed SIMD
// (ASC_FEATURE_RELAXED_SIMD true: one fused multiply-add per step) and without (multiply then add).
// The branch is on a compile-time constant, so each binary keeps one arm only.

/** a * b + c, fused where the relaxed-SIMD build allows it. */
export function fmadd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** Byte size of n float32 values. */
export function f32s(n: i32): usize {
  return (<usize>n) << 2;
}

/**
 * Copies n floats. V8 implements memory.copy as a call into the runtime, which costs more than the copy
 * itself for the short rows of im2col and padded planes; an inline vector loop does not.
 */
export function copyF32(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = f32s(i);
    v128.store(dst + o, v128.load(src + o));
    v128.store(dst + o, v128.load(src + o, 16), 16);
  }
  for (; i + 4 <= n; i += 4) v128.store(dst + f32s(i), v128.load(src + f32s(i)));
  for (; i < n; i++) store<f32>(dst + f32s(i), load<f32>(src + f32s(i)));
}

/** dst[i] += src[i] for n floats (inline, for the same reason as copyF32). */
export function addF32(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = f32s(i);
    v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
  }
  for (; i < n; i++) store<f32>(dst + f32s(i), load<f32>(dst + f32s(i)) + load<f32>(src + f32s(i)));
}

/** Zeroes n floats (inline, for the same reason as copyF32). */
export function zeroF32(dst: usize, n: i32): void {
  const z = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + f32s(i), z);
  for (; i < n; i++) store<f32>(dst + f32s(i), 0);
}

/**
 * Stores the 4x4 transpose of rows x0..x3 (four vectors): column c of them, as one vector, at
 * dst + c * stride bytes.
 */
export function storeTransposed4(x0: v128, x1: v128, x2: v128, x3: v128, dst: usize, stride: usize): void {
  const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
  const t2 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
  const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
  v128.store(dst + stride, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
  v128.store(dst + 2 * stride, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
  v128.store(dst + 3 * stride, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
}
