import type { GraphBuilder, ValueRef } from "../graph/builder.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { channelsOf, positiveInt } from "./common.js";
import { type ConvBnActOptions, convUnit } from "./conv-bn-act.js";

export interface GroupedConvOptions extends Omit<ConvBnActOptions, "kernelSize" | "groups"> {
  /** Default 3. */
  kernelSize?: number | readonly [number, number];
  /** Number of groups; must divide the input and output channels. */
  groups: number;
}

/**
 * Grouped ("packet") convolution + BN + activation: channels split into `groups` independent convolutions
 * (AlexNet's two GPUs, ResNeXt's cardinality). Weights and MACs are 1/groups of the dense conv:
 * MACs = Cout * Hout * Wout * (Cin / groups) * kH * kW.
 */
export function groupedConv(b: GraphBuilder, x: ValueRef, options: GroupedConvOptions): ValueRef {
  const op = "groupedConv";
  const groups = positiveInt(options.groups, op, "groups");
  const cIn = channelsOf(b, x, op);
  if (cIn % groups !== 0 || options.outChannels % groups !== 0) {
    throw new ArgumentError(
      describe(
        op,
        "groups",
        `a divisor of the input (${cIn}) and output (${options.outChannels}) channels`,
        groups,
      ),
    );
  }
  return convUnit(
    b,
    x,
    { ...options, kernelSize: options.kernelSize ?? 3, groups },
    { kind: "groupedConv", base: "grouped_conv" },
    op,
  );
}
