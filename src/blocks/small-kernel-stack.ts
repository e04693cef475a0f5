import type { GraphBuilder, ValueRef } from "../graph/builder.js";
import type { InitSpec } from "../graph/init.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import {
  type Activation,
  type BatchNormOptions,
  blockScope,
  checkActivation,
  meta,
  positiveInt,
  type Sequential,
} from "./common.js";
import { convUnit } from "./conv-bn-act.js";

export interface SmallKernelStackOptions {
  outChannels: number;
  /** Number of 3x3 convs (default: from `replaces`, else 2). */
  n?: number;
  /** The large kernel the stack stands for: 2n+1 (5 -> two 3x3, 7 -> three); an alternative to `n`. */
  replaces?: number;
  /** Channels of the inner convs (default `outChannels`). */
  midChannels?: number;
  /**
   * Stride of the stack, put on the last conv so that the receptive field stays exactly (2n+1) x (2n+1) and the
   * output size is that of the large conv with padding n (default 1).
   */
  stride?: number;
  /** Batch norm after each conv (default true; VGG proper has none). */
  bn?: boolean | BatchNormOptions;
  /** After each conv (default "relu"). */
  activation?: Activation;
  /** Conv bias (default: only without batch norm). */
  bias?: boolean;
  init?: { weight?: InitSpec; bias?: InitSpec };
  /** Local name of the block's scope (default "stack1", ...); the convs are its sub-scopes "0", "1", ... */
  name?: string;
  /**
   * Build in the caller's scope (no scope of its own): the nodes are then named by `names` (an nn.Sequential
   * counter, e.g. for torchvision VGG's `features.N`) or "conv1", "bn1", "relu1", "conv2", ...
   */
  inline?: boolean;
  names?: Sequential;
}

/**
 * A stack of n 3x3 conv(-BN)-activation layers replacing one (2n+1) x (2n+1) conv (VGG, Simonyan & Zisserman
 * 2015): same receptive field, n*9*C^2 instead of (2n+1)^2*C^2 weights, n-1 extra non-linearities.
 * MACs (C channels throughout, stride 1) = n * 9 * C * C * H * W.
 */
export function smallKernelStack(b: GraphBuilder, x: ValueRef, o: SmallKernelStackOptions): ValueRef {
  const op = "smallKernelStack";
  let n: number;
  if (o.n !== undefined) n = positiveInt(o.n, op, "n");
  else if (o.replaces !== undefined) {
    const k = positiveInt(o.replaces, op, "replaces");
    if (k < 3 || k % 2 === 0) throw new ArgumentError(describe(op, "replaces", "an odd kernel size >= 3", k));
    n = (k - 1) / 2;
  } else n = 2;
  if (o.n !== undefined && o.replaces !== undefined && o.replaces !== 2 * n + 1) {
    throw new ArgumentError(describe(op, "replaces", `2n+1 = ${2 * n + 1} (n = ${n})`, o.replaces));
  }
  const stride = positiveInt(o.stride ?? 1, op, "stride");
  const activation = checkActivation(o.activation ?? "relu", op);
  const body = (): ValueRef => {
    let y = x;
    for (let i = 0; i < n; i++) {
      const last = i === n - 1;
      const names = o.inline
        ? (o.names ?? { conv: `conv${i + 1}`, bn: `bn${i + 1}`, act: `${activation}${i + 1}` })
        : undefined;
      y = convUnit(
        b,
        y,
        {
          name: String(i),
          inline: o.inline,
          names,
          outChannels: last ? o.outChannels : (o.midChannels ?? o.outChannels),
          kernelSize: 3,
          stride: last ? stride : 1,
          padding: 1,
          bn: o.bn,
          bias: o.bias,
          activation,
          init: o.init,
        },
        { kind: "convBnAct", base: "conv" },
        op,
      );
    }
    return y;
  };
  if (o.inline) return body();
  const info = meta({ n, equivalentKernelSize: 2 * n + 1, stride, activation });
  return blockScope(b, o.name, "stack", { kind: "smallKernelStack", meta: info }, body);
}
