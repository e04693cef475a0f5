import { record } from "../autograd/record.js";
import type { Tensor } from "../autograd/tensor.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { defaultRng, type Rng } from "../tensor/rng.js";

export interface DropoutOptions {
  /** Probability of zeroing each element, in [0, 1] (default 0.5). */
  p?: number;
  /** Off: the input is returned unchanged (default true, like F.dropout). */
  training?: boolean;
  /** Source of the mask; the seeded `defaultRng` (see `manualSeed`) when absent. */
  rng?: Rng;
}

/**
 * Inverted dropout, like `torch.nn.functional.dropout`: each element is kept with probability 1 - p and
 * scaled by 1 / (1 - p), so the expected value is unchanged; the same mask and scale apply to the gradient.
 * p = 0 or training = false returns `x` itself; p = 1 returns x * 0 (zeros, gradient zero), as PyTorch.
 * The mask comes from a seeded Rng, so a seed repeats it (PyTorch's own generator cannot be reproduced).
 */
export function dropout(x: Tensor, options: DropoutOptions = {}): Tensor {
  const op = "dropout";
  const p = options.p ?? 0.5;
  if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
    throw new ArgumentError(describe(op, "p", "a probability between 0 and 1", p));
  }
  const training = options.training ?? true;
  if (typeof training !== "boolean") throw new ArgumentError(describe(op, "training", "a boolean", training));
  if (p === 0 || !training || x.numel === 0) return x;
  const out = new Float32Array(x.numel);
  const mask = new Float32Array(x.numel);
  if (p === 1) {
    // PyTorch multiplies by a zero tensor here rather than dividing by 1 - p = 0.
    for (let i = 0; i < out.length; i++) out[i] = x.data[i] * 0;
  } else {
    const rng = options.rng ?? defaultRng;
    // PyTorch forms the mask in float32: bernoulli(1 - p) divided by (float)(1 - p).
    const scale = Math.fround(1 / Math.fround(1 - p));
    for (let i = 0; i < out.length; i++) {
      // uniform() < 1 - p keeps with probability 1 - p (up to the 2^-32 grid of uniform()).
      if (rng.uniform() < 1 - p) mask[i] = scale;
      // x * mask, like PyTorch: a dropped NaN or infinity stays NaN rather than becoming 0.
      out[i] = x.data[i] * mask[i];
    }
  }
  return record(op, out, x.shape, [x], (gradOut) => {
    const gradX = new Float32Array(gradOut.length);
    for (let i = 0; i < gradX.length; i++) gradX[i] = gradOut[i] * mask[i];
    return [gradX];
  });
}
