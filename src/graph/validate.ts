import { FormatError, ShapeError } from "../tensor/errors.js";
import { formatShape, numel } from "../tensor/shape.js";
import { expectedParams, inferNode, nodeLabel, outputCount } from "./infer.js";
import { own } from "./own.js";
import {
  GRAPH_FORMAT,
  GRAPH_VERSION,
  type Graph,
  type Node,
  OP_NAMES,
  type ParamRole,
  type Weights,
} from "./types.js";

/**
 * Checks a Graph (and optionally its weights) before anything trusts it: names unique, every value defined
 * before it is read (cycles found and named), parameters declared with the shapes the attrs imply, attrs
 * consistent with the shapes flowing in. Errors name the node, its scope, and what was expected vs got.
 * FormatError for structure, ShapeError for shapes.
 */

/** Options for `inferShapes`: how to turn the inputs' symbolic dims into numbers. */
export interface InferShapesOptions {
  /** Value of every symbolic dim not listed in `dims` (default 1). */
  batch?: number;
  /** Values of named symbolic dims, e.g. `{N: 8}`. */
  dims?: Record<string, number>;
  /** Concrete input shapes by input name (override the declared dims; numeric dims must agree). */
  inputShapes?: Record<string, readonly number[]>;
}

/**
 * Every value's shape (graph inputs and all node outputs) for concrete input sizes, by running the op shape
 * rules in node order. Reusable by the analyzer and drawer. Throws naming the first node that does not fit.
 */
export function inferShapes(graph: Graph, options: InferShapesOptions = {}): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const info of graph.inputs) {
    const given = own(options.inputShapes, info.name);
    const declared = info.shape.map((d) =>
      typeof d === "number" ? d : (own(options.dims, d) ?? options.batch ?? 1),
    );
    if (given !== undefined) {
      const agrees =
        given.length === info.shape.length &&
        info.shape.every((d, i) => typeof d !== "number" || d === given[i]);
      if (!agrees) {
        throw new ShapeError(
          `graph "${graph.name}": input "${info.name}": expected shape [${info.shape.join(", ")}], got ${formatShape(given)}`,
        );
      }
      shapes.set(info.name, [...given]);
    } else {
      shapes.set(info.name, declared);
    }
  }
  for (const node of graph.nodes) {
    const ins = node.inputs.map((v) => {
      const s = shapes.get(v);
      if (s === undefined) {
        throw new FormatError(`${nodeLabel(node)}: input "${v}" is not defined before this node`);
      }
      return s;
    });
    const outs = inferNode(node, ins);
    if (outs.length !== node.outputs.length) {
      throw new FormatError(
        `${nodeLabel(node)}: outputs: expected ${outs.length} output value(s), got ${node.outputs.length}`,
      );
    }
    node.outputs.forEach((v, i) => {
      shapes.set(v, outs[i]);
    });
  }
  return shapes;
}

/**
 * Full check of a graph; with `weights`, also that every parameter has a value of the right length and
 * no stray values are present. Returns the inferred shapes at batch 1 (symbols = 1).
 */
export function validateGraph(graph: Graph, weights?: Weights): Map<string, number[]> {
  const where = `graph "${String(graph?.name)}"`;
  if (typeof graph !== "object" || graph === null) throw new FormatError("graph: expected an object");
  if (graph.format !== GRAPH_FORMAT) {
    throw new FormatError(
      `${where}: format: expected "${GRAPH_FORMAT}", got ${JSON.stringify(graph.format)}`,
    );
  }
  if (graph.version !== GRAPH_VERSION) {
    throw new FormatError(
      `${where}: version: expected ${GRAPH_VERSION}, got ${JSON.stringify(graph.version)}`,
    );
  }
  if (typeof graph.name !== "string")
    throw new FormatError(`graph: name: expected a string, got ${JSON.stringify(graph.name)}`);
  for (const key of ["inputs", "outputs", "nodes"] as const) {
    if (!Array.isArray(graph[key])) throw new FormatError(`${where}: ${key}: expected an array`);
  }
  if (typeof graph.params !== "object" || graph.params === null)
    throw new FormatError(`${where}: params: expected an object`);

  // Values: graph inputs first, then node outputs; one producer per name.
  const producer = new Map<string, number>(); // value -> node index (-1 for graph inputs)
  for (const info of graph.inputs) {
    if (typeof info?.name !== "string" || info.name.length === 0) {
      throw new FormatError(`${where}: inputs: expected named inputs, got ${JSON.stringify(info)}`);
    }
    if (producer.has(info.name)) throw new FormatError(`${where}: input "${info.name}" is declared twice`);
    const dimsOk =
      Array.isArray(info.shape) &&
      info.shape.every((d) =>
        typeof d === "number" ? Number.isSafeInteger(d) && d >= 0 : typeof d === "string" && d.length > 0,
      );
    if (!dimsOk) {
      throw new FormatError(
        `${where}: input "${info.name}": shape: expected integers or symbols, got ${JSON.stringify(info.shape)}`,
      );
    }
    producer.set(info.name, -1);
  }
  const nodeNames = new Set<string>();
  graph.nodes.forEach((node, i) => {
    checkNodeStructure(graph, node, i);
    if (nodeNames.has(node.name)) throw new FormatError(`${nodeLabel(node)}: node name is used twice`);
    nodeNames.add(node.name);
    for (const v of node.outputs) {
      const prev = producer.get(v);
      if (prev !== undefined) {
        const by = prev < 0 ? "a graph input" : nodeLabel(graph.nodes[prev]);
        throw new FormatError(`${nodeLabel(node)}: output value "${v}" is already produced by ${by}`);
      }
      producer.set(v, i);
    }
  });

  // Every input defined; defined earlier (else a cycle or an ordering mistake).
  graph.nodes.forEach((node, i) => {
    for (const v of node.inputs) {
      const p = producer.get(v);
      if (p === undefined)
        throw new FormatError(`${nodeLabel(node)}: input "${v}" is not produced by any node or graph input`);
      if (p >= i) {
        const cycle = findCycle(graph, producer);
        if (cycle !== null) {
          throw new FormatError(`${where}: cycle: ${cycle.map((n) => `"${n}"`).join(" -> ")}`);
        }
        throw new FormatError(
          `${nodeLabel(node)}: input "${v}" is produced later, by ${nodeLabel(graph.nodes[p])}; nodes must be in topological order (see topologicalSort)`,
        );
      }
    }
  });
  const outs = new Set<string>();
  for (const v of graph.outputs) {
    if (!producer.has(v)) throw new FormatError(`${where}: output "${v}" is not a value of the graph`);
    if (outs.has(v)) throw new FormatError(`${where}: output "${v}" is listed twice`);
    outs.add(v);
  }
  if (graph.outputs.length === 0) throw new FormatError(`${where}: outputs: expected at least one output`);

  if (graph.scopes !== undefined) {
    if (typeof graph.scopes !== "object" || graph.scopes === null || Array.isArray(graph.scopes)) {
      throw new FormatError(`${where}: scopes: expected an object keyed by scope path`);
    }
    for (const [path, info] of Object.entries(graph.scopes)) {
      if (typeof info?.kind !== "string") {
        throw new FormatError(
          `${where}: scopes["${path}"].kind: expected a string, got ${JSON.stringify(info?.kind)}`,
        );
      }
    }
  }
  if (
    graph.meta !== undefined &&
    (typeof graph.meta !== "object" || graph.meta === null || Array.isArray(graph.meta))
  ) {
    throw new FormatError(`${where}: meta: expected an object`);
  }
  checkParams(graph, weights);
  return inferShapes(graph);
}

function checkNodeStructure(graph: Graph, node: Node, i: number): void {
  const where = `graph "${graph.name}": node ${i}`;
  if (typeof node !== "object" || node === null) throw new FormatError(`${where}: expected an object`);
  if (typeof node.name !== "string" || node.name.length === 0) {
    throw new FormatError(`${where}: name: expected a non-empty string, got ${JSON.stringify(node.name)}`);
  }
  if (!OP_NAMES.includes(node.op)) {
    throw new FormatError(
      `${where} ("${node.name}"): op: expected one of ${OP_NAMES.join(", ")}, got ${JSON.stringify(node.op)}`,
    );
  }
  const strings = (v: unknown): v is string[] =>
    Array.isArray(v) && v.every((s) => typeof s === "string" && s.length > 0);
  if (!strings(node.inputs))
    throw new FormatError(
      `${nodeLabel(node)}: inputs: expected value names, got ${JSON.stringify(node.inputs)}`,
    );
  if (!strings(node.outputs))
    throw new FormatError(
      `${nodeLabel(node)}: outputs: expected value names, got ${JSON.stringify(node.outputs)}`,
    );
  if (typeof node.scope !== "string")
    throw new FormatError(`${nodeLabel(node)}: scope: expected a string, got ${JSON.stringify(node.scope)}`);
  if (typeof node.attrs !== "object" || node.attrs === null)
    throw new FormatError(`${nodeLabel(node)}: attrs: expected an object`);
  if (typeof node.params !== "object" || node.params === null)
    throw new FormatError(`${nodeLabel(node)}: params: expected an object`);
  if (node.op !== "split" || Array.isArray(node.attrs.sizes)) {
    const n = outputCount(node);
    if (node.outputs.length !== n) {
      throw new FormatError(
        `${nodeLabel(node)}: outputs: expected ${n} output value(s), got ${node.outputs.length}`,
      );
    }
  }
}

function checkParams(graph: Graph, weights: Weights | undefined): void {
  const where = `graph "${graph.name}"`;
  const used = new Set<string>();
  for (const node of graph.nodes) {
    const wanted = expectedParams(node);
    const refs = node.params as Partial<Record<ParamRole, string>>;
    for (const role of Object.keys(refs) as ParamRole[]) {
      if (!Object.hasOwn(wanted, role)) {
        const allowed = Object.keys(wanted);
        throw new FormatError(
          `${nodeLabel(node)}: params.${role}: not used by this op with these attrs (expected ${allowed.length ? allowed.join(", ") : "no parameters"})`,
        );
      }
    }
    for (const role of Object.keys(wanted) as ParamRole[]) {
      const want = wanted[role]!;
      const pname = refs[role];
      if (typeof pname !== "string")
        throw new FormatError(`${nodeLabel(node)}: params.${role}: missing (expected a parameter name)`);
      const info = own(graph.params, pname);
      if (info === undefined)
        throw new FormatError(
          `${nodeLabel(node)}: params.${role}: parameter "${pname}" is not declared in graph.params`,
        );
      if (!Array.isArray(info.shape) || info.shape.join() !== want.shape.join()) {
        throw new ShapeError(
          `${nodeLabel(node)}: parameter "${pname}" (${role}): expected shape ${formatShape(want.shape)}, got ${JSON.stringify(info.shape)}`,
        );
      }
      if (info.kind !== want.kind) {
        throw new FormatError(
          `${nodeLabel(node)}: parameter "${pname}" (${role}): expected kind "${want.kind}", got ${JSON.stringify(info.kind)}`,
        );
      }
      used.add(pname);
    }
  }
  for (const pname of Object.keys(graph.params)) {
    if (!used.has(pname))
      throw new FormatError(`${where}: parameter "${pname}" is declared but no node uses it`);
  }
  if (weights === undefined) return;
  for (const [pname, info] of Object.entries(graph.params)) {
    const data = weights.get(pname);
    if (data === undefined)
      throw new FormatError(`${where}: weights: missing "${pname}" (shape ${formatShape(info.shape)})`);
    if (data.length !== numel(info.shape)) {
      throw new ShapeError(
        `${where}: weights: "${pname}": expected ${numel(info.shape)} values (shape ${formatShape(info.shape)}), got ${data.length}`,
      );
    }
  }
  for (const pname of weights.keys()) {
    if (!Object.hasOwn(graph.params, pname))
      throw new FormatError(`${where}: weights: "${pname}" is not a parameter of the graph`);
  }
}

/** A cycle among nodes as a list of node names (first repeated at the end), or null. */
function findCycle(graph: Graph, producer: Map<string, number>): string[] | null {
  const n = graph.nodes.length;
  const state = new Uint8Array(n); // 0 new, 1 on stack, 2 done
  const parent = new Int32Array(n).fill(-1);
  for (let start = 0; start < n; start++) {
    if (state[start] !== 0) continue;
    const stack: [number, number][] = [[start, 0]];
    state[start] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const [u, k] = top;
      const inputs = graph.nodes[u].inputs;
      if (k >= inputs.length) {
        state[u] = 2;
        stack.pop();
        continue;
      }
      top[1] = k + 1;
      const v = producer.get(inputs[k]);
      if (v === undefined || v < 0) continue;
      if (state[v] === 1) {
        // u reads from v, which is on the stack: the data flows v -> ... -> u -> (back to) v.
        const cycle = [graph.nodes[v].name];
        const path: string[] = [];
        for (let w = u; w !== v && w >= 0; w = parent[w]) path.push(graph.nodes[w].name);
        cycle.push(...path, graph.nodes[v].name);
        return cycle;
      }
      if (state[v] === 0) {
        state[v] = 1;
        parent[v] = u;
        stack.push([v, 0]);
      }
    }
  }
  return null;
}

/**
 * Reorders nodes topologically (stable: keeps the given order where dependencies allow), for importers and
 * rewriters that append nodes out of order. Throws FormatError naming a cycle.
 */
export function topologicalSort(graph: Graph): Graph {
  const producer = new Map<string, number>();
  for (const info of graph.inputs) producer.set(info.name, -1);
  graph.nodes.forEach((node, i) => {
    for (const v of node.outputs) producer.set(v, i);
  });
  const n = graph.nodes.length;
  const indegree = new Int32Array(n);
  const readers: number[][] = Array.from({ length: n }, () => []);
  graph.nodes.forEach((node, i) => {
    for (const v of new Set(node.inputs)) {
      const p = producer.get(v);
      if (p === undefined)
        throw new FormatError(`${nodeLabel(node)}: input "${v}" is not produced by any node or graph input`);
      if (p >= 0) {
        indegree[i]++;
        readers[p].push(i);
      }
    }
  });
  const order: number[] = [];
  const ready: number[] = [];
  for (let i = 0; i < n; i++) if (indegree[i] === 0) ready.push(i);
  while (ready.length > 0) {
    // Smallest index first keeps the original order where it is already valid.
    ready.sort((a, b) => a - b);
    const u = ready.shift()!;
    order.push(u);
    for (const r of readers[u]) if (--indegree[r] === 0) ready.push(r);
  }
  if (order.length < n) {
    const cycle = findCycle(graph, producer);
    throw new FormatError(`graph "${graph.name}": cycle: ${(cycle ?? []).map((s) => `"${s}"`).join(" -> ")}`);
  }
  return { ...graph, nodes: order.map((i) => graph.nodes[i]) };
}
