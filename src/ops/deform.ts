import { record } from "../autograd/record.js";
import type { Tensor } from "../autograd/tensor.js";
import { type DeformConv2dGeometry, deformConv2dKernels } from "../kernels/deform.js";
import { conv2dGeometry, type Padding2d } from "../tensor/conv-geometry.js";
import { ArgumentError, describe, ShapeError } from "../tensor/errors.js";
import { formatShape } from "../tensor/shape.js";
import { checkConvOptions, checkTensor } from "./checks.js";
import { biasGrad } from "./conv.js";

const OP = "deformConv2d";
const OPTION_NAMES: readonly string[] = ["stride", "padding", "dilation", "mask"];

export interface DeformConv2dOptions {
  stride?: number | readonly [number, number];
  /**
   * torchvision's number or [h, w]; also, as conv2d, explicit [top, left, bottom, right], 'valid' and 'same'
   * (stride 1), so that a deformable layer can take the padding of the conv it replaces.
   */
  padding?: Padding2d;
  dilation?: number | readonly [number, number];
  /** DCNv2 modulation [N, offsetGroups*kH*kW, Hout, Wout], multiplying each sample; absent or null for v1. */
  mask?: Tensor | null;
}

/**
 * Deformable convolution v1 / v2 (modulated) with torchvision 0.14's `torchvision.ops.deform_conv2d` semantics.
 *
 * - `input` [N, Cin, H, W]; `weight` [Cout, Cin/groups, kH, kW], the weight groups being Cin / weight.shape[1];
 *   optional `bias` [Cout].
 * - `offset` [N, 2*offsetGroups*kH*kW, Hout, Wout]: for offset group og and tap k = i*kW + j, channel
 *   og*2*kH*kW + 2k holds dy and the next one dx. offsetGroups (torchvision's n_offset_grps) is inferred from
 *   the channel count and must divide Cin; input channel c uses group floor(c / (Cin/offsetGroups)).
 * - Tap (i, j) of output pixel (oh, ow) samples input at y = oh*strideH - padTop + i*dilationH + dy and
 *   x = ow*strideW - padLeft + j*dilationW + dx, bilinearly; a sample is zero unless -1 < y < H and
 *   -1 < x < W, and corner pixels outside the image count as zero.
 * - `mask` (v2) multiplies each sample.
 *
 * Gradients flow to input, offset, weight, bias and mask. The offset gradient at an exactly integer sampling
 * coordinate is torchvision's: the one-sided slope towards +y / +x (see docs/deformable.md).
 */
export function deformConv2d(
  input: Tensor,
  offset: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: DeformConv2dOptions = {},
): Tensor {
  checkTensor(OP, input, "input");
  checkTensor(OP, offset, "offset");
  checkTensor(OP, weight, "weight");
  if (bias !== null && bias !== undefined) checkTensor(OP, bias, "bias");
  checkConvOptions(OP, options, OPTION_NAMES);
  const mask = options.mask ?? null;
  if (mask !== null) checkTensor(OP, mask, "mask");
  const g = deformGeometry(input.shape, offset.shape, weight.shape, mask?.shape ?? null, options);
  if (bias) {
    if (bias.shape.length !== 1 || bias.shape[0] !== g.cOut) {
      throw new ShapeError(
        describe(
          OP,
          "bias",
          `shape [${g.cOut}] (one value per output channel of weight ${formatShape(weight.shape)})`,
          bias.shape,
        ),
      );
    }
  }

  const out = new Float32Array(g.n * g.cOut * g.hOut * g.wOut);
  const xData = input.data;
  const offData = offset.data;
  const wData = weight.data;
  const mData = mask ? mask.data : null;
  deformConv2dKernels.forward(xData, offData, mData, wData, bias ? bias.data : null, g, out);

  // Input order of the record: input, offset, weight, then bias and mask when given.
  const inputs: Tensor[] = [input, offset, weight];
  const biasAt = bias ? inputs.push(bias) - 1 : -1;
  const maskAt = mask ? inputs.push(mask) - 1 : -1;
  return record(OP, out, [g.n, g.cOut, g.hOut, g.wOut], inputs, (gradOut, needs) => {
    const grads = {
      input: needs[0] ? new Float32Array(xData.length) : null,
      offset: needs[1] ? new Float32Array(offData.length) : null,
      weight: needs[2] ? new Float32Array(wData.length) : null,
      mask: maskAt >= 0 && needs[maskAt] && mData ? new Float32Array(mData.length) : null,
    };
    if (grads.input || grads.offset || grads.weight || grads.mask) {
      deformConv2dKernels.backward(xData, offData, mData, wData, gradOut, g, grads);
    }
    const result: (Float32Array | null)[] = [grads.input, grads.offset, grads.weight];
    if (biasAt >= 0) result.push(needs[biasAt] ? biasGrad(gradOut, g.n, g.cOut, g.hOut * g.wOut) : null);
    if (maskAt >= 0) result.push(grads.mask);
    return result;
  });
}

/**
 * Checks the shapes of a deformable convolution (torchvision's rules) and resolves its geometry.
 * Exported for the graph's shape inference; `maskShape` is null for v1.
 */
export function deformGeometry(
  inputShape: readonly number[],
  offsetShape: readonly number[],
  weightShape: readonly number[],
  maskShape: readonly number[] | null,
  options: Omit<DeformConv2dOptions, "mask"> = {},
): DeformConv2dGeometry {
  checkRank4(inputShape, "input", "[N, Cin, H, W]");
  checkRank4(weightShape, "weight", "[Cout, Cin/groups, kH, kW]");
  checkRank4(offsetShape, "offset", "[N, 2*offsetGroups*kH*kW, Hout, Wout]");
  if (maskShape !== null) checkRank4(maskShape, "mask", "[N, offsetGroups*kH*kW, Hout, Wout]");
  const cIn = inputShape[1];
  const cInPerGroup = weightShape[1];
  if (cInPerGroup < 1 || cIn % cInPerGroup !== 0) {
    throw new ShapeError(
      describe(
        OP,
        "weight",
        `shape [Cout, Cin/groups, kH, kW] whose second dimension divides the ${cIn} input channels (weight groups = Cin / weight.shape[1])`,
        weightShape,
      ),
    );
  }
  const groups = cIn / cInPerGroup;
  const conv = conv2dGeometry(
    inputShape,
    weightShape,
    { stride: options.stride, padding: options.padding, dilation: options.dilation, groups },
    OP,
  );
  const { n, kH, kW, hOut, wOut } = conv;
  const kk = kH * kW;
  const offsetChannels = offsetShape[1];
  if (offsetChannels < 1 || offsetChannels % (2 * kk) !== 0) {
    throw new ShapeError(
      describe(
        OP,
        "offset",
        `shape [N, 2*offsetGroups*kH*kW, Hout, Wout] = [${n}, a positive multiple of ${2 * kk}, ${hOut}, ${wOut}] (kernel ${kH}x${kW})`,
        offsetShape,
      ),
    );
  }
  const offsetGroups = offsetChannels / (2 * kk);
  if (cIn % offsetGroups !== 0) {
    throw new ArgumentError(
      describe(
        OP,
        "offset",
        `offset groups (offset channels ${offsetChannels} / (2*kH*kW = ${2 * kk})) dividing the ${cIn} input channels`,
        offsetGroups,
      ),
    );
  }
  const expectOffset = [n, 2 * offsetGroups * kk, hOut, wOut];
  if (offsetShape.some((d, i) => d !== expectOffset[i])) {
    throw new ShapeError(
      describe(
        OP,
        "offset",
        `shape ${formatShape(expectOffset)} ([N, 2*offsetGroups*kH*kW, Hout, Wout] for input ${formatShape(inputShape)}, weight ${formatShape(weightShape)})`,
        offsetShape,
      ),
    );
  }
  if (maskShape !== null) {
    const expectMask = [n, offsetGroups * kk, hOut, wOut];
    if (maskShape.some((d, i) => d !== expectMask[i])) {
      throw new ShapeError(
        describe(
          OP,
          "mask",
          `shape ${formatShape(expectMask)} ([N, offsetGroups*kH*kW, Hout, Wout] with ${offsetGroups} offset group${offsetGroups === 1 ? "" : "s"})`,
          maskShape,
        ),
      );
    }
  }
  return { ...conv, offsetGroups };
}

function checkRank4(shape: readonly number[], argument: string, what: string): void {
  if (shape.length !== 4) {
    throw new ShapeError(describe(OP, argument, `a 4-d tensor ${what}`, shape));
  }
}
