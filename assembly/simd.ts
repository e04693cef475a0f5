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

/** Zeroes n floats (inline, for the same reason as copyF32). */
export function zeroF32(dst: usize, n: i32): void {
  const z = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + f32s(i), z);
  for (; i < n; i++) store<f32>(dst + f32s(i), 0);
}
