import { record } from "../autograd/record.js";
import type { Tensor } from "../autograd/tensor.js";
import { ArgumentError, describe, ShapeError } from "../tensor/errors.js";
import { checkPositiveInt, formatShape } from "../tensor/shape.js";

/**
 * Writes the channel shuffle of `src` into `dst`: output channel j * groups + i takes input channel
 * i * (C / groups) + j (view [N, g, C/g, H, W], swap the two channel axes, flatten). With `groups`
 * replaced by C / groups this is the inverse permutation, which is what backward uses.
 */
function shuffleChannels(
  src: Float32Array,
  dst: Float32Array,
  n: number,
  c: number,
  hw: number,
  groups: number,
): void {
  const perGroup = c / groups;
  for (let b = 0; b < n; b++) {
    const base = b * c * hw;
    for (let i = 0; i < groups; i++) {
      for (let j = 0; j < perGroup; j++) {
        const from = base + (i * perGroup + j) * hw;
        dst.set(src.subarray(from, from + hw), base + (j * groups + i) * hw);
      }
    }
  }
}

/**
 * ShuffleNet's channel shuffle, like `torch.nn.ChannelShuffle(groups)`: [N, C, H, W] viewed as
 * [N, groups, C/groups, H, W], transposed to [N, C/groups, groups, H, W] and flattened back.
 * groups must divide C. Backward applies the inverse permutation (a shuffle with C/groups groups).
 */
export function channelShuffle(x: Tensor, groups: number): Tensor {
  const op = "channelShuffle";
  if (x.shape.length !== 4) {
    throw new ShapeError(describe(op, "input", "a 4-d tensor [N, C, H, W]", `shape ${formatShape(x.shape)}`));
  }
  checkPositiveInt(groups, op, "groups");
  const [n, c, h, w] = x.shape;
  if (c % groups !== 0) {
    throw new ArgumentError(describe(op, "groups", `a divisor of the number of channels (${c})`, groups));
  }
  const hw = h * w;
  const out = new Float32Array(x.numel);
  shuffleChannels(x.data, out, n, c, hw, groups);
  return record(op, out, x.shape, [x], (gradOut) => {
    const gradX = new Float32Array(gradOut.length);
    shuffleChannels(gradOut, gradX, n, c, hw, c / groups);
    return [gradX];
  });
}
