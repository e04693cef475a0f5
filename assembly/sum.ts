// Sums of per-image partial results, in image order, as one call accumulating image after image computes
// them: dst = src[0], then dst += src[n] for n = 1, 2, ... (the first copied, not added to zero, so a -0
// stays -0 as in that call).
import { addF32, copyF32, f32s } from "./simd";

/** dst[0, len) = sum over n < images of src[n * len, (n + 1) * len), added in order of n. */
export function sumImages(dst: usize, src: usize, images: i32, len: i32): void {
  if (images <= 0) return;
  copyF32(dst, src, len);
  for (let n = 1; n < images; n++) addF32(dst, src + f32s(n * len), len);
}
