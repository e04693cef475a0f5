import type { GraphBuilder, ValueRef } from "../graph/builder.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import {
  type Activation,
  type BatchNormOptions,
  blockScope,
  checkActivation,
  meta,
  positiveInt,
} from "./common.js";
import { convUnit } from "./conv-bn-act.js";

export interface AsymmetricPairOptions {
  outChannels: number;
  /** k: the pair is 1 x k and k x 1 (default 3). */
  kernelSize?: number;
  /** Which conv comes first (default "1xk-kx1", as Inception v3's 1x7 then 7x1). */
  order?: "1xk-kx1" | "kx1-1xk";
  /** Channels between the two convs (default `outChannels`). */
  midChannels?: number;
  /**
   * Overall stride s: the 1 x k conv strides [1, s], the k x 1 conv [s, 1], so the pair has the output size of
   * a k x k conv with stride s and padding (k-1)/2 (default 1).
   */
  stride?: number;
  dilation?: number;
  /** Batch norm after each conv (default true). */
  bn?: boolean | BatchNormOptions;
  /** After each conv (default "relu"). */
  activation?: Activation;
  /** Local name of the block's scope (default "asymmetric1", ...). */
  name?: string;
}

/**
 * Asymmetric (spatially factorised) pair: a 1 x k conv and a k x 1 conv (Inception v3), each + BN + activation,
 * in scopes "conv1" (first) and "conv2" (second). Receptive field k x k with 2k instead of k*k weights per channel
 * pair. MACs = k * Cmid * Cin * H1*W1 + k * Cout * Cmid * H2*W2 (Hi, Wi the output size of conv i).
 */
export function asymmetricPair(b: GraphBuilder, x: ValueRef, o: AsymmetricPairOptions): ValueRef {
  const op = "asymmetricPair";
  const k = positiveInt(o.kernelSize ?? 3, op, "kernelSize");
  const s = positiveInt(o.stride ?? 1, op, "stride");
  const d = positiveInt(o.dilation ?? 1, op, "dilation");
  const order = o.order ?? "1xk-kx1";
  if (order !== "1xk-kx1" && order !== "kx1-1xk") {
    throw new ArgumentError(describe(op, "order", '"1xk-kx1" or "kx1-1xk"', order));
  }
  const activation = checkActivation(o.activation ?? "relu", op);
  const pad = Math.floor((d * (k - 1)) / 2);
  const row = {
    kernelSize: [1, k] as [number, number],
    stride: [1, s] as [number, number],
    padding: [0, pad] as [number, number],
    dilation: [1, d] as [number, number],
  };
  const col = {
    kernelSize: [k, 1] as [number, number],
    stride: [s, 1] as [number, number],
    padding: [pad, 0] as [number, number],
    dilation: [d, 1] as [number, number],
  };
  const [first, second] = order === "1xk-kx1" ? [row, col] : [col, row];
  const info = meta({ kernelSize: k, order, stride: s, dilation: d, activation });
  return blockScope(b, o.name, "asymmetric", { kind: "asymmetricPair", meta: info }, () => {
    const unit = { kind: "convBnAct", base: "conv" };
    const y = convUnit(
      b,
      x,
      { name: "conv1", outChannels: o.midChannels ?? o.outChannels, ...first, bn: o.bn, activation },
      unit,
      op,
    );
    return convUnit(
      b,
      y,
      { name: "conv2", outChannels: o.outChannels, ...second, bn: o.bn, activation },
      unit,
      op,
    );
  });
}
