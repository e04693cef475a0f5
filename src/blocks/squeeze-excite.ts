import type { GraphBuilder, ValueRef } from "../graph/builder.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import {
  type Activation,
  activate,
  blockScope,
  channelsOf,
  checkActivation,
  meta,
  positiveInt,
} from "./common.js";

/**
 * torchvision's `_make_divisible` (from the TensorFlow MobileNet code): `v` rounded to the nearest multiple of
 * `divisor`, at least `minValue` (default `divisor`), and never more than 10% below `v`.
 */
export function makeDivisible(v: number, divisor: number, minValue?: number): number {
  const min = minValue ?? divisor;
  let out = Math.max(min, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (out < 0.9 * v) out += divisor;
  return out;
}

export interface SqueezeExciteOptions {
  /** Reduction ratio r: squeeze channels = C / r (default 16, Hu et al.). */
  reduction?: number;
  /** Squeeze channels given directly (overrides `reduction`). */
  squeezeChannels?: number;
  /** Lower bound of the squeeze channels (default 1, or `divisor` when rounding). */
  minChannels?: number;
  /** Round floor(C / r) to a multiple of this with `makeDivisible` (MobileNet v3 uses 8). */
  divisor?: number;
  /** "conv": 1x1 convs on the pooled [N, C, 1, 1] map (torchvision's SqueezeExcitation); "linear": FC layers. */
  mode?: "conv" | "linear";
  /** Between the two layers (default "relu"). */
  activation?: Activation;
  /** The gate (default "sigmoid"; MobileNet v3 uses a hard sigmoid). */
  gate?: "sigmoid" | "hardsigmoid";
  /** Local name of the block's scope (default "se1", ...). */
  name?: string;
}

/** The squeeze width the options give for C channels. */
export function squeezeChannels(channels: number, o: SqueezeExciteOptions = {}): number {
  const op = "squeezeExcite";
  if (o.squeezeChannels !== undefined) return positiveInt(o.squeezeChannels, op, "squeezeChannels");
  const r = o.reduction ?? 16;
  if (typeof r !== "number" || !(r > 0))
    throw new ArgumentError(describe(op, "reduction", "a positive number", r));
  const raw = Math.floor(channels / r);
  if (o.divisor !== undefined)
    return makeDivisible(raw, positiveInt(o.divisor, op, "divisor"), o.minChannels);
  return Math.max(o.minChannels ?? 1, raw);
}

/**
 * Squeeze-and-excitation (Hu et al. 2018; "feature map weighting" in the article's translation): global average
 * pool to [N, C, 1, 1], reduce to C' channels (fc1), activation, expand back to C (fc2), sigmoid, and multiply the
 * input channel-wise. Nodes: avgpool, fc1, relu, fc2, sigmoid, scale (plus flatten/reshape in "linear" mode).
 * Parameters 2*C*C' + C' + C; MACs (conv and linear counted) 2*C*C'.
 */
export function squeezeExcite(b: GraphBuilder, x: ValueRef, o: SqueezeExciteOptions = {}): ValueRef {
  const op = "squeezeExcite";
  const c = channelsOf(b, x, op);
  const cs = squeezeChannels(c, o);
  const mode = o.mode ?? "conv";
  if (mode !== "conv" && mode !== "linear")
    throw new ArgumentError(describe(op, "mode", '"conv" or "linear"', mode));
  const activation = checkActivation(o.activation ?? "relu", op);
  const gate = o.gate ?? "sigmoid";
  if (gate !== "sigmoid" && gate !== "hardsigmoid") {
    throw new ArgumentError(describe(op, "gate", '"sigmoid" or "hardsigmoid"', gate));
  }
  const info = meta({ reduction: o.reduction ?? 16, squeezeChannels: cs, mode, activation, gate });
  return blockScope(b, o.name, "se", { kind: "squeezeExcite", meta: info }, () => {
    let s = b.adaptiveAvgPool2d(x, 1, { name: "avgpool" });
    if (mode === "conv") {
      s = b.conv2d(s, { name: "fc1", outChannels: cs, kernelSize: 1 });
      s = activate(b, s, activation, activation === "none" ? undefined : activation);
      s = b.conv2d(s, { name: "fc2", outChannels: c, kernelSize: 1 });
    } else {
      s = b.flatten(s, 1, -1, { name: "flatten" });
      s = b.linear(s, { name: "fc1", outFeatures: cs });
      s = activate(b, s, activation, activation === "none" ? undefined : activation);
      s = b.linear(s, { name: "fc2", outFeatures: c });
      s = b.reshape(s, [0, c, 1, 1], { name: "unflatten" });
    }
    s = gate === "sigmoid" ? b.sigmoid(s, { name: "sigmoid" }) : b.hardSigmoid(s, { name: "hardsigmoid" });
    return b.mul(x, s, { name: "scale" });
  });
}
