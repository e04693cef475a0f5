import { record } from "../autograd/record.js";
import type { Tensor } from "../autograd/tensor.js";
import { conv2dKernels } from "../kernels/conv2d.js";
import { type Conv2dOptions, conv2dGeometry } from "../tensor/conv-geometry.js";
import { describe, ShapeError } from "../tensor/errors.js";
import { formatShape } from "../tensor/shape.js";
import { checkConvOptions, checkTensor } from "./checks.js";

const OP = "conv2d";
const OPTION_NAMES: readonly string[] = ["stride", "padding", "dilation", "groups"];

/**
 * 2-d convolution with PyTorch's `torch.nn.functional.conv2d` semantics (cross-correlation, NCHW):
 * `x` [N, Cin, H, W], `weight` [Cout, Cin/groups, kH, kW], optional `bias` [Cout] -> [N, Cout, Hout, Wout]
 * with Hout = floor((H + padTop + padBottom - dilationH*(kH-1) - 1) / strideH) + 1 (same for W).
 *
 * `padding` is a number, `[h, w]`, explicit `[top, left, bottom, right]` (what PyTorch does with `F.pad` then
 * padding 0, or ONNX `pads`), `'valid'` (none) or `'same'` (stride 1 only; the odd pixel of an even total goes
 * to the bottom/right, as in PyTorch). Gradients flow to every input that requires one.
 */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: Conv2dOptions = {},
): Tensor {
  checkTensor(OP, x, "input");
  checkTensor(OP, weight, "weight");
  if (bias !== null) checkTensor(OP, bias, "bias");
  checkConvOptions(OP, options, OPTION_NAMES);
  const g = conv2dGeometry(x.shape, weight.shape, options, OP);
  if (bias) {
    if (bias.shape.length !== 1 || bias.shape[0] !== g.cOut) {
      throw new ShapeError(
        describe(
          OP,
          "bias",
          `shape [${g.cOut}] (one value per output channel of weight ${formatShape(weight.shape)})`,
          [...bias.shape],
        ),
      );
    }
  }

  const outShape = [g.n, g.cOut, g.hOut, g.wOut];
  const out = new Float32Array(g.n * g.cOut * g.hOut * g.wOut);
  conv2dKernels.forward(x.data, weight.data, bias ? bias.data : null, g, out);

  // The closure keeps the input and weight buffers (not copies), as PyTorch saves its tensors for backward.
  const xData = x.data;
  const wData = weight.data;
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(OP, out, outShape, inputs, (gradOut, needs) => {
    let gradX: Float32Array | null = null;
    let gradW: Float32Array | null = null;
    if (needs[0]) {
      gradX = new Float32Array(xData.length);
      conv2dKernels.backwardInput(gradOut, wData, g, gradX);
    }
    if (needs[1]) {
      gradW = new Float32Array(wData.length);
      conv2dKernels.backwardWeight(xData, gradOut, g, gradW);
    }
    if (!bias) return [gradX, gradW];
    return [gradX, gradW, needs[2] ? biasGrad(gradOut, g.n, g.cOut, g.hOut * g.wOut) : null];
  });
}

/**
 * d(loss)/d(bias[c]) = sum of gradOut over batch and positions of channel c (float64 sum); conv2d's and
 * deformConv2d's bias gradient.
 */
export function biasGrad(gradOut: Float32Array, n: number, c: number, plane: number): Float32Array {
  const grad = new Float32Array(c);
  for (let co = 0; co < c; co++) {
    let s = 0;
    for (let b = 0; b < n; b++) {
      const base = (b * c + co) * plane;
      for (let i = 0; i < plane; i++) s += gradOut[base + i];
    }
    grad[co] = s;
  }
  return grad;
}
