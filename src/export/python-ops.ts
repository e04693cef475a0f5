import { nodeLabel } from "../graph/infer.js";
import type { Node, Pads, ParamRole } from "../graph/types.js";
import { ArgumentError } from "../tensor/errors.js";
import type { ParamNode } from "./module-plan.js";
import { pyList, pyNum, pyPair, pyTuple } from "./python-names.js";

/**
 * One graph node as one line of Python: the torch call with PyTorch's semantics for the node's attrs.
 *
 * - Layers with parameters are called as modules (`self.conv1(x)`), as `super().forward(...)` in a class that
 *   subclasses the layer, or functionally on raw parameters (`F.conv2d(x, self.weight, ...)`).
 * - PyTorch convs and pools pad symmetrically; an asymmetric `[top, left, bottom, right]` (from ONNX or 'same'
 *   at stride > 1) becomes `F.pad` on the input (zeros for conv and average pooling, -inf for max pooling) and a
 *   crop to convkit's ceil-mode output size (pad_max_pool2d / pad_avg_pool2d in the runtime).
 * - Channel shuffle is the view/transpose/reshape (nn.ChannelShuffle has no backward in torch 1.13).
 * - Every op of the graph's closed op set is written; an op this file does not know is refused naming the node.
 */

/** Runtime helpers a node needs in the generated file (see python-runtime.ts). */
export type RuntimeHelper =
  | "channel_shuffle"
  | "pad_max_pool2d"
  | "pad_avg_pool2d"
  | "batch_norm"
  | "Constant"
  | "DeformConv2d"
  | "deform_conv2d"
  | "new_weight"
  | "new_bias";

/** How a node with parameters reaches them. */
export type LayerAccess =
  | { kind: "module"; expr: string }
  | { kind: "self" }
  | { kind: "raw"; param: (role: ParamRole) => string };

export interface OpContext {
  /** Ranks of values (for reductions over all dims). */
  rank: (value: string) => number;
  /** Records a runtime helper as used. */
  use: (helper: RuntimeHelper) => void;
  /**
   * Marks a literal (a number, a tuple, a list) as one that may differ between blocks sharing a class: `name` says
   * what it is ("kernel_size"), `expr` is its Python text. Returns the text to put in the code (see pytorch.ts).
   */
  lit: (name: string, expr: string) => string;
}

/** A context that writes literals as they are (for callers that do not share classes). */
export const plainLiterals = (_name: string, expr: string): string => expr;

/** Short names of ops for variables ("conv_0" for a conv named "0"). */
export const OP_SHORT: Record<Node["op"], string> = {
  conv2d: "conv",
  deformConv2d: "deform_conv",
  batchNorm2d: "bn",
  linear: "fc",
  relu: "relu",
  relu6: "relu6",
  leakyRelu: "leaky_relu",
  sigmoid: "sigmoid",
  hardSigmoid: "hardsigmoid",
  hardSwish: "hardswish",
  silu: "silu",
  tanh: "tanh",
  add: "add",
  sub: "sub",
  mul: "mul",
  div: "div",
  concat: "cat",
  split: "split",
  reshape: "reshape",
  flatten: "flatten",
  transpose: "transpose",
  permute: "permute",
  channelShuffle: "shuffle",
  maxPool2d: "maxpool",
  avgPool2d: "avgpool",
  adaptiveAvgPool2d: "adaptive_avgpool",
  adaptiveMaxPool2d: "adaptive_maxpool",
  dropout: "dropout",
  identity: "identity",
  sum: "sum",
  mean: "mean",
  softmax: "softmax",
  logSoftmax: "log_softmax",
  constant: "constant",
};

function symmetric(p: Pads): boolean {
  return p[0] === p[2] && p[1] === p[3];
}

/** `F.pad` argument order: (left, right, top, bottom). */
function padArg(p: Pads): string {
  return pyTuple([p[1], p[3], p[0], p[2]]);
}

function isOne(pair: readonly number[]): boolean {
  return pair[0] === 1 && pair[1] === 1;
}

function isZero(p: Pads): boolean {
  return p.every((v) => v === 0);
}

/** The arguments of a conv's constructor (defaults left out). */
function convArgs(node: Extract<Node, { op: "conv2d" | "deformConv2d" }>, lit: OpContext["lit"]): string[] {
  const a = node.attrs;
  const args = [
    lit("in_channels", pyNum(a.inChannels)),
    lit("out_channels", pyNum(a.outChannels)),
    `kernel_size=${lit("kernel_size", pyPair(a.kernelSize))}`,
  ];
  if (!isOne(a.stride)) args.push(`stride=${lit("stride", pyPair(a.stride))}`);
  if (symmetric(a.padding) && !isZero(a.padding))
    args.push(`padding=${lit("padding", pyPair([a.padding[0], a.padding[1]]))}`);
  if (!isOne(a.dilation)) args.push(`dilation=${lit("dilation", pyPair(a.dilation))}`);
  if (a.groups !== 1) args.push(`groups=${lit("groups", pyNum(a.groups))}`);
  if (!a.bias) args.push("bias=False");
  return args;
}

/** Constructor arguments of the torch layer for a node with parameters. */
export function layerArgs(node: ParamNode, lit: OpContext["lit"] = plainLiterals): string[] {
  switch (node.op) {
    case "conv2d":
    case "deformConv2d":
      return convArgs(node, lit);
    case "batchNorm2d": {
      const a = node.attrs;
      const args = [lit("num_features", pyNum(a.numFeatures))];
      if (a.eps !== 1e-5) args.push(`eps=${lit("eps", pyNum(a.eps))}`);
      if (a.momentum !== 0.1)
        args.push(`momentum=${a.momentum === null ? "None" : lit("momentum", pyNum(a.momentum))}`);
      if (!a.affine) args.push("affine=False");
      if (!a.trackRunningStats) args.push("track_running_stats=False");
      return args;
    }
    case "linear": {
      const a = node.attrs;
      const args = [lit("in_features", pyNum(a.inFeatures)), lit("out_features", pyNum(a.outFeatures))];
      if (!a.bias) args.push("bias=False");
      return args;
    }
    case "constant":
      return [lit("shape", pyList(node.attrs.shape))];
  }
}

/** The torch class of a layer node. */
export function layerClass(node: ParamNode, ctx: Pick<OpContext, "use">): string {
  switch (node.op) {
    case "conv2d":
      return "nn.Conv2d";
    case "deformConv2d":
      ctx.use("DeformConv2d");
      return "DeformConv2d";
    case "batchNorm2d":
      return "nn.BatchNorm2d";
    case "linear":
      return "nn.Linear";
    case "constant":
      ctx.use("Constant");
      return "Constant";
  }
}

/** `nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)`. */
export function layerConstructor(node: ParamNode, ctx: Pick<OpContext, "use" | "lit">): string {
  return `${layerClass(node, ctx)}(${layerArgs(node, ctx.lit).join(", ")})`;
}

/** `, name=value` unless skipped (the value is only made, and its literal only marked, when written). */
function kw(name: string, value: string | (() => string), skip: boolean): string {
  return skip ? "" : `, ${name}=${typeof value === "string" ? value : value()}`;
}

function convInput(
  node: Extract<Node, { op: "conv2d" | "deformConv2d" }>,
  x: string,
  lit: OpContext["lit"],
): string {
  return symmetric(node.attrs.padding) ? x : `F.pad(${x}, ${lit("pad", padArg(node.attrs.padding))})`;
}

/** Functional conv/deformable conv keyword arguments on raw parameters. */
function functionalConvKw(
  node: Extract<Node, { op: "conv2d" | "deformConv2d" }>,
  lit: OpContext["lit"],
): string {
  const a = node.attrs;
  const pad = symmetric(a.padding) ? [a.padding[0], a.padding[1]] : [0, 0];
  return (
    kw("stride", () => lit("stride", pyTuple(a.stride)), isOne(a.stride)) +
    kw("padding", () => lit("padding", pyTuple(pad)), pad[0] === 0 && pad[1] === 0) +
    kw("dilation", () => lit("dilation", pyTuple(a.dilation)), isOne(a.dilation))
  );
}

function fail(node: Node, why: string): never {
  throw new ArgumentError(`exportPytorch: ${nodeLabel(node)}: ${why}`);
}

/**
 * The Python expression computing `node` from the variables `x` (one per input, in order). For `split` the
 * expression yields a tuple.
 */
export function nodeExpression(node: Node, x: string[], layer: LayerAccess | null, ctx: OpContext): string {
  const needLayer = (): LayerAccess => layer ?? fail(node, "has parameters but no module or raw parameters");
  const lit = ctx.lit;
  switch (node.op) {
    case "conv2d": {
      const l = needLayer();
      const input = convInput(node, x[0], lit);
      if (l.kind === "module") return `${l.expr}(${input})`;
      if (l.kind === "self") return `super().forward(${input})`;
      const groups = kw("groups", () => lit("groups", pyNum(node.attrs.groups)), node.attrs.groups === 1);
      return `F.conv2d(${input}, ${l.param("weight")}, ${node.attrs.bias ? l.param("bias") : "None"}${functionalConvKw(node, lit)}${groups})`;
    }
    case "deformConv2d": {
      const l = needLayer();
      const input = convInput(node, x[0], lit);
      const mask = node.attrs.mask ? `, mask=${x[2]}` : "";
      if (l.kind === "module") return `${l.expr}(${input}, ${x[1]}${mask})`;
      if (l.kind === "self") return `super().forward(${input}, ${x[1]}${mask})`;
      ctx.use("deform_conv2d");
      return `deform_conv2d(${input}, ${x[1]}, ${l.param("weight")}, ${node.attrs.bias ? l.param("bias") : "None"}${functionalConvKw(node, lit)}${mask})`;
    }
    case "batchNorm2d": {
      const l = needLayer();
      if (l.kind === "module") return `${l.expr}(${x[0]})`;
      if (l.kind === "self") return `super().forward(${x[0]})`;
      ctx.use("batch_norm");
      const a = node.attrs;
      const p = (role: ParamRole, present: boolean): string => (present ? l.param(role) : "None");
      return (
        `batch_norm(${x[0]}, ${p("weight", a.affine)}, ${p("bias", a.affine)}, ` +
        `${p("runningMean", a.trackRunningStats)}, ${p("runningVar", a.trackRunningStats)}, ` +
        `${p("numBatchesTracked", a.trackRunningStats)}, self.training, ` +
        `${a.momentum === null ? "None" : lit("momentum", pyNum(a.momentum))}, ${lit("eps", pyNum(a.eps))})`
      );
    }
    case "linear": {
      const l = needLayer();
      if (l.kind === "module") return `${l.expr}(${x[0]})`;
      if (l.kind === "self") return `super().forward(${x[0]})`;
      return `F.linear(${x[0]}, ${l.param("weight")}, ${node.attrs.bias ? l.param("bias") : "None"})`;
    }
    case "constant": {
      const l = needLayer();
      if (l.kind === "module") return `${l.expr}()`;
      if (l.kind === "raw") return l.param("value");
      return fail(node, "a constant cannot be a subclassed layer");
    }
    case "relu":
      return `F.relu(${x[0]})`;
    case "relu6":
      return `F.relu6(${x[0]})`;
    case "leakyRelu":
      return `F.leaky_relu(${x[0]}, ${lit("negative_slope", pyNum(node.attrs.negativeSlope))})`;
    case "sigmoid":
      return `torch.sigmoid(${x[0]})`;
    case "hardSigmoid":
      return `F.hardsigmoid(${x[0]})`;
    case "hardSwish":
      return `F.hardswish(${x[0]})`;
    case "silu":
      return `F.silu(${x[0]})`;
    case "tanh":
      return `torch.tanh(${x[0]})`;
    case "add":
      return `${x[0]} + ${x[1]}`;
    case "sub":
      return `${x[0]} - ${x[1]}`;
    case "mul":
      return `${x[0]} * ${x[1]}`;
    case "div":
      return `${x[0]} / ${x[1]}`;
    case "concat":
      return `torch.cat([${x.join(", ")}], dim=${lit("dim", pyNum(node.attrs.axis))})`;
    case "split":
      return `torch.split(${x[0]}, ${lit("sizes", pyList(node.attrs.sizes))}, dim=${lit("dim", pyNum(node.attrs.axis))})`;
    case "reshape": {
      // 0 copies the input's dimension at that position (ONNX's rule, as convkit's executor).
      const dims = node.attrs.shape.map((d, i) =>
        d === 0 ? `${x[0]}.shape[${i}]` : lit(`dim${i}`, pyNum(d)),
      );
      return dims.length === 0 ? `${x[0]}.reshape(())` : `${x[0]}.reshape(${dims.join(", ")})`;
    }
    case "flatten":
      return `torch.flatten(${x[0]}, ${lit("start_dim", pyNum(node.attrs.startDim))}, ${lit("end_dim", pyNum(node.attrs.endDim))})`;
    case "transpose":
      return `${x[0]}.transpose(${lit("dim0", pyNum(node.attrs.dim0))}, ${lit("dim1", pyNum(node.attrs.dim1))})`;
    case "permute":
      return `${x[0]}.permute(${lit("dims", pyTuple(node.attrs.dims))})`;
    case "channelShuffle":
      ctx.use("channel_shuffle");
      return `channel_shuffle(${x[0]}, ${lit("groups", pyNum(node.attrs.groups))})`;
    case "maxPool2d": {
      const a = node.attrs;
      const common = `kernel_size=${lit("kernel_size", pyPair(a.kernelSize))}, stride=${lit("stride", pyPair(a.stride))}`;
      const tail =
        kw("dilation", () => lit("dilation", pyPair(a.dilation)), isOne(a.dilation)) +
        kw("ceil_mode", "True", !a.ceilMode);
      if (symmetric(a.padding)) {
        const pad = kw(
          "padding",
          () => lit("padding", pyPair([a.padding[0], a.padding[1]])),
          isZero(a.padding),
        );
        return `F.max_pool2d(${x[0]}, ${common}${pad}${tail})`;
      }
      ctx.use("pad_max_pool2d");
      return `pad_max_pool2d(${x[0]}, ${common}, padding=${lit("padding", pyTuple(a.padding))}${tail})`;
    }
    case "avgPool2d": {
      const a = node.attrs;
      const common = `kernel_size=${lit("kernel_size", pyPair(a.kernelSize))}, stride=${lit("stride", pyPair(a.stride))}`;
      const divisor = a.divisorOverride;
      const tail =
        kw("ceil_mode", "True", !a.ceilMode) +
        kw("count_include_pad", "False", a.countIncludePad) +
        kw("divisor_override", () => lit("divisor_override", pyNum(divisor ?? 0)), divisor === null);
      if (symmetric(a.padding)) {
        const pad = kw(
          "padding",
          () => lit("padding", pyPair([a.padding[0], a.padding[1]])),
          isZero(a.padding),
        );
        return `F.avg_pool2d(${x[0]}, ${common}${pad}${tail})`;
      }
      ctx.use("pad_avg_pool2d");
      return `pad_avg_pool2d(${x[0]}, ${common}, padding=${lit("padding", pyTuple(a.padding))}${tail})`;
    }
    case "adaptiveAvgPool2d":
      return `F.adaptive_avg_pool2d(${x[0]}, ${lit("output_size", pyPair(node.attrs.outputSize))})`;
    case "adaptiveMaxPool2d":
      return `F.adaptive_max_pool2d(${x[0]}, ${lit("output_size", pyPair(node.attrs.outputSize))})`;
    case "dropout":
      return `F.dropout(${x[0]}, p=${lit("p", pyNum(node.attrs.p))}, training=self.training)`;
    case "identity":
      return x[0];
    case "sum":
    case "mean": {
      const a = node.attrs;
      const fn = node.op === "sum" ? "torch.sum" : "torch.mean";
      if (a.dims.length === 0 && !a.keepdim) return `${fn}(${x[0]})`;
      const dims =
        a.dims.length === 0 ? Array.from({ length: ctx.rank(node.inputs[0]) }, (_, i) => i) : a.dims;
      return `${fn}(${x[0]}, dim=${lit("dim", pyTuple(dims))}${a.keepdim ? ", keepdim=True" : ""})`;
    }
    case "softmax":
      return `F.softmax(${x[0]}, dim=${lit("dim", pyNum(node.attrs.axis))})`;
    case "logSoftmax":
      return `F.log_softmax(${x[0]}, dim=${lit("dim", pyNum(node.attrs.axis))})`;
    default: {
      const unknown = node as Node;
      return fail(unknown, `op "${unknown.op}" has no PyTorch translation in this version of convkit`);
    }
  }
}
