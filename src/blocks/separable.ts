import type { GraphBuilder, ValueRef } from "../graph/builder.js";
import type { Padding2d } from "../tensor/conv-geometry.js";
import {
  type Activation,
  type BatchNormOptions,
  blockScope,
  channelsOf,
  checkActivation,
  meta,
  positiveInt,
} from "./common.js";
import { convUnit } from "./conv-bn-act.js";

export interface DepthwiseSeparableOptions {
  outChannels: number;
  /** Kernel of the depthwise conv (default 3). */
  kernelSize?: number | readonly [number, number];
  /** Stride of the depthwise conv (default 1). */
  stride?: number | readonly [number, number];
  /** Padding of the depthwise conv (default: keeps the size at stride 1). */
  padding?: Padding2d;
  dilation?: number | readonly [number, number];
  /** Depthwise output channels per input channel (default 1). */
  depthMultiplier?: number;
  /** Batch norm after each conv (default true). */
  bn?: boolean | BatchNormOptions;
  /** Activation after the pointwise conv (default "relu"). */
  activation?: Activation;
  /** Activation after the depthwise conv (default: `activation`; "none" gives Xception's form). */
  depthwiseActivation?: Activation;
  /** Local name of the block's scope (default "separable1", ...). */
  name?: string;
}

/**
 * Depthwise separable convolution (MobileNet v1, Howard et al. 2017, Fig. 3): a k x k depthwise conv (groups = Cin,
 * Cin * depthMultiplier outputs) + BN + act, then a 1x1 pointwise conv to `outChannels` + BN + act. Scopes
 * "depthwise" and "pointwise" inside the block's scope.
 * MACs = k*k * Cin*m * Hout*Wout + Cin*m * Cout * Hout*Wout, against k*k * Cin * Cout * Hout*Wout for the dense conv.
 */
export function depthwiseSeparable(b: GraphBuilder, x: ValueRef, o: DepthwiseSeparableOptions): ValueRef {
  const op = "depthwiseSeparable";
  const cIn = channelsOf(b, x, op);
  const multiplier = positiveInt(o.depthMultiplier ?? 1, op, "depthMultiplier");
  const activation = checkActivation(o.activation ?? "relu", op);
  const dwActivation = checkActivation(o.depthwiseActivation ?? activation, op, "depthwiseActivation");
  const info = meta({ depthMultiplier: multiplier, activation, depthwiseActivation: dwActivation });
  return blockScope(b, o.name, "separable", { kind: "depthwiseSeparable", meta: info }, () => {
    const y = convUnit(
      b,
      x,
      {
        name: "depthwise",
        outChannels: cIn * multiplier,
        kernelSize: o.kernelSize ?? 3,
        stride: o.stride,
        padding: o.padding,
        dilation: o.dilation,
        groups: cIn,
        bn: o.bn,
        activation: dwActivation,
      },
      { kind: "depthwise", base: "depthwise" },
      op,
    );
    return convUnit(
      b,
      y,
      { name: "pointwise", outChannels: o.outChannels, kernelSize: 1, padding: 0, bn: o.bn, activation },
      { kind: "pointwise", base: "pointwise" },
      op,
    );
  });
}
