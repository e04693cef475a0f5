import type { Node, OpAttrs, OpName } from "../graph/types.js";
import type { GraphEdit } from "./surgery.js";

/**
 * Conv units: most networks are chains of conv -> (batch norm) -> (activation). Rules that insert something
 * "after a conv" (se, shuffle, residual joins) act at the end of its unit, where the block's output is.
 */

/** Element-wise activations a unit may end with. */
export const ACTIVATION_OPS: readonly OpName[] = [
  "relu",
  "relu6",
  "leakyRelu",
  "sigmoid",
  "hardSigmoid",
  "hardSwish",
  "silu",
  "tanh",
];

/** Ops f with f(c·x) = c·f(x) for c > 0 (a positive scale passes through them unchanged). */
export const POSITIVELY_HOMOGENEOUS: readonly OpName[] = [
  "relu",
  "leakyRelu",
  "identity",
  "dropout",
  "maxPool2d",
  "avgPool2d",
  "adaptiveAvgPool2d",
  "adaptiveMaxPool2d",
];

export interface ConvUnit {
  conv: Extract<Node, { op: "conv2d" | "deformConv2d" }>;
  bn?: Extract<Node, { op: "batchNorm2d" }>;
  act?: Node;
  /** The value before the activation (the conv's or the bn's output). */
  preAct: string;
  /** The unit's output value (after the activation when there is one). */
  output: string;
}

/** The single reader of a value, if it has exactly one and is not a graph output. */
export function soleReader(edit: GraphEdit, value: string): Node | undefined {
  if (edit.isOutput(value)) return undefined;
  const readers = edit.readers(value);
  return readers.length === 1 ? readers[0] : undefined;
}

/** The unit a conv heads: its own batch norm and activation when they follow it alone. */
export function unitOf(edit: GraphEdit, conv: Extract<Node, { op: "conv2d" | "deformConv2d" }>): ConvUnit {
  let value = conv.outputs[0];
  const unit: ConvUnit = { conv, preAct: value, output: value };
  let next = soleReader(edit, value);
  if (next?.op === "batchNorm2d") {
    unit.bn = next;
    value = next.outputs[0];
    unit.preAct = value;
    unit.output = value;
    next = soleReader(edit, value);
  }
  if (next !== undefined && ACTIVATION_OPS.includes(next.op)) {
    unit.act = next;
    unit.output = next.outputs[0];
  }
  return unit;
}

/** Full conv attrs with defaults, for building new conv nodes in rules. */
export function convAttrs(
  base: Partial<OpAttrs["conv2d"]> & Pick<OpAttrs["conv2d"], "inChannels" | "outChannels" | "kernelSize">,
): OpAttrs["conv2d"] {
  return {
    inChannels: base.inChannels,
    outChannels: base.outChannels,
    kernelSize: base.kernelSize,
    stride: base.stride ?? [1, 1],
    padding: base.padding ?? [0, 0, 0, 0],
    dilation: base.dilation ?? [1, 1],
    groups: base.groups ?? 1,
    bias: base.bias ?? true,
  };
}

/** The local part of a node name (after the last dot). */
export function localName(name: string): string {
  const i = name.lastIndexOf(".");
  return i < 0 ? name : name.slice(i + 1);
}

/** "3x3", "1x7": a kernel for messages. */
export function kernelText(k: readonly [number, number]): string {
  return `${k[0]}x${k[1]}`;
}

/** The conv node if `node` is a conv2d (type guard for rules that select convs). */
export function isConv(node: Node): node is Extract<Node, { op: "conv2d" }> {
  return node.op === "conv2d";
}
