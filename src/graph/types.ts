/**
 * The Graph: convkit's one model representation (DESIGN.md "One graph").
 *
 * A Graph is a plain, JSON-serialisable DAG of *primitive* nodes. Builders, the model zoo, the ONNX
 * importer and the rewriter produce it; the analyzer, executor, drawer and exporters consume it.
 *
 * The model in five sentences:
 * - **Values** are named edges. Graph inputs are values; every node output is a value; names are unique
 *   across the graph. A node may only read values defined earlier in `nodes` (the list is a topological
 *   order), so one pass over `nodes` runs, analyses or draws the model.
 * - **Nodes** are primitive ops (`op`) with complete, normalised attributes (`attrs`): every pair expanded,
 *   every padding resolved to numbers, channel counts spelled out. One conv2d record therefore drives
 *   execution, MAC counting, receptive fields, ONNX mapping and drawing without re-deriving anything.
 * - **Parameters** live beside the graph: `graph.params` declares each one's shape and kind, the numbers are
 *   in a separate `Weights` map keyed by the same names (PyTorch `state_dict` names such as
 *   `"stage1.conv1.weight"`, `"stage1.bn1.running_mean"`, so torch checkpoints map one to one). A node points
 *   at its parameters through `params` (role -> parameter name); two nodes may share a parameter.
 * - **Scopes** recover blocks: every node carries the dotted path of the builder scope it was created in
 *   (`"stage2.block1.se"`); its own name is normally `scope + "." + local` (`"stage2.block1.se.fc1"`).
 *   `graph.scopes` may say what kind of block a scope is (`{kind: "squeezeExcite"}`) for drawing and rewrites.
 * - **Shapes** are not stored except at the inputs (with a symbolic batch dimension, e.g. `["N", 1, 28, 28]`);
 *   `inferShapes` (validate.ts) derives every value's shape for a concrete batch size.
 *
 * Layout conventions follow PyTorch: NCHW activations, conv weight `[Cout, Cin/groups, kH, kW]`, linear weight
 * `[out, in]`. A deformable convolution is primitive too: its offsets (and, for v2, the sigmoid mask) are
 * ordinary values computed by ordinary conv2d (+ sigmoid) nodes that feed it.
 */

/** The `format` tag of a serialised graph. */
export const GRAPH_FORMAT = "convkit.graph";
/** The version of the graph format this code reads and writes. */
export const GRAPH_VERSION = 1;

/** A JSON value (what may appear in `meta`). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One dimension of a graph input: a number, or a symbol such as `"N"` for the batch. */
export type Dim = number | string;

/** A graph input: its name and its shape, normally `["N", C, H, W]` (symbolic batch first). */
export interface ValueInfo {
  name: string;
  shape: Dim[];
}

/** `[height, width]`. */
export type Pair = [number, number];
/** `[top, left, bottom, right]`, like an ONNX `pads` attribute reordered to PyTorch's (h, w) habit. */
export type Pads = [number, number, number, number];

/** Attributes of `conv2d`: PyTorch's `nn.Conv2d`, fully resolved. */
export interface Conv2dAttrs {
  inChannels: number;
  outChannels: number;
  kernelSize: Pair;
  stride: Pair;
  /** Resolved `[top, left, bottom, right]` ('same' is resolved at build time). */
  padding: Pads;
  dilation: Pair;
  groups: number;
  /** Whether the node has a bias parameter. */
  bias: boolean;
}

/**
 * Attributes of `deformConv2d` (torchvision's `deform_conv2d`). Inputs: `[x, offset]` or `[x, offset, mask]`,
 * offset `[N, 2*offsetGroups*kH*kW, Hout, Wout]` as (dy, dx) pairs, mask `[N, offsetGroups*kH*kW, Hout, Wout]`.
 */
export interface DeformConv2dAttrs extends Conv2dAttrs {
  offsetGroups: number;
  /** True for DCNv2 (modulated): a third input holds the mask. */
  mask: boolean;
}

/** Attributes of `batchNorm2d`: PyTorch's `nn.BatchNorm2d`. */
export interface BatchNorm2dAttrs {
  numFeatures: number;
  eps: number;
  /** Running-average factor; null means cumulative average (1 / numBatchesTracked), as in PyTorch. */
  momentum: number | null;
  /** Learnable weight and bias present. */
  affine: boolean;
  /** Running mean/var buffers present (otherwise batch statistics are used in eval too). */
  trackRunningStats: boolean;
}

export interface LinearAttrs {
  inFeatures: number;
  outFeatures: number;
  bias: boolean;
}

export interface MaxPool2dAttrs {
  kernelSize: Pair;
  stride: Pair;
  /** `[top, left, bottom, right]`, each at most half the kernel (PyTorch's rule); asymmetric allowed (ONNX). */
  padding: Pads;
  dilation: Pair;
  ceilMode: boolean;
}

export interface AvgPool2dAttrs {
  kernelSize: Pair;
  stride: Pair;
  /** `[top, left, bottom, right]`, as for maxPool2d. */
  padding: Pads;
  ceilMode: boolean;
  countIncludePad: boolean;
  /** A non-zero integer divisor for every window, or null. */
  divisorOverride: number | null;
}

export interface AdaptivePool2dAttrs {
  outputSize: Pair;
}

export interface LeakyReluAttrs {
  negativeSlope: number;
}

/** `concat` along a non-negative axis. */
export interface ConcatAttrs {
  axis: number;
}

/** `split` into pieces of the given sizes along a non-negative axis; one output per piece. */
export interface SplitAttrs {
  sizes: number[];
  axis: number;
}

/**
 * `reshape` to `shape`, where -1 (at most once) is inferred and 0 copies the input's dimension at that
 * position (ONNX's rule), so `[0, -1]` flattens any batch size.
 */
export interface ReshapeAttrs {
  shape: number[];
}

/** `flatten` dims startDim..endDim (both inclusive, non-negative). */
export interface FlattenAttrs {
  startDim: number;
  endDim: number;
}

export interface TransposeAttrs {
  dim0: number;
  dim1: number;
}

export interface PermuteAttrs {
  dims: number[];
}

export interface ChannelShuffleAttrs {
  groups: number;
}

export interface DropoutAttrs {
  p: number;
}

/** `sum` / `mean` over non-negative `dims`. */
export interface ReduceAttrs {
  dims: number[];
  keepdim: boolean;
}

export interface SoftmaxAttrs {
  axis: number;
}

/** `constant`: outputs its `value` parameter (a buffer) as is, no batch dimension added. */
export interface ConstantAttrs {
  shape: number[];
}

/** No attributes. */
export type NoAttrs = Record<string, never>;

/** Attributes of every primitive op, keyed by op name. The op set is closed: add an entry here to add an op. */
export interface OpAttrs {
  conv2d: Conv2dAttrs;
  deformConv2d: DeformConv2dAttrs;
  batchNorm2d: BatchNorm2dAttrs;
  linear: LinearAttrs;
  relu: NoAttrs;
  relu6: NoAttrs;
  leakyRelu: LeakyReluAttrs;
  sigmoid: NoAttrs;
  hardSigmoid: NoAttrs;
  hardSwish: NoAttrs;
  silu: NoAttrs;
  tanh: NoAttrs;
  add: NoAttrs;
  sub: NoAttrs;
  mul: NoAttrs;
  div: NoAttrs;
  concat: ConcatAttrs;
  split: SplitAttrs;
  reshape: ReshapeAttrs;
  flatten: FlattenAttrs;
  transpose: TransposeAttrs;
  permute: PermuteAttrs;
  channelShuffle: ChannelShuffleAttrs;
  maxPool2d: MaxPool2dAttrs;
  avgPool2d: AvgPool2dAttrs;
  adaptiveAvgPool2d: AdaptivePool2dAttrs;
  adaptiveMaxPool2d: AdaptivePool2dAttrs;
  dropout: DropoutAttrs;
  identity: NoAttrs;
  sum: ReduceAttrs;
  mean: ReduceAttrs;
  softmax: SoftmaxAttrs;
  logSoftmax: SoftmaxAttrs;
  constant: ConstantAttrs;
}

export type OpName = keyof OpAttrs;

/** The parameter roles each op may reference. Optional roles depend on attrs (bias, affine...). */
export interface OpParams {
  conv2d: { weight: string; bias?: string };
  deformConv2d: { weight: string; bias?: string };
  batchNorm2d: {
    weight?: string;
    bias?: string;
    runningMean?: string;
    runningVar?: string;
    numBatchesTracked?: string;
  };
  linear: { weight: string; bias?: string };
  constant: { value: string };
}

/** Parameter roles of op `K` (an empty record for parameterless ops). */
export type ParamsOf<K extends OpName> = K extends keyof OpParams ? OpParams[K] : Record<string, never>;

/** Any parameter role name. */
export type ParamRole = "weight" | "bias" | "runningMean" | "runningVar" | "numBatchesTracked" | "value";

/** A node of op `K`. `Node` (below) is the union over all ops, discriminated by `op`. */
export interface NodeOf<K extends OpName> {
  /** Unique node name, normally `scope + "." + local name` ("stage1.conv1"). */
  name: string;
  op: K;
  /** Names of the values read, in the op's argument order. */
  inputs: string[];
  /** Names of the values written (one, except for `split`). */
  outputs: string[];
  attrs: OpAttrs[K];
  /** Role -> parameter name in `graph.params` / the weights. */
  params: ParamsOf<K>;
  /** Dotted path of the enclosing builder scope ("" at top level). */
  scope: string;
}

/** A graph node; `switch (node.op)` narrows `attrs` and `params`. */
export type Node = { [K in OpName]: NodeOf<K> }[OpName];

/** Declared shape and kind of a named parameter. Buffers (running statistics, constants) are not trained. */
export interface ParamInfo {
  shape: number[];
  kind: "parameter" | "buffer";
}

/** What a scope is, for drawing, reports and rewrites (e.g. `{kind: "bottleneck", meta: {expansion: 4}}`). */
export interface ScopeInfo {
  kind: string;
  meta?: Record<string, Json>;
}

/** The model. Plain data: `JSON.stringify` works, `serializeGraph` (serialize.ts) gives the canonical text. */
export interface Graph {
  format: typeof GRAPH_FORMAT;
  version: typeof GRAPH_VERSION;
  name: string;
  inputs: ValueInfo[];
  /** Names of the values the model returns, in order. */
  outputs: string[];
  /** Topologically ordered: each node reads only graph inputs and outputs of earlier nodes. */
  nodes: Node[];
  params: Record<string, ParamInfo>;
  /** Optional descriptions of scopes, keyed by scope path. */
  scopes?: Record<string, ScopeInfo>;
  /** Free-form information (dataset, number of classes, source of the model). */
  meta?: Record<string, Json>;
}

/** Parameter and buffer values by name, row-major float32, laid out as `graph.params[name].shape`. */
export type Weights = Map<string, Float32Array>;

/** Suffix appended to a node name to name each parameter role (PyTorch `state_dict` spelling). */
export const PARAM_SUFFIX: Record<ParamRole, string> = {
  weight: "weight",
  bias: "bias",
  runningMean: "running_mean",
  runningVar: "running_var",
  numBatchesTracked: "num_batches_tracked",
  value: "value",
};

/** Every op name, in a stable order (for validation and documentation). */
export const OP_NAMES: readonly OpName[] = [
  "conv2d",
  "deformConv2d",
  "batchNorm2d",
  "linear",
  "relu",
  "relu6",
  "leakyRelu",
  "sigmoid",
  "hardSigmoid",
  "hardSwish",
  "silu",
  "tanh",
  "add",
  "sub",
  "mul",
  "div",
  "concat",
  "split",
  "reshape",
  "flatten",
  "transpose",
  "permute",
  "channelShuffle",
  "maxPool2d",
  "avgPool2d",
  "adaptiveAvgPool2d",
  "adaptiveMaxPool2d",
  "dropout",
  "identity",
  "sum",
  "mean",
  "softmax",
  "logSoftmax",
  "constant",
];

/** Ops that apply a function element by element to one input (shape preserved). */
export const UNARY_OPS = [
  "relu",
  "relu6",
  "leakyRelu",
  "sigmoid",
  "hardSigmoid",
  "hardSwish",
  "silu",
  "tanh",
  "dropout",
  "identity",
] as const satisfies readonly OpName[];

/** Ops on two inputs with NumPy/PyTorch broadcasting. */
export const BINARY_OPS = ["add", "sub", "mul", "div"] as const satisfies readonly OpName[];

/** Narrows a node to op `K` (handy in filters: `graph.nodes.filter(isOp("conv2d"))`). */
export function isOp<K extends OpName>(op: K): (node: Node) => node is Extract<Node, { op: K }> {
  return (node: Node): node is Extract<Node, { op: K }> => node.op === op;
}
