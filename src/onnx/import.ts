import { own } from "../graph/own.js";
import {
  type Dim,
  GRAPH_FORMAT,
  GRAPH_VERSION,
  type Graph,
  type Json,
  type Weights,
} from "../graph/types.js";
import { validateGraph } from "../graph/validate.js";
import { ArgumentError, ConvkitError, FormatError } from "../tensor/errors.js";
import { onnxLabel } from "./attrs.js";
import { ImportContext, PinNeeded } from "./context.js";
import { CONVERTERS } from "./convert.js";
import { FOLDABLE } from "./fold.js";
import {
  DataType,
  dataTypeName,
  decodeModel,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensorProto,
} from "./proto.js";
import { checkTensor, MAX_ELEMENTS, readTensor } from "./tensor.js";

/**
 * `importOnnx(bytes)`: an ONNX model (opsets 11-21) as a convkit Graph and its weights.
 *
 * 1. The bytes are decoded and checked as a whole before any conversion: opset range, every initializer's
 *    size against the bytes present (no allocation before that), external data and sparse initializers
 *    refused, one producer per value, no dangling names, no cycles (Kahn's algorithm names the nodes
 *    left), nodes that do not feed an output dropped, and every unsupported operator listed in one error.
 * 2. Nodes are converted in topological order (convert.ts, patterns.ts); integer shape computations are
 *    folded (fold.ts). Conversion problems are collected and reported together, each naming its node.
 * 3. The graph is validated (`validateGraph`) before it is returned.
 *
 * Symbolic input dimensions stay symbolic where that is exact for every size (see context.ts); `dims` /
 * `inputShapes` give the concrete sizes import-time folding uses. Batch dimensions default to 1.
 */

export const MIN_IMPORT_OPSET = 11;
export const MAX_IMPORT_OPSET = 21;

export interface OnnxImportOptions {
  /** Sizes of symbolic input dimensions by name, e.g. `{N: 1, H: 224, W: 224}` (batch defaults to 1). */
  dims?: Record<string, number>;
  /** Concrete shapes by input name (numeric dims must agree with the file). */
  inputShapes?: Record<string, readonly number[]>;
  /** Fix every symbolic dimension to its concrete size, even where the graph would stay exact without. */
  fixDims?: boolean;
  /** Graph name (default: the ONNX graph's name). */
  name?: string;
  /** How messages name the file (default "ONNX model"). */
  source?: string;
}

export interface OnnxImportInfo {
  /** e.g. "pytorch 1.13.0". */
  producer: string;
  irVersion: number;
  /** Opset of the default ONNX domain. */
  opset: number;
  /** ONNX nodes that feed the outputs. */
  onnxNodes: number;
  /** Of those, how many were evaluated at import time (shape arithmetic, constants). */
  foldedNodes: number;
  /** Multi-node patterns turned into one primitive (channelShuffle, silu, hardSwish, matMulAdd). */
  patterns: Record<string, number>;
  /** Why symbolic input dimensions had to be fixed to concrete sizes, or null. */
  fixedDims: string | null;
}

export interface OnnxImport {
  graph: Graph;
  weights: Weights;
  info: OnnxImportInfo;
}

interface InputSpec {
  name: string;
  /** Declared dims: numbers, or symbols. */
  declared: Dim[];
  a: number[];
  b: number[];
}

/** Imports an ONNX model. Throws FormatError for malformed or unsupported files, ArgumentError for bad options. */
export function importOnnx(bytes: Uint8Array, options: OnnxImportOptions = {}): OnnxImport {
  const source = options.source ?? "ONNX model";
  const model = decodeModel(bytes, source);
  const opset = checkOpset(model, source);
  const g = model.graph;
  if (g.sparseInitializers > 0) {
    throw new FormatError(
      `${source}: ${g.sparseInitializers} sparse initializer(s): not supported (store them dense)`,
    );
  }
  const inits = new Map<string, OnnxTensorProto>();
  for (const t of g.initializers) {
    if (t.name === "") throw new FormatError(`${source}: an initializer has no name`);
    if (inits.has(t.name)) throw new FormatError(`${source}: initializer "${t.name}" is defined twice`);
    checkTensor(t, `${source}: initializer "${t.name}"`);
    inits.set(t.name, t);
  }
  const inputs = resolveInputs(model, inits, options, source);
  const outputs = g.outputs.map((o) => o.name);
  if (outputs.length === 0) throw new FormatError(`${source}: the graph has no outputs`);
  const order = topologicalOrder(g.nodes, inits, inputs, outputs, source);
  const live = liveNodes(order, outputs);
  checkSupported(live, source);

  const symbolic = !options.fixDims && inputs.some((i) => i.declared.some((d) => typeof d === "string"));
  let pass: Pass;
  let fixedDims: string | null = null;
  try {
    pass = convert(opset, live, inits, inputs, outputs, symbolic, source);
  } catch (e) {
    if (!(e instanceof PinNeeded)) throw e;
    fixedDims = e.reason;
    pass = convert(opset, live, inits, inputs, outputs, false, source);
  }
  const { ctx, folded, graphOutputs } = pass;
  const keepSymbols = symbolic && fixedDims === null;
  const producer = [model.producerName, model.producerVersion].filter((s) => s !== "").join(" ");
  const meta: Record<string, Json> = {
    source: "onnx",
    onnx: { producer, irVersion: model.irVersion, opset, fixedDims },
  };
  const graph: Graph = {
    format: GRAPH_FORMAT,
    version: GRAPH_VERSION,
    name: options.name ?? (g.name !== "" ? g.name : "onnx_model"),
    inputs: inputs.map((i) => ({ name: i.name, shape: keepSymbols ? [...i.declared] : [...i.a] })),
    outputs: graphOutputs,
    nodes: ctx.nodes,
    params: { ...ctx.params }, // a plain object, like a parsed graph's (spreading keeps "__proto__" a key)
    meta,
  };
  try {
    validateGraph(graph, ctx.weights);
  } catch (e) {
    if (e instanceof ConvkitError)
      throw new FormatError(`${source}: the imported graph is invalid: ${e.message}`);
    throw e;
  }
  return {
    graph,
    weights: ctx.weights,
    info: {
      producer,
      irVersion: model.irVersion,
      opset,
      onnxNodes: live.length,
      foldedNodes: folded,
      patterns: { ...ctx.patterns },
      fixedDims,
    },
  };
}

function checkOpset(model: OnnxModel, source: string): number {
  if (model.irVersion < 3) {
    throw new FormatError(
      `${source}: IR version ${model.irVersion} predates operator sets (expected 3 or later)`,
    );
  }
  const main = model.opsets.filter((o) => o.domain === "" || o.domain === "ai.onnx");
  if (main.length === 0) {
    throw new FormatError(
      `${source}: no opset for the default ONNX domain (opset_import lists ${model.opsets.map((o) => `"${o.domain}"`).join(", ")})`,
    );
  }
  const v = Math.max(...main.map((o) => o.version));
  if (!(v >= MIN_IMPORT_OPSET && v <= MAX_IMPORT_OPSET)) {
    throw new FormatError(
      `${source}: opset ${v} is not supported (convkit imports opsets ${MIN_IMPORT_OPSET} to ${MAX_IMPORT_OPSET}); re-export the model, e.g. torch.onnx.export(..., opset_version=17), or convert it with onnx.version_converter`,
    );
  }
  return v;
}

function resolveInputs(
  model: OnnxModel,
  inits: Map<string, OnnxTensorProto>,
  options: OnnxImportOptions,
  source: string,
): InputSpec[] {
  const real = model.graph.inputs.filter((i) => !inits.has(i.name));
  if (real.length === 0) throw new FormatError(`${source}: the graph has no inputs (besides initializers)`);
  const seen = new Set<string>();
  const missing: string[] = [];
  const specs = real.map((info) => {
    if (info.name === "") throw new FormatError(`${source}: a graph input has no name`);
    if (seen.has(info.name)) throw new FormatError(`${source}: graph input "${info.name}" is declared twice`);
    seen.add(info.name);
    const what = `${source}: input "${info.name}"`;
    if (info.kind !== "tensor") throw new FormatError(`${what}: expected a tensor, got a ${info.kind} type`);
    if (info.elemType !== DataType.FLOAT) {
      throw new FormatError(
        `${what}: element type ${dataTypeName(info.elemType)} is not supported (float32 inputs only)`,
      );
    }
    const given = own(options.inputShapes, info.name);
    if (info.dims === null) {
      if (given === undefined) throw new FormatError(`${what}: the file gives no shape; pass inputShapes`);
    }
    const declared: Dim[] = (info.dims ?? given!.map((_, i) => `${info.name}_d${i}`)).map((d, i) =>
      d === null ? `${info.name}_d${i}` : d,
    );
    if (given !== undefined && given.length !== declared.length) {
      throw new ArgumentError(
        `importOnnx: inputShapes["${info.name}"]: expected ${declared.length} dims, got ${given.length}`,
      );
    }
    const a = declared.map((d, i) => {
      const v =
        given?.[i] ?? (typeof d === "number" ? d : (own(options.dims, d) ?? (i === 0 ? 1 : undefined)));
      if (v === undefined) {
        missing.push(`"${d}" (input "${info.name}" axis ${i})`);
        return 0;
      }
      if (typeof d === "number" && v !== d) {
        throw new ArgumentError(
          `importOnnx: inputShapes["${info.name}"][${i}]: the file declares ${d}, got ${v}`,
        );
      }
      if (!Number.isSafeInteger(v) || v < 1) {
        throw new ArgumentError(
          `importOnnx: size of "${d}" (input "${info.name}" axis ${i}): expected a positive integer, got ${v}`,
        );
      }
      return v;
    });
    return { name: info.name, declared, a, b: [] as number[] };
  });
  if (missing.length > 0) {
    throw new ArgumentError(
      `importOnnx: symbolic input dimension(s) ${missing.join(", ")} need a size, e.g. importOnnx(bytes, {dims: {H: 224, W: 224}})`,
    );
  }
  // Graphs carry a symbolic batch only (validation infers shapes with every symbol = 1): other symbolic
  // dimensions take their concrete sizes. The batch stays symbolic where that is exact (see context.ts),
  // checked against a second assignment with batch + 1.
  for (const s of specs) {
    s.declared = s.declared.map((d, i) => (typeof d === "string" && i > 0 ? s.a[i] : d));
    let n = 1;
    for (const d of s.a) n *= d;
    if (n > MAX_ELEMENTS) {
      throw new FormatError(
        `${source}: input "${s.name}" of shape [${s.a.join(", ")}] has more than ${MAX_ELEMENTS} elements`,
      );
    }
    s.b = s.declared.map((d, i) => (typeof d === "number" ? d : s.a[i] + 1));
  }
  return specs;
}

/** Kahn's algorithm over all nodes; checks producers and names, reports cycles by node name. */
function topologicalOrder(
  nodes: readonly OnnxNode[],
  inits: Map<string, OnnxTensorProto>,
  inputs: readonly InputSpec[],
  outputs: readonly string[],
  source: string,
): OnnxNode[] {
  const producer = new Map<string, number>();
  const external = new Set<string>([...inits.keys(), ...inputs.map((i) => i.name)]);
  nodes.forEach((n, i) => {
    if (n.opType === "") throw new FormatError(`${source}: node ${i} ("${n.name}") has no op_type`);
    for (const v of n.outputs) {
      if (v === "") continue;
      if (external.has(v))
        throw new FormatError(
          `${source}: ${onnxLabel(n)} writes "${v}", which is a graph input or initializer`,
        );
      const prev = producer.get(v);
      if (prev !== undefined) {
        throw new FormatError(
          `${source}: value "${v}" is produced twice, by ${onnxLabel(nodes[prev])} and ${onnxLabel(n)}`,
        );
      }
      producer.set(v, i);
    }
  });
  const indegree = new Int32Array(nodes.length);
  const readers: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    for (const v of new Set(n.inputs)) {
      if (v === "" || external.has(v)) continue;
      const p = producer.get(v);
      if (p === undefined) {
        throw new FormatError(
          `${source}: ${onnxLabel(n)} reads "${v}", which no node, input or initializer defines`,
        );
      }
      indegree[i]++;
      readers[p].push(i);
    }
  });
  for (const o of outputs) {
    if (!producer.has(o) && !external.has(o))
      throw new FormatError(`${source}: graph output "${o}" is never computed`);
  }
  const queue: number[] = [];
  for (let i = 0; i < nodes.length; i++) if (indegree[i] === 0) queue.push(i);
  for (let head = 0; head < queue.length; head++) {
    for (const r of readers[queue[head]]) if (--indegree[r] === 0) queue.push(r);
  }
  if (queue.length < nodes.length) {
    const stuck = nodes.filter((_, i) => indegree[i] > 0);
    const names = stuck.slice(0, 5).map((n) => onnxLabel(n));
    throw new FormatError(
      `${source}: the graph has a cycle: ${stuck.length} node(s) wait on each other, e.g. ${names.join(", ")}`,
    );
  }
  return queue.map((i) => nodes[i]);
}

/** Nodes that contribute to the outputs, in the given (topological) order. */
function liveNodes(order: readonly OnnxNode[], outputs: readonly string[]): OnnxNode[] {
  const needed = new Set(outputs);
  const live: OnnxNode[] = [];
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i];
    if (!n.outputs.some((o) => needed.has(o))) continue;
    live.push(n);
    for (const v of n.inputs) if (v !== "") needed.add(v);
  }
  return live.reverse();
}

function checkSupported(live: readonly OnnxNode[], source: string): void {
  const bad = new Map<string, string[]>();
  for (const n of live) {
    const domainOk = n.domain === "" || n.domain === "ai.onnx";
    const known =
      Object.hasOwn(CONVERTERS, n.opType) ||
      FOLDABLE.has(n.opType) ||
      n.opType === "Shape" ||
      n.opType === "Size";
    const subgraph = [...n.attributes.values()].some((a) => a.hasGraph);
    if (domainOk && known && !subgraph) continue;
    const key = domainOk ? n.opType : `${n.domain}.${n.opType}`;
    const list = bad.get(key) ?? [];
    list.push(n.name === "" ? "(unnamed)" : n.name);
    bad.set(key, list);
  }
  if (bad.size === 0) return;
  const parts = [...bad].map(([op, names]) => {
    const shown = names.slice(0, 8).map((s) => JSON.stringify(s));
    const more = names.length > 8 ? `, and ${names.length - 8} more` : "";
    return `${op} (node${names.length > 1 ? "s" : ""} ${shown.join(", ")}${more})`;
  });
  const total = [...bad.values()].reduce((s, l) => s + l.length, 0);
  throw new FormatError(
    `${source}: ${total} node(s) use operators convkit does not support: ${parts.join("; ")}`,
  );
}

interface Pass {
  ctx: ImportContext;
  folded: number;
  graphOutputs: string[];
}

function convert(
  opset: number,
  live: readonly OnnxNode[],
  inits: Map<string, OnnxTensorProto>,
  inputs: readonly InputSpec[],
  outputs: readonly string[],
  symbolic: boolean,
  source: string,
): Pass {
  const ctx = new ImportContext(opset, symbolic, live, outputs);
  for (const i of inputs) {
    ctx.reserve(i.name);
    ctx.shapesA.set(i.name, [...i.a]);
    ctx.shapesB.set(i.name, symbolic ? [...i.b] : [...i.a]);
    ctx.setAct(i.name, i.name);
  }
  const needed = new Set(live.flatMap((n) => n.inputs).concat(outputs));
  for (const [name, t] of inits) {
    if (!needed.has(name)) continue;
    const a = readTensor(t, `${source}: initializer "${name}"`);
    ctx.setKnown(name, { a, b: a, source: name });
  }
  const errors: string[] = [];
  const poisoned = new Set<string>();
  let folded = 0;
  for (const node of live) {
    if (ctx.absorbed.has(node)) continue;
    if (node.outputs.every((o) => o === "" || ctx.vals.has(o))) continue;
    if (node.inputs.some((v) => poisoned.has(v))) {
      for (const o of node.outputs) poisoned.add(o);
      continue;
    }
    try {
      if (ctx.tryFold(node)) {
        folded++;
        continue;
      }
      const converter = own(CONVERTERS, node.opType);
      if (converter === undefined) {
        throw new FormatError(`${onnxLabel(node)}: only supported on constants, but an input is computed`);
      }
      converter(ctx, node);
      for (const o of node.outputs) {
        const used = (ctx.consumers.get(o) ?? []).some((c) => !ctx.absorbed.has(c)) || ctx.onnxOutputs.has(o);
        if (o !== "" && used && !ctx.vals.has(o))
          throw new FormatError(`${onnxLabel(node)}: output "${o}" was not produced`);
      }
    } catch (e) {
      if (e instanceof PinNeeded || !(e instanceof ConvkitError)) throw e;
      errors.push(e.message);
      for (const o of node.outputs) poisoned.add(o);
    }
  }
  if (errors.length > 0) {
    const shown = errors.slice(0, 20).map((m) => `  - ${m}`);
    if (errors.length > 20) shown.push(`  - ... and ${errors.length - 20} more`);
    throw new FormatError(`${source}: ${errors.length} node(s) cannot be imported:\n${shown.join("\n")}`);
  }
  return { ctx, folded, graphOutputs: assembleOutputs(ctx, outputs, inputs) };
}

/** Graph output value names, named after the ONNX outputs where possible. */
function assembleOutputs(
  ctx: ImportContext,
  outputs: readonly string[],
  inputs: readonly InputSpec[],
): string[] {
  const inputNames = new Set(inputs.map((i) => i.name));
  const used = new Set<string>();
  const rename = new Map<string, string>();
  const result: string[] = [];
  for (const o of outputs) {
    let value = ctx.outputValue(o);
    if (used.has(value) || inputNames.has(value)) {
      value = ctx.push("identity", ctx.unique(o), [value], {}, {}, "")[0];
    } else if (value !== o && !ctx.isTaken(o)) {
      ctx.reserve(o);
      rename.set(value, o);
    }
    used.add(value);
    result.push(rename.get(value) ?? value);
  }
  if (rename.size > 0) {
    for (const n of ctx.nodes) {
      n.inputs = n.inputs.map((v) => rename.get(v) ?? v);
      n.outputs = n.outputs.map((v) => rename.get(v) ?? v);
    }
  }
  return result;
}
