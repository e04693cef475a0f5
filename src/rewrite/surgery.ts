import { createNode, expectedParams, inferNode, nodeLabel } from "../graph/infer.js";
import { fans, initialise } from "../graph/init.js";
import {
  type Graph,
  type Node,
  type OpAttrs,
  type OpName,
  PARAM_SUFFIX,
  type ParamInfo,
  type ParamRole,
  type ParamsOf,
  type ScopeInfo,
  type Weights,
} from "../graph/types.js";
import { inferShapes, topologicalSort, validateGraph } from "../graph/validate.js";
import { ArgumentError, FormatError } from "../tensor/errors.js";
import { Rng } from "../tensor/rng.js";
import { numel } from "../tensor/shape.js";

/**
 * Graph surgery: the editing primitives every rewrite rule is written with, so that a rule reads as "remove
 * this conv, add these two, send its readers to the new output" and nothing else.
 *
 * A `GraphEdit` works on a copy of a graph (the input graph and its weight arrays are never modified; weight
 * arrays that a rule does not touch are shared with the input) and keeps the invariants the Graph type asks
 * for while it is edited:
 * - **names**: node and value names are unique; `fresh(scope, local)` hands out an unused name under a scope
 *   (`local`, then `local_2`, `local_3`...), parameters are named `node + ".weight"` etc. like a state_dict;
 * - **order**: new nodes go in at a cursor (`at(node, "before" | "after")`), so the node list stays a
 *   topological order without re-sorting; `finish` sorts anyway (stable) as a safety net;
 * - **parameters**: a new node's parameters are declared from its attrs (`expectedParams`) and get the data the
 *   rule gives or PyTorch's default initialisation from a seeded Rng; a removed node's parameters go when no
 *   other node uses them; `finish` checks the result with `validateGraph(graph, weights)`.
 * With `weights === null` the edit is structural only: parameters are declared, no numbers are made.
 */

/** Parameter data by role for a new or updated node; a missing role gets the default initialisation. */
export type ParamData = Partial<Record<ParamRole, Float32Array>>;

export interface AddOptions {
  /** Full node name (use `fresh`); its single output value gets the same name. */
  name: string;
  scope: string;
  /** Data of its parameters (weights present only). */
  data?: ParamData;
  /** Parameter names by role when not `name + suffix` (e.g. keeping the replaced conv's `x.weight`). */
  paramNames?: Partial<Record<ParamRole, string>>;
}

export class GraphEdit {
  /** The graph the edit started from (not modified). */
  readonly source: Graph;
  readonly weights: Weights | null;
  /** Seeded generator for default initialisation of new parameters. */
  readonly rng: Rng;
  /** Names of the nodes added (in order) and removed by this edit. */
  readonly added: string[] = [];
  readonly removed: string[] = [];
  private nodes: Node[];
  private readonly params: Record<string, ParamInfo>;
  private readonly scopes: Record<string, ScopeInfo>;
  private outputs: string[];
  private readonly taken = new Set<string>();
  private shapes: Map<string, number[]>;
  private shapesDirty = false;
  private cursor = -1;

  constructor(graph: Graph, weights: Weights | null, options: { seed?: number; rng?: Rng } = {}) {
    this.source = graph;
    this.nodes = structuredClone(graph.nodes);
    // Keyed by the graph's names: null-prototype copies, so that "__proto__" or "constructor" are ordinary keys.
    this.params = Object.assign(Object.create(null), structuredClone(graph.params));
    this.scopes = Object.assign(Object.create(null), structuredClone(graph.scopes ?? {}));
    this.outputs = [...graph.outputs];
    this.weights = weights === null ? null : new Map(weights);
    this.rng = options.rng ?? new Rng(options.seed ?? 0);
    for (const info of graph.inputs) this.taken.add(info.name);
    for (const node of this.nodes) {
      this.taken.add(node.name);
      for (const v of node.outputs) this.taken.add(v);
    }
    for (const path of Object.keys(this.scopes)) this.taken.add(path);
    for (const node of this.nodes) if (node.scope !== "") this.taken.add(node.scope);
    this.shapes = inferShapes(graph);
  }

  // ---------------------------------------------------------------- queries

  /** The current node list (read-only view; edit through the methods). */
  get nodeList(): readonly Node[] {
    return this.nodes;
  }

  has(name: string): boolean {
    return this.nodes.some((n) => n.name === name);
  }

  node(name: string): Node {
    const node = this.nodes.find((n) => n.name === name);
    if (node === undefined) throw new ArgumentError(`graph "${this.source.name}": no node named "${name}"`);
    return node;
  }

  /** The node writing `value`, or undefined for a graph input. */
  producer(value: string): Node | undefined {
    return this.nodes.find((n) => n.outputs.includes(value));
  }

  /** Nodes reading `value`, in order. */
  readers(value: string): Node[] {
    return this.nodes.filter((n) => n.inputs.includes(value));
  }

  isOutput(value: string): boolean {
    return this.outputs.includes(value);
  }

  isInput(value: string): boolean {
    return this.source.inputs.some((i) => i.name === value);
  }

  /** Index of a node in the current order. */
  indexOf(name: string): number {
    const i = this.nodes.findIndex((n) => n.name === name);
    if (i < 0) throw new ArgumentError(`graph "${this.source.name}": no node named "${name}"`);
    return i;
  }

  /** Shape of a value at batch 1. */
  shape(value: string): number[] {
    if (this.shapesDirty) this.refreshShapes();
    const s = this.shapes.get(value);
    if (s === undefined) throw new ArgumentError(`graph "${this.source.name}": no value named "${value}"`);
    return s;
  }

  /** Current data of a parameter (null without weights). */
  param(name: string): Float32Array | null {
    if (this.weights === null) return null;
    const data = this.weights.get(name);
    if (data === undefined) throw new ArgumentError(`graph "${this.source.name}": no parameter "${name}"`);
    return data;
  }

  paramShape(name: string): number[] {
    const info = this.params[name];
    if (info === undefined) throw new ArgumentError(`graph "${this.source.name}": no parameter "${name}"`);
    return info.shape;
  }

  /** Data of a node's parameter by role (null without weights or when the node has no such role). */
  nodeParam(node: Node, role: ParamRole): Float32Array | null {
    const pname = (node.params as Partial<Record<ParamRole, string>>)[role];
    return pname === undefined ? null : this.param(pname);
  }

  // ---------------------------------------------------------------- names

  /** An unused name `scope.local` (or `local` at top level), suffixed `_2`, `_3`... when taken. */
  fresh(scope: string, local: string): string {
    const base = scope === "" ? local : `${scope}.${local}`;
    if (!this.taken.has(base) && this.params[base] === undefined) return base;
    for (let i = 2; ; i++) {
      const name = `${base}_${i}`;
      if (!this.taken.has(name) && this.params[name] === undefined) return name;
    }
  }

  /** Records what a scope is (for drawing, reports, later rewrites) and reserves its path. */
  setScope(path: string, info: ScopeInfo): void {
    this.scopes[path] = structuredClone(info);
    this.taken.add(path);
  }

  /** Reserves a name (a scope path chosen by a rule) so that `fresh` does not hand it out. */
  reserve(name: string): void {
    this.taken.add(name);
  }

  // ---------------------------------------------------------------- edits

  /** New nodes go in just before or just after `name` (then after each other, in the order added). */
  at(name: string, where: "before" | "after"): void {
    this.cursor = this.indexOf(name) + (where === "after" ? 1 : 0);
  }

  /** New nodes go in at position `index` of the current order (e.g. where a removed node was). */
  atIndex(index: number): void {
    this.cursor = Math.max(0, Math.min(index, this.nodes.length));
  }

  /**
   * Adds a node at the cursor: attrs must be complete (normalised as the builder makes them); the output
   * shape is inferred from the inputs (a mistake throws naming the node); parameters are declared from the
   * attrs and filled from `data` or initialised. Returns the output value names.
   */
  add<K extends OpName>(op: K, inputs: readonly string[], attrs: OpAttrs[K], options: AddOptions): string[] {
    const { name, scope } = options;
    if (this.taken.has(name) || this.params[name] !== undefined) {
      throw new ArgumentError(`graph surgery: node name "${name}" is already used (use fresh())`);
    }
    const { node, shapes } = createNode(
      { name, op, inputs: [...inputs], attrs, params: {} as ParamsOf<K>, scope },
      inputs.map((v) => this.shape(v)),
    );
    for (const v of node.outputs) {
      if (this.taken.has(v) && v !== name)
        throw new ArgumentError(`graph surgery: value "${v}" is already used`);
    }
    this.declareParams(node, options.data ?? {}, options.paramNames ?? {});
    const at = this.cursor < 0 ? this.nodes.length : this.cursor;
    this.nodes.splice(at, 0, node);
    if (this.cursor >= 0) this.cursor = at + 1;
    this.taken.add(name);
    node.outputs.forEach((v, i) => {
      this.taken.add(v);
      this.shapes.set(v, shapes[i]);
    });
    this.added.push(name);
    return node.outputs;
  }

  /** Removes a node; its parameters go unless another node still uses them. Its readers must be rewired. */
  remove(name: string): Node {
    const i = this.indexOf(name);
    const [node] = this.nodes.splice(i, 1);
    if (this.cursor > i) this.cursor--;
    for (const pname of Object.values(node.params as Partial<Record<ParamRole, string>>)) {
      if (pname === undefined) continue;
      const used = this.nodes.some((n) => Object.values(n.params).includes(pname));
      if (!used) {
        delete this.params[pname];
        this.weights?.delete(pname);
      }
    }
    this.removed.push(name);
    return node;
  }

  /**
   * Sends readers of `from` to `to`: every reader and the graph outputs, or only the readers named in `only`.
   * Readers listed in `except` keep reading `from` (e.g. the new node that itself reads `from`).
   */
  rewire(
    from: string,
    to: string,
    options: { only?: readonly string[]; except?: readonly string[] } = {},
  ): void {
    for (const node of this.nodes) {
      if (options.only !== undefined && !options.only.includes(node.name)) continue;
      if (options.except?.includes(node.name)) continue;
      node.inputs = node.inputs.map((v) => (v === from ? to : v));
    }
    if (options.only === undefined) this.outputs = this.outputs.map((v) => (v === from ? to : v));
    this.shapesDirty = true;
  }

  /** Replaces a node's inputs (same count and meaning as the op expects). */
  setInputs(name: string, inputs: readonly string[]): void {
    this.node(name).inputs = [...inputs];
    this.shapesDirty = true;
  }

  /**
   * Changes a node's attrs in place (same op, same name): parameter shapes are re-declared from the new attrs
   * and given `data` (required, with weights, for every parameter whose shape changed).
   */
  update<K extends OpName>(name: string, attrs: OpAttrs[K], data: ParamData = {}): void {
    const node = this.node(name) as Extract<Node, { op: K }>;
    const old = structuredClone(node.attrs);
    (node as unknown as { attrs: OpAttrs[K] }).attrs = attrs;
    const wanted = expectedParams(node);
    const refs = node.params as Partial<Record<ParamRole, string>>;
    for (const role of Object.keys(refs) as ParamRole[]) {
      if (wanted[role] === undefined) {
        (node as { attrs: unknown }).attrs = old;
        throw new ArgumentError(`graph surgery: ${nodeLabel(node)}: new attrs drop parameter role "${role}"`);
      }
    }
    for (const role of Object.keys(wanted) as ParamRole[]) {
      const want = wanted[role]!;
      const pname = refs[role] ?? `${name}.${PARAM_SUFFIX[role]}`;
      const before = this.params[pname];
      const shapeChanged = before === undefined || before.shape.join() !== want.shape.join();
      if (shapeChanged && this.nodes.some((n) => n !== node && Object.values(n.params).includes(pname))) {
        throw new ArgumentError(
          `graph surgery: ${nodeLabel(node)}: parameter "${pname}" is shared; cannot reshape`,
        );
      }
      this.params[pname] = { shape: [...want.shape], kind: want.kind };
      refs[role] = pname;
      if (this.weights !== null) {
        const given = data[role];
        if (given !== undefined) this.setData(node, role, pname, given, want.shape);
        else if (shapeChanged) this.weights.set(pname, this.initial(node, role, want.shape));
      }
    }
    this.shapesDirty = true;
  }

  /** Replaces a parameter's values (same shape). */
  setParam(name: string, data: Float32Array): void {
    if (this.weights === null) return;
    const info = this.params[name];
    if (info === undefined) throw new ArgumentError(`graph surgery: no parameter "${name}"`);
    if (data.length !== numel(info.shape)) {
      throw new ArgumentError(
        `graph surgery: parameter "${name}": expected ${numel(info.shape)} values, got ${data.length}`,
      );
    }
    this.weights.set(name, data);
  }

  /** The edited graph as it is now (not validated, not sorted). */
  snapshot(): Graph {
    const g: Graph = {
      ...this.source,
      outputs: [...this.outputs],
      nodes: this.nodes,
      params: this.params,
    };
    if (Object.keys(this.scopes).length > 0) g.scopes = this.scopes;
    return g;
  }

  /** Sorts (stable), drops unused parameters and scopes without nodes, validates, and returns the result. */
  finish(): { graph: Graph; weights: Weights | null } {
    const sorted = topologicalSort(this.snapshot());
    const used = new Set<string>();
    for (const node of sorted.nodes) for (const p of Object.values(node.params)) used.add(p as string);
    const params = Object.fromEntries(Object.entries(this.params).filter(([name]) => used.has(name)));
    const weights = this.weights === null ? null : new Map<string, Float32Array>();
    if (weights !== null) for (const name of Object.keys(params)) weights.set(name, this.weights!.get(name)!);
    const graph: Graph = structuredClone({ ...sorted, params });
    const live = new Set<string>();
    for (const node of graph.nodes) {
      const parts = node.scope === "" ? [] : node.scope.split(".");
      for (let i = 1; i <= parts.length; i++) live.add(parts.slice(0, i).join("."));
    }
    if (graph.scopes !== undefined) {
      for (const path of Object.keys(graph.scopes)) if (!live.has(path)) delete graph.scopes[path];
      if (Object.keys(graph.scopes).length === 0) delete graph.scopes;
    }
    try {
      validateGraph(graph, weights ?? undefined);
    } catch (e) {
      throw new FormatError(`graph surgery produced an invalid graph: ${(e as Error).message}`);
    }
    return { graph, weights };
  }

  // ---------------------------------------------------------------- internals

  /**
   * Re-infers shapes after attrs or wiring changed. Mid-edit the graph may be briefly inconsistent (a node
   * removed, its readers not yet rewired), so nodes that cannot be inferred keep their previous shapes.
   */
  private refreshShapes(): void {
    const before = this.shapes;
    const shapes = new Map<string, number[]>();
    for (const info of this.source.inputs) shapes.set(info.name, before.get(info.name)!);
    for (const node of this.nodes) {
      const ins = node.inputs.map((v) => shapes.get(v) ?? before.get(v));
      let outs: number[][] | undefined;
      if (ins.every((s) => s !== undefined)) {
        try {
          outs = inferNode(node, ins as number[][]);
        } catch {
          outs = undefined;
        }
      }
      node.outputs.forEach((v, i) => {
        const s = outs?.[i] ?? before.get(v);
        if (s !== undefined) shapes.set(v, s);
      });
    }
    this.shapes = shapes;
    this.shapesDirty = false;
  }

  private declareParams(node: Node, data: ParamData, names: Partial<Record<ParamRole, string>>): void {
    const wanted = expectedParams(node);
    const refs: Partial<Record<ParamRole, string>> = {};
    for (const role of Object.keys(data) as ParamRole[]) {
      if (wanted[role] === undefined) {
        throw new ArgumentError(
          `graph surgery: ${nodeLabel(node)}: no parameter role "${role}" with these attrs`,
        );
      }
    }
    for (const role of Object.keys(wanted) as ParamRole[]) {
      const want = wanted[role]!;
      const pname = names[role] ?? `${node.name}.${PARAM_SUFFIX[role]}`;
      if (this.params[pname] !== undefined) {
        throw new ArgumentError(
          `graph surgery: ${nodeLabel(node)}: parameter name "${pname}" is already used`,
        );
      }
      this.params[pname] = { shape: [...want.shape], kind: want.kind };
      refs[role] = pname;
      if (this.weights !== null) {
        const given = data[role];
        if (given !== undefined) this.setData(node, role, pname, given, want.shape);
        else this.weights.set(pname, this.initial(node, role, want.shape));
      }
    }
    (node as { params: Partial<Record<ParamRole, string>> }).params = refs;
  }

  private setData(node: Node, role: ParamRole, pname: string, data: Float32Array, shape: number[]): void {
    if (data.length !== numel(shape)) {
      throw new ArgumentError(
        `graph surgery: ${nodeLabel(node)}: ${role}: expected ${numel(shape)} values (shape [${shape.join(", ")}]), got ${data.length}`,
      );
    }
    this.weights!.set(pname, data);
  }

  /** PyTorch's default initialisation for a role of a node (see graph/init.ts). */
  private initial(node: Node, role: ParamRole, shape: number[]): Float32Array {
    const where = nodeLabel(node);
    if (node.op === "conv2d" || node.op === "deformConv2d" || node.op === "linear") {
      if (role === "weight") return initialise("default", shape, this.rng, { kind: "weight" }, where);
      const a = node.attrs;
      const w =
        node.op === "linear"
          ? [node.attrs.outFeatures, node.attrs.inFeatures]
          : [
              (a as OpAttrs["conv2d"]).outChannels,
              (a as OpAttrs["conv2d"]).inChannels / (a as OpAttrs["conv2d"]).groups,
              ...(a as OpAttrs["conv2d"]).kernelSize,
            ];
      return initialise("default", shape, this.rng, { kind: "bias", fanIn: fans(w).fanIn }, where);
    }
    const one = role === "weight" || role === "runningVar";
    return initialise("default", shape, this.rng, { kind: "constant", value: one ? 1 : 0 }, where);
  }
}
