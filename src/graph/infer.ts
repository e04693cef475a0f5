import { deformGeometry } from "../ops/deform.js";
import { pool2dGeometry } from "../ops/pool.js";
import { conv2dGeometry } from "../tensor/conv-geometry.js";
import { ArgumentError, ConvkitError, ShapeError } from "../tensor/errors.js";
import { broadcastShapes, formatShape, numel } from "../tensor/shape.js";
import type { Node, NodeOf, OpName, ParamRole } from "./types.js";

/**
 * Shape rules of every primitive op, mirroring the functional ops in src/ops (PyTorch semantics), so that a
 * graph's shapes are known without running it. The builder applies them node by node; `inferShapes`
 * (validate.ts) applies them to a whole graph. Errors name the node, its op and scope, what was expected and
 * what came.
 */

/** How a node is named in messages: `conv2d node "stage1.conv1" (scope "stage1")`. */
export function nodeLabel(node: Pick<Node, "name" | "op" | "scope">): string {
  return `${node.op} node ${JSON.stringify(node.name)}${node.scope ? ` (scope ${JSON.stringify(node.scope)})` : ""}`;
}

function fail(node: Node, what: string, expected: string, got: string): never {
  throw new ShapeError(`${nodeLabel(node)}: ${what}: expected ${expected}, got ${got}`);
}

/** Number of value inputs each op takes: [min, max]. */
export const INPUT_ARITY: Record<OpName, readonly [number, number]> = {
  conv2d: [1, 1],
  deformConv2d: [2, 3],
  batchNorm2d: [1, 1],
  linear: [1, 1],
  relu: [1, 1],
  relu6: [1, 1],
  leakyRelu: [1, 1],
  sigmoid: [1, 1],
  hardSigmoid: [1, 1],
  hardSwish: [1, 1],
  silu: [1, 1],
  tanh: [1, 1],
  add: [2, 2],
  sub: [2, 2],
  mul: [2, 2],
  div: [2, 2],
  concat: [1, Number.POSITIVE_INFINITY],
  split: [1, 1],
  reshape: [1, 1],
  flatten: [1, 1],
  transpose: [1, 1],
  permute: [1, 1],
  channelShuffle: [1, 1],
  maxPool2d: [1, 1],
  avgPool2d: [1, 1],
  adaptiveAvgPool2d: [1, 1],
  adaptiveMaxPool2d: [1, 1],
  dropout: [1, 1],
  identity: [1, 1],
  sum: [1, 1],
  mean: [1, 1],
  softmax: [1, 1],
  logSoftmax: [1, 1],
  constant: [0, 0],
};

/** Number of outputs a node must declare. */
export function outputCount(node: Node): number {
  return node.op === "split" ? node.attrs.sizes.length : 1;
}

/**
 * The parameters a node must reference, with their shapes and kinds, derived from its attrs alone.
 * Validation compares these with `graph.params`; the builder creates them.
 */
export function expectedParams(
  node: Node,
): Partial<Record<ParamRole, { shape: number[]; kind: "parameter" | "buffer" }>> {
  switch (node.op) {
    case "conv2d":
    case "deformConv2d": {
      const a = node.attrs;
      const weight = {
        shape: [a.outChannels, a.inChannels / a.groups, a.kernelSize[0], a.kernelSize[1]],
        kind: "parameter" as const,
      };
      return a.bias ? { weight, bias: { shape: [a.outChannels], kind: "parameter" } } : { weight };
    }
    case "linear": {
      const a = node.attrs;
      const weight = { shape: [a.outFeatures, a.inFeatures], kind: "parameter" as const };
      return a.bias ? { weight, bias: { shape: [a.outFeatures], kind: "parameter" } } : { weight };
    }
    case "batchNorm2d": {
      const a = node.attrs;
      const c = [a.numFeatures];
      const out: Partial<Record<ParamRole, { shape: number[]; kind: "parameter" | "buffer" }>> = {};
      if (a.affine) {
        out.weight = { shape: c, kind: "parameter" };
        out.bias = { shape: c, kind: "parameter" };
      }
      if (a.trackRunningStats) {
        out.runningMean = { shape: c, kind: "buffer" };
        out.runningVar = { shape: c, kind: "buffer" };
        out.numBatchesTracked = { shape: [], kind: "buffer" };
      }
      return out;
    }
    case "constant":
      return { value: { shape: [...node.attrs.shape], kind: "buffer" } };
    default:
      return {};
  }
}

/**
 * Checks that a node's attributes are well formed on their own (integers where integers belong, sizes
 * positive, channel counts divisible by groups...). Shape agreement with the inputs is `inferNode`'s job.
 */
export function checkAttrs(node: Node): void {
  const bad = (what: string, expected: string, got: unknown): never => {
    throw new ArgumentError(
      `${nodeLabel(node)}: attrs.${what}: expected ${expected}, got ${JSON.stringify(got)}`,
    );
  };
  const posInt = (what: string, v: unknown): void => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) bad(what, "a positive integer", v);
  };
  const nonNegInt = (what: string, v: unknown): void => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) bad(what, "a non-negative integer", v);
  };
  const ints = (what: string, v: unknown, n: number, check: (w: string, x: unknown) => void): void => {
    if (!Array.isArray(v) || v.length !== n) bad(what, `${n} integers`, v);
    (v as unknown[]).forEach((x) => {
      check(what, x);
    });
  };
  const bool = (what: string, v: unknown): void => {
    if (typeof v !== "boolean") bad(what, "a boolean", v);
  };
  const attrs = node.attrs as unknown;
  if (typeof attrs !== "object" || attrs === null) bad("", "an object", attrs);
  switch (node.op) {
    case "conv2d":
    case "deformConv2d": {
      const a = node.attrs;
      posInt("inChannels", a.inChannels);
      posInt("outChannels", a.outChannels);
      ints("kernelSize", a.kernelSize, 2, posInt);
      ints("stride", a.stride, 2, posInt);
      ints("padding", a.padding, 4, nonNegInt);
      ints("dilation", a.dilation, 2, posInt);
      posInt("groups", a.groups);
      bool("bias", a.bias);
      if (a.inChannels % a.groups !== 0) bad("groups", `a divisor of inChannels (${a.inChannels})`, a.groups);
      if (a.outChannels % a.groups !== 0)
        bad("groups", `a divisor of outChannels (${a.outChannels})`, a.groups);
      if (node.op === "deformConv2d") {
        posInt("offsetGroups", node.attrs.offsetGroups);
        bool("mask", node.attrs.mask);
        if (a.inChannels % node.attrs.offsetGroups !== 0) {
          bad("offsetGroups", `a divisor of inChannels (${a.inChannels})`, node.attrs.offsetGroups);
        }
      }
      return;
    }
    case "batchNorm2d": {
      const a = node.attrs;
      posInt("numFeatures", a.numFeatures);
      if (typeof a.eps !== "number" || !(a.eps > 0)) bad("eps", "a positive number", a.eps);
      if (a.momentum !== null && (typeof a.momentum !== "number" || !(a.momentum >= 0 && a.momentum <= 1))) {
        bad("momentum", "a number in [0, 1] or null", a.momentum);
      }
      bool("affine", a.affine);
      bool("trackRunningStats", a.trackRunningStats);
      return;
    }
    case "linear":
      posInt("inFeatures", node.attrs.inFeatures);
      posInt("outFeatures", node.attrs.outFeatures);
      bool("bias", node.attrs.bias);
      return;
    case "leakyRelu":
      if (typeof node.attrs.negativeSlope !== "number" || !Number.isFinite(node.attrs.negativeSlope)) {
        bad("negativeSlope", "a finite number", node.attrs.negativeSlope);
      }
      return;
    case "maxPool2d":
    case "avgPool2d": {
      const a = node.attrs;
      ints("kernelSize", a.kernelSize, 2, posInt);
      ints("stride", a.stride, 2, posInt);
      ints("padding", a.padding, 4, nonNegInt);
      bool("ceilMode", a.ceilMode);
      if (node.op === "maxPool2d") ints("dilation", node.attrs.dilation, 2, posInt);
      else {
        bool("countIncludePad", node.attrs.countIncludePad);
        const d = node.attrs.divisorOverride;
        if (d !== null && (!Number.isSafeInteger(d) || d === 0))
          bad("divisorOverride", "a non-zero integer or null", d);
      }
      return;
    }
    case "adaptiveAvgPool2d":
    case "adaptiveMaxPool2d":
      ints("outputSize", node.attrs.outputSize, 2, posInt);
      return;
    case "concat":
      nonNegInt("axis", node.attrs.axis);
      return;
    case "split":
      nonNegInt("axis", node.attrs.axis);
      if (!Array.isArray(node.attrs.sizes) || node.attrs.sizes.length === 0) {
        bad("sizes", "a non-empty array", node.attrs.sizes);
      }
      ints("sizes", node.attrs.sizes, node.attrs.sizes.length, nonNegInt);
      return;
    case "reshape": {
      const s = node.attrs.shape;
      if (!Array.isArray(s)) bad("shape", "an array of integers", s);
      for (const d of s) if (!Number.isSafeInteger(d) || d < -1) bad("shape", "integers >= -1", s);
      if (s.filter((d) => d === -1).length > 1) bad("shape", "at most one -1", s);
      return;
    }
    case "flatten":
      nonNegInt("startDim", node.attrs.startDim);
      nonNegInt("endDim", node.attrs.endDim);
      return;
    case "transpose":
      nonNegInt("dim0", node.attrs.dim0);
      nonNegInt("dim1", node.attrs.dim1);
      return;
    case "permute":
      if (!Array.isArray(node.attrs.dims)) bad("dims", "an array of integers", node.attrs.dims);
      ints("dims", node.attrs.dims, node.attrs.dims.length, nonNegInt);
      return;
    case "channelShuffle":
      posInt("groups", node.attrs.groups);
      return;
    case "dropout":
      if (typeof node.attrs.p !== "number" || !(node.attrs.p >= 0 && node.attrs.p <= 1)) {
        bad("p", "a probability in [0, 1]", node.attrs.p);
      }
      return;
    case "sum":
    case "mean":
      if (!Array.isArray(node.attrs.dims)) bad("dims", "an array of integers", node.attrs.dims);
      ints("dims", node.attrs.dims, node.attrs.dims.length, nonNegInt);
      bool("keepdim", node.attrs.keepdim);
      return;
    case "softmax":
    case "logSoftmax":
      nonNegInt("axis", node.attrs.axis);
      return;
    case "constant":
      if (!Array.isArray(node.attrs.shape)) bad("shape", "an array of integers", node.attrs.shape);
      ints("shape", node.attrs.shape, node.attrs.shape.length, nonNegInt);
      return;
    default:
      return;
  }
}

/**
 * A new node of op `op` reading `inputs`, with its output values named by the graph's convention (the node's
 * name for one output, "name:i" for several) and their shapes inferred from `inputShapes` (inferNode's
 * errors propagate). Callers check the names are free and add the node.
 */
export function createNode<K extends OpName>(
  fields: Omit<NodeOf<K>, "outputs">,
  inputShapes: readonly (readonly number[])[],
): { node: Node; shapes: number[][] } {
  const node = { ...fields, inputs: [...fields.inputs], outputs: [] as string[] } as unknown as Node;
  const shapes = inferNode(node, inputShapes);
  node.outputs = shapes.length === 1 ? [node.name] : shapes.map((_, i) => `${node.name}:${i}`);
  return { node, shapes };
}

/**
 * Output shapes of one node given its input shapes (concrete numbers, batch included).
 * Throws ShapeError/ArgumentError naming the node on any disagreement.
 */
export function inferNode(node: Node, inputs: readonly (readonly number[])[]): number[][] {
  const [lo, hi] = INPUT_ARITY[node.op];
  if (inputs.length < lo || inputs.length > hi) {
    const expected =
      lo === hi ? `${lo}` : hi === Number.POSITIVE_INFINITY ? `at least ${lo}` : `${lo} to ${hi}`;
    fail(node, "inputs", `${expected} input value(s)`, `${inputs.length}`);
  }
  checkAttrs(node);
  const x = inputs[0];
  const rank = (want: number, what = "input", layout = ""): void => {
    const s = what === "input" ? x : inputs[["input", "offset", "mask"].indexOf(what)];
    if (s.length !== want)
      fail(node, what, `a ${want}-d tensor${layout ? ` ${layout}` : ""}`, formatShape(s));
  };
  const axisIn = (axis: number, r: number, what: string): void => {
    if (axis >= r) fail(node, `attrs.${what}`, `an axis of a ${r}-d input ${formatShape(x)}`, `${axis}`);
  };
  switch (node.op) {
    case "conv2d": {
      const a = node.attrs;
      rank(4, "input", "[N, C, H, W]");
      if (x[1] !== a.inChannels)
        fail(node, "input channels", `${a.inChannels} (attrs.inChannels)`, formatShape(x));
      const g = geometry(node, x);
      return [[x[0], a.outChannels, g.hOut, g.wOut]];
    }
    case "deformConv2d": {
      const a = node.attrs;
      rank(4, "input", "[N, C, H, W]");
      if (x[1] !== a.inChannels)
        fail(node, "input channels", `${a.inChannels} (attrs.inChannels)`, formatShape(x));
      if (a.mask !== (inputs.length === 3)) {
        fail(
          node,
          "inputs",
          a.mask ? "[x, offset, mask] (attrs.mask is true)" : "[x, offset]",
          `${inputs.length} inputs`,
        );
      }
      const weight = [a.outChannels, a.inChannels / a.groups, a.kernelSize[0], a.kernelSize[1]];
      const options = { stride: a.stride, padding: a.padding, dilation: a.dilation };
      const g = withNode(node, () =>
        deformGeometry(x, inputs[1], weight, a.mask ? inputs[2] : null, options),
      );
      if (g.offsetGroups !== a.offsetGroups) {
        fail(
          node,
          "offset",
          `${2 * a.offsetGroups * a.kernelSize[0] * a.kernelSize[1]} channels (attrs.offsetGroups ${a.offsetGroups})`,
          formatShape(inputs[1]),
        );
      }
      return [[x[0], a.outChannels, g.hOut, g.wOut]];
    }
    case "batchNorm2d":
      rank(4, "input", "[N, C, H, W]");
      if (x[1] !== node.attrs.numFeatures) {
        fail(node, "input channels", `${node.attrs.numFeatures} (attrs.numFeatures)`, formatShape(x));
      }
      return [[...x]];
    case "linear":
      if (x.length < 1 || x[x.length - 1] !== node.attrs.inFeatures) {
        fail(node, "input", `last dimension ${node.attrs.inFeatures} (attrs.inFeatures)`, formatShape(x));
      }
      return [[...x.slice(0, -1), node.attrs.outFeatures]];
    case "relu":
    case "relu6":
    case "leakyRelu":
    case "sigmoid":
    case "hardSigmoid":
    case "hardSwish":
    case "silu":
    case "tanh":
    case "dropout":
    case "identity":
      return [[...x]];
    case "add":
    case "sub":
    case "mul":
    case "div":
      try {
        return [broadcastShapes(inputs[0], inputs[1], node.op)];
      } catch {
        return fail(
          node,
          "inputs",
          "shapes that broadcast",
          `${formatShape(inputs[0])} and ${formatShape(inputs[1])}`,
        );
      }
    case "concat": {
      const { axis } = node.attrs;
      axisIn(axis, x.length, "axis");
      let total = 0;
      inputs.forEach((s, i) => {
        const agree = s.length === x.length && s.every((d, j) => j === axis || d === x[j]);
        if (!agree) {
          const want = `[${x.map((d, j) => (j === axis ? "*" : d)).join(", ")}]`;
          fail(node, `input ${i}`, `shape ${want} (all but dim ${axis} equal)`, formatShape(s));
        }
        total += s[axis];
      });
      const out = [...x];
      out[axis] = total;
      return [out];
    }
    case "split": {
      const { axis, sizes } = node.attrs;
      axisIn(axis, x.length, "axis");
      const total = sizes.reduce((s, v) => s + v, 0);
      if (total !== x[axis])
        fail(
          node,
          "attrs.sizes",
          `sizes summing to ${x[axis]} (dim ${axis} of ${formatShape(x)})`,
          `[${sizes.join(", ")}] (sum ${total})`,
        );
      return sizes.map((size) => {
        const out = [...x];
        out[axis] = size;
        return out;
      });
    }
    case "reshape":
      return [reshapeTarget(node, x, node.attrs.shape)];
    case "flatten": {
      const { startDim, endDim } = node.attrs;
      const r = Math.max(x.length, 1);
      axisIn(startDim, r, "startDim");
      axisIn(endDim, r, "endDim");
      if (startDim > endDim)
        fail(node, "attrs", "startDim <= endDim", `startDim ${startDim}, endDim ${endDim}`);
      if (x.length === 0) return [[1]];
      return [[...x.slice(0, startDim), numel(x.slice(startDim, endDim + 1)), ...x.slice(endDim + 1)]];
    }
    case "transpose": {
      const { dim0, dim1 } = node.attrs;
      axisIn(dim0, x.length, "dim0");
      axisIn(dim1, x.length, "dim1");
      const out = [...x];
      out[dim0] = x[dim1];
      out[dim1] = x[dim0];
      return [out];
    }
    case "permute": {
      const { dims } = node.attrs;
      const sorted = [...dims].sort((p, q) => p - q);
      if (dims.length !== x.length || !sorted.every((d, i) => d === i)) {
        fail(node, "attrs.dims", `a permutation of 0..${x.length - 1}`, `[${dims.join(", ")}]`);
      }
      return [dims.map((d) => x[d])];
    }
    case "channelShuffle":
      if (x.length < 3) fail(node, "input", "a tensor [N, C, *] with at least 3 dimensions", formatShape(x));
      if (x[1] % node.attrs.groups !== 0) {
        fail(node, "attrs.groups", `a divisor of the ${x[1]} input channels`, `${node.attrs.groups}`);
      }
      return [[...x]];
    case "maxPool2d":
    case "avgPool2d": {
      const a = node.attrs;
      rank(4, "input", "[N, C, H, W]");
      if (x[1] < 1 || x[2] < 1 || x[3] < 1) fail(node, "input", "non-zero C, H and W", formatShape(x));
      const dilation = node.op === "maxPool2d" ? node.attrs.dilation : undefined;
      const options = {
        kernelSize: a.kernelSize,
        stride: a.stride,
        padding: a.padding,
        dilation,
        ceilMode: a.ceilMode,
      };
      const g = withNode(node, () => pool2dGeometry(x, options, node.op));
      return [[x[0], x[1], g.hOut, g.wOut]];
    }
    case "adaptiveAvgPool2d":
    case "adaptiveMaxPool2d":
      rank(4, "input", "[N, C, H, W]");
      if (x[2] < 1 || x[3] < 1) fail(node, "input", "non-empty spatial dimensions", formatShape(x));
      return [[x[0], x[1], ...node.attrs.outputSize]];
    case "sum":
    case "mean": {
      const { dims, keepdim } = node.attrs;
      for (const d of dims) axisIn(d, x.length, "dims");
      if (new Set(dims).size !== dims.length)
        fail(node, "attrs.dims", "distinct axes", `[${dims.join(", ")}]`);
      const reduced = new Set(dims.length === 0 ? x.map((_, i) => i) : dims);
      const out: number[] = [];
      x.forEach((d, i) => {
        if (!reduced.has(i)) out.push(d);
        else if (keepdim) out.push(1);
      });
      return [out];
    }
    case "softmax":
    case "logSoftmax":
      axisIn(node.attrs.axis, Math.max(x.length, 1), "axis");
      return [[...x]];
    case "constant":
      return [[...node.attrs.shape]];
    default: {
      const never: never = node;
      throw new ConvkitError(`unknown op in node ${JSON.stringify((never as Node).name)}`);
    }
  }
}

function geometry(node: Extract<Node, { op: "conv2d" }>, x: readonly number[]) {
  const a = node.attrs;
  const weight = [a.outChannels, a.inChannels / a.groups, a.kernelSize[0], a.kernelSize[1]];
  const options = { stride: a.stride, padding: a.padding, dilation: a.dilation, groups: a.groups };
  return withNode(node, () => conv2dGeometry(x, weight, options));
}

/** Runs an op's own geometry check, prefixing its error (same class) with the node's label. */
function withNode<T>(node: Node, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ShapeError) throw new ShapeError(`${nodeLabel(node)}: ${e.message}`);
    if (e instanceof ArgumentError) throw new ArgumentError(`${nodeLabel(node)}: ${e.message}`);
    throw e;
  }
}
/** Resolves reshape's 0 (copy) and -1 (infer) entries and checks the element count. */
function reshapeTarget(node: Node, x: readonly number[], spec: readonly number[]): number[] {
  const out = spec.map((d, i) => {
    if (d !== 0) return d;
    if (i >= x.length)
      fail(
        node,
        "attrs.shape",
        `0 only at positions that exist in the input ${formatShape(x)}`,
        `[${spec.join(", ")}]`,
      );
    return x[i];
  });
  const total = numel(x);
  const known = out.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const free = out.indexOf(-1);
  if (free >= 0) {
    if (known === 0 || total % known !== 0) {
      fail(
        node,
        "attrs.shape",
        `a shape with ${total} elements (input ${formatShape(x)})`,
        `[${spec.join(", ")}]`,
      );
    }
    out[free] = total / known;
  } else if (known !== total) {
    fail(
      node,
      "attrs.shape",
      `a shape with ${total} elements (input ${formatShape(x)})`,
      `[${spec.join(", ")}]`,
    );
  }
  return out;
}
