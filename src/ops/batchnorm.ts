import { record } from "../autograd/record.js";
import type { Tensor } from "../autograd/tensor.js";
import { type BatchNormDims, batchNormKernels } from "../kernels/batchnorm.js";
import { ArgumentError, describe, ShapeError } from "../tensor/errors.js";
import { formatShape } from "../tensor/shape.js";

export interface BatchNorm2dOptions {
  /** Use batch statistics and update the running ones (default false, like F.batch_norm). */
  training?: boolean;
  /**
   * Weight of the new batch statistic in the running average: running = (1 - momentum) * running +
   * momentum * batch (default 0.1). Must be a number: PyTorch's momentum=None (cumulative average) is
   * not supported.
   */
  momentum?: number;
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
}

/**
 * Batch normalisation over N, H, W of an [N, C, H, W] tensor, like `torch.nn.functional.batch_norm`.
 *
 * - training: normalises with the batch mean and biased variance, and updates `runningMean` /
 *   `runningVar` in place (each one that is not null) with the batch mean and the unbiased variance;
 *   the gradient flows through the batch statistics.
 * - evaluation: normalises with `runningMean` / `runningVar`, which are then required.
 *
 * `weight` and `bias` ([C], or null for no affine transform) get gradients in both modes; the running
 * statistics are buffers and never do.
 */
export function batchNorm2d(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  options: BatchNorm2dOptions = {},
): Tensor {
  const op = "batchNorm2d";
  if (x.shape.length !== 4) {
    throw new ShapeError(describe(op, "input", "a 4-d tensor [N, C, H, W]", `shape ${formatShape(x.shape)}`));
  }
  // Plain JS callers may pass undefined for an absent tensor; treat it as null.
  runningMean ??= null;
  runningVar ??= null;
  weight ??= null;
  bias ??= null;
  const [n, c, h, w] = x.shape;
  const d: BatchNormDims = { n, c, hw: h * w };
  const training = options.training ?? false;
  if (typeof training !== "boolean") throw new ArgumentError(describe(op, "training", "a boolean", training));
  // undefined means the default; null is refused rather than read as PyTorch's momentum=None (cumulative
  // average), which is not supported.
  const momentum = options.momentum === undefined ? 0.1 : options.momentum;
  if (typeof momentum !== "number" || !Number.isFinite(momentum)) {
    throw new ArgumentError(
      describe(
        op,
        "momentum",
        "a finite number (momentum=None, the cumulative average, is not supported)",
        momentum,
      ),
    );
  }
  const eps = options.eps ?? 1e-5;
  if (typeof eps !== "number" || !Number.isFinite(eps) || eps < 0) {
    throw new ArgumentError(describe(op, "eps", "a finite non-negative number", eps));
  }
  checkPerChannel(runningMean, c, op, "runningMean");
  checkPerChannel(runningVar, c, op, "runningVar");
  checkPerChannel(weight, c, op, "weight");
  checkPerChannel(bias, c, op, "bias");

  const count = n * d.hw;
  const mean = new Float64Array(c);
  const invstd = new Float64Array(c);
  if (training) {
    if (count <= 1) {
      throw new ShapeError(
        describe(op, "input", "more than 1 value per channel when training", `shape ${formatShape(x.shape)}`),
      );
    }
    const varBiased = new Float64Array(c);
    batchNormKernels.stats(x.data, d, mean, varBiased);
    for (let ch = 0; ch < c; ch++) invstd[ch] = 1 / Math.sqrt(varBiased[ch] + eps);
    // In place, in PyTorch's order: momentum * batch + (1 - momentum) * running, unbiased variance.
    if (runningMean !== null) {
      const rm = runningMean.data;
      for (let ch = 0; ch < c; ch++) rm[ch] = momentum * mean[ch] + (1 - momentum) * rm[ch];
    }
    if (runningVar !== null) {
      const rv = runningVar.data;
      const unbias = count / (count - 1);
      for (let ch = 0; ch < c; ch++) rv[ch] = momentum * varBiased[ch] * unbias + (1 - momentum) * rv[ch];
    }
  } else {
    if (runningMean === null || runningVar === null) {
      const missing = runningMean === null ? "runningMean" : "runningVar";
      throw new ArgumentError(describe(op, missing, "a tensor in evaluation mode (training: false)", null));
    }
    for (let ch = 0; ch < c; ch++) {
      mean[ch] = runningMean.data[ch];
      invstd[ch] = 1 / Math.sqrt(runningVar.data[ch] + eps);
    }
  }

  const out = new Float32Array(x.numel);
  const wData = weight === null ? null : weight.data;
  batchNormKernels.forward(x.data, d, mean, invstd, wData, bias === null ? null : bias.data, out);

  // Inputs that can receive gradients: x, then weight and bias when present.
  const inputs: Tensor[] = [x];
  if (weight !== null) inputs.push(weight);
  if (bias !== null) inputs.push(bias);
  const xData = x.data;
  return record(op, out, x.shape, inputs, (gradOut, needs) => {
    const gradX = needs[0] ? new Float32Array(xData.length) : null;
    const wIndex = weight === null ? -1 : 1;
    const bIndex = bias === null ? -1 : weight === null ? 1 : 2;
    const gradW = wIndex > 0 && needs[wIndex] ? new Float32Array(c) : null;
    const gradB = bIndex > 0 && needs[bIndex] ? new Float32Array(c) : null;
    batchNormKernels.backward(gradOut, xData, d, mean, invstd, wData, training, gradX, gradW, gradB);
    const grads: (Float32Array | null)[] = [gradX];
    if (weight !== null) grads.push(gradW);
    if (bias !== null) grads.push(gradB);
    return grads;
  });
}

function checkPerChannel(t: Tensor | null, c: number, op: string, argument: string): void {
  if (t === null) return;
  if (t.shape.length !== 1 || t.shape[0] !== c) {
    throw new ShapeError(
      describe(
        op,
        argument,
        `a 1-d tensor of ${c} elements (one per channel)`,
        `shape ${formatShape(t.shape)}`,
      ),
    );
  }
}
