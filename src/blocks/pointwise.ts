import type { GraphBuilder, ValueRef } from "../graph/builder.js";
import { type ConvBnActOptions, convUnit } from "./conv-bn-act.js";

export type PointwiseConvOptions = Omit<ConvBnActOptions, "kernelSize" | "dilation" | "padding">;

/**
 * Pointwise (1x1) convolution + BN + activation: mixes channels at each pixel, changes the channel count
 * (bottlenecks, projections, the second half of a depthwise separable conv). `groups` > 1 gives ShuffleNet's
 * grouped 1x1. MACs = Cout * H * W * Cin / groups.
 */
export function pointwiseConv(b: GraphBuilder, x: ValueRef, options: PointwiseConvOptions): ValueRef {
  return convUnit(
    b,
    x,
    { ...options, kernelSize: 1, padding: 0 },
    { kind: "pointwise", base: "pointwise" },
    "pointwiseConv",
  );
}
