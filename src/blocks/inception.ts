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
import { convBnAct } from "./conv-bn-act.js";

export interface InceptionOptions {
  /** Output channels of the 1x1 branch. */
  ch1x1: number;
  /** 1x1 reduction before the 3x3, and the 3x3's output channels. */
  ch3x3red: number;
  ch3x3: number;
  /** 1x1 reduction before the "5x5" branch, and its output channels. */
  ch5x5red: number;
  ch5x5: number;
  /** Output channels of the 1x1 conv after the 3x3 max pool. */
  poolProj: number;
  /**
   * The "5x5" branch: "5x5" (Szegedy et al. 2015), "3x3" (what torchvision's GoogLeNet actually builds), or
   * "factorised": two 3x3 convs with a 5x5 receptive field (Inception v2/v3). Default "5x5".
   */
  fiveByFive?: "5x5" | "3x3" | "factorised";
  /** Batch norm after each conv (default true; torchvision's GoogLeNet uses eps 0.001). */
  bn?: boolean | BatchNormOptions;
  /** Default "relu". */
  activation?: Activation;
  /** Local name of the block's scope (default "inception1", ...). */
  name?: string;
}

/**
 * Inception module (GoogLeNet, Szegedy et al. 2015, Fig. 2b), laid out as torchvision's `Inception`: four
 * parallel branches on the same input, concatenated along channels:
 * branch1 = 1x1; branch2 = 1x1 -> 3x3; branch3 = 1x1 -> 5x5 (or 3x3, or 3x3 -> 3x3); branch4 = 3x3/1 max pool
 * -> 1x1. Each conv is conv-BN-activation (torchvision's BasicConv2d: names "conv", "bn").
 * Output channels: ch1x1 + ch3x3 + ch5x5 + poolProj.
 */
export function inceptionModule(b: GraphBuilder, x: ValueRef, o: InceptionOptions): ValueRef {
  const op = "inceptionModule";
  for (const key of ["ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "poolProj"] as const) {
    positiveInt(o[key], op, key);
  }
  const five = o.fiveByFive ?? "5x5";
  if (five !== "5x5" && five !== "3x3" && five !== "factorised") {
    throw new ArgumentError(describe(op, "fiveByFive", '"5x5", "3x3" or "factorised"', five));
  }
  const activation = checkActivation(o.activation ?? "relu", op);
  const unit = (input: ValueRef, name: string, outChannels: number, kernelSize: number): ValueRef =>
    convBnAct(b, input, { name, outChannels, kernelSize, bn: o.bn ?? true, activation });
  const info = meta({ fiveByFive: five, activation });
  return blockScope(b, o.name, "inception", { kind: "inception", meta: info }, () => {
    const b1 = unit(x, "branch1", o.ch1x1, 1);
    const b2 = b.scope("branch2", () => unit(unit(x, "0", o.ch3x3red, 1), "1", o.ch3x3, 3));
    const b3 = b.scope("branch3", () => {
      const red = unit(x, "0", o.ch5x5red, 1);
      if (five === "5x5") return unit(red, "1", o.ch5x5, 5);
      if (five === "3x3") return unit(red, "1", o.ch5x5, 3);
      return unit(unit(red, "1", o.ch5x5, 3), "2", o.ch5x5, 3);
    });
    const b4 = b.scope("branch4", () => {
      // torchvision: MaxPool2d(3, stride=1, padding=1, ceil_mode=True); at stride 1 ceil mode changes nothing.
      const pooled = b.maxPool2d(x, { name: "0", kernelSize: 3, stride: 1, padding: 1, ceilMode: true });
      return unit(pooled, "1", o.poolProj, 1);
    });
    return b.concat([b1, b2, b3, b4], 1, { name: "concat" });
  });
}
