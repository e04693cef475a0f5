import { createNode, inferNode, nodeLabel } from "../graph/infer.js";
import type { Node, OpAttrs, OpName, ParamInfo, ParamsOf, Weights } from "../graph/types.js";
import { ArgumentError, ConvkitError, FormatError, ShapeError } from "../tensor/errors.js";
import { onnxLabel } from "./attrs.js";
import { FOLDABLE, foldNode } from "./fold.js";
import {
  containerPaths,
  isReadableParamName,
  modulePath,
  opSegment,
  paramPrefix,
  sanitize,
  scopeOf,
} from "./naming.js";
import type { OnnxNode } from "./proto.js";
import { type Const, MAX_ELEMENTS, toFloat32 } from "./tensor.js";

/**
 * The state of one import pass: what every ONNX value has become, the graph being built, and the rules that
 * keep the result exact.
 *
 * An ONNX value becomes one of
 * - `Act`: a value of the convkit graph (an activation), produced by an emitted node or a graph input;
 * - `Known`: a constant known at import time (initializer, Constant, or a folded Shape/Gather/... chain);
 * - `Padded`: the output of a zero-cost Pad, only consumable by Conv / MaxPool / AveragePool, which absorb
 *   the padding (the graph has no pad op).
 *
 * **Symbolic batch.** Graphs keep a symbolic batch dimension (`["N", 3, 224, 224]`; other symbolic input
 * dimensions take their concrete sizes, see import.ts). Every shape is tracked twice: at the concrete sizes
 * used for folding ("A") and with the batch one larger ("B"). A constant whose value differs between A and B
 * depends on the batch; a node that fits at A but not at B, or whose attributes would differ, is only valid
 * at the declared batch. Whenever the graph would silently bake such a number in, the pass throws
 * `PinNeeded`, and the importer starts again with the batch fixed (reason in `graph.meta.onnx.fixedDims`).
 * So an imported graph keeps its batch symbolic only where that is exact for every batch size.
 */

/** Total elements constant folding may produce in one import. */
export const FOLD_BUDGET = 1 << 26;

export interface Known {
  kind: "const";
  /** Value at the concrete sizes. */
  a: Const;
  /** Value at the alternative sizes (=== a when it does not depend on them). */
  b: Const;
  /** The initializer (or Identity-of-initializer) name when the value is stored in the file as is. */
  source: string | null;
}

export interface Act {
  kind: "act";
  name: string;
}

export interface Padded {
  kind: "padded";
  /** The graph value being padded. */
  base: string;
  /** [top, left, bottom, right]. */
  pads: [number, number, number, number];
  value: number;
  node: OnnxNode;
}

export type Val = Known | Act | Padded;

/** Thrown when exactness requires fixing the symbolic input dimensions; the importer restarts. */
export class PinNeeded extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

export interface EmitOptions {
  /** Local name used when the module path is a container or absent ("add", "channel_shuffle"). */
  local?: string;
  /** A name already reserved with `reserveName` (taken as is). */
  name?: string;
}

export class ImportContext {
  readonly vals = new Map<string, Val>();
  readonly nodes: Node[] = [];
  /** Keyed by names from the file: a null-prototype record, so "__proto__" or "constructor" are ordinary keys. */
  readonly params: Record<string, ParamInfo> = Object.create(null);
  readonly weights: Weights = new Map();
  readonly shapesA = new Map<string, number[]>();
  readonly shapesB = new Map<string, number[]>();
  /** ONNX nodes already handled by a pattern (skipped by the main loop). */
  readonly absorbed = new Set<OnnxNode>();
  /** Readers of each ONNX value (live nodes only). */
  readonly consumers = new Map<string, OnnxNode[]>();
  /** ONNX node producing each value. */
  readonly producer = new Map<string, OnnxNode>();
  readonly onnxOutputs: Set<string>;
  /** Counts of what patterns did, for the import report. */
  readonly patterns: Record<string, number> = {};
  private readonly taken = new Set<string>();
  private readonly suffix = new Map<string, number>();
  /** Elements constant folding may still produce in this import (bounds the time a hostile file costs). */
  private foldBudget = FOLD_BUDGET;
  private readonly containers: Set<string>;
  private readonly paramShare = new Map<string, string>();
  private readonly constNodes = new Map<string, string>();
  private readonly splitCache = new Map<string, string[]>();

  constructor(
    readonly opset: number,
    readonly symbolic: boolean,
    liveNodes: readonly OnnxNode[],
    onnxOutputs: readonly string[],
  ) {
    this.containers = containerPaths(liveNodes);
    this.onnxOutputs = new Set(onnxOutputs);
    for (const n of liveNodes) {
      for (const v of n.inputs) {
        if (v === "") continue;
        const list = this.consumers.get(v);
        if (list) list.push(n);
        else this.consumers.set(v, [n]);
      }
      for (const v of n.outputs) if (v !== "") this.producer.set(v, n);
    }
  }

  /** Reserves a name in the node/value namespace. */
  reserve(name: string): void {
    this.taken.add(name);
  }

  // ------------------------------------------------------------------------------------------ values

  val(name: string, node: OnnxNode): Val {
    const v = this.vals.get(name);
    if (v === undefined) throw new FormatError(`${onnxLabel(node)}: input "${name}" has no value`);
    return v;
  }

  /** Optional input i: null when absent or named "". */
  optional(node: OnnxNode, i: number): Val | null {
    const name = node.inputs[i];
    if (name === undefined || name === "") return null;
    return this.val(name, node);
  }

  known(node: OnnxNode, i: number): Known | null {
    const v = this.optional(node, i);
    return v !== null && v.kind === "const" ? v : null;
  }

  /**
   * A constant input's value at the concrete sizes. Fails when the input is computed; pins the symbolic
   * dims when the value depends on them (unless `generic`, for callers that handle that themselves).
   */
  constArg(node: OnnxNode, i: number, what: string, generic = false): Const {
    const v = this.optional(node, i);
    if (v === null) throw new FormatError(`${onnxLabel(node)}: input ${i} (${what}) is missing`);
    if (v.kind !== "const") {
      throw new FormatError(
        `${onnxLabel(node)}: input ${i} (${what}) must be a constant (initializer or folded), got a computed tensor "${node.inputs[i]}"`,
      );
    }
    if (!generic && v.a !== v.b && !sameConst(v.a, v.b)) {
      this.pin(`${onnxLabel(node)}: ${what} depends on the input size`);
    }
    return v.a;
  }

  /** The graph value of input i; constants are materialised as `constant` nodes (cached per ONNX name). */
  act(node: OnnxNode, i: number): string {
    const name = node.inputs[i];
    if (name === undefined || name === "") throw new FormatError(`${onnxLabel(node)}: input ${i} is missing`);
    const v = this.val(name, node);
    if (v.kind === "act") return v.name;
    if (v.kind === "padded") {
      throw new FormatError(
        `${onnxLabel(v.node)}: a padded tensor is only supported as the input of Conv, MaxPool or AveragePool (the graph has no pad op), but ${onnxLabel(node)} reads it`,
      );
    }
    return this.materialise(name, v, node);
  }

  /** The graph value for an ONNX graph output. */
  outputValue(onnxName: string): string {
    const v = this.vals.get(onnxName);
    if (v === undefined) throw new FormatError(`graph output "${onnxName}" has no value`);
    if (v.kind === "act") return v.name;
    if (v.kind === "padded")
      throw new FormatError(`${onnxLabel(v.node)}: a padded tensor cannot be a graph output`);
    return this.materialise(onnxName, v, null);
  }

  isTaken(name: string): boolean {
    return this.taken.has(name);
  }

  private materialise(onnxName: string, v: Known, reader: OnnxNode | null): string {
    const cached = this.constNodes.get(onnxName);
    if (cached !== undefined) return cached;
    const who = reader === null ? `graph output "${onnxName}"` : onnxLabel(reader);
    if (!sameConst(v.a, v.b)) this.pin(`${who}: constant "${onnxName}" depends on the input size`);
    const readable = v.source !== null && isReadableParamName(v.source);
    const base = readable
      ? v.source!
      : reader === null
        ? sanitize(onnxName)
        : `${this.nameFor(reader)}.const`;
    const name = this.unique(sanitize(base));
    const pname = this.addParam(
      v.source !== null && isReadableParamName(v.source) ? v.source : `${name}.value`,
      toFloat32(v.a),
      v.a.dims,
      "buffer",
      `const:${onnxName}`,
    );
    this.push("constant", name, [], { shape: [...v.a.dims] }, { value: pname }, scopeOf(name));
    this.constNodes.set(onnxName, name);
    return name;
  }

  setAct(onnxName: string, graphValue: string): void {
    if (onnxName !== "") this.vals.set(onnxName, { kind: "act", name: graphValue });
  }

  setKnown(onnxName: string, k: Omit<Known, "kind">): void {
    if (onnxName !== "") this.vals.set(onnxName, { kind: "const", ...k });
  }

  // ------------------------------------------------------------------------------------------ shapes

  shape(value: string): number[] {
    return this.shapesA.get(value)!;
  }

  rank(value: string): number {
    return this.shapesA.get(value)!.length;
  }

  /** Dimension `axis` of a graph value; pins when that dimension depends on the symbolic input sizes. */
  fixedDim(value: string, axis: number, why: string): number {
    const a = this.shapesA.get(value)![axis];
    if (this.symbolic && this.shapesB.get(value)![axis] !== a) this.pin(why);
    return a;
  }

  /** Whether dimension `axis` of a graph value varies with the symbolic input sizes. */
  isSymbolicDim(value: string, axis: number): boolean {
    return this.symbolic && this.shapesB.get(value)![axis] !== this.shapesA.get(value)![axis];
  }

  pin(reason: string): void {
    if (this.symbolic) throw new PinNeeded(reason);
  }

  // ------------------------------------------------------------------------------------------ naming

  /** The name a node would get: from its module path (PyTorch-style names) or its ONNX name. */
  nameFor(node: OnnxNode, o: EmitOptions = {}): string {
    const path = modulePath(node.name);
    const local = o.local ?? opSegment(node.name) ?? node.opType.toLowerCase();
    if (path === null) return node.name ? sanitize(node.name) : local;
    if (path === "") return local;
    return this.containers.has(path) || o.local !== undefined ? `${path}.${local}` : path;
  }

  /** Reserves a unique node name: `hint` (a parameter prefix) when given, else `nameFor(node)`. */
  reserveName(node: OnnxNode, hint: string | null): string {
    return this.unique(hint ?? this.nameFor(node));
  }

  /** `base`, or `base_1`, `base_2`... (a counter per base keeps thousands of same-named nodes linear). */
  unique(base: string): string {
    let name = base;
    if (this.taken.has(name)) {
      let k = this.suffix.get(base) ?? 1;
      while (this.taken.has(`${base}_${k}`)) k++;
      name = `${base}_${k}`;
      this.suffix.set(base, k + 1);
    }
    this.taken.add(name);
    return name;
  }

  /** Node name prefix from a parameter's state_dict name (`layer1.0.conv1.weight` -> `layer1.0.conv1`). */
  hintFrom(k: Known | null): string | null {
    return k === null ? null : paramPrefix(k.source);
  }

  // ------------------------------------------------------------------------------------------ params

  /**
   * Declares a parameter. `preferred` is used if free; `shareKey` identifies the same data used by several
   * nodes (one initializer read twice becomes one shared parameter).
   */
  addParam(
    preferred: string,
    data: Float32Array,
    shape: readonly number[],
    kind: "parameter" | "buffer",
    shareKey?: string,
  ): string {
    if (shareKey !== undefined) {
      const prev = this.paramShare.get(`${kind}|${shareKey}`);
      if (prev !== undefined) return prev;
    }
    let name = preferred;
    if (this.params[name] !== undefined) {
      let k = this.suffix.get(`param:${preferred}`) ?? 1;
      while (this.params[`${preferred}_${k}`] !== undefined) k++;
      name = `${preferred}_${k}`;
      this.suffix.set(`param:${preferred}`, k + 1);
    }
    this.params[name] = { shape: [...shape], kind };
    this.weights.set(name, data);
    if (shareKey !== undefined) this.paramShare.set(`${kind}|${shareKey}`, name);
    return name;
  }

  /**
   * A parameter from a constant input: named after the initializer when it has a readable state_dict name
   * and is used as stored, else `node.suffix`.
   */
  paramFrom(
    k: Known | null,
    c: Const,
    node: string,
    suffix: string,
    kind: "parameter" | "buffer",
    transformed = false,
  ): string {
    const readable =
      !transformed && k !== null && isReadableParamName(k.source) && paramPrefix(k.source) !== null;
    const preferred = readable ? k!.source! : `${node}.${suffix}`;
    const key = k?.source && !transformed ? k.source : undefined;
    return this.addParam(preferred, toFloat32(c), c.dims, kind, key);
  }

  // ------------------------------------------------------------------------------------------ emitting

  /**
   * Emits a graph node for an ONNX node and returns its output value names. Shapes are inferred at both size
   * assignments; a node valid only at the concrete sizes pins them.
   */
  emit<K extends OpName>(
    node: OnnxNode,
    op: K,
    inputs: string[],
    attrs: OpAttrs[K],
    params: ParamsOf<K>,
    o: EmitOptions = {},
  ): string[] {
    const name = o.name ?? this.unique(this.nameFor(node, o));
    return this.push(op, name, inputs, attrs, params, scopeOf(name), node);
  }

  /** Adds a node with a given name (already reserved) and infers its output shapes. */
  push<K extends OpName>(
    op: K,
    name: string,
    inputs: string[],
    attrs: OpAttrs[K],
    params: ParamsOf<K>,
    scope: string,
    from?: OnnxNode,
  ): string[] {
    const where = from ? `${onnxLabel(from)} -> ` : "";
    let created: { node: Node; shapes: number[][] };
    try {
      created = createNode(
        { name, op, inputs, attrs, params, scope },
        inputs.map((v) => this.shapesA.get(v)!),
      );
    } catch (e) {
      if (e instanceof ConvkitError) throw retag(e, `${where}${e.message}`);
      throw e;
    }
    const { node: n, shapes: outs } = created;
    for (const v of n.outputs) if (v !== name) this.taken.add(v);
    outs.forEach((s, i) => {
      const count = s.reduce((p, d) => p * d, 1);
      if (count > MAX_ELEMENTS) {
        throw new FormatError(
          `${where}${nodeLabel(n)}: output [${s.join(", ")}] would have ${count} elements (more than ${MAX_ELEMENTS}; absurd input size?)`,
        );
      }
      this.shapesA.set(n.outputs[i], s);
    });
    if (this.symbolic) {
      let outsB: number[][] | null = null;
      try {
        outsB = inferNode(
          n,
          inputs.map((v) => this.shapesB.get(v)!),
        );
      } catch {
        this.pin(`${where}${nodeLabel(n)} fits the declared input size only`);
      }
      outsB?.forEach((s, i) => {
        this.shapesB.set(n.outputs[i], s);
      });
    }
    this.nodes.push(n);
    return n.outputs;
  }

  /** A split of `value` along `axis` into `sizes`, shared by Slices that cut the same pieces. */
  cachedSplit(node: OnnxNode, value: string, axis: number, sizes: number[]): string[] {
    const key = `${value}|${axis}|${sizes.join(",")}`;
    const hit = this.splitCache.get(key);
    if (hit) return hit;
    const outs = this.emit(node, "split", [value], { sizes, axis }, {}, { local: "split" });
    this.splitCache.set(key, outs);
    return outs;
  }

  // ------------------------------------------------------------------------------------------ folding

  /**
   * Evaluates a node at import time when it can be: a foldable op whose inputs are all constants, or
   * Shape/Size of a graph value. Computes the value at both size assignments. Returns whether the node
   * was folded.
   */
  tryFold(node: OnnxNode): boolean {
    if (node.opType === "Shape" || node.opType === "Size") return this.foldShape(node);
    if (!FOLDABLE.has(node.opType)) return false;
    const ins: (Known | null)[] = [];
    for (const name of node.inputs) {
      if (name === "") {
        ins.push(null);
        continue;
      }
      const v = this.vals.get(name);
      if (v === undefined || v.kind !== "const") return false;
      ins.push(v);
    }
    if (node.opType === "Dropout" && node.outputs.length > 1 && node.outputs[1] !== "") return false;
    const outsA = foldNode(
      node,
      ins.map((k) => k?.a ?? null),
      this.opset,
    );
    // Views (Identity, Reshape...) share their input's data; only computed results count.
    for (const o of outsA) if (!ins.some((k) => k?.a.data === o.data)) this.foldBudget -= o.data.length;
    if (this.foldBudget < 0) {
      throw new FormatError(
        `${onnxLabel(node)}: constant folding exceeds ${FOLD_BUDGET} elements in total (hostile file?)`,
      );
    }
    let outsB = outsA;
    if (ins.some((k) => k !== null && k.a !== k.b)) {
      try {
        outsB = foldNode(
          node,
          ins.map((k) => k?.b ?? null),
          this.opset,
        );
      } catch {
        this.pin(`${onnxLabel(node)}: fits the declared input size only`);
      }
    }
    node.outputs.forEach((o, i) => {
      if (o === "" || outsA[i] === undefined) return;
      const a = outsA[i];
      const b = outsB[i] !== undefined && !sameConst(a, outsB[i]) ? outsB[i] : a;
      const passThrough = node.opType === "Identity" || node.opType === "Dropout";
      this.setKnown(o, { a, b, source: passThrough ? o : null });
    });
    return true;
  }

  private foldShape(node: OnnxNode): boolean {
    const v = this.vals.get(node.inputs[0]);
    if (v === undefined || v.kind === "padded") return false;
    const dimsA = v.kind === "act" ? this.shapesA.get(v.name)! : v.a.dims;
    const dimsB = v.kind === "act" ? (this.symbolic ? this.shapesB.get(v.name)! : dimsA) : v.b.dims;
    if (node.opType === "Size") {
      const n = (d: number[]) => ({
        dims: [],
        float: false,
        data: Float64Array.of(d.reduce((p, q) => p * q, 1)),
      });
      const a = n(dimsA);
      const b = n(dimsB);
      this.setKnown(node.outputs[0], { a, b: sameConst(a, b) ? a : b, source: null });
      return true;
    }
    const r = dimsA.length;
    // Shape-15 start/end attributes (clamped like Slice).
    const clamp = (p: number) => Math.min(Math.max(p < 0 ? p + r : p, 0), r);
    const start = clamp(node.attributes.get("start")?.i ?? 0);
    const end = node.attributes.has("end") ? clamp(node.attributes.get("end")?.i ?? r) : r;
    const axes = Array.from({ length: Math.max(0, end - start) }, (_, i) => start + i);
    const mk = (d: number[]) => ({
      dims: [axes.length],
      float: false,
      data: Float64Array.from(axes.map((i) => d[i])),
    });
    const a = mk(dimsA);
    const b = mk(dimsB);
    this.setKnown(node.outputs[0], { a, b: sameConst(a, b) ? a : b, source: null });
    return true;
  }

  /**
   * Folds, on demand, the constant chain that produces `name` (for patterns that need a value computed
   * later in the node order, e.g. the target shape of the second Reshape of a channel shuffle).
   */
  ensureKnown(name: string, depth = 0): Known | null {
    const v = this.vals.get(name);
    if (v !== undefined) return v.kind === "const" ? v : null;
    const node = this.producer.get(name);
    if (node === undefined || depth > 64) return null;
    for (const input of node.inputs) {
      if (input !== "" && !this.vals.has(input) && this.ensureKnown(input, depth + 1) === null) return null;
    }
    if (!this.tryFold(node)) return null;
    const out = this.vals.get(name);
    return out?.kind === "const" ? out : null;
  }

  /** Whether an ONNX value is read by exactly one node (`reader`) and is not a graph output. */
  onlyReader(value: string, reader?: OnnxNode): OnnxNode | null {
    if (this.onnxOutputs.has(value)) return null;
    const list = this.consumers.get(value) ?? [];
    if (list.length !== 1) return null;
    if (reader !== undefined && list[0] !== reader) return null;
    return list[0];
  }
}

function sameConst(a: Const, b: Const): boolean {
  if (a === b) return true;
  if (a.dims.length !== b.dims.length || a.dims.some((d, i) => d !== b.dims[i])) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}

export { sameConst };

function retag(e: ConvkitError, message: string): ConvkitError {
  if (e instanceof ShapeError) return new ShapeError(message);
  if (e instanceof ArgumentError) return new ArgumentError(message);
  return new FormatError(message);
}
