import { groupKey } from "../analyze/scopes.js";
import type { Analysis } from "../analyze/types.js";
import { own } from "../graph/own.js";
import type { Graph, Node } from "../graph/types.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { dims } from "./svg.js";

/**
 * A Graph seen as boxes for drawing: nodes grouped into units (scopes collapsed to blocks, or left expanded),
 * graph inputs and outputs as terminals, edges between units. Costs come from the analyzer, so a box's numbers
 * are `convkit analyze`'s.
 */

export interface Unit {
  /** Scope path, node name, or value name (terminals). */
  key: string;
  /** "input", "output", the scope's kind ("basicBlock"), or the op of a single node. */
  kind: string;
  /** Indices of the graph nodes in the unit (empty for terminals). */
  nodes: number[];
  /** First line of the box. */
  title: string;
  /** What a collapsed unit holds ("conv 3×3, 64 · BN · ReLU"); "" for single nodes. */
  summary: string;
  /** Output shape (batch included), or null. */
  outputShape: number[] | null;
  /** Trainable parameters (shared ones counted at their first user) and MACs (analyzer's convention). */
  params: number;
  macs: number;
  /** A single add / mul / concat node: drawn as a join. */
  join: boolean;
}

export interface UnitEdge {
  from: number;
  to: number;
  /** The value carried (one of them if several). */
  value: string;
}

export interface GraphView {
  units: Unit[];
  edges: UnitEdge[];
}

export interface GraphViewOptions {
  /** Draw only the nodes under this scope path (values from outside become input terminals). */
  scope?: string;
  /** Collapse to scope prefixes this many segments below `scope` (the analyzer's `--depth` rule). */
  depth?: number;
  /** Collapse every node into the outermost scope below `scope` whose kind is listed (e.g. ["convBnAct"]). */
  collapseKinds?: readonly string[];
}

const ACT: Partial<Record<Node["op"], string>> = {
  relu: "ReLU",
  relu6: "ReLU6",
  leakyRelu: "LeakyReLU",
  sigmoid: "sigmoid",
  hardSigmoid: "hard sigmoid",
  hardSwish: "hard swish",
  silu: "SiLU",
  tanh: "tanh",
  batchNorm2d: "BN",
  dropout: "dropout",
  identity: "identity",
  flatten: "flatten",
  reshape: "reshape",
  softmax: "softmax",
  logSoftmax: "log softmax",
};

function pairText(p: readonly number[]): string {
  return p[0] === p[1] ? `${p[0]}` : `${p[0]}×${p[1]}`;
}

/** A short description of one node, e.g. "conv 3×3/2, 64", "maxpool 3×3/2", "linear 512→1000". */
export function nodeText(node: Node): string {
  switch (node.op) {
    case "conv2d":
    case "deformConv2d": {
      const a = node.attrs;
      const k = `${a.kernelSize[0]}×${a.kernelSize[1]}`;
      const s = a.stride[0] > 1 || a.stride[1] > 1 ? `/${pairText(a.stride)}` : "";
      const d = a.dilation[0] > 1 || a.dilation[1] > 1 ? ` dil ${pairText(a.dilation)}` : "";
      const g =
        a.groups === 1
          ? ""
          : a.groups === a.inChannels && a.groups === a.outChannels
            ? " dw"
            : ` g${a.groups}`;
      return `${node.op === "conv2d" ? "conv" : "deform conv"} ${k}${s}${d}${g}, ${a.outChannels}`;
    }
    case "linear":
      return `linear ${node.attrs.inFeatures}→${node.attrs.outFeatures}`;
    case "maxPool2d":
    case "avgPool2d": {
      const a = node.attrs;
      return `${node.op === "maxPool2d" ? "maxpool" : "avgpool"} ${a.kernelSize[0]}×${a.kernelSize[1]}/${pairText(a.stride)}`;
    }
    case "adaptiveAvgPool2d":
    case "adaptiveMaxPool2d":
      return `${node.op === "adaptiveAvgPool2d" ? "avg" : "max"}pool → ${dims(node.attrs.outputSize)}`;
    case "add":
      return "add (+)";
    case "mul":
      return "multiply (×)";
    case "sub":
      return "subtract";
    case "div":
      return "divide";
    case "concat":
      return "concat";
    case "split":
      return `split ${node.attrs.sizes.join("/")}`;
    case "channelShuffle":
      return `channel shuffle g${node.attrs.groups}`;
    default:
      return ACT[node.op] ?? node.op;
  }
}

function summarise(graph: Graph, members: number[]): string {
  const nodes = members.map((i) => graph.nodes[i]);
  const main = nodes.filter((n) => ["conv2d", "deformConv2d", "linear"].includes(n.op));
  if (nodes.length <= 4 && main.length <= 1) return nodes.map(nodeText).join(" · ");
  const counts = new Map<string, number>();
  for (const n of nodes) {
    const name =
      n.op === "conv2d"
        ? `conv ${n.attrs.kernelSize.join("×")}`
        : n.op === "batchNorm2d"
          ? "BN"
          : (ACT[n.op] ?? nodeText(n).split(" ")[0]);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts].map(([name, n]) => (n > 1 ? `${n}× ${name}` : name)).join(", ");
}

function inScope(scope: string, root: string): boolean {
  return root === "" || scope === root || scope.startsWith(`${root}.`);
}

/** Groups a graph's nodes into drawable units (see `GraphViewOptions`). */
export function graphView(graph: Graph, analysis: Analysis, options: GraphViewOptions = {}): GraphView {
  const op = "graphView";
  const root = options.scope ?? "";
  if (typeof root !== "string") throw new ArgumentError(describe(op, "scope", "a scope path", root));
  if (options.depth !== undefined && (!Number.isSafeInteger(options.depth) || options.depth < 1)) {
    throw new ArgumentError(describe(op, "depth", "a positive integer", options.depth));
  }
  const rootDepth = root === "" ? 0 : root.split(".").length;
  const members = graph.nodes.map((_, i) => i).filter((i) => inScope(graph.nodes[i].scope, root));
  if (members.length === 0) {
    throw new ArgumentError(describe(op, "scope", `a scope with nodes in graph "${graph.name}"`, root));
  }
  const kinds = new Set(options.collapseKinds ?? []);
  const keyOf = (node: Node): string => {
    if (kinds.size > 0) {
      const parts = node.scope === "" ? [] : node.scope.split(".");
      for (let len = rootDepth + 1; len <= parts.length; len++) {
        const prefix = parts.slice(0, len).join(".");
        if (kinds.has(own(graph.scopes, prefix)?.kind ?? "")) return prefix;
      }
    }
    if (options.depth !== undefined) return groupKey(node.name, node.scope, rootDepth + options.depth);
    return node.name;
  };

  const units: Unit[] = [];
  const unitOf = new Map<string, number>(); // unit key -> index
  const producer = new Map<string, number>(); // value -> unit index
  const layerOf = (i: number) => analysis.layers[i];
  const relative = (key: string) =>
    root !== "" && key.startsWith(`${root}.`) ? key.slice(root.length + 1) : key;
  const terminal = (value: string, kind: "input" | "output", shape: number[] | null): number => {
    // Output terminals get their own key: the value often carries its producing node's name.
    units.push({
      key: kind === "input" ? value : `output:${value}`,
      kind,
      nodes: [],
      title:
        kind === "input" ? (root === "" ? value : `input: ${relative(value)}`) : `output: ${relative(value)}`,
      summary: "",
      outputShape: shape,
      params: 0,
      macs: 0,
      join: false,
    });
    return units.length - 1;
  };
  const shapeOfValue = new Map<string, number[]>();
  for (const info of analysis.inputs) shapeOfValue.set(info.name, info.shape);
  graph.nodes.forEach((n, i) => {
    n.outputs.forEach((v, k) => {
      shapeOfValue.set(v, layerOf(i).outputShapes[k]);
    });
  });

  const edges: UnitEdge[] = [];
  const edgeSeen = new Set<string>();
  const addEdge = (from: number, to: number, value: string) => {
    const k = `${from}>${to}`;
    if (from === to || edgeSeen.has(k)) return;
    edgeSeen.add(k);
    edges.push({ from, to, value });
  };

  for (const i of members) {
    const node = graph.nodes[i];
    const key = keyOf(node);
    let u = unitOf.get(key);
    if (u === undefined) {
      units.push({
        key,
        kind: own(graph.scopes, key)?.kind ?? (key === node.name ? node.op : ""),
        nodes: [],
        title: key,
        summary: "",
        outputShape: null,
        params: 0,
        macs: 0,
        join: false,
      });
      u = units.length - 1;
      unitOf.set(key, u);
    }
    const unit = units[u];
    for (const v of node.inputs) {
      let p = producer.get(v);
      if (p === undefined) {
        p = terminal(v, "input", shapeOfValue.get(v) ?? null);
        producer.set(v, p);
      }
      addEdge(p, u, v);
    }
    unit.nodes.push(i);
    const layer = layerOf(i);
    unit.params += layer.params - layer.sharedParams;
    unit.macs += layer.macs;
    unit.outputShape = [...layer.outputShape];
    for (const v of node.outputs) producer.set(v, u);
  }

  // Values leaving the drawn part: graph outputs, or read by nodes outside the scope.
  const memberSet = new Set(members);
  const leaving = new Set<string>(graph.outputs.filter((v) => producer.has(v)));
  graph.nodes.forEach((n, i) => {
    if (memberSet.has(i)) return;
    for (const v of n.inputs) if (producer.has(v) && units[producer.get(v)!].kind !== "input") leaving.add(v);
  });
  for (const v of leaving) {
    const from = producer.get(v)!;
    const t = terminal(v, "output", shapeOfValue.get(v) ?? null);
    addEdge(from, t, v);
  }

  for (const unit of units) {
    if (unit.nodes.length === 1) {
      const node = graph.nodes[unit.nodes[0]];
      if (unit.key === node.name) {
        unit.title = nodeText(node);
        unit.join = node.op === "add" || node.op === "mul" || node.op === "concat";
      } else {
        unit.summary = nodeText(node);
      }
    } else if (unit.nodes.length > 1) {
      unit.summary = summarise(graph, unit.nodes);
      // The unit's shape is that of its value read downstream (its last node's, normally).
      const outs = edges.filter((e) => units.indexOf(unit) === e.from).map((e) => e.value);
      if (outs.length > 0) unit.outputShape = shapeOfValue.get(outs[outs.length - 1]) ?? unit.outputShape;
    }
    // Inside a drawn scope, keys are shown relative to it ("branch2.1", not "inception3a.branch2.1").
    const shown = relative(unit.key);
    if (unit.nodes.length > 1) unit.title = unit.kind !== "" ? `${shown} · ${unit.kind}` : shown;
  }
  // Inputs first, then units in node order, outputs last: a topological order.
  const order = units.map((_, i) => i).sort((a, b) => rankKey(units[a]) - rankKey(units[b]) || a - b);
  const remap = new Map(order.map((old, i) => [old, i]));
  return {
    units: order.map((i) => units[i]),
    edges: edges.map((e) => ({ from: remap.get(e.from)!, to: remap.get(e.to)!, value: e.value })),
  };
}

function rankKey(u: Unit): number {
  if (u.kind === "input") return -1;
  if (u.kind === "output" && u.nodes.length === 0) return Number.MAX_SAFE_INTEGER;
  return u.nodes[0];
}
