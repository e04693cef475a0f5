/**
 * Fully connected layer, y = x W^T + b (torch.nn.functional.linear). Every matrix product, forward
 * and backward, goes through the GEMM seam (`gemmKernels.gemm`) so a fast backend speeds all three.
 */
import { record } from "../autograd/record.js";
import { Tensor } from "../autograd/tensor.js";
import { gemmKernels } from "../kernels/gemm.js";
import { ArgumentError, describe, ShapeError } from "../tensor/errors.js";
import { formatShape, numel } from "../tensor/shape.js";

/**
 * x: [..., in] (at least 1-d), weight: [out, in], bias: [out] -> [..., out].
 * The leading dimensions of x are treated as one batch of M rows.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (!(x instanceof Tensor)) throw new ArgumentError(describe("linear", "x", "a Tensor", x));
  if (!(weight instanceof Tensor)) throw new ArgumentError(describe("linear", "weight", "a Tensor", weight));
  if (weight.ndim !== 2) {
    throw new ShapeError(
      describe("linear", "weight", "a 2-d tensor [out, in]", `shape ${formatShape(weight.shape)}`),
    );
  }
  const [outF, inF] = weight.shape;
  if (x.ndim === 0 || x.shape[x.ndim - 1] !== inF) {
    throw new ShapeError(
      `linear: x of shape ${formatShape(x.shape)} and weight of shape ${formatShape(weight.shape)} do not match: x's last dimension must be in_features = ${inF}`,
    );
  }
  const b = bias ?? null;
  if (b !== null) {
    if (!(b instanceof Tensor)) throw new ArgumentError(describe("linear", "bias", "a Tensor or null", b));
    if (b.ndim !== 1 || b.shape[0] !== outF) {
      throw new ShapeError(
        describe(
          "linear",
          "bias",
          `shape [${outF}] (out_features of weight)`,
          `shape ${formatShape(b.shape)}`,
        ),
      );
    }
  }
  const rows = numel(x.shape.slice(0, -1));
  const shape = [...x.shape.slice(0, -1), outF];
  const out = new Float32Array(rows * outF);
  const { gemm } = gemmKernels;
  // Y[M, out] = X[M, in] * W[out, in]^T
  if (rows > 0 && outF > 0) gemm(false, true, rows, outF, inF, 1, x.data, 0, weight.data, 0, 0, out, 0);
  if (b !== null) {
    for (let r = 0; r < rows; r++) for (let j = 0; j < outF; j++) out[r * outF + j] += b.data[j];
  }
  const inputs = b === null ? [x, weight] : [x, weight, b];
  return record("linear", out, shape, inputs, (g, needs) => {
    let gx: Float32Array | null = null;
    let gw: Float32Array | null = null;
    let gb: Float32Array | null = null;
    if (needs[0]) {
      // dX[M, in] = G[M, out] * W[out, in]
      gx = new Float32Array(x.numel);
      if (rows > 0 && inF > 0) gemm(false, false, rows, inF, outF, 1, g, 0, weight.data, 0, 0, gx, 0);
    }
    if (needs[1]) {
      // dW[out, in] = G[M, out]^T * X[M, in]
      gw = new Float32Array(weight.numel);
      if (outF > 0 && inF > 0) gemm(true, false, outF, inF, rows, 1, g, 0, x.data, 0, 0, gw, 0);
    }
    if (b !== null && needs[2]) {
      const acc = new Float64Array(outF);
      for (let r = 0; r < rows; r++) for (let j = 0; j < outF; j++) acc[j] += g[r * outF + j];
      gb = Float32Array.from(acc);
    }
    return b === null ? [gx, gw] : [gx, gw, gb];
  });
}
