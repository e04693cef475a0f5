import { type Node, OP_NAMES, type OpName } from "../graph/types.js";
import { numel } from "../tensor/shape.js";
import type { MacConvention } from "./types.js";

/**
 * Multiply-accumulate counts per node. One MAC = one multiply-add; FLOPs = 2 x MACs everywhere (also for ops
 * that are not multiply-adds, whose "MAC" is one elementary operation per the rules below, so that the two
 * columns never disagree).
 *
 * The default convention is torchvision's (its published "GFLOPS" are these MACs at batch 1): only the
 * matrix part of conv2d, deformConv2d and linear, bias excluded. `countAll` adds every other op.
 */

/** Ops counted under torchvision's convention. */
export const TORCHVISION_OPS: readonly OpName[] = ["conv2d", "deformConv2d", "linear"];

/**
 * The counting rule of every op, as documented in docs/analyze.md (N batch, C channels, H x W output unless
 * said otherwise; "element" = element of the output). Rules marked (all) apply only with `countAll`.
 */
export const MAC_RULES: Readonly<Record<OpName, string>> = {
  conv2d: "N*Cout*Hout*Wout*(Cin/groups)*kH*kW; (all) + N*Cout*Hout*Wout for the bias",
  deformConv2d:
    "as conv2d for the matrix part; (all) + 4 per bilinear sample (N*Cin*kH*kW*Hout*Wout samples), + 1 per sample for the v2 mask, + the bias as conv2d",
  linear: "(elements of the input / inFeatures)*inFeatures*outFeatures; (all) + 1 per element for the bias",
  batchNorm2d: "(all) 1 per element (a per-channel scale and shift at inference)",
  relu: "(all) 1 per element",
  relu6: "(all) 1 per element",
  leakyRelu: "(all) 1 per element",
  sigmoid: "(all) 1 per element",
  hardSigmoid: "(all) 1 per element",
  hardSwish: "(all) 1 per element",
  silu: "(all) 1 per element",
  tanh: "(all) 1 per element",
  add: "(all) 1 per element of the broadcast output",
  sub: "(all) 1 per element of the broadcast output",
  mul: "(all) 1 per element of the broadcast output (SE's channel scaling: N*C*H*W)",
  div: "(all) 1 per element of the broadcast output",
  maxPool2d: "(all) kH*kW per element (one comparison per window tap)",
  avgPool2d: "(all) kH*kW per element (one addition per window tap; the division is folded in)",
  adaptiveAvgPool2d:
    "(all) N*C*(sum of the bin heights)*(sum of the bin widths), bins as PyTorch's [floor(i*in/out), ceil((i+1)*in/out)); global pooling: N*C*H*W of the input",
  adaptiveMaxPool2d: "(all) as adaptiveAvgPool2d",
  sum: "(all) 1 per input element",
  mean: "(all) 1 per input element",
  softmax: "(all) 3 per element (exponential, sum, division)",
  logSoftmax: "(all) 3 per element (exponential, sum, logarithm and subtraction)",
  dropout: "0 (identity at inference)",
  identity: "0",
  concat: "0 (data movement)",
  split: "0 (data movement)",
  reshape: "0 (data movement)",
  flatten: "0 (data movement)",
  transpose: "0 (data movement)",
  permute: "0 (data movement)",
  channelShuffle: "0 (data movement)",
  constant: "0",
};

/** Ops counted under a convention (with "all", every op, data movement ops at 0 by their rule). */
export function countedOps(convention: MacConvention): OpName[] {
  return convention === "torchvision" ? [...TORCHVISION_OPS] : [...OP_NAMES];
}

/**
 * MACs of one node given its input and output shapes (batch included), and whether the op is counted at
 * all under the convention (`macs` is 0 when it is not).
 */
export function nodeMacs(
  node: Node,
  inputs: readonly (readonly number[])[],
  outputs: readonly (readonly number[])[],
  convention: MacConvention,
): { macs: number; counted: boolean } {
  const all = convention === "all";
  const out = outputs[0];
  const outElems = numel(out);
  switch (node.op) {
    case "conv2d":
    case "deformConv2d": {
      const a = node.attrs;
      const [n, cOut, hOut, wOut] = out;
      const positions = n * cOut * hOut * wOut;
      let macs = positions * (a.inChannels / a.groups) * a.kernelSize[0] * a.kernelSize[1];
      if (all && a.bias) macs += positions;
      if (all && node.op === "deformConv2d") {
        const samples = n * a.inChannels * a.kernelSize[0] * a.kernelSize[1] * hOut * wOut;
        macs += 4 * samples + (node.attrs.mask ? samples : 0);
      }
      return { macs, counted: true };
    }
    case "linear": {
      const rows = numel(inputs[0]) / node.attrs.inFeatures;
      let macs = rows * node.attrs.inFeatures * node.attrs.outFeatures;
      if (all && node.attrs.bias) macs += outElems;
      return { macs, counted: true };
    }
    default:
      break;
  }
  if (!all) return { macs: 0, counted: false };
  switch (node.op) {
    case "batchNorm2d":
    case "relu":
    case "relu6":
    case "leakyRelu":
    case "sigmoid":
    case "hardSigmoid":
    case "hardSwish":
    case "silu":
    case "tanh":
    case "add":
    case "sub":
    case "mul":
    case "div":
      return { macs: outElems, counted: true };
    case "maxPool2d":
    case "avgPool2d":
      return { macs: outElems * node.attrs.kernelSize[0] * node.attrs.kernelSize[1], counted: true };
    case "adaptiveAvgPool2d":
    case "adaptiveMaxPool2d": {
      const [n, c, hIn, wIn] = inputs[0];
      const [hOut, wOut] = node.attrs.outputSize;
      return { macs: n * c * binTotal(hIn, hOut) * binTotal(wIn, wOut), counted: true };
    }
    case "sum":
    case "mean":
      return { macs: numel(inputs[0]), counted: true };
    case "softmax":
    case "logSoftmax":
      return { macs: 3 * outElems, counted: true };
    default:
      return { macs: 0, counted: true };
  }
}

/** Sum of PyTorch's adaptive bin lengths along one axis: bins [floor(i*in/out), ceil((i+1)*in/out)). */
export function binTotal(size: number, out: number): number {
  let total = 0;
  for (let i = 0; i < out; i++) total += adaptiveBin(size, out, i).length;
  return total;
}

/** Start and length of adaptive pooling bin `i` (PyTorch's start_index / end_index). */
export function adaptiveBin(size: number, out: number, i: number): { start: number; length: number } {
  const start = Math.floor((i * size) / out);
  const end = Math.ceil(((i + 1) * size) / out);
  return { start, length: end - start };
}
