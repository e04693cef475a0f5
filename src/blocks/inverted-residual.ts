import type { GraphBuilder, ValueRef } from "../graph/builder.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import {
  type Activation,
  blockScope,
  channelsOf,
  checkActivation,
  meta,
  positiveInt,
  Sequential,
} from "./common.js";
import { convBnAct } from "./conv-bn-act.js";

export interface InvertedResidualOptions {
  outChannels: number;
  /** 1 or 2 (default 1). */
  stride?: number;
  /** Expansion factor t: hidden channels = round(Cin * t) (default 6). */
  expandRatio?: number;
  /** Default "relu6". */
  activation?: Activation;
  /** Local name of the block's scope (default "inverted_residual1", ...); torchvision's are "features.N". */
  name?: string;
}

/**
 * MobileNet v2 inverted residual (Sandler et al. 2018), exactly torchvision's `InvertedResidual`: [1x1 expand to
 * round(Cin*t) - BN - ReLU6] (absent when t = 1), 3x3 depthwise (stride) - BN - ReLU6, 1x1 linear projection - BN;
 * the input is added when stride is 1 and Cin = Cout. Names are torchvision's: the layers sit in scope "conv"
 * as conv.0.{0,1,2}, conv.1.{0,1,2}, conv.2, conv.3 (with t = 1: conv.0.*, conv.1, conv.2).
 * MACs = H*W*Cin*hidden (expand) + 9*hidden*H'*W' + hidden*Cout*H'*W'.
 */
export function invertedResidual(b: GraphBuilder, x: ValueRef, o: InvertedResidualOptions): ValueRef {
  const op = "invertedResidual";
  const cIn = channelsOf(b, x, op);
  const stride = positiveInt(o.stride ?? 1, op, "stride");
  if (stride !== 1 && stride !== 2) throw new ArgumentError(describe(op, "stride", "1 or 2", stride));
  const t = o.expandRatio ?? 6;
  if (typeof t !== "number" || !(t > 0))
    throw new ArgumentError(describe(op, "expandRatio", "a positive number", t));
  const activation = checkActivation(o.activation ?? "relu6", op);
  const hidden = Math.round(cIn * t);
  const cOut = positiveInt(o.outChannels, op, "outChannels");
  const residual = stride === 1 && cIn === cOut;
  const info = meta({ expandRatio: t, hiddenChannels: hidden, stride, residual });
  return blockScope(b, o.name, "inverted_residual", { kind: "invertedResidual", meta: info }, () => {
    const y = b.scope("conv", () => {
      const seq = new Sequential();
      let h = x;
      if (t !== 1) {
        h = convBnAct(b, h, {
          name: seq.next(),
          names: new Sequential(),
          outChannels: hidden,
          kernelSize: 1,
          activation,
        });
      }
      h = convBnAct(b, h, {
        name: seq.next(),
        names: new Sequential(),
        outChannels: hidden,
        kernelSize: 3,
        stride,
        groups: hidden,
        activation,
      });
      return convBnAct(b, h, {
        inline: true,
        names: seq,
        outChannels: cOut,
        kernelSize: 1,
        activation: "none",
      });
    });
    return residual ? b.add(x, y, { name: "add" }) : y;
  });
}
