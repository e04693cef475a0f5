import type { Pads } from "../graph/types.js";
import { FormatError } from "../tensor/errors.js";
import { attrFloat, attrInt, attrInts, attrIntsOf, attrString, onnxLabel } from "./attrs.js";
import type { ImportContext, Known } from "./context.js";
import { axisOf, numelOf, sliceRanges, squeezeDims, unsqueezeDims } from "./fold.js";
import { convertPatternOrNull, isTorchHardSigmoid } from "./patterns.js";
import type { OnnxNode } from "./proto.js";
import type { Const } from "./tensor.js";

/**
 * One converter per supported ONNX op: reads the node's inputs and attributes (ONNX defaults per the
 * operator spec, opsets 11-21), emits the equivalent primitive graph node(s) with fully resolved attributes,
 * and records what each ONNX output became. Anything the graph cannot express exactly is a FormatError
 * naming the node; the importer collects them all.
 */

export type Converter = (ctx: ImportContext, node: OnnxNode) => void;

function fail(node: OnnxNode, why: string): never {
  throw new FormatError(`${onnxLabel(node)}: ${why}`);
}

/** The shortest decimal that is the same float32 (ONNX stores float attributes as float32). */
export function f32(x: number): number {
  const target = Math.fround(x);
  for (let p = 1; p <= 9; p++) {
    const v = Number(x.toPrecision(p));
    if (Math.fround(v) === target) return v;
  }
  return target;
}

function only1Output(ctx: ImportContext, node: OnnxNode, what: string): void {
  for (let i = 1; i < node.outputs.length; i++) {
    const o = node.outputs[i];
    if (o !== "" && (ctx.consumers.get(o)?.length || ctx.onnxOutputs.has(o))) {
      fail(node, `output ${i} (${what}) is used, which is not supported`);
    }
  }
}

function need4d(ctx: ImportContext, node: OnnxNode, x: string, what: string): void {
  const r = ctx.rank(x);
  if (r !== 4)
    fail(
      node,
      `${what} expects a 4-D input [N, C, H, W], got rank ${r} (only 2-D spatial data is supported)`,
    );
}

/** ONNX `auto_pad` SAME_UPPER / SAME_LOWER padding for one axis. */
function samePads(size: number, k: number, s: number, d: number, upper: boolean): [number, number] {
  const out = Math.ceil(size / s);
  const total = Math.max(0, (out - 1) * s + (k - 1) * d + 1 - size);
  const small = Math.floor(total / 2);
  return upper ? [small, total - small] : [total - small, small];
}

/**
 * The explicit [top, left, bottom, right] padding of a Conv/pool node from `pads` / `auto_pad`, resolved
 * against the input size (pinning symbolic sizes when SAME padding depends on them).
 */
function resolvePads(
  ctx: ImportContext,
  node: OnnxNode,
  x: string,
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number],
): Pads {
  const autoPad = attrString(node, "auto_pad", "NOTSET");
  switch (autoPad) {
    case "NOTSET": {
      const p = attrIntsOf(node, "pads", 4, [0, 0, 0, 0]);
      if (p.some((v) => v < 0)) fail(node, `negative pads [${p.join(", ")}] are not supported`);
      return [p[0], p[1], p[2], p[3]];
    }
    case "VALID":
      return [0, 0, 0, 0];
    case "SAME_UPPER":
    case "SAME_LOWER": {
      const upper = autoPad === "SAME_UPPER";
      const at = (shape: number[]): Pads => {
        const [t, b] = samePads(shape[2], kernel[0], strides[0], dilations[0], upper);
        const [l, r] = samePads(shape[3], kernel[1], strides[1], dilations[1], upper);
        return [t, l, b, r];
      };
      const a = at(ctx.shapesA.get(x)!);
      if (ctx.symbolic) {
        const b = at(ctx.shapesB.get(x)!);
        if (a.some((v, i) => v !== b[i]))
          ctx.pin(`${onnxLabel(node)}: auto_pad ${autoPad} padding depends on the input size`);
      }
      return a;
    }
    default:
      return fail(node, `auto_pad "${autoPad}" is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID`);
  }
}

function pair2(node: OnnxNode, name: string, fallback: [number, number]): [number, number] {
  const v = attrIntsOf(node, name, 2, fallback);
  return [v[0], v[1]];
}

/** Input 0 of a conv/pool: the graph value and any padding absorbed from a preceding Pad. */
function paddedInput(ctx: ImportContext, node: OnnxNode): { x: string; extra: Pads; value: number | null } {
  const v = ctx.val(node.inputs[0], node);
  if (v.kind === "padded") return { x: v.base, extra: v.pads, value: v.value };
  return { x: ctx.act(node, 0), extra: [0, 0, 0, 0], value: null };
}

const addPads = (a: Pads, b: Pads): Pads => [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]];

// ---------------------------------------------------------------------------------------------- conv

function convert2dConv(ctx: ImportContext, node: OnnxNode, deform: boolean): void {
  const { x, extra, value } = paddedInput(ctx, node);
  if (value !== null && value !== 0) fail(node, `input padded with ${value}, expected zero padding`);
  need4d(ctx, node, x, node.opType);
  const wk = ctx.known(node, 1);
  const w = ctx.constArg(node, 1, "weight W");
  if (w.dims.length !== 4)
    fail(node, `weight W must be 4-D [Cout, Cin/group, kH, kW], got [${w.dims.join(", ")}]`);
  const kernel: [number, number] = [w.dims[2], w.dims[3]];
  const ks = attrInts(node, "kernel_shape");
  if (ks !== undefined && (ks.length !== 2 || ks[0] !== kernel[0] || ks[1] !== kernel[1])) {
    fail(node, `kernel_shape [${ks.join(", ")}] does not match the weight's [${kernel.join(", ")}]`);
  }
  const group = attrInt(node, "group", 1);
  const strides = pair2(node, "strides", [1, 1]);
  const dilations = pair2(node, "dilations", [1, 1]);
  const padding = addPads(resolvePads(ctx, node, x, kernel, strides, dilations), extra);
  const biasIndex = deform ? 3 : 2;
  const bk = ctx.known(node, biasIndex);
  const b = ctx.optional(node, biasIndex) === null ? null : ctx.constArg(node, biasIndex, "bias B");
  const outChannels = w.dims[0];
  if (b !== null && numelOf(b.dims) !== outChannels) {
    fail(node, `bias B has ${numelOf(b.dims)} values, expected ${outChannels}`);
  }
  const name = ctx.hintFrom(wk);
  const attrs = {
    inChannels: w.dims[1] * group,
    outChannels,
    kernelSize: kernel,
    stride: strides,
    padding,
    dilation: dilations,
    groups: group,
    bias: b !== null,
  };
  // Parameters are named after the node, which is named after the weight when that has a readable name.
  const nodeName = ctx.reserveName(node, name);
  const weight = ctx.paramFrom(wk, w, nodeName, "weight", "parameter");
  const params: { weight: string; bias?: string } = { weight };
  if (b !== null)
    params.bias = ctx.paramFrom(bk, { ...b, dims: [outChannels] }, nodeName, "bias", "parameter");
  if (deform) {
    const offset = ctx.act(node, 2);
    const mask = ctx.optional(node, 4) === null ? null : ctx.act(node, 4);
    const kk = kernel[0] * kernel[1];
    const offsetChannels = ctx.shape(offset)[1];
    const offsetGroups = attrInt(node, "offset_group", 1);
    if (offsetChannels !== 2 * offsetGroups * kk) {
      fail(
        node,
        `offset has ${offsetChannels} channels, expected 2 * offset_group (${offsetGroups}) * ${kk}`,
      );
    }
    const inputs = mask === null ? [x, offset] : [x, offset, mask];
    const out = ctx.emit(
      node,
      "deformConv2d",
      inputs,
      { ...attrs, offsetGroups, mask: mask !== null },
      params,
      { name: nodeName },
    );
    ctx.setAct(node.outputs[0], out[0]);
    return;
  }
  const out = ctx.emit(node, "conv2d", [x], attrs, params, { name: nodeName });
  ctx.setAct(node.outputs[0], out[0]);
}

// ---------------------------------------------------------------------------------------------- batch norm

const batchNormalization: Converter = (ctx, node) => {
  if (attrInt(node, "training_mode", 0) !== 0)
    fail(node, "training_mode=1 (batch statistics) is not supported");
  only1Output(ctx, node, "running statistics");
  let x = ctx.act(node, 0);
  const names = ["scale", "B", "input_mean", "input_var"];
  const ks = names.map((_, i) => ctx.known(node, i + 1));
  const cs = names.map((what, i) => ctx.constArg(node, i + 1, what));
  const c = numelOf(cs[0].dims);
  cs.forEach((v, i) => {
    if (numelOf(v.dims) !== c) fail(node, `${names[i]} has ${numelOf(v.dims)} values, expected ${c}`);
  });
  const rank = ctx.rank(x);
  if (rank !== 4 && rank !== 2) fail(node, `expects a 4-D (or 2-D) input, got rank ${rank}`);
  const nodeName = ctx.reserveName(node, ctx.hintFrom(ks[0]));
  const vec = (v: Const): Const => ({ ...v, dims: [c] });
  const params = {
    weight: ctx.paramFrom(ks[0], vec(cs[0]), nodeName, "weight", "parameter"),
    bias: ctx.paramFrom(ks[1], vec(cs[1]), nodeName, "bias", "parameter"),
    runningMean: ctx.paramFrom(ks[2], vec(cs[2]), nodeName, "running_mean", "buffer"),
    runningVar: ctx.paramFrom(ks[3], vec(cs[3]), nodeName, "running_var", "buffer"),
    numBatchesTracked: ctx.addParam(`${nodeName}.num_batches_tracked`, new Float32Array(1), [], "buffer"),
  };
  const attrs = {
    numFeatures: c,
    eps: f32(attrFloat(node, "epsilon", 1e-5)),
    // ONNX stores 0.9 for PyTorch's momentum 0.1: read it as the decimal it was written as.
    momentum: Number((1 - f32(attrFloat(node, "momentum", 0.9))).toPrecision(9)),
    affine: true,
    trackRunningStats: true,
  };
  if (rank === 2) {
    // BatchNorm1d on [N, C]: the same per-channel affine map on a [N, C, 1, 1] view.
    x = ctx.emit(node, "reshape", [x], { shape: [0, 0, 1, 1] }, {}, { local: "unsqueeze" })[0];
  }
  let out = ctx.emit(node, "batchNorm2d", [x], attrs, params, { name: nodeName })[0];
  if (rank === 2) out = ctx.emit(node, "reshape", [out], { shape: [0, 0] }, {}, { local: "squeeze" })[0];
  ctx.setAct(node.outputs[0], out);
};

// ---------------------------------------------------------------------------------------------- linear

function transpose2d(c: Const): Const {
  const [r, k] = c.dims;
  const out = new Float64Array(r * k);
  for (let i = 0; i < r; i++) for (let j = 0; j < k; j++) out[j * r + i] = c.data[i * k + j];
  return { dims: [k, r], float: c.float, data: out };
}

/** Bias of a linear layer from a constant broadcastable to [n]: [n], [1, n], [1] or a scalar. */
function biasVector(node: OnnxNode, c: Const, n: number, scale: number): Const {
  const count = numelOf(c.dims);
  const trailingOk = c.dims.slice(0, -1).every((d) => d === 1);
  if (!(trailingOk && (count === n || count === 1))) {
    fail(node, `bias of shape [${c.dims.join(", ")}] does not broadcast to [${n}] per sample`);
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (count === 1 ? c.data[0] : c.data[i]) * scale;
  return { dims: [n], float: true, data: out };
}

function emitLinear(
  ctx: ImportContext,
  node: OnnxNode,
  x: string,
  weight: Const,
  weightKnown: Known | null,
  weightAsStored: boolean,
  bias: Const | null,
  biasKnown: Known | null,
  outName: string,
): void {
  const [outFeatures, inFeatures] = weight.dims;
  const nodeName = ctx.reserveName(node, ctx.hintFrom(weightKnown));
  const params: { weight: string; bias?: string } = {
    weight: ctx.paramFrom(weightKnown, weight, nodeName, "weight", "parameter", !weightAsStored),
  };
  if (bias !== null) params.bias = ctx.paramFrom(biasKnown, bias, nodeName, "bias", "parameter", true);
  const out = ctx.emit(node, "linear", [x], { inFeatures, outFeatures, bias: bias !== null }, params, {
    name: nodeName,
  });
  ctx.setAct(outName, out[0]);
}

const gemm: Converter = (ctx, node) => {
  const x = ctx.act(node, 0);
  if (ctx.rank(x) !== 2) fail(node, `input A must be 2-D, got rank ${ctx.rank(x)}`);
  if (attrInt(node, "transA", 0) !== 0)
    fail(node, "transA=1 is not supported (the input would be transposed)");
  const wk = ctx.known(node, 1);
  let w = ctx.constArg(node, 1, "B");
  if (w.dims.length !== 2) fail(node, `B must be 2-D, got [${w.dims.join(", ")}]`);
  const transB = attrInt(node, "transB", 0) === 1;
  if (!transB) w = transpose2d(w);
  const alpha = attrFloat(node, "alpha", 1);
  const beta = attrFloat(node, "beta", 1);
  if (alpha !== 1) w = { ...w, data: w.data.map((v) => Math.fround(v * alpha)) };
  const ck = ctx.known(node, 2);
  const c = ctx.optional(node, 2) === null ? null : ctx.constArg(node, 2, "C");
  const bias = c === null ? null : biasVector(node, c, w.dims[0], beta);
  emitLinear(ctx, node, x, w, wk, transB && alpha === 1, bias, ck, node.outputs[0]);
};

const matMul: Converter = (ctx, node) => {
  const x = ctx.act(node, 0);
  if (ctx.optional(node, 1)?.kind !== "const") {
    fail(
      node,
      "MatMul of two computed tensors is not supported (only a constant right-hand side: a linear layer)",
    );
  }
  const wk = ctx.known(node, 1);
  const w = ctx.constArg(node, 1, "B");
  if (w.dims.length !== 2) fail(node, `B must be a 2-D constant, got [${w.dims.join(", ")}]`);
  if (ctx.rank(x) < 1) fail(node, "input A must not be a scalar");
  // MatMul + Add(bias) -> one linear layer.
  const reader = ctx.onlyReader(node.outputs[0]);
  let bias: Const | null = null;
  let biasKnown: Known | null = null;
  let outName = node.outputs[0];
  if (reader !== null && reader.opType === "Add") {
    const other = reader.inputs[0] === node.outputs[0] ? 1 : 0;
    const k = ctx.vals.get(reader.inputs[other]);
    if (k?.kind === "const" && k.a === k.b) {
      const count = numelOf(k.a.dims);
      if ((count === w.dims[1] || count === 1) && k.a.dims.slice(0, -1).every((d) => d === 1)) {
        bias = biasVector(reader, k.a, w.dims[1], 1);
        biasKnown = k;
        ctx.absorbed.add(reader);
        outName = reader.outputs[0];
        ctx.patterns.matMulAdd = (ctx.patterns.matMulAdd ?? 0) + 1;
      }
    }
  }
  emitLinear(ctx, node, x, transpose2d(w), wk, false, bias, biasKnown, outName);
};

// ---------------------------------------------------------------------------------------------- element-wise

function unary(op: "relu" | "sigmoid" | "tanh" | "hardSwish" | "relu6"): Converter {
  return (ctx, node) => {
    const out = ctx.emit(node, op, [ctx.act(node, 0)], {}, {});
    ctx.setAct(node.outputs[0], out[0]);
  };
}

function binary(op: "add" | "sub" | "mul" | "div"): Converter {
  return (ctx, node) => {
    const a = ctx.act(node, 0);
    const b = ctx.act(node, 1);
    const out = ctx.emit(node, op, [a, b], {}, {});
    ctx.setAct(node.outputs[0], out[0]);
  };
}

/** A constant node with a scalar value (for decompositions). */
function scalarConst(ctx: ImportContext, node: OnnxNode, local: string, value: number): string {
  const name = ctx.unique(`${ctx.nameFor(node)}.${local}`);
  const pname = ctx.addParam(`${name}.value`, Float32Array.of(value), [], "buffer");
  ctx.push("constant", name, [], { shape: [] }, { value: pname }, name.slice(0, name.lastIndexOf(".")));
  return name;
}

const leakyRelu: Converter = (ctx, node) => {
  const out = ctx.emit(
    node,
    "leakyRelu",
    [ctx.act(node, 0)],
    { negativeSlope: f32(attrFloat(node, "alpha", 0.01)) },
    {},
  );
  ctx.setAct(node.outputs[0], out[0]);
};

/** clip(x, lo, hi) with relu/relu6 and scalar arithmetic (exact for (0, 6) and (0, inf)). */
const clip: Converter = (ctx, node) => {
  const x = ctx.act(node, 0);
  const bound = (i: number, what: string): number | null => {
    // Opset 11+ (all convkit reads): min and max are optional scalar inputs.
    if (ctx.optional(node, i) === null) return null;
    const c = ctx.constArg(node, i, what);
    if (numelOf(c.dims) !== 1) fail(node, `${what} must be a scalar`);
    return c.data[0];
  };
  const lo = bound(1, "min");
  const hi = bound(2, "max");
  let out: string;
  if (lo === 0 && hi === 6) out = ctx.emit(node, "relu6", [x], {}, {})[0];
  else if (lo === 0 && (hi === null || hi === Number.POSITIVE_INFINITY))
    out = ctx.emit(node, "relu", [x], {}, {})[0];
  else if (lo === null && hi === null) out = ctx.emit(node, "identity", [x], {}, {})[0];
  else if (lo !== null && hi !== null) {
    if (!(hi > lo)) fail(node, `min ${lo} must be below max ${hi}`);
    // lo + (hi - lo) / 6 * relu6((x - lo) * 6 / (hi - lo))
    let y = ctx.emit(node, "sub", [x, scalarConst(ctx, node, "min", lo)], {}, {}, { local: "sub" })[0];
    y = ctx.emit(
      node,
      "mul",
      [y, scalarConst(ctx, node, "scale", 6 / (hi - lo))],
      {},
      {},
      { local: "mul" },
    )[0];
    y = ctx.emit(node, "relu6", [y], {}, {}, { local: "relu6" })[0];
    y = ctx.emit(
      node,
      "mul",
      [y, scalarConst(ctx, node, "unscale", (hi - lo) / 6)],
      {},
      {},
      { local: "mul" },
    )[0];
    out = ctx.emit(node, "add", [y, scalarConst(ctx, node, "offset", lo)], {}, {}, { local: "add" })[0];
  } else if (lo !== null) {
    // max(x, lo) = relu(x - lo) + lo
    const y = ctx.emit(node, "sub", [x, scalarConst(ctx, node, "min", lo)], {}, {}, { local: "sub" })[0];
    const r = ctx.emit(node, "relu", [y], {}, {}, { local: "relu" })[0];
    out = ctx.emit(node, "add", [r, scalarConst(ctx, node, "offset", lo)], {}, {}, { local: "add" })[0];
  } else {
    // min(x, hi) = hi - relu(hi - x)
    const c = scalarConst(ctx, node, "max", hi!);
    const y = ctx.emit(node, "sub", [c, x], {}, {}, { local: "sub" })[0];
    const r = ctx.emit(node, "relu", [y], {}, {}, { local: "relu" })[0];
    out = ctx.emit(node, "sub", [c, r], {}, {}, { local: "sub" })[0];
  }
  ctx.setAct(node.outputs[0], out);
};

/** hardSigmoid, or max(0, min(1, alpha x + beta)) = relu6(6 alpha x + 6 beta) / 6 for other alpha/beta. */
const hardSigmoid: Converter = (ctx, node) => {
  const x = ctx.act(node, 0);
  if (isTorchHardSigmoid(node)) {
    ctx.setAct(node.outputs[0], ctx.emit(node, "hardSigmoid", [x], {}, {})[0]);
    return;
  }
  const alpha = attrFloat(node, "alpha", 0.2);
  const beta = attrFloat(node, "beta", 0.5);
  let y = ctx.emit(
    node,
    "mul",
    [x, scalarConst(ctx, node, "alpha6", 6 * alpha)],
    {},
    {},
    { local: "mul" },
  )[0];
  y = ctx.emit(node, "add", [y, scalarConst(ctx, node, "beta6", 6 * beta)], {}, {}, { local: "add" })[0];
  y = ctx.emit(node, "relu6", [y], {}, {}, { local: "relu6" })[0];
  y = ctx.emit(node, "div", [y, scalarConst(ctx, node, "six", 6)], {}, {}, { local: "div" })[0];
  ctx.setAct(node.outputs[0], y);
};

function softmaxLike(op: "softmax" | "logSoftmax"): Converter {
  return (ctx, node) => {
    const x = ctx.act(node, 0);
    const r = ctx.rank(x);
    const axis = axisOf(node, attrInt(node, "axis", ctx.opset >= 13 ? -1 : 1), r);
    const tail = ctx.shape(x).slice(axis + 1);
    if (
      ctx.opset >= 13 ||
      axis === r - 1 ||
      tail.every((d, i) => d === 1 && !ctx.isSymbolicDim(x, axis + 1 + i))
    ) {
      ctx.setAct(node.outputs[0], ctx.emit(node, op, [x], { axis }, {})[0]);
      return;
    }
    // Opsets 11-12 coerce the input to 2-D at `axis`: softmax over all trailing dimensions together.
    const shape = ctx
      .shape(x)
      .map((_, i) =>
        i < axis ? 0 : ctx.fixedDim(x, i, `${onnxLabel(node)}: softmax over several dimensions`),
      );
    const flat = ctx.emit(
      node,
      "flatten",
      [x],
      { startDim: axis, endDim: r - 1 },
      {},
      { local: "flatten" },
    )[0];
    const s = ctx.emit(node, op, [flat], { axis }, {})[0];
    ctx.setAct(node.outputs[0], ctx.emit(node, "reshape", [s], { shape }, {}, { local: "reshape" })[0]);
  };
}

// ---------------------------------------------------------------------------------------------- pools

const globalPool =
  (op: "adaptiveAvgPool2d" | "adaptiveMaxPool2d"): Converter =>
  (ctx, node) => {
    const x = ctx.act(node, 0);
    need4d(ctx, node, x, node.opType);
    ctx.setAct(node.outputs[0], ctx.emit(node, op, [x], { outputSize: [1, 1] }, {})[0]);
  };

function poolCommon(ctx: ImportContext, node: OnnxNode, x: string) {
  const ks = attrInts(node, "kernel_shape");
  if (ks === undefined || ks.length !== 2) fail(node, "kernel_shape must give 2 sizes (2-D pooling)");
  const kernel: [number, number] = [ks[0], ks[1]];
  const strides = pair2(node, "strides", [1, 1]);
  const dilations = pair2(node, "dilations", [1, 1]);
  const ceilMode = attrInt(node, "ceil_mode", 0) === 1;
  return {
    kernel,
    strides,
    dilations,
    ceilMode,
    pads: resolvePads(ctx, node, x, kernel, strides, dilations),
  };
}

const maxPool: Converter = (ctx, node) => {
  only1Output(ctx, node, "Indices");
  if (attrInt(node, "storage_order", 0) !== 0) fail(node, "storage_order=1 is not supported");
  const { x, extra, value } = paddedInput(ctx, node);
  if (value !== null && !(value <= -3.4e38))
    fail(node, `input padded with ${value}; max pooling pads with -inf`);
  need4d(ctx, node, x, "MaxPool");
  const p = poolCommon(ctx, node, x);
  const attrs = {
    kernelSize: p.kernel,
    stride: p.strides,
    padding: addPads(p.pads, extra),
    dilation: p.dilations,
    ceilMode: p.ceilMode,
  };
  ctx.setAct(node.outputs[0], ctx.emit(node, "maxPool2d", [x], attrs, {})[0]);
};

const averagePool: Converter = (ctx, node) => {
  const { x, extra, value } = paddedInput(ctx, node);
  need4d(ctx, node, x, "AveragePool");
  const p = poolCommon(ctx, node, x);
  if (p.dilations[0] !== 1 || p.dilations[1] !== 1) fail(node, "dilated average pooling is not supported");
  let countIncludePad = attrInt(node, "count_include_pad", 0) === 1;
  let padding = p.pads;
  if (extra.some((v) => v !== 0)) {
    // AveragePool(Pad(x)) averages the padded zeros as real values: countIncludePad over the sum of pads.
    if (value !== 0) fail(node, `input padded with ${value}, expected zero padding`);
    if (p.ceilMode) fail(node, "a Pad in front of a ceil_mode AveragePool is not supported");
    if (p.pads.some((v) => v !== 0) && !countIncludePad) {
      fail(
        node,
        "a Pad in front of an AveragePool with its own pads and count_include_pad=0 is not supported",
      );
    }
    countIncludePad = true;
    padding = addPads(p.pads, extra);
  }
  const attrs = {
    kernelSize: p.kernel,
    stride: p.strides,
    padding,
    ceilMode: p.ceilMode,
    countIncludePad,
    divisorOverride: null,
  };
  ctx.setAct(node.outputs[0], ctx.emit(node, "avgPool2d", [x], attrs, {})[0]);
};

const pad: Converter = (ctx, node) => {
  const x = ctx.act(node, 0);
  const mode = attrString(node, "mode", "constant");
  const r = ctx.rank(x);
  const pads =
    ctx.opset >= 11 ? Array.from(ctx.constArg(node, 1, "pads").data) : (attrInts(node, "pads") ?? []);
  let full = pads;
  const axesK = ctx.optional(node, 3);
  if (axesK !== null) {
    const axes = Array.from(ctx.constArg(node, 3, "axes").data).map((a) => axisOf(node, a, r, "axes entry"));
    full = new Array<number>(2 * r).fill(0);
    axes.forEach((a, i) => {
      full[a] = pads[i];
      full[a + r] = pads[i + axes.length];
    });
  }
  if (full.length !== 2 * r) fail(node, `pads has ${full.length} values, expected ${2 * r}`);
  const value = ctx.optional(node, 2) === null ? 0 : ctx.constArg(node, 2, "constant_value").data[0];
  if (full.every((v) => v === 0)) {
    ctx.setAct(node.outputs[0], x);
    return;
  }
  const nonSpatial = full.filter((v, i) => i % r < 2 && v !== 0);
  if (mode !== "constant" || r !== 4 || nonSpatial.length > 0 || full.some((v) => v < 0)) {
    fail(
      node,
      `only constant padding of H and W in front of Conv/MaxPool/AveragePool is supported (mode "${mode}", pads [${full.join(", ")}])`,
    );
  }
  ctx.vals.set(node.outputs[0], {
    kind: "padded",
    base: x,
    pads: [full[2], full[3], full[6], full[7]],
    value,
    node,
  });
};

// ---------------------------------------------------------------------------------------------- shapes

const concat: Converter = (ctx, node) => {
  const xs = node.inputs.map((_, i) => ctx.act(node, i));
  const axis = axisOf(node, attrInt(node, "axis", 0), ctx.rank(xs[0]));
  ctx.setAct(node.outputs[0], ctx.emit(node, "concat", xs, { axis }, {})[0]);
};

const flatten: Converter = (ctx, node) => {
  const x = ctx.act(node, 0);
  const r = ctx.rank(x);
  let axis = attrInt(node, "axis", 1);
  if (axis < 0) axis += r;
  if (axis < 0 || axis > r) fail(node, `axis ${attrInt(node, "axis", 1)} out of range for rank ${r}`);
  let out: string;
  if (axis === 0) {
    const f = ctx.emit(node, "flatten", [x], { startDim: 0, endDim: r - 1 }, {})[0];
    out = ctx.emit(node, "reshape", [f], { shape: [1, -1] }, {}, { local: "reshape" })[0];
  } else if (axis === r) {
    const f = ctx.emit(node, "flatten", [x], { startDim: 0, endDim: r - 1 }, {})[0];
    out = ctx.emit(node, "reshape", [f], { shape: [-1, 1] }, {}, { local: "reshape" })[0];
  } else if (axis === 1) {
    out = ctx.emit(node, "flatten", [x], { startDim: 1, endDim: r - 1 }, {})[0];
  } else {
    const head = ctx.emit(node, "flatten", [x], { startDim: 0, endDim: axis - 1 }, {})[0];
    out = ctx.emit(node, "flatten", [head], { startDim: 1, endDim: r - axis }, {}, { local: "flatten" })[0];
  }
  ctx.setAct(node.outputs[0], out);
};

const reshape: Converter = (ctx, node) => {
  if (convertPatternOrNull(ctx, node)) return;
  const x = ctx.act(node, 0);
  const k = ctx.vals.get(node.inputs[1]);
  const spec = ctx.constArg(node, 1, "shape", true);
  const allowZero = attrInt(node, "allowzero", 0) === 1;
  if (allowZero && spec.data.includes(0)) fail(node, "allowzero=1 with a 0 in the shape is not supported");
  const shape = Array.from(spec.data).map((d, i) => {
    if (k?.kind !== "const" || k.a === k.b || k.b.data[i] === d) return d;
    // The entry depends on the input size. It is exact for every size as a copy (0) when it equals the
    // input's own dimension i at both size assignments (x.view(x.size(0), -1) and the like).
    if (i < ctx.rank(x) && ctx.shape(x)[i] === d && ctx.shapesB.get(x)![i] === k.b.data[i]) return 0;
    ctx.pin(`${onnxLabel(node)}: target shape entry ${i} depends on the input size`);
    return d;
  });
  ctx.setAct(node.outputs[0], ctx.emit(node, "reshape", [x], { shape }, {})[0]);
};

const transpose: Converter = (ctx, node) => {
  const x = ctx.act(node, 0);
  const r = ctx.rank(x);
  const perm = attrInts(node, "perm") ?? Array.from({ length: r }, (_, i) => r - 1 - i);
  const moved = perm.map((p, i) => (p !== i ? i : -1)).filter((i) => i >= 0);
  let out: string;
  if (moved.length === 0) out = ctx.emit(node, "identity", [x], {}, {})[0];
  else if (moved.length === 2 && perm[moved[0]] === moved[1]) {
    out = ctx.emit(node, "transpose", [x], { dim0: moved[0], dim1: moved[1] }, {})[0];
  } else out = ctx.emit(node, "permute", [x], { dims: perm }, {})[0];
  ctx.setAct(node.outputs[0], out);
};

/** Reshape target reproducing `outShape` from `x`: 0 where a dim stays at its position, 1 for new unit dims. */
function reshapeSpec(ctx: ImportContext, x: string, outShape: number[], inserted: Set<number>): number[] {
  const inShape = ctx.shape(x);
  let same = true;
  return outShape.map((d, i) => {
    if (inserted.has(i)) {
      same = false;
      return 1;
    }
    if (same && i < inShape.length && inShape[i] === d) return 0;
    same = false;
    // A kept dimension moved to another position: only exact at a fixed size.
    return d;
  });
}

const unsqueeze: Converter = (ctx, node) => {
  const x = ctx.act(node, 0);
  const axes =
    ctx.opset >= 13 ? Array.from(ctx.constArg(node, 1, "axes").data) : (attrInts(node, "axes") ?? []);
  const out = unsqueezeDims(node, ctx.shape(x), axes);
  const rank = out.length;
  const inserted = new Set(axes.map((a) => (a < 0 ? a + rank : a)));
  // A dimension baked in as a number where it depends on the batch fails shape inference at the second
  // size assignment (no -1 in the spec), which fixes the batch: exact either way.
  const spec = reshapeSpec(ctx, x, out, inserted);
  ctx.setAct(node.outputs[0], ctx.emit(node, "reshape", [x], { shape: spec }, {}, { local: "unsqueeze" })[0]);
};

const squeeze: Converter = (ctx, node) => {
  const x = ctx.act(node, 0);
  const axesV =
    ctx.opset >= 13
      ? ctx.optional(node, 1) === null
        ? null
        : Array.from(ctx.constArg(node, 1, "axes").data)
      : (attrInts(node, "axes") ?? null);
  const out = squeezeDims(node, ctx.shape(x), axesV);
  if (axesV === null) {
    ctx.shape(x).forEach((_, i) => {
      ctx.fixedDim(x, i, `${onnxLabel(node)}: Squeeze without axes depends on the input size`);
    });
  }
  const spec = reshapeSpec(ctx, x, out, new Set());
  ctx.setAct(node.outputs[0], ctx.emit(node, "reshape", [x], { shape: spec }, {}, { local: "squeeze" })[0]);
};

const split: Converter = (ctx, node) => {
  const x = ctx.act(node, 0);
  const r = ctx.rank(x);
  const axis = axisOf(node, attrInt(node, "axis", 0), r);
  const size = ctx.fixedDim(x, axis, `${onnxLabel(node)}: splits a dimension that depends on the input size`);
  const n = node.outputs.length;
  let sizes: number[];
  const given =
    ctx.opset >= 13
      ? ctx.optional(node, 1) === null
        ? null
        : Array.from(ctx.constArg(node, 1, "split").data)
      : (attrInts(node, "split") ?? null);
  if (given !== null) sizes = given;
  else if (ctx.opset >= 18 && node.attributes.has("num_outputs")) {
    const k = attrInt(node, "num_outputs", n);
    const each = Math.ceil(size / k);
    sizes = Array.from({ length: k }, (_, i) => Math.max(0, Math.min(each, size - i * each)));
  } else {
    if (size % n !== 0) fail(node, `cannot split size ${size} into ${n} equal parts`);
    sizes = new Array<number>(n).fill(size / n);
  }
  if (sizes.length !== n) fail(node, `${sizes.length} split sizes for ${n} outputs`);
  const outs = ctx.emit(node, "split", [x], { sizes, axis }, {});
  node.outputs.forEach((o, i) => {
    ctx.setAct(o, outs[i]);
  });
};

const slice: Converter = (ctx, node) => {
  let x = ctx.act(node, 0);
  const shape = ctx.shape(x);
  const num = (i: number, what: string) => Array.from(ctx.constArg(node, i, what).data);
  const starts = num(1, "starts");
  const ends = num(2, "ends");
  const axes = ctx.optional(node, 3) === null ? null : num(3, "axes");
  const steps = ctx.optional(node, 4) === null ? null : num(4, "steps");
  const ranges = sliceRanges(node, shape, starts, ends, axes, steps);
  for (const rg of ranges) {
    if (rg.step !== 1)
      fail(node, `step ${rg.step} on axis ${rg.axis} is not supported (only contiguous slices)`);
    const size = ctx.fixedDim(
      x,
      rg.axis,
      `${onnxLabel(node)}: slices a dimension that depends on the input size`,
    );
    if (rg.count === size) continue;
    if (rg.count === 0) fail(node, `the slice on axis ${rg.axis} is empty`);
    const rest = size - rg.start - rg.count;
    const sizes = [rg.start, rg.count, rest].filter((s) => s > 0);
    const pick = rg.start > 0 ? 1 : 0;
    x = ctx.cachedSplit(node, x, rg.axis, sizes)[pick];
  }
  if (x === ctx.act(node, 0)) x = ctx.emit(node, "identity", [x], {}, {})[0];
  ctx.setAct(node.outputs[0], x);
};

const reduce =
  (op: "mean" | "sum", axesInputSince: number): Converter =>
  (ctx, node) => {
    const x = ctx.act(node, 0);
    const r = ctx.rank(x);
    let axes: number[] | null;
    if (ctx.opset >= axesInputSince)
      axes = ctx.optional(node, 1) === null ? null : Array.from(ctx.constArg(node, 1, "axes").data);
    else axes = attrInts(node, "axes") ?? null;
    const keepdim = attrInt(node, "keepdims", 1) === 1;
    if ((axes === null || axes.length === 0) && attrInt(node, "noop_with_empty_axes", 0) === 1) {
      ctx.setAct(node.outputs[0], ctx.emit(node, "identity", [x], {}, {})[0]);
      return;
    }
    const dims = (axes ?? []).map((a) => axisOf(node, a, r, "axes entry")).sort((p, q) => p - q);
    const all = dims.length === 0 ? Array.from({ length: r }, (_, i) => i) : dims;
    ctx.setAct(node.outputs[0], ctx.emit(node, op, [x], { dims: all, keepdim }, {})[0]);
  };

const dropout: Converter = (ctx, node) => {
  only1Output(ctx, node, "mask");
  const x = ctx.act(node, 0);
  let p = 0.5;
  if (ctx.opset >= 12) {
    if (ctx.optional(node, 1) !== null) p = ctx.constArg(node, 1, "ratio").data[0];
    if (ctx.optional(node, 2) !== null && ctx.constArg(node, 2, "training_mode").data[0] !== 0) {
      fail(node, "training_mode=true is not supported (inference graphs only)");
    }
  } else p = attrFloat(node, "ratio", 0.5);
  ctx.setAct(node.outputs[0], ctx.emit(node, "dropout", [x], { p: f32(p) }, {})[0]);
};

const identity: Converter = (ctx, node) => {
  const v = ctx.val(node.inputs[0], node);
  if (v.kind === "padded") {
    ctx.vals.set(node.outputs[0], v);
    return;
  }
  ctx.setAct(node.outputs[0], ctx.emit(node, "identity", [ctx.act(node, 0)], {}, {})[0]);
};

const cast: Converter = (ctx, node) => {
  const to = attrInt(node, "to", 1);
  if (to !== 1) fail(node, `Cast of a computed tensor to ${to} is not supported (float32 graphs only)`);
  ctx.setAct(node.outputs[0], ctx.act(node, 0));
};

const sum: Converter = (ctx, node) => {
  let acc = ctx.act(node, 0);
  for (let i = 1; i < node.inputs.length; i++) {
    acc = ctx.emit(node, "add", [acc, ctx.act(node, i)], {}, {}, { local: "add" })[0];
  }
  if (node.inputs.length === 1) acc = ctx.emit(node, "identity", [acc], {}, {})[0];
  ctx.setAct(node.outputs[0], acc);
};

/** ONNX op type -> converter (ops in fold.ts's FOLDABLE also fold when all inputs are constants). */
export const CONVERTERS: Record<string, Converter> = {
  Conv: (ctx, node) => convert2dConv(ctx, node, false),
  DeformConv: (ctx, node) => convert2dConv(ctx, node, true),
  BatchNormalization: batchNormalization,
  Gemm: gemm,
  MatMul: matMul,
  Relu: unary("relu"),
  Sigmoid: (ctx, node) => {
    if (!convertPatternOrNull(ctx, node)) unary("sigmoid")(ctx, node);
  },
  Tanh: unary("tanh"),
  HardSwish: unary("hardSwish"),
  HardSigmoid: (ctx, node) => {
    if (!convertPatternOrNull(ctx, node)) hardSigmoid(ctx, node);
  },
  LeakyRelu: leakyRelu,
  Clip: clip,
  Add: binary("add"),
  Sub: binary("sub"),
  Mul: binary("mul"),
  Div: binary("div"),
  Sum: sum,
  Concat: concat,
  Split: split,
  Slice: slice,
  Reshape: reshape,
  Flatten: flatten,
  Transpose: transpose,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  MaxPool: maxPool,
  AveragePool: averagePool,
  GlobalAveragePool: globalPool("adaptiveAvgPool2d"),
  GlobalMaxPool: globalPool("adaptiveMaxPool2d"),
  ReduceMean: reduce("mean", 18),
  ReduceSum: reduce("sum", 13),
  Softmax: softmaxLike("softmax"),
  LogSoftmax: softmaxLike("logSoftmax"),
  Dropout: dropout,
  Identity: identity,
  Cast: cast,
  Pad: pad,
};
