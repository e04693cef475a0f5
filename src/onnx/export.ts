import type { Graph, Node, ParamRole, Weights } from "../graph/types.js";
import { inferShapes, validateGraph } from "../graph/validate.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import {
  type AttrOut,
  AttrType,
  DataType,
  encodeModel,
  type NodeOut,
  type TensorOut,
  type ValueInfoOut,
} from "./proto.js";
import { floatTensor, int64Tensor } from "./tensor.js";

/**
 * `exportOnnx(graph, weights)`: the graph as an ONNX model ONNX Runtime loads and runs.
 *
 * Opset 17 by default; 19 when the graph has a deformable convolution (DeformConv entered the default
 * domain at opset 19). `opset` may be set to anything from 13 to 21. Names carry over: ONNX node names are
 * the graph's node names, value names its value names, initializers its parameter names (PyTorch state_dict
 * style), so `importOnnx(exportOnnx(g, w))` gives back the same names. Symbolic input dimensions become
 * `dim_param`s; output dimensions that follow the batch are symbolic too.
 *
 * Each primitive maps to the ONNX op(s) with the same semantics (table in docs/onnx.md). A few primitives
 * have no exact ONNX form and are refused with an ArgumentError naming the node: avgPool2d with
 * divisorOverride, adaptive pooling to a size that does not divide the input, batchNorm2d without running
 * statistics (batch statistics at inference). `num_batches_tracked` buffers are not stored (ONNX has no place
 * for them); import recreates them as 0.
 */

export const DEFAULT_EXPORT_OPSET = 17;
export const DEFORM_EXPORT_OPSET = 19;
export const MIN_EXPORT_OPSET = 13;
export const MAX_EXPORT_OPSET = 21;

export interface OnnxExportOptions {
  /** Opset of the default domain (default 17, or 19 with deformConv2d). */
  opset?: number;
  /** Written to the model's doc_string. */
  docString?: string;
}

/** IR version that goes with an opset (what ONNX's own helper picks). */
function irVersionFor(opset: number): number {
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

const attr = {
  i: (name: string, i: number): AttrOut => ({ name, type: AttrType.INT, i }),
  f: (name: string, f: number): AttrOut => ({ name, type: AttrType.FLOAT, f }),
  ints: (name: string, ints: readonly number[]): AttrOut => ({ name, type: AttrType.INTS, ints }),
};

class Writer {
  readonly nodes: NodeOut[] = [];
  readonly initializers: TensorOut[] = [];
  private readonly names = new Set<string>();
  private readonly suffix = new Map<string, number>();
  private readonly scalars = new Map<string, string>();

  constructor(
    readonly opset: number,
    taken: Iterable<string>,
  ) {
    for (const n of taken) this.names.add(n);
  }

  unique(base: string): string {
    let name = base;
    if (this.names.has(name)) {
      let k = this.suffix.get(base) ?? 1;
      while (this.names.has(`${base}_${k}`)) k++;
      name = `${base}_${k}`;
      this.suffix.set(base, k + 1);
    }
    this.names.add(name);
    return name;
  }

  node(opType: string, name: string, inputs: string[], outputs: string[], attributes: AttrOut[] = []): void {
    this.nodes.push({ name, opType, inputs, outputs, attributes });
  }

  /** An int64 initializer (shapes, axes, split sizes). */
  ints(base: string, values: readonly number[]): string {
    const name = this.unique(base);
    this.initializers.push(int64Tensor(name, [values.length], values));
    return name;
  }

  /** A float scalar initializer, shared by value. */
  scalar(value: number): string {
    const key = String(value);
    const hit = this.scalars.get(key);
    if (hit) return hit;
    const name = this.unique(`scalar_${key.replace(/[^0-9a-zA-Z]/g, "_")}`);
    this.initializers.push(floatTensor(name, [], Float32Array.of(value)));
    this.scalars.set(key, name);
    return name;
  }

  floats(name: string, dims: readonly number[], data: Float32Array): string {
    this.initializers.push(floatTensor(name, dims, data));
    return name;
  }
}

/** Serialises a graph and its weights as ONNX bytes. */
export function exportOnnx(graph: Graph, weights: Weights, options: OnnxExportOptions = {}): Uint8Array {
  const shapes = validateGraph(graph, weights);
  const hasDeform = graph.nodes.some((n) => n.op === "deformConv2d");
  const opset = options.opset ?? (hasDeform ? DEFORM_EXPORT_OPSET : DEFAULT_EXPORT_OPSET);
  if (!Number.isInteger(opset) || opset < MIN_EXPORT_OPSET || opset > MAX_EXPORT_OPSET) {
    throw new ArgumentError(
      describe("exportOnnx", "opset", `an integer from ${MIN_EXPORT_OPSET} to ${MAX_EXPORT_OPSET}`, opset),
    );
  }
  if (hasDeform && opset < DEFORM_EXPORT_OPSET) {
    throw new ArgumentError(
      describe(
        "exportOnnx",
        "opset",
        `${DEFORM_EXPORT_OPSET} or later (the graph has deformConv2d: DeformConv)`,
        opset,
      ),
    );
  }
  const batchDependent = batchDims(graph, shapes);
  const taken = [
    ...graph.inputs.map((i) => i.name),
    ...graph.nodes.flatMap((n) => [n.name, ...n.outputs]),
    ...Object.keys(graph.params),
  ];
  const w = new Writer(opset, taken);

  // Parameters used by nodes become initializers under their own names; constant nodes are replaced by them.
  const used = new Set<string>();
  const alias = new Map<string, string>();
  for (const node of graph.nodes) {
    for (const [role, pname] of Object.entries(node.params) as [ParamRole, string][]) {
      if (role === "numBatchesTracked") continue;
      if (!used.has(pname)) {
        used.add(pname);
        w.floats(pname, graph.params[pname].shape, weights.get(pname)!);
      }
      if (node.op === "constant") alias.set(node.outputs[0], pname);
    }
  }
  const v = (name: string) => alias.get(name) ?? name;
  for (const node of graph.nodes) {
    if (node.op === "constant") continue;
    emitNode(w, node, node.inputs.map(v), (value) => shapes.get(value)!, weights);
  }
  const batchSymbol =
    graph.inputs.map((i) => i.shape[0]).find((d): d is string => typeof d === "string") ?? "N";
  const outputs: ValueInfoOut[] = graph.outputs.map((o) => {
    const dims = shapes.get(o)!.map((d, i) => (batchDependent.get(o)?.[i] ? batchSymbol : d));
    if (alias.has(o)) {
      // A graph output must be a value of the ONNX graph: copy a constant through Identity.
      w.node("Identity", w.unique(`${o}.identity`), [v(o)], [o]);
    }
    return { name: o, elemType: DataType.FLOAT, dims };
  });
  return encodeModel({
    irVersion: irVersionFor(opset),
    opsets: [{ domain: "", version: opset }],
    producerName: "convkit",
    producerVersion: "0.1.0",
    docString: options.docString,
    graph: {
      name: graph.name,
      nodes: w.nodes,
      initializers: w.initializers,
      inputs: graph.inputs.map((i) => ({ name: i.name, elemType: DataType.FLOAT, dims: i.shape })),
      outputs,
    },
  });
}

/** For each value, which dims change with the batch size (inferred at batch 1 and 2). */
function batchDims(graph: Graph, at1: Map<string, number[]>): Map<string, boolean[]> {
  const out = new Map<string, boolean[]>();
  if (!graph.inputs.some((i) => i.shape.some((d) => typeof d === "string"))) return out;
  const at2 = inferShapes(graph, { batch: 2 });
  for (const [name, s] of at1) {
    const t = at2.get(name)!;
    out.set(
      name,
      s.map((d, i) => t[i] !== d),
    );
  }
  return out;
}

function fail(node: Node, why: string): never {
  throw new ArgumentError(`exportOnnx: ${node.op} node "${node.name}": ${why}`);
}

function emitNode(
  w: Writer,
  node: Node,
  ins: string[],
  shape: (value: string) => number[],
  weights: Weights,
): void {
  const name = node.name;
  const out = node.outputs;
  const simple = (opType: string, attributes: AttrOut[] = []) => w.node(opType, name, ins, out, attributes);
  switch (node.op) {
    case "conv2d": {
      const a = node.attrs;
      const inputs = [ins[0], node.params.weight];
      if (node.params.bias) inputs.push(node.params.bias);
      w.node("Conv", name, inputs, out, [
        attr.ints("dilations", a.dilation),
        attr.i("group", a.groups),
        attr.ints("kernel_shape", a.kernelSize),
        attr.ints("pads", a.padding),
        attr.ints("strides", a.stride),
      ]);
      return;
    }
    case "deformConv2d": {
      const a = node.attrs;
      const inputs = [ins[0], node.params.weight, ins[1], node.params.bias ?? ""];
      if (a.mask) inputs.push(ins[2]);
      while (inputs[inputs.length - 1] === "") inputs.pop();
      w.node("DeformConv", name, inputs, out, [
        attr.ints("dilations", a.dilation),
        attr.i("group", a.groups),
        attr.ints("kernel_shape", a.kernelSize),
        attr.i("offset_group", a.offsetGroups),
        attr.ints("pads", a.padding),
        attr.ints("strides", a.stride),
      ]);
      return;
    }
    case "batchNorm2d": {
      const a = node.attrs;
      if (!a.trackRunningStats)
        fail(
          node,
          "without running statistics it normalises with batch statistics, which ONNX inference cannot express",
        );
      const c = a.numFeatures;
      const scale =
        node.params.weight ?? w.floats(w.unique(`${name}.weight`), [c], new Float32Array(c).fill(1));
      const bias = node.params.bias ?? w.floats(w.unique(`${name}.bias`), [c], new Float32Array(c));
      const inputs = [ins[0], scale, bias, node.params.runningMean!, node.params.runningVar!];
      // ONNX momentum weights the running value: running = running * m + batch * (1 - m).
      w.node("BatchNormalization", name, inputs, out, [
        attr.f("epsilon", a.eps),
        attr.f("momentum", 1 - (a.momentum ?? 0.1)),
      ]);
      return;
    }
    case "linear": {
      const a = node.attrs;
      if (shape(node.inputs[0]).length === 2) {
        const inputs = [ins[0], node.params.weight];
        if (node.params.bias) inputs.push(node.params.bias);
        w.node("Gemm", name, inputs, out, [attr.i("transB", 1)]);
        return;
      }
      // MatMul with the transposed weight, then the bias (what PyTorch exports for inputs of rank > 2).
      const src = weights.get(node.params.weight)!;
      const t = new Float32Array(src.length);
      for (let o = 0; o < a.outFeatures; o++) {
        for (let i = 0; i < a.inFeatures; i++) t[i * a.outFeatures + o] = src[o * a.inFeatures + i];
      }
      const wt = w.floats(w.unique(`${node.params.weight}.T`), [a.inFeatures, a.outFeatures], t);
      if (!node.params.bias) {
        w.node("MatMul", name, [ins[0], wt], out);
        return;
      }
      const mm = w.unique(`${name}.matmul`);
      w.node("MatMul", name, [ins[0], wt], [mm]);
      w.node("Add", w.unique(`${name}.add`), [mm, node.params.bias], out);
      return;
    }
    case "relu":
      simple("Relu");
      return;
    case "relu6":
      w.node("Clip", name, [ins[0], w.scalar(0), w.scalar(6)], out);
      return;
    case "leakyRelu":
      simple("LeakyRelu", [attr.f("alpha", node.attrs.negativeSlope)]);
      return;
    case "sigmoid":
      simple("Sigmoid");
      return;
    case "tanh":
      simple("Tanh");
      return;
    case "hardSigmoid":
      simple("HardSigmoid", [attr.f("alpha", 1 / 6), attr.f("beta", 0.5)]);
      return;
    case "hardSwish":
      if (w.opset >= 14) {
        simple("HardSwish");
        return;
      }
      gated(w, node, "HardSigmoid", [attr.f("alpha", 1 / 6), attr.f("beta", 0.5)], ins[0]);
      return;
    case "silu":
      gated(w, node, "Sigmoid", [], ins[0]);
      return;
    case "add":
      simple("Add");
      return;
    case "sub":
      simple("Sub");
      return;
    case "mul":
      simple("Mul");
      return;
    case "div":
      simple("Div");
      return;
    case "concat":
      simple("Concat", [attr.i("axis", node.attrs.axis)]);
      return;
    case "split":
      w.node("Split", name, [ins[0], w.ints(`${name}.split`, node.attrs.sizes)], out, [
        attr.i("axis", node.attrs.axis),
      ]);
      return;
    case "reshape":
      w.node("Reshape", name, [ins[0], w.ints(`${name}.shape`, node.attrs.shape)], out);
      return;
    case "flatten": {
      const { startDim, endDim } = node.attrs;
      const inShape = shape(node.inputs[0]);
      const r = inShape.length;
      if (startDim === 1 && endDim === r - 1) {
        simple("Flatten", [attr.i("axis", 1)]);
        return;
      }
      // Dims before startDim are copied (0), the merged range is inferred (-1), later dims are fixed sizes.
      const spec = [...new Array<number>(startDim).fill(0), -1, ...inShape.slice(endDim + 1)];
      w.node("Reshape", name, [ins[0], w.ints(`${name}.shape`, spec)], out);
      return;
    }
    case "transpose": {
      const perm = shape(node.inputs[0]).map((_, i) => i);
      perm[node.attrs.dim0] = node.attrs.dim1;
      perm[node.attrs.dim1] = node.attrs.dim0;
      simple("Transpose", [attr.ints("perm", perm)]);
      return;
    }
    case "permute":
      simple("Transpose", [attr.ints("perm", node.attrs.dims)]);
      return;
    case "channelShuffle": {
      // [N, C, H, W] -> [N, g, C/g, H*W] -> swap 1 and 2 -> back to the input's shape.
      const g = node.attrs.groups;
      const c = shape(node.inputs[0])[1];
      const grouped = w.unique(`${name}.grouped`);
      const swapped = w.unique(`${name}.swapped`);
      const shp = w.unique(`${name}.shape`);
      w.node("Reshape", name, [ins[0], w.ints(`${name}.groups`, [0, g, c / g, -1])], [grouped]);
      w.node(
        "Transpose",
        w.unique(`${name}.transpose`),
        [grouped],
        [swapped],
        [attr.ints("perm", [0, 2, 1, 3])],
      );
      w.node("Shape", w.unique(`${name}.shape_of`), [ins[0]], [shp]);
      w.node("Reshape", w.unique(`${name}.reshape`), [swapped, shp], out);
      return;
    }
    case "maxPool2d": {
      const a = node.attrs;
      simple("MaxPool", [
        attr.i("ceil_mode", a.ceilMode ? 1 : 0),
        attr.ints("dilations", a.dilation),
        attr.ints("kernel_shape", a.kernelSize),
        attr.ints("pads", a.padding),
        attr.ints("strides", a.stride),
      ]);
      return;
    }
    case "avgPool2d": {
      const a = node.attrs;
      if (a.divisorOverride !== null) fail(node, "divisorOverride has no ONNX equivalent");
      simple("AveragePool", [
        attr.i("ceil_mode", a.ceilMode ? 1 : 0),
        attr.i("count_include_pad", a.countIncludePad ? 1 : 0),
        attr.ints("kernel_shape", a.kernelSize),
        attr.ints("pads", a.padding),
        attr.ints("strides", a.stride),
      ]);
      return;
    }
    case "adaptiveAvgPool2d":
    case "adaptiveMaxPool2d": {
      const [oh, ow] = node.attrs.outputSize;
      const avg = node.op === "adaptiveAvgPool2d";
      if (oh === 1 && ow === 1) {
        simple(avg ? "GlobalAveragePool" : "GlobalMaxPool");
        return;
      }
      const [, , h, wd] = shape(node.inputs[0]);
      if (h % oh !== 0 || wd % ow !== 0) {
        fail(
          node,
          `output size ${oh}x${ow} does not divide the input ${h}x${wd} (uneven adaptive windows have no ONNX form)`,
        );
      }
      const k = [h / oh, wd / ow];
      simple(avg ? "AveragePool" : "MaxPool", [attr.ints("kernel_shape", k), attr.ints("strides", k)]);
      return;
    }
    case "dropout":
      w.node("Dropout", name, [ins[0], w.scalar(node.attrs.p)], out);
      return;
    case "identity":
      simple("Identity");
      return;
    case "sum":
    case "mean": {
      const r = shape(node.inputs[0]).length;
      const dims = node.attrs.dims.length === 0 ? Array.from({ length: r }, (_, i) => i) : node.attrs.dims;
      const keep = attr.i("keepdims", node.attrs.keepdim ? 1 : 0);
      const opType = node.op === "sum" ? "ReduceSum" : "ReduceMean";
      const axesAsInput = node.op === "sum" || w.opset >= 18;
      if (axesAsInput) w.node(opType, name, [ins[0], w.ints(`${name}.axes`, dims)], out, [keep]);
      else simple(opType, [attr.ints("axes", dims), keep]);
      return;
    }
    case "softmax":
      simple("Softmax", [attr.i("axis", node.attrs.axis)]);
      return;
    case "logSoftmax":
      simple("LogSoftmax", [attr.i("axis", node.attrs.axis)]);
      return;
    case "constant":
      return;
    default: {
      const never: never = node;
      throw new ArgumentError(`exportOnnx: unknown op ${JSON.stringify((never as Node).op)}`);
    }
  }
}

/** x * f(x) as two ONNX nodes (SiLU = x * sigmoid(x), hard swish = x * hardsigmoid(x)). */
function gated(w: Writer, node: Node, gate: string, attributes: AttrOut[], x: string): void {
  const g = w.unique(`${node.name}.gate`);
  w.node(gate, node.name, [x], [g], attributes);
  w.node("Mul", w.unique(`${node.name}.mul`), [x, g], node.outputs);
}
