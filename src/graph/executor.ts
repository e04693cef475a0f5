import { Tensor } from "../autograd/tensor.js";
import { hardSigmoid, hardSwish, leakyRelu, relu, relu6, sigmoid, silu, tanh } from "../ops/activation.js";
import { batchNorm2d } from "../ops/batchnorm.js";
import { conv2d } from "../ops/conv.js";
import { deformConv2d } from "../ops/deform.js";
import { dropout } from "../ops/dropout.js";
import { add, div, mul, sub } from "../ops/elementwise.js";
import { linear } from "../ops/linear.js";
import { logSoftmax, softmax } from "../ops/loss.js";
import { adaptiveAvgPool2d, adaptiveMaxPool2d, avgPool2d, maxPool2d } from "../ops/pool.js";
import { mean, sum } from "../ops/reduce.js";
import { concat, flatten, permute, reshape, split, transpose } from "../ops/shape.js";
import { channelShuffle } from "../ops/shuffle.js";
import { ArgumentError, ConvkitError, describe, ShapeError } from "../tensor/errors.js";
import { Rng } from "../tensor/rng.js";
import { formatShape } from "../tensor/shape.js";
import { nodeLabel } from "./infer.js";
import { own } from "./own.js";
import type { Graph, Node, ParamRole, Weights } from "./types.js";
import { validateGraph } from "./validate.js";

/**
 * Runs a Graph with the differentiable ops, so `loss.backward()` reaches every parameter.
 *
 * - Parameters and buffers become persistent Tensors, created once (copies of the given weights): optimizers
 *   update `.data` in place and the next forward sees it. Kind "parameter" tensors require grad; buffers
 *   (running statistics, constants) do not. A parameter referenced by several nodes is one Tensor.
 * - Training mode (`train()` or `{training: true}`): batch norm normalises with batch statistics and updates
 *   its running buffers in place (and `num_batches_tracked`), dropout draws masks from the model's seeded Rng.
 *   Eval mode uses the running statistics and no dropout, as in PyTorch.
 * - Intermediate values are dropped after their last reader, so inference keeps only live activations.
 */

export interface GraphModelOptions {
  /** Seed of the dropout Rng (default 0). Ignored when `rng` is given. */
  seed?: number;
  rng?: Rng;
}

export interface ForwardOptions {
  /** Overrides the model's mode (`train()` / `eval()`) for this call. */
  training?: boolean;
}

/** Graph inputs: one Tensor for a single-input graph, or tensors by input name. */
export type GraphInputs = Tensor | Record<string, Tensor>;

export class GraphModel {
  readonly graph: Graph;
  /** Dropout masks come from here; reseed it to repeat a training run. */
  readonly rng: Rng;
  /** Current mode; `train()` / `eval()` set it. A new model starts in eval mode. */
  training = false;
  private readonly tensors = new Map<string, Tensor>();
  /** For each node index, the values whose last reader it is (freed after it runs). */
  private readonly frees: string[][];

  constructor(graph: Graph, weights: Weights, options: GraphModelOptions = {}) {
    validateGraph(graph, weights);
    this.graph = graph;
    this.rng = options.rng ?? new Rng(options.seed ?? 0);
    for (const [name, info] of Object.entries(graph.params)) {
      const data = Float32Array.from(weights.get(name)!);
      this.tensors.set(name, new Tensor(data, info.shape, info.kind === "parameter"));
    }
    const last = new Map<string, number>();
    graph.nodes.forEach((node, i) => {
      for (const v of node.inputs) last.set(v, i);
    });
    const outputs = new Set(graph.outputs);
    this.frees = graph.nodes.map(() => []);
    for (const [v, i] of last) if (!outputs.has(v)) this.frees[i].push(v);
  }

  /** Trainable tensors by parameter name (requiresGrad), in graph.params order. */
  parameters(): Map<string, Tensor> {
    return this.byKind("parameter");
  }

  /** Non-trainable state (running statistics, constants) by name. */
  buffers(): Map<string, Tensor> {
    return this.byKind("buffer");
  }

  /** Every parameter and buffer tensor by name (the live tensors, like `model.state_dict(keep_vars=True)`). */
  state(): Map<string, Tensor> {
    return new Map(this.tensors);
  }

  /** A copy of the current values of all parameters and buffers, for saving. */
  weights(): Weights {
    const out: Weights = new Map();
    for (const [name, t] of this.tensors) out.set(name, Float32Array.from(t.data));
    return out;
  }

  /**
   * Copies values into the live tensors (in place, so optimizers holding them stay valid). Every name must be
   * a parameter of the graph with the right length; with `strict` (default), every parameter must be given.
   */
  loadWeights(weights: Weights, options: { strict?: boolean } = {}): void {
    for (const [name, data] of weights) {
      const t = this.tensors.get(name);
      if (t === undefined)
        throw new ArgumentError(
          describe("GraphModel.loadWeights", "weights", "parameters of the graph", name),
        );
      if (data.length !== t.numel) {
        throw new ShapeError(
          describe(
            "GraphModel.loadWeights",
            name,
            `${t.numel} values (shape ${formatShape(t.shape)})`,
            data.length,
          ),
        );
      }
    }
    if (options.strict ?? true) {
      for (const name of this.tensors.keys()) {
        if (!weights.has(name))
          throw new ArgumentError(
            describe("GraphModel.loadWeights", "weights", `a value for "${name}"`, "none"),
          );
      }
    }
    for (const [name, data] of weights) this.tensors.get(name)!.data.set(data);
  }

  /** Clears the gradients of all parameters. */
  zeroGrad(): void {
    for (const t of this.tensors.values()) t.zeroGrad();
  }

  train(mode = true): this {
    this.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Runs the graph and returns its single output (see `forwardOutputs` for several). */
  forward(inputs: GraphInputs, options: ForwardOptions = {}): Tensor {
    if (this.graph.outputs.length !== 1) {
      throw new ArgumentError(
        describe(
          `GraphModel "${this.graph.name}".forward`,
          "graph",
          "a single output (use forwardOutputs)",
          `${this.graph.outputs.length} outputs`,
        ),
      );
    }
    return this.forwardOutputs(inputs, options)[this.graph.outputs[0]];
  }

  /** Runs the graph and returns every graph output by name. */
  forwardOutputs(inputs: GraphInputs, options: ForwardOptions = {}): Record<string, Tensor> {
    const values = this.execute(inputs, options, false);
    // fromEntries: an output named "__proto__" is an own key (assigning it would set the prototype instead).
    return Object.fromEntries(this.graph.outputs.map((v) => [v, values.get(v)!]));
  }

  /** Runs the graph keeping every value (inputs, activations, outputs) by name, e.g. to draw feature maps. */
  runAll(inputs: GraphInputs, options: ForwardOptions = {}): Map<string, Tensor> {
    return this.execute(inputs, options, true);
  }

  private byKind(kind: "parameter" | "buffer"): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, info] of Object.entries(this.graph.params))
      if (info.kind === kind) out.set(name, this.tensors.get(name)!);
    return out;
  }

  private execute(inputs: GraphInputs, options: ForwardOptions, keep: boolean): Map<string, Tensor> {
    const training = options.training ?? this.training;
    if (typeof training !== "boolean")
      throw new ArgumentError(describe("GraphModel.forward", "training", "a boolean", training));
    const values = this.bindInputs(inputs);
    const nodes = this.graph.nodes;
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i];
      const args = new Array<Tensor>(node.inputs.length);
      for (let k = 0; k < args.length; k++) args[k] = values.get(node.inputs[k])!;
      let outs: Tensor[];
      try {
        outs = this.runNode(node, args, training);
      } catch (e) {
        if (e instanceof ConvkitError && !e.message.includes(node.name)) {
          const Ctor = e.constructor as new (message: string) => ConvkitError;
          throw new Ctor(`${nodeLabel(node)}: ${e.message}`);
        }
        throw e;
      }
      for (let k = 0; k < node.outputs.length; k++) values.set(node.outputs[k], outs[k]);
      if (!keep) for (const v of this.frees[i]) values.delete(v);
    }
    return values;
  }

  private bindInputs(inputs: GraphInputs): Map<string, Tensor> {
    const g = this.graph;
    const where = `GraphModel "${g.name}".forward`;
    let byName: Record<string, Tensor>;
    if (inputs instanceof Tensor) {
      if (g.inputs.length !== 1) {
        throw new ArgumentError(
          describe(
            where,
            "inputs",
            `tensors by name for inputs ${g.inputs.map((i) => i.name).join(", ")}`,
            "one Tensor",
          ),
        );
      }
      byName = { [g.inputs[0].name]: inputs };
    } else {
      byName = inputs;
    }
    const values = new Map<string, Tensor>();
    for (const info of g.inputs) {
      const t = own(byName, info.name);
      if (!(t instanceof Tensor))
        throw new ArgumentError(describe(where, `input "${info.name}"`, "a Tensor", t));
      const fits =
        t.shape.length === info.shape.length &&
        info.shape.every((d, i) => typeof d !== "number" || d === t.shape[i]);
      if (!fits) {
        throw new ShapeError(
          `${where}: input "${info.name}": expected shape [${info.shape.join(", ")}], got ${formatShape(t.shape)}`,
        );
      }
      values.set(info.name, t);
    }
    for (const name of Object.keys(byName)) {
      if (!values.has(name))
        throw new ArgumentError(
          describe(where, "inputs", `only ${g.inputs.map((i) => `"${i.name}"`).join(", ")}`, name),
        );
    }
    return values;
  }

  private param(node: Node, role: ParamRole): Tensor | null {
    const name = (node.params as Partial<Record<ParamRole, string>>)[role];
    return name === undefined ? null : this.tensors.get(name)!;
  }

  private runNode(node: Node, x: Tensor[], training: boolean): Tensor[] {
    const p = (role: ParamRole) => this.param(node, role);
    switch (node.op) {
      case "conv2d": {
        const a = node.attrs;
        const opts = { stride: a.stride, padding: a.padding, dilation: a.dilation, groups: a.groups };
        return [conv2d(x[0], p("weight")!, p("bias"), opts)];
      }
      case "deformConv2d": {
        const a = node.attrs;
        const opts = {
          stride: a.stride,
          padding: a.padding,
          dilation: a.dilation,
          mask: a.mask ? x[2] : null,
        };
        return [deformConv2d(x[0], x[1], p("weight")!, p("bias"), opts)];
      }
      case "batchNorm2d":
        return [this.batchNorm(node, x[0], training)];
      case "linear":
        return [linear(x[0], p("weight")!, p("bias"))];
      case "relu":
        return [relu(x[0])];
      case "relu6":
        return [relu6(x[0])];
      case "leakyRelu":
        return [leakyRelu(x[0], node.attrs.negativeSlope)];
      case "sigmoid":
        return [sigmoid(x[0])];
      case "hardSigmoid":
        return [hardSigmoid(x[0])];
      case "hardSwish":
        return [hardSwish(x[0])];
      case "silu":
        return [silu(x[0])];
      case "tanh":
        return [tanh(x[0])];
      case "add":
        return [add(x[0], x[1])];
      case "sub":
        return [sub(x[0], x[1])];
      case "mul":
        return [mul(x[0], x[1])];
      case "div":
        return [div(x[0], x[1])];
      case "concat":
        return [concat(x, node.attrs.axis)];
      case "split":
        return split(x[0], node.attrs.sizes, node.attrs.axis);
      case "reshape": {
        // 0 copies the input dimension (ONNX's rule); the op itself knows only -1.
        const shape = node.attrs.shape.map((d, i) => (d === 0 ? x[0].shape[i] : d));
        return [reshape(x[0], shape)];
      }
      case "flatten":
        return [flatten(x[0], node.attrs.startDim, node.attrs.endDim)];
      case "transpose":
        return [transpose(x[0], node.attrs.dim0, node.attrs.dim1)];
      case "permute":
        return [permute(x[0], node.attrs.dims)];
      case "channelShuffle":
        return [channelShuffle(x[0], node.attrs.groups)];
      case "maxPool2d": {
        const a = node.attrs;
        return [
          maxPool2d(x[0], {
            kernelSize: a.kernelSize,
            stride: a.stride,
            padding: a.padding,
            dilation: a.dilation,
            ceilMode: a.ceilMode,
          }),
        ];
      }
      case "avgPool2d": {
        const a = node.attrs;
        return [
          avgPool2d(x[0], {
            kernelSize: a.kernelSize,
            stride: a.stride,
            padding: a.padding,
            ceilMode: a.ceilMode,
            countIncludePad: a.countIncludePad,
            divisorOverride: a.divisorOverride,
          }),
        ];
      }
      case "adaptiveAvgPool2d":
        return [adaptiveAvgPool2d(x[0], node.attrs.outputSize)];
      case "adaptiveMaxPool2d":
        return [adaptiveMaxPool2d(x[0], node.attrs.outputSize)];
      case "dropout":
        return [dropout(x[0], { p: node.attrs.p, training, rng: this.rng })];
      case "identity":
        return [x[0]];
      case "sum":
        return [sum(x[0], node.attrs.dims.length === 0 ? undefined : node.attrs.dims, node.attrs.keepdim)];
      case "mean":
        return [mean(x[0], node.attrs.dims.length === 0 ? undefined : node.attrs.dims, node.attrs.keepdim)];
      case "softmax":
        return [softmax(x[0], node.attrs.axis)];
      case "logSoftmax":
        return [logSoftmax(x[0], node.attrs.axis)];
      case "constant":
        return [p("value")!];
      default: {
        const never: never = node;
        throw new ArgumentError(`GraphModel: unknown op ${JSON.stringify((never as Node).op)}`);
      }
    }
  }

  /**
   * PyTorch's nn.BatchNorm2d.forward: in training with running stats, num_batches_tracked += 1 and momentum
   * null means a cumulative average (factor 1 / num_batches_tracked); without running stats, batch
   * statistics are used in both modes.
   */
  private batchNorm(node: Extract<Node, { op: "batchNorm2d" }>, x: Tensor, training: boolean): Tensor {
    const a = node.attrs;
    const weight = this.param(node, "weight");
    const bias = this.param(node, "bias");
    if (!a.trackRunningStats) {
      return batchNorm2d(x, null, null, weight, bias, { training: true, momentum: 0, eps: a.eps });
    }
    const runningMean = this.param(node, "runningMean");
    const runningVar = this.param(node, "runningVar");
    let momentum = a.momentum ?? 0;
    if (training) {
      const tracked = this.param(node, "numBatchesTracked")!;
      tracked.data[0] += 1;
      if (a.momentum === null) momentum = 1 / tracked.data[0];
    }
    return batchNorm2d(x, runningMean, runningVar, weight, bias, { training, momentum, eps: a.eps });
  }
}
