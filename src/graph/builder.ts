import type { PoolPadding } from "../ops/pool.js";
import { type Padding2d, resolvePadding } from "../tensor/conv-geometry.js";
import { ArgumentError, describe, ShapeError } from "../tensor/errors.js";
import { Rng } from "../tensor/rng.js";
import {
  checkNonNegativeInt,
  checkPositiveInt,
  formatShape,
  normAxis,
  numel,
  pair,
} from "../tensor/shape.js";
import { createNode, expectedParams } from "./infer.js";
import { fans, type InitSpec, initialise } from "./init.js";
import {
  type Dim,
  GRAPH_FORMAT,
  GRAPH_VERSION,
  type Graph,
  type Json,
  type Node,
  type OpAttrs,
  type OpName,
  PARAM_SUFFIX,
  type Pads,
  type ParamInfo,
  type ParamRole,
  type ParamsOf,
  type ScopeInfo,
  type ValueInfo,
  type Weights,
} from "./types.js";
import { validateGraph } from "./validate.js";

/**
 * GraphBuilder: write a model the way PyTorch model code reads, get a validated Graph and its initial weights.
 *
 * ```ts
 * const b = new GraphBuilder("lenet", { seed: 0 });
 * let x = b.input("image", [1, 28, 28]);              // graph input ["N", 1, 28, 28]
 * x = b.scope("features", () => {
 *   let y = b.conv2d(x, { outChannels: 6, kernelSize: 5, padding: 2 });  // node "features.conv1"
 *   y = b.relu(y);                                     // "features.relu1"
 *   return b.maxPool2d(y, { kernelSize: 2 });          // "features.maxpool1"
 * });
 * x = b.linear(b.flatten(x), { outFeatures: 10, name: "head" });
 * b.output(x);
 * const { graph, weights } = b.build();
 * ```
 *
 * - Every method returns a `ValueRef` (`{name, shape}`); shapes are inferred as you go (batch dimension at the
 *   reference batch size 1), so `inChannels`/`inFeatures` are never written by hand and a mistake fails at the
 *   line that makes it, naming the node.
 * - Names: `scope path + "." + local`, the local name given by `name` or generated per scope as
 *   `conv1, conv2, bn1, relu1, fc1...`. Parameters are named `node + ".weight"`, `".bias"`, `".running_mean"`...
 *   like a PyTorch state_dict.
 * - Weights are initialised as PyTorch's layers do by default, from the builder's seeded Rng in creation order
 *   (same seed, same graph code -> same weights). `init` options override per parameter.
 */

/** A handle on a value of the graph being built. `shape` includes the batch dimension (at batch size 1). */
export interface ValueRef {
  readonly name: string;
  readonly shape: readonly number[];
}

/** A value handle, or the name of a value already defined in this builder. */
export type ValueLike = ValueRef | string;

export interface NodeOptions {
  /** Local name inside the current scope (default: generated, e.g. "conv3"). */
  name?: string;
}

/** How one parameter of a node is created. */
export interface ParamSpec {
  /** Initial values (row-major); otherwise `init` is used. */
  data?: Float32Array;
  /** Initialiser; "default" is PyTorch's for the layer. */
  init?: InitSpec;
  /** Use this parameter name instead of `node + suffix`; naming an existing parameter shares it (weight tying). */
  name?: string;
}

export interface GenericNodeOptions extends NodeOptions {
  params?: Partial<Record<ParamRole, ParamSpec>>;
}

export interface GraphBuilderOptions {
  /** Seed of the Rng used for initialisation (default 0). Ignored when `rng` is given. */
  seed?: number;
  rng?: Rng;
  /** Symbol of the batch dimension of inputs (default "N"). */
  batchSymbol?: string;
}

type Init2 = { weight?: InitSpec; bias?: InitSpec };

export interface Conv2dSpec extends NodeOptions {
  outChannels: number;
  kernelSize: number | readonly [number, number];
  stride?: number | readonly [number, number];
  /** number, [h, w], [top, left, bottom, right], 'same' (stride 1) or 'valid'. Resolved at build time. */
  padding?: Padding2d;
  dilation?: number | readonly [number, number];
  groups?: number;
  /** Default true, as in nn.Conv2d. */
  bias?: boolean;
  init?: Init2;
}

export interface DeformConv2dSpec extends Conv2dSpec {
  /** DCNv2 modulation mask [N, offsetGroups*kH*kW, Hout, Wout] (typically a sigmoid of a conv). */
  mask?: ValueLike;
}

export interface BatchNorm2dSpec extends NodeOptions {
  eps?: number;
  /** Default 0.1; null for a cumulative average. */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
  init?: Init2;
}

export interface LinearSpec extends NodeOptions {
  outFeatures: number;
  bias?: boolean;
  init?: Init2;
}

export interface MaxPool2dSpec extends NodeOptions {
  kernelSize: number | readonly [number, number];
  /** Default: kernelSize (as in PyTorch). */
  stride?: number | readonly [number, number];
  /** number, [h, w] or [top, left, bottom, right]. */
  padding?: PoolPadding;
  dilation?: number | readonly [number, number];
  ceilMode?: boolean;
}

export interface AvgPool2dSpec extends NodeOptions {
  kernelSize: number | readonly [number, number];
  stride?: number | readonly [number, number];
  padding?: PoolPadding;
  ceilMode?: boolean;
  countIncludePad?: boolean;
  divisorOverride?: number | null;
}

/** Local base names for generated node names (PyTorch-like: conv1, bn1, fc1). */
const BASE: Partial<Record<OpName, string>> = {
  conv2d: "conv",
  deformConv2d: "deform_conv",
  batchNorm2d: "bn",
  linear: "fc",
  leakyRelu: "leaky_relu",
  hardSigmoid: "hardsigmoid",
  hardSwish: "hardswish",
  channelShuffle: "shuffle",
  maxPool2d: "maxpool",
  avgPool2d: "avgpool",
  adaptiveAvgPool2d: "adaptive_avgpool",
  adaptiveMaxPool2d: "adaptive_maxpool",
  logSoftmax: "log_softmax",
};

export class GraphBuilder {
  readonly name: string;
  /** The generator parameters are initialised from (blocks may draw from it for custom initialisation). */
  readonly rng: Rng;
  /** Free-form information stored in `graph.meta`. */
  readonly meta: Record<string, Json> = Object.create(null);
  private readonly batchSymbol: string;
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: string[] = [];
  private readonly nodes: Node[] = [];
  // Keyed by the user's names: null-prototype records, so that a parameter or scope named "__proto__" or
  // "constructor" is an ordinary key (build() copies them into plain objects).
  private readonly params: Record<string, ParamInfo> = Object.create(null);
  private readonly weights: Weights = new Map();
  private readonly shapes = new Map<string, readonly number[]>();
  /** Node and value names share one namespace (a single-output node's value carries the node's name). */
  private readonly taken = new Set<string>();
  private readonly scopePath: string[] = [];
  private readonly usedScopes = new Set<string>();
  private readonly scopes: Record<string, ScopeInfo> = Object.create(null);
  private built = false;

  constructor(name: string, options: GraphBuilderOptions = {}) {
    if (typeof name !== "string" || name.length === 0) {
      throw new ArgumentError(describe("GraphBuilder", "name", "a non-empty string", name));
    }
    this.name = name;
    this.rng = options.rng ?? new Rng(options.seed ?? 0);
    this.batchSymbol = options.batchSymbol ?? "N";
  }

  // ---------------------------------------------------------------- structure

  /**
   * Declares a graph input with a per-sample shape (`[C, H, W]`); the graph records `["N", C, H, W]`.
   * The returned handle's shape has batch size 1.
   */
  input(name: string, sampleShape: readonly number[]): ValueRef {
    sampleShape.forEach((d) => {
      checkPositiveInt(d, "GraphBuilder.input", "sampleShape");
    });
    return this.inputWithDims(name, [this.batchSymbol, ...sampleShape]);
  }

  /** Declares a graph input with explicit dims (symbols such as "N" count as 1 while building). */
  inputWithDims(name: string, dims: readonly Dim[]): ValueRef {
    this.checkOpen();
    this.claim(name, "GraphBuilder.input");
    const shape = dims.map((d) => {
      if (typeof d === "string" && d.length > 0) return 1;
      return checkPositiveInt(d, "GraphBuilder.input", "shape");
    });
    this.inputs.push({ name, shape: [...dims] });
    return this.define(name, shape);
  }

  /** Marks values as graph outputs (in call order). */
  output(...values: (ValueLike | ValueLike[])[]): void {
    this.checkOpen();
    for (const v of values.flat()) {
      const name = this.ref(v).name;
      if (this.outputs.includes(name)) {
        throw new ArgumentError(describe("GraphBuilder.output", "value", "each output once", name));
      }
      this.outputs.push(name);
    }
  }

  /**
   * Runs `fn` inside a named scope: nodes created in it are named `path.name.local` and carry `scope` =
   * that path, so blocks can be recovered later. `info` (e.g. `{kind: "squeezeExcite"}`) is stored in
   * `graph.scopes`. A scope path may be entered only once (two blocks must not merge silently).
   */
  scope<T>(name: string, fn: () => T, info?: ScopeInfo): T {
    this.checkOpen();
    if (typeof name !== "string" || name.length === 0 || name.startsWith(".") || name.endsWith(".")) {
      throw new ArgumentError(
        describe("GraphBuilder.scope", "name", "a non-empty name without leading/trailing '.'", name),
      );
    }
    const path = this.qualify(name);
    if (this.usedScopes.has(path)) {
      throw new ArgumentError(
        describe("GraphBuilder.scope", "name", "a scope not used before in this graph", path),
      );
    }
    this.usedScopes.add(path);
    if (info !== undefined) this.scopes[path] = structuredClone(info);
    this.scopePath.push(name);
    try {
      return fn();
    } finally {
      this.scopePath.pop();
    }
  }

  /** The current scope path ("" at top level). */
  get currentScope(): string {
    return this.scopePath.join(".");
  }

  /** Shape of a value (batch dimension at size 1). */
  shapeOf(v: ValueLike): readonly number[] {
    return this.ref(v).shape;
  }

  /** Channel count (dimension 1) of an NCHW value. */
  channels(v: ValueLike): number {
    const s = this.ref(v).shape;
    if (s.length < 2)
      throw new ShapeError(
        describe("GraphBuilder.channels", "value", "a tensor [N, C, ...]", formatShape(s)),
      );
    return s[1];
  }

  /**
   * Adds a node of any op with complete attrs (what the typed methods below call; also for importers).
   * Parameters the op needs (per its attrs) are created: from `params[role].data`, else initialised.
   */
  node<K extends OpName>(
    op: K,
    inputs: readonly ValueLike[],
    attrs: OpAttrs[K],
    options: GenericNodeOptions = {},
  ): ValueRef[] {
    this.checkOpen();
    const scope = this.currentScope;
    const name = options.name !== undefined ? this.qualify(options.name) : this.fresh(BASE[op] ?? op);
    if (options.name !== undefined) {
      if (options.name.length === 0)
        throw new ArgumentError(describe(op, "name", "a non-empty name", options.name));
      if (this.taken.has(name))
        throw new ArgumentError(describe(op, "name", "a name not used yet in this graph", name));
    }
    const refs = inputs.map((v) => this.ref(v));
    const { node, shapes } = createNode(
      { name, op, inputs: refs.map((r) => r.name), attrs, params: {} as ParamsOf<K>, scope },
      refs.map((r) => r.shape),
    );
    for (const out of node.outputs) {
      if (this.taken.has(out)) throw new ArgumentError(describe(op, "output", "an unused value name", out));
    }
    this.createParams(node, options.params ?? {});
    this.nodes.push(node);
    this.taken.add(name);
    return node.outputs.map((out, i) => {
      this.taken.add(out);
      return this.define(out, shapes[i]);
    });
  }

  /** Returns the Graph and its initial weights. The graph is validated; the builder cannot be used afterwards. */
  build(): { graph: Graph; weights: Weights } {
    this.checkOpen();
    if (this.outputs.length === 0) {
      throw new ArgumentError(`GraphBuilder "${this.name}": no outputs; call b.output(value) before build()`);
    }
    const graph: Graph = {
      format: GRAPH_FORMAT,
      version: GRAPH_VERSION,
      name: this.name,
      inputs: structuredClone(this.inputs),
      outputs: [...this.outputs],
      nodes: structuredClone(this.nodes),
      params: structuredClone(this.params),
    };
    if (Object.keys(this.scopes).length > 0) graph.scopes = structuredClone(this.scopes);
    if (Object.keys(this.meta).length > 0) graph.meta = structuredClone(this.meta);
    validateGraph(graph, this.weights);
    this.built = true;
    return { graph, weights: new Map(this.weights) };
  }

  // ---------------------------------------------------------------- layers with parameters

  /** nn.Conv2d: `inChannels` from the input; padding resolved to [top, left, bottom, right]. */
  conv2d(x: ValueLike, spec: Conv2dSpec): ValueRef {
    return this.node("conv2d", [x], this.convAttrs("conv2d", x, spec), {
      name: spec.name,
      params: { weight: { init: spec.init?.weight }, bias: { init: spec.init?.bias } },
    })[0];
  }

  /**
   * torchvision's DeformConv2d: `offset` [N, 2*offsetGroups*kH*kW, Hout, Wout] comes from another node (usually
   * a zero-initialised conv2d on the same input); `offsetGroups` is read from its channel count.
   */
  deformConv2d(x: ValueLike, offset: ValueLike, spec: DeformConv2dSpec): ValueRef {
    const base = this.convAttrs("deformConv2d", x, spec);
    const offsetRef = this.ref(offset);
    const taps = base.kernelSize[0] * base.kernelSize[1];
    const offsetChannels = offsetRef.shape[1] ?? 0;
    if (offsetChannels % (2 * taps) !== 0 || offsetChannels === 0) {
      throw new ShapeError(
        describe(
          "deformConv2d",
          "offset",
          `2*offsetGroups*${taps} channels (kernel ${base.kernelSize.join("x")})`,
          formatShape(offsetRef.shape),
        ),
      );
    }
    const attrs: OpAttrs["deformConv2d"] = {
      ...base,
      offsetGroups: offsetChannels / (2 * taps),
      mask: spec.mask !== undefined,
    };
    const inputs = spec.mask !== undefined ? [x, offset, spec.mask] : [x, offset];
    return this.node("deformConv2d", inputs, attrs, {
      name: spec.name,
      params: { weight: { init: spec.init?.weight }, bias: { init: spec.init?.bias } },
    })[0];
  }

  /** nn.BatchNorm2d (eps 1e-5, momentum 0.1, affine, tracking running stats by default). */
  batchNorm2d(x: ValueLike, spec: BatchNorm2dSpec = {}): ValueRef {
    const attrs: OpAttrs["batchNorm2d"] = {
      numFeatures: this.channels(x),
      eps: spec.eps ?? 1e-5,
      momentum: spec.momentum === undefined ? 0.1 : spec.momentum,
      affine: spec.affine ?? true,
      trackRunningStats: spec.trackRunningStats ?? true,
    };
    return this.node("batchNorm2d", [x], attrs, {
      name: spec.name,
      params: { weight: { init: spec.init?.weight }, bias: { init: spec.init?.bias } },
    })[0];
  }

  /** nn.Linear on the last dimension. */
  linear(x: ValueLike, spec: LinearSpec): ValueRef {
    const s = this.ref(x).shape;
    const attrs: OpAttrs["linear"] = {
      inFeatures: s[s.length - 1] ?? 0,
      outFeatures: checkPositiveInt(spec.outFeatures, "linear", "outFeatures"),
      bias: spec.bias ?? true,
    };
    return this.node("linear", [x], attrs, {
      name: spec.name,
      params: { weight: { init: spec.init?.weight }, bias: { init: spec.init?.bias } },
    })[0];
  }

  /** A fixed tensor (a buffer), e.g. an imported ONNX initializer used by mul/add. */
  constant(data: Float32Array, shape: readonly number[], options: NodeOptions = {}): ValueRef {
    return this.node(
      "constant",
      [],
      { shape: [...shape] },
      { name: options.name, params: { value: { data } } },
    )[0];
  }

  // ---------------------------------------------------------------- activations and element-wise

  relu(x: ValueLike, o: NodeOptions = {}): ValueRef {
    return this.unary("relu", x, o);
  }
  relu6(x: ValueLike, o: NodeOptions = {}): ValueRef {
    return this.unary("relu6", x, o);
  }
  leakyRelu(x: ValueLike, negativeSlope = 0.01, o: NodeOptions = {}): ValueRef {
    return this.node("leakyRelu", [x], { negativeSlope }, o)[0];
  }
  sigmoid(x: ValueLike, o: NodeOptions = {}): ValueRef {
    return this.unary("sigmoid", x, o);
  }
  hardSigmoid(x: ValueLike, o: NodeOptions = {}): ValueRef {
    return this.unary("hardSigmoid", x, o);
  }
  hardSwish(x: ValueLike, o: NodeOptions = {}): ValueRef {
    return this.unary("hardSwish", x, o);
  }
  silu(x: ValueLike, o: NodeOptions = {}): ValueRef {
    return this.unary("silu", x, o);
  }
  tanh(x: ValueLike, o: NodeOptions = {}): ValueRef {
    return this.unary("tanh", x, o);
  }
  identity(x: ValueLike, o: NodeOptions = {}): ValueRef {
    return this.unary("identity", x, o);
  }
  /** nn.Dropout(p); active only in training mode, seeded by the executor. */
  dropout(x: ValueLike, p = 0.5, o: NodeOptions = {}): ValueRef {
    return this.node("dropout", [x], { p }, o)[0];
  }

  /** Broadcasting a + b (a residual join). */
  add(a: ValueLike, b: ValueLike, o: NodeOptions = {}): ValueRef {
    return this.node("add", [a, b], {}, o)[0];
  }
  sub(a: ValueLike, b: ValueLike, o: NodeOptions = {}): ValueRef {
    return this.node("sub", [a, b], {}, o)[0];
  }
  /** Broadcasting a * b (e.g. SE: [N, C, H, W] * [N, C, 1, 1]). */
  mul(a: ValueLike, b: ValueLike, o: NodeOptions = {}): ValueRef {
    return this.node("mul", [a, b], {}, o)[0];
  }
  div(a: ValueLike, b: ValueLike, o: NodeOptions = {}): ValueRef {
    return this.node("div", [a, b], {}, o)[0];
  }

  // ---------------------------------------------------------------- shape ops

  /** torch.cat along `axis` (default 1: channels). */
  concat(xs: readonly ValueLike[], axis = 1, o: NodeOptions = {}): ValueRef {
    if (xs.length === 0) throw new ArgumentError(describe("concat", "xs", "at least one value", "[]"));
    const rank = this.ref(xs[0]).shape.length;
    return this.node("concat", xs, { axis: normAxis(axis, rank, "concat") }, o)[0];
  }

  /** torch.split: `sizes` as a list, or one split size (the last piece may be smaller). Default axis 1. */
  split(x: ValueLike, sizes: number | readonly number[], axis = 1, o: NodeOptions = {}): ValueRef[] {
    const s = this.ref(x).shape;
    const ax = normAxis(axis, s.length, "split");
    let list: number[];
    if (typeof sizes === "number") {
      const size = checkPositiveInt(sizes, "split", "sizes");
      list = [];
      for (let left = s[ax]; left > 0; left -= size) list.push(Math.min(size, left));
    } else {
      list = sizes.map((v) => checkNonNegativeInt(v, "split", "sizes"));
    }
    return this.node("split", [x], { sizes: list, axis: ax }, o);
  }

  /** Reshape; 0 keeps the input dimension, -1 is inferred: `[0, -1]` flattens any batch. */
  reshape(x: ValueLike, shape: readonly number[], o: NodeOptions = {}): ValueRef {
    return this.node("reshape", [x], { shape: [...shape] }, o)[0];
  }

  /** nn.Flatten: dims startDim..endDim into one (defaults 1 and -1, as nn.Flatten). */
  flatten(x: ValueLike, startDim = 1, endDim = -1, o: NodeOptions = {}): ValueRef {
    const rank = Math.max(this.ref(x).shape.length, 1);
    return this.node(
      "flatten",
      [x],
      {
        startDim: normAxis(startDim, rank, "flatten", "startDim"),
        endDim: normAxis(endDim, rank, "flatten", "endDim"),
      },
      o,
    )[0];
  }

  transpose(x: ValueLike, dim0: number, dim1: number, o: NodeOptions = {}): ValueRef {
    const rank = this.ref(x).shape.length;
    return this.node(
      "transpose",
      [x],
      { dim0: normAxis(dim0, rank, "transpose", "dim0"), dim1: normAxis(dim1, rank, "transpose", "dim1") },
      o,
    )[0];
  }

  permute(x: ValueLike, dims: readonly number[], o: NodeOptions = {}): ValueRef {
    const rank = this.ref(x).shape.length;
    return this.node("permute", [x], { dims: dims.map((d) => normAxis(d, rank, "permute", "dims")) }, o)[0];
  }

  /** ShuffleNet's channel shuffle. */
  channelShuffle(x: ValueLike, groups: number, o: NodeOptions = {}): ValueRef {
    return this.node("channelShuffle", [x], { groups }, o)[0];
  }

  // ---------------------------------------------------------------- pooling and reductions

  maxPool2d(x: ValueLike, spec: MaxPool2dSpec): ValueRef {
    const op = "maxPool2d";
    const kernelSize = pair(spec.kernelSize, 1, op, "kernelSize", checkPositiveInt);
    return this.node(
      op,
      [x],
      {
        kernelSize,
        stride: spec.stride === undefined ? kernelSize : pair(spec.stride, 1, op, "stride", checkPositiveInt),
        padding: poolPads(spec.padding, op),
        dilation: pair(spec.dilation, 1, op, "dilation", checkPositiveInt),
        ceilMode: spec.ceilMode ?? false,
      },
      spec,
    )[0];
  }

  avgPool2d(x: ValueLike, spec: AvgPool2dSpec): ValueRef {
    const op = "avgPool2d";
    const kernelSize = pair(spec.kernelSize, 1, op, "kernelSize", checkPositiveInt);
    return this.node(
      op,
      [x],
      {
        kernelSize,
        stride: spec.stride === undefined ? kernelSize : pair(spec.stride, 1, op, "stride", checkPositiveInt),
        padding: poolPads(spec.padding, op),
        ceilMode: spec.ceilMode ?? false,
        countIncludePad: spec.countIncludePad ?? true,
        divisorOverride: spec.divisorOverride ?? null,
      },
      spec,
    )[0];
  }

  /** nn.AdaptiveAvgPool2d(outputSize); `1` gives global average pooling. */
  adaptiveAvgPool2d(
    x: ValueLike,
    outputSize: number | readonly [number, number],
    o: NodeOptions = {},
  ): ValueRef {
    const size = pair(outputSize, 1, "adaptiveAvgPool2d", "outputSize", checkPositiveInt);
    return this.node("adaptiveAvgPool2d", [x], { outputSize: size }, o)[0];
  }

  adaptiveMaxPool2d(
    x: ValueLike,
    outputSize: number | readonly [number, number],
    o: NodeOptions = {},
  ): ValueRef {
    const size = pair(outputSize, 1, "adaptiveMaxPool2d", "outputSize", checkPositiveInt);
    return this.node("adaptiveMaxPool2d", [x], { outputSize: size }, o)[0];
  }

  /** torch.sum over `dims` ([] = all). */
  sum(x: ValueLike, dims: number | readonly number[], keepdim = false, o: NodeOptions = {}): ValueRef {
    return this.node("sum", [x], { dims: this.dims("sum", x, dims), keepdim }, o)[0];
  }

  /** torch.mean over `dims` ([] = all). */
  mean(x: ValueLike, dims: number | readonly number[], keepdim = false, o: NodeOptions = {}): ValueRef {
    return this.node("mean", [x], { dims: this.dims("mean", x, dims), keepdim }, o)[0];
  }

  softmax(x: ValueLike, axis: number, o: NodeOptions = {}): ValueRef {
    const rank = Math.max(this.ref(x).shape.length, 1);
    return this.node("softmax", [x], { axis: normAxis(axis, rank, "softmax") }, o)[0];
  }

  logSoftmax(x: ValueLike, axis: number, o: NodeOptions = {}): ValueRef {
    const rank = Math.max(this.ref(x).shape.length, 1);
    return this.node("logSoftmax", [x], { axis: normAxis(axis, rank, "logSoftmax") }, o)[0];
  }

  // ---------------------------------------------------------------- internals

  private unary(
    op: "relu" | "relu6" | "sigmoid" | "hardSigmoid" | "hardSwish" | "silu" | "tanh" | "identity",
    x: ValueLike,
    o: NodeOptions,
  ): ValueRef {
    return this.node(op, [x], {}, o)[0];
  }

  private dims(op: string, x: ValueLike, dims: number | readonly number[]): number[] {
    const rank = this.ref(x).shape.length;
    const list = typeof dims === "number" ? [dims] : [...dims];
    return list.map((d) => normAxis(d, rank, op, "dims"));
  }

  private convAttrs(op: "conv2d" | "deformConv2d", x: ValueLike, spec: Conv2dSpec): OpAttrs["conv2d"] {
    const kernelSize = pair(spec.kernelSize, 1, op, "kernelSize", checkPositiveInt);
    const stride = pair(spec.stride, 1, op, "stride", checkPositiveInt);
    const dilation = pair(spec.dilation, 1, op, "dilation", checkPositiveInt);
    const padding = resolvePadding(
      spec.padding,
      kernelSize[0],
      kernelSize[1],
      dilation[0],
      dilation[1],
      stride[0],
      stride[1],
      op,
    );
    return {
      inChannels: this.channels(x),
      outChannels: checkPositiveInt(spec.outChannels, op, "outChannels"),
      kernelSize,
      stride,
      padding,
      dilation,
      groups: checkPositiveInt(spec.groups ?? 1, op, "groups"),
      bias: spec.bias ?? true,
    };
  }

  /** Creates (or, when shared by name, checks) every parameter the node needs and records it on the node. */
  private createParams(node: Node, specs: Partial<Record<ParamRole, ParamSpec>>): void {
    const wanted = expectedParams(node);
    const refs: Partial<Record<ParamRole, string>> = {};
    for (const role of Object.keys(specs) as ParamRole[]) {
      if (specs[role] !== undefined && wanted[role] === undefined && hasContent(specs[role])) {
        throw new ArgumentError(
          describe(
            `${node.op} "${node.name}"`,
            "params",
            `roles among [${Object.keys(wanted).join(", ")}]`,
            role,
          ),
        );
      }
    }
    // Validate everything before creating anything, so a failed call leaves the builder unchanged.
    const plan: [ParamRole, string, { shape: number[]; kind: "parameter" | "buffer" }, ParamSpec][] = [];
    for (const role of Object.keys(wanted) as ParamRole[]) {
      const want = wanted[role]!;
      const spec = specs[role] ?? {};
      const pname = spec.name ?? `${node.name}.${PARAM_SUFFIX[role]}`;
      const existing = this.params[pname];
      if (existing !== undefined) {
        if (spec.name === undefined)
          throw new ArgumentError(describe(node.op, "params", "an unused parameter name", pname));
        if (existing.shape.join() !== want.shape.join() || existing.kind !== want.kind) {
          throw new ShapeError(
            `${node.op} "${node.name}": shared parameter "${pname}": expected ${want.kind} of shape ${formatShape(want.shape)}, got ${existing.kind} of shape ${formatShape(existing.shape)}`,
          );
        }
      } else if (spec.data !== undefined && spec.data.length !== numel(want.shape)) {
        throw new ShapeError(
          describe(
            `${node.op} "${node.name}"`,
            `params.${role}.data`,
            `${numel(want.shape)} values (shape ${formatShape(want.shape)})`,
            `${spec.data.length}`,
          ),
        );
      } else if (spec.data === undefined && node.op === "constant") {
        throw new ArgumentError(describe(`constant "${node.name}"`, "data", "initial values", "none"));
      }
      plan.push([role, pname, want, spec]);
    }
    for (const [role, pname, want, spec] of plan) {
      refs[role] = pname;
      if (this.params[pname] !== undefined) continue;
      this.params[pname] = { shape: want.shape, kind: want.kind };
      const data =
        spec.data !== undefined
          ? Float32Array.from(spec.data)
          : initialise(
              spec.init ?? "default",
              want.shape,
              this.rng,
              fallback(node, role),
              `${node.op} "${node.name}"`,
            );
      this.weights.set(pname, data);
    }
    (node as { params: Partial<Record<ParamRole, string>> }).params = refs;
  }

  private define(name: string, shape: readonly number[]): ValueRef {
    const frozen = Object.freeze([...shape]);
    this.shapes.set(name, frozen);
    return Object.freeze({ name, shape: frozen });
  }

  private ref(v: ValueLike): ValueRef {
    const name = typeof v === "string" ? v : v?.name;
    const shape = typeof name === "string" ? this.shapes.get(name) : undefined;
    if (shape === undefined) {
      throw new ArgumentError(
        describe(`GraphBuilder "${this.name}"`, "value", "a value defined in this builder", name ?? v),
      );
    }
    return { name: name as string, shape };
  }

  private qualify(local: string): string {
    const scope = this.currentScope;
    return scope ? `${scope}.${local}` : local;
  }

  private fresh(base: string): string {
    for (let i = 1; ; i++) {
      const name = this.qualify(`${base}${i}`);
      if (!this.taken.has(name)) return name;
    }
  }

  private claim(name: string, op: string): void {
    if (typeof name !== "string" || name.length === 0)
      throw new ArgumentError(describe(op, "name", "a non-empty string", name));
    if (this.taken.has(name))
      throw new ArgumentError(describe(op, "name", "a name not used yet in this graph", name));
    this.taken.add(name);
  }

  private checkOpen(): void {
    if (this.built)
      throw new ArgumentError(`GraphBuilder "${this.name}": already built; start a new builder`);
  }
}

/** Pool padding as [top, left, bottom, right]. */
function poolPads(padding: PoolPadding | undefined, op: string): Pads {
  if (Array.isArray(padding) && padding.length === 4) {
    const p = padding.map((v) => checkNonNegativeInt(v, op, "padding"));
    return [p[0], p[1], p[2], p[3]];
  }
  const [h, w] = pair(
    padding as number | readonly number[] | undefined,
    0,
    op,
    "padding",
    checkNonNegativeInt,
  );
  return [h, w, h, w];
}

function hasContent(spec: ParamSpec | undefined): boolean {
  return (
    spec !== undefined && (spec.data !== undefined || spec.init !== undefined || spec.name !== undefined)
  );
}

/** What "default" initialisation means for a role of an op (PyTorch's reset_parameters). */
function fallback(node: Node, role: ParamRole): Parameters<typeof initialise>[3] {
  if (node.op === "conv2d" || node.op === "deformConv2d" || node.op === "linear") {
    if (role === "weight") return { kind: "weight" };
    const w =
      node.op === "linear"
        ? [node.attrs.outFeatures, node.attrs.inFeatures]
        : [node.attrs.outChannels, node.attrs.inChannels / node.attrs.groups, ...node.attrs.kernelSize];
    return { kind: "bias", fanIn: fans(w).fanIn };
  }
  // Batch norm: weight 1, bias 0, running mean 0, running var 1, batches tracked 0.
  if (role === "weight" || role === "runningVar") return { kind: "constant", value: 1 };
  return { kind: "constant", value: 0 };
}
