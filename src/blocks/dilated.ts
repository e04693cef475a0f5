import type { GraphBuilder, ValueRef } from "../graph/builder.js";
import { checkPositiveInt, pair } from "../tensor/shape.js";
import { type ConvBnActOptions, convUnit } from "./conv-bn-act.js";

export interface DilatedConvOptions extends Omit<ConvBnActOptions, "kernelSize" | "dilation"> {
  /** Default 3. */
  kernelSize?: number | readonly [number, number];
  /** Default 2. */
  dilation?: number | readonly [number, number];
}

/**
 * Dilated (atrous; "cavity" in the article's translation) convolution + BN + activation: a k x k kernel whose taps
 * are `dilation` apart, covering d*(k-1)+1 pixels per axis with k*k weights. Padding defaults to d*(k-1)/2, so
 * the spatial size is kept at stride 1. MACs are those of the plain k x k conv at the same output size.
 */
export function dilatedConv(b: GraphBuilder, x: ValueRef, options: DilatedConvOptions): ValueRef {
  const kernelSize = pair(options.kernelSize, 3, "dilatedConv", "kernelSize", checkPositiveInt);
  const dilation = pair(options.dilation, 2, "dilatedConv", "dilation", checkPositiveInt);
  const effective = [dilation[0] * (kernelSize[0] - 1) + 1, dilation[1] * (kernelSize[1] - 1) + 1];
  return convUnit(
    b,
    x,
    { ...options, kernelSize, dilation },
    { kind: "dilatedConv", base: "dilated_conv", extra: { effectiveKernelSize: effective } },
    "dilatedConv",
  );
}
