import { nodeMacs } from "../analyze/macs.js";
import { checkAttrs, expectedParams } from "../graph/infer.js";
import type { Conv2dAttrs, Node, Pads, Pair } from "../graph/types.js";
import { numel } from "../tensor/shape.js";

/**
 * Parameter and MAC counts for the single-layer drawings, by the analyzer's own rules (a one-node conv2d
 * record handed to `expectedParams` and `nodeMacs`), so a drawing's label and `convkit analyze` never
 * disagree.
 */

export interface ConvCostSpec {
  inChannels: number;
  outChannels: number;
  kernelSize: Pair;
  groups?: number;
  bias?: boolean;
  stride?: Pair;
  dilation?: Pair;
  padding?: Pads;
}

export interface ConvCost {
  /** Weight elements: Cout·(Cin/groups)·kH·kW. */
  weights: number;
  /** Bias elements (Cout or 0). */
  bias: number;
  /** weights + bias. */
  params: number;
  /** MACs at the given output size, batch 1, torchvision's convention (bias excluded). */
  macs: number;
}

/** Counts of one conv2d layer producing an `hOut` x `wOut` map at batch 1. */
export function convCost(spec: ConvCostSpec, hOut: number, wOut: number): ConvCost {
  const attrs: Conv2dAttrs = {
    inChannels: spec.inChannels,
    outChannels: spec.outChannels,
    kernelSize: spec.kernelSize,
    stride: spec.stride ?? [1, 1],
    padding: spec.padding ?? [0, 0, 0, 0],
    dilation: spec.dilation ?? [1, 1],
    groups: spec.groups ?? 1,
    bias: spec.bias ?? false,
  };
  const node = {
    name: "conv",
    op: "conv2d",
    inputs: ["x"],
    outputs: ["conv"],
    attrs,
    params: { weight: "conv.weight" },
    scope: "",
  } as Node;
  checkAttrs(node);
  const wanted = expectedParams(node);
  const weights = numel(wanted.weight!.shape);
  const bias = wanted.bias ? numel(wanted.bias.shape) : 0;
  const { macs } = nodeMacs(
    node,
    [[1, attrs.inChannels, 1, 1]],
    [[1, attrs.outChannels, hOut, wOut]],
    "torchvision",
  );
  return { weights, bias, params: weights + bias, macs };
}
