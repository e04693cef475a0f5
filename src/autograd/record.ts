import { isGradEnabled } from "./gradmode.js";
import { Tensor } from "./tensor.js";

export type BackwardFn = (gradOutput: Float32Array, needs: readonly boolean[]) => (Float32Array | null)[];

/**
 * Wraps an op's output and, when gradients are being recorded and some input needs one, attaches
 * the backward closure. Ops call this once per output; `backward` may assume `needs` tells which
 * gradients to compute and should skip the others (return null).
 */
export function record(
  name: string,
  data: Float32Array,
  shape: readonly number[],
  inputs: readonly Tensor[],
  backward: BackwardFn,
): Tensor {
  const out = new Tensor(data, shape);
  if (isGradEnabled() && inputs.some((x) => x.requiresGrad)) {
    out.requiresGrad = true;
    out.gradFn = { name, inputs, backward };
  }
  return out;
}
