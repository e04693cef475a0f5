import { Tensor } from "../autograd/tensor.js";
import type { Padding2d } from "../tensor/conv-geometry.js";
import { ArgumentError, describe, ShapeError } from "../tensor/errors.js";
import { defaultRng, type Rng } from "../tensor/rng.js";
import { checkPositiveInt, formatShape, pair } from "../tensor/shape.js";
import { sigmoid } from "./activation.js";
import { conv2d } from "./conv.js";
import { deformConv2d } from "./deform.js";
import { mul } from "./elementwise.js";
import { split } from "./shape.js";

const OP = "deformableConv2d";

/**
 * The trainable deformable convolution (DCN v1, or v2 with `modulated`) in functional form: plain parameter
 * tensors plus a function that applies them, for the graph and the blocks to reuse.
 *
 * An offset branch, a regular conv over the same input with the main conv's kernel size, stride, padding and
 * dilation (groups 1), predicts for every output pixel 2*offsetGroups*kH*kW offsets (torchvision's (dy, dx)
 * layout) and, for v2, offsetGroups*kH*kW mask logits after them. Its weight and bias start at zero.
 *
 * The mask is 2*sigmoid(logit), not DCNv2's plain sigmoid: it still lies in (0, 2) and is smooth, but a fresh
 * layer (logits 0) has mask exactly 1, so a fresh v1 or v2 layer computes exactly the plain conv with the same
 * weight and bias. That makes "replace this conv by a deformable one" a function-preserving rewrite for both
 * versions (with plain sigmoid a fresh v2 layer would output 0.5x the conv plus the bias).
 */
export interface DeformableConv2dInit {
  inChannels: number;
  outChannels: number;
  kernelSize: number | readonly [number, number];
  stride?: number | readonly [number, number];
  padding?: Padding2d;
  dilation?: number | readonly [number, number];
  /** Weight groups of the main conv (Cin and Cout divisible by it). Default 1. */
  groups?: number;
  /** Offset groups: input channels are split into this many groups, each with its own offsets. Default 1. */
  offsetGroups?: number;
  /** DCNv2: predict a modulation mask as well. Default false (v1). */
  modulated?: boolean;
  /** Whether the main conv has a bias. Default true, like torch.nn.Conv2d. */
  bias?: boolean;
  /** Generator for the main weight's initialisation; the seeded default when absent. */
  rng?: Rng;
}

/** Parameters of a deformable conv layer: leaf tensors with requiresGrad. */
export interface DeformableConv2dParams {
  /** [Cout, Cin/groups, kH, kW], initialised like torch.nn.Conv2d (uniform in +-1/sqrt(fanIn)). */
  weight: Tensor;
  /** [Cout] or null. */
  bias: Tensor | null;
  /** [(2 or 3)*offsetGroups*kH*kW, Cin, kH, kW], zeros. */
  offsetWeight: Tensor;
  /** [(2 or 3)*offsetGroups*kH*kW], zeros. */
  offsetBias: Tensor;
}

/** Geometry used when applying the layer: the same stride, padding and dilation for both convs. */
export interface DeformableConv2dOptions {
  stride?: number | readonly [number, number];
  padding?: Padding2d;
  dilation?: number | readonly [number, number];
  /** Must match the layer's creation: whether the offset branch also predicts the mask. Default false. */
  modulated?: boolean;
}

/** Creates the parameters of a deformable conv layer (see the module comment for the conventions). */
export function initDeformableConv2d(init: DeformableConv2dInit): DeformableConv2dParams {
  const op = "initDeformableConv2d";
  if (typeof init !== "object" || init === null) {
    throw new ArgumentError(
      describe(op, "options", "an object { inChannels, outChannels, kernelSize, ... }", init),
    );
  }
  const cIn = checkPositiveInt(init.inChannels, op, "inChannels");
  const cOut = checkPositiveInt(init.outChannels, op, "outChannels");
  const [kH, kW] = pair(init.kernelSize, 0, op, "kernelSize", checkPositiveInt);
  const groups = checkPositiveInt(init.groups ?? 1, op, "groups");
  const offsetGroups = checkPositiveInt(init.offsetGroups ?? 1, op, "offsetGroups");
  if (cIn % groups !== 0 || cOut % groups !== 0) {
    throw new ArgumentError(
      describe(op, "groups", `a divisor of inChannels (${cIn}) and outChannels (${cOut})`, groups),
    );
  }
  if (cIn % offsetGroups !== 0) {
    throw new ArgumentError(describe(op, "offsetGroups", `a divisor of inChannels (${cIn})`, offsetGroups));
  }
  const rng = init.rng ?? defaultRng;
  const fanIn = (cIn / groups) * kH * kW;
  // torch.nn.Conv2d's reset_parameters: kaiming_uniform(a=sqrt(5)) is uniform in +-1/sqrt(fanIn); bias too.
  const bound = 1 / Math.sqrt(fanIn);
  const uniform = (n: number): Float32Array =>
    Float32Array.from({ length: n }, () => (2 * rng.uniform() - 1) * bound);
  const weight = new Tensor(uniform(cOut * fanIn), [cOut, cIn / groups, kH, kW], true);
  const bias = init.bias === false ? null : new Tensor(uniform(cOut), [cOut], true);
  const branch = (init.modulated ? 3 : 2) * offsetGroups * kH * kW;
  return {
    weight,
    bias,
    offsetWeight: new Tensor(new Float32Array(branch * cIn * kH * kW), [branch, cIn, kH, kW], true),
    offsetBias: new Tensor(new Float32Array(branch), [branch], true),
  };
}

/**
 * Applies a deformable conv layer: offsets (and, for v2, mask = 2*sigmoid(logits)) from the offset conv, then
 * deformConv2d with the main weight and bias. Gradients reach all four parameters and x.
 */
export function deformableConv2d(
  x: Tensor,
  params: DeformableConv2dParams,
  options: DeformableConv2dOptions = {},
): Tensor {
  const { weight, offsetWeight, offsetBias } = params;
  if (
    !(offsetWeight instanceof Tensor) ||
    offsetWeight.ndim !== 4 ||
    !(weight instanceof Tensor) ||
    weight.ndim !== 4
  ) {
    throw new ArgumentError(
      describe(OP, "params", "{ weight, bias, offsetWeight, offsetBias } with 4-d weights", params),
    );
  }
  const kk = weight.shape[2] * weight.shape[3];
  const perGroup = (options.modulated ? 3 : 2) * kk;
  const branch = offsetWeight.shape[0];
  if (
    branch % perGroup !== 0 ||
    offsetWeight.shape[2] !== weight.shape[2] ||
    offsetWeight.shape[3] !== weight.shape[3]
  ) {
    throw new ShapeError(
      describe(
        OP,
        "params.offsetWeight",
        `shape [${options.modulated ? "3" : "2"}*offsetGroups*kH*kW = a multiple of ${perGroup}, Cin, ${weight.shape[2]}, ${weight.shape[3]}] for ${options.modulated ? "a modulated (v2)" : "a v1"} layer with weight ${formatShape(weight.shape)}`,
        offsetWeight.shape,
      ),
    );
  }
  const geometry = { stride: options.stride, padding: options.padding, dilation: options.dilation };
  const branchOut = conv2d(x, offsetWeight, offsetBias, geometry);
  if (!options.modulated) return deformConv2d(x, branchOut, weight, params.bias, geometry);
  const offsetGroups = branch / perGroup;
  const [offset, logits] = split(branchOut, [2 * offsetGroups * kk, offsetGroups * kk], 1);
  const mask = mul(sigmoid(logits), 2);
  return deformConv2d(x, offset, weight, params.bias, { ...geometry, mask });
}
