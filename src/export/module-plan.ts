import { nodeLabel } from "../graph/infer.js";
import { own } from "../graph/own.js";
import { type Graph, type Node, PARAM_SUFFIX, type ParamInfo, type ParamRole } from "../graph/types.js";
import { ArgumentError } from "../tensor/errors.js";
import { checkAttributeName } from "./python-names.js";

/**
 * How a Graph becomes a tree of torch.nn.Modules whose `state_dict` keys are exactly the graph's parameter
 * names (`layer1.0.conv1.weight`), so weights move between convkit and PyTorch by name, with no renaming.
 *
 * Module paths come from two sources:
 * - parameter names: a node whose parameters are all `<P>.weight`, `<P>.bias`, `<P>.running_mean`... (one
 *   prefix P, the PARAM_SUFFIX spelling) is a standard layer at path P (nn.Conv2d, nn.BatchNorm2d, nn.Linear,
 *   torchvision's DeformConv2d, or a tiny Constant module); any other parameter is registered *raw*
 *   (nn.Parameter / buffer) on the module named by everything before its last dot;
 * - node scopes ("layer1.0", "layer1.0.downsample"): each becomes a module with its own forward, when it can.
 *
 * A scope can have its own forward (is *callable*) when its nodes form one contiguous run of the topological
 * order (so it is a function of the values that flow in) and every parameter they use lives inside it.
 * Otherwise its nodes run in the nearest callable ancestor's forward and the scope, if it holds parameters, is a
 * plain container. Every node therefore runs in exactly one forward, in graph order.
 *
 * A standard layer is a leaf module unless something else lives at or under its path. Then its class is the
 * scope's own (e.g. the deformable block whose main weight is `layer2.0.conv2.weight` beside the child
 * `layer2.0.conv2.conv_offset`): that class subclasses the layer's torch class when every use of the layer runs
 * in that class's forward, and otherwise registers the parameters raw and calls the functional op.
 */

/** Ops whose node owns parameters. */
export type ParamOp = "conv2d" | "deformConv2d" | "batchNorm2d" | "linear" | "constant";
export type ParamNode = Extract<Node, { op: ParamOp }>;

/** A parameter registered directly on a module (`self.weight = nn.Parameter(...)`, `register_buffer`). */
export interface RawParam {
  /** Attribute name on the module (the last segment of the parameter name). */
  attr: string;
  /** The full parameter name (the state_dict key). */
  name: string;
  info: ParamInfo;
  /** The first node and role that use it (decides its initialisation), if any. */
  use: { node: Node; role: ParamRole } | null;
}

export interface PlannedModule {
  /** Dotted path from the root ("" for the root). */
  path: string;
  /** Last path segment ("" for the root). */
  segment: string;
  /** Child module paths in order of first use. */
  children: string[];
  /**
   * "root" and "scope": a class with a forward; "container": a class holding submodules/parameters whose
   * layers run in an ancestor's forward; "layer": a standard torch layer (leaf).
   */
  role: "root" | "scope" | "container" | "layer";
  /** For "layer": the node the layer is built from. */
  layer?: ParamNode;
  /** For "scope": the layer its class subclasses (its parameters are the layer's own). */
  selfLayer?: ParamNode;
  /** Parameters registered directly on this module. */
  raw: RawParam[];
  /** `graph.scopes[path].kind`, when the graph says. */
  kind?: string;
  /** For "root" and "scope": indices of the graph nodes that run in this module's forward's span. */
  run?: { start: number; end: number };
}

export interface ModulePlan {
  modules: Map<string, PlannedModule>;
  /** For each node index, the path of the module whose forward runs it. */
  execPath: string[];
  /** Standard layers (leaf or self) by parameter-owner path. */
  ownerOf: Map<Node, string>;
  /** How each node reaches each parameter: role -> holder module path and attribute. */
  paramRefs: Map<Node, Partial<Record<ParamRole, { holder: string; attr: string }>>>;
}

const PARAM_OPS: ReadonlySet<string> = new Set([
  "conv2d",
  "deformConv2d",
  "batchNorm2d",
  "linear",
  "constant",
]);

/** Attributes that torch layer classes define, which a child of a class subclassing them must not reuse. */
export const LAYER_ATTRS: Record<Exclude<ParamOp, "constant">, readonly string[]> = {
  conv2d: [
    "bias",
    "dilation",
    "groups",
    "in_channels",
    "kernel_size",
    "out_channels",
    "output_padding",
    "padding",
    "padding_mode",
    "reset_parameters",
    "stride",
    "transposed",
    "weight",
  ],
  deformConv2d: [
    "bias",
    "dilation",
    "groups",
    "in_channels",
    "kernel_size",
    "out_channels",
    "padding",
    "reset_parameters",
    "stride",
    "weight",
  ],
  batchNorm2d: [
    "affine",
    "bias",
    "eps",
    "momentum",
    "num_batches_tracked",
    "num_features",
    "reset_parameters",
    "reset_running_stats",
    "running_mean",
    "running_var",
    "track_running_stats",
    "weight",
  ],
  linear: ["bias", "in_features", "out_features", "reset_parameters", "weight"],
};

function parentOf(path: string): string {
  const cut = path.lastIndexOf(".");
  return cut < 0 ? "" : path.slice(0, cut);
}

function lastSegment(path: string): string {
  return path.slice(path.lastIndexOf(".") + 1);
}

/** Whether `path` is `root` or lies under it. */
export function within(path: string, root: string): boolean {
  return root === "" || path === root || path.startsWith(`${root}.`);
}

function isParamNode(node: Node): node is ParamNode {
  return PARAM_OPS.has(node.op);
}

function roleEntries(node: Node): [ParamRole, string][] {
  return Object.entries(node.params as Partial<Record<ParamRole, string>>).filter(
    (e): e is [ParamRole, string] => typeof e[1] === "string",
  );
}

/** The common `<P>` of a node whose parameters are all `<P>.<suffix of role>`, else null. */
function standardPrefix(node: Node): string | null {
  const entries = roleEntries(node);
  if (entries.length === 0) return null;
  let prefix: string | null = null;
  for (const [role, name] of entries) {
    const suffix = `.${PARAM_SUFFIX[role]}`;
    if (!name.endsWith(suffix) || name.length === suffix.length) return null;
    const p = name.slice(0, -suffix.length);
    if (prefix !== null && p !== prefix) return null;
    prefix = p;
  }
  return prefix;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function checkPath(graph: Graph, path: string, what: string): void {
  if (path.split(".").some((s) => s.length === 0)) {
    throw new ArgumentError(
      `exportPytorch: graph "${graph.name}": ${what} "${path}" has an empty segment; PyTorch module paths need a name between every pair of dots`,
    );
  }
}

/** Plans the module tree of `graph` (see the file comment). Throws ArgumentError for names PyTorch cannot hold. */
export function planModules(graph: Graph): ModulePlan {
  const nodes = graph.nodes;
  const users = new Map<string, { node: Node; role: ParamRole }[]>();
  for (const node of nodes) {
    for (const [role, name] of roleEntries(node)) {
      let list = users.get(name);
      if (list === undefined) {
        list = [];
        users.set(name, list);
      }
      list.push({ node, role });
    }
  }

  // Standard owners: every node claiming prefix P agrees (same op, attrs and parameters: a tied layer called
  // twice), and nobody else uses those parameters.
  const claims = new Map<string, Node[]>();
  for (const node of nodes) {
    if (!isParamNode(node)) continue;
    const p = standardPrefix(node);
    if (p === null) continue;
    const list = claims.get(p);
    if (list === undefined) claims.set(p, [node]);
    else list.push(node);
  }
  const owners = new Map<string, Node[]>();
  for (const [p, claimants] of claims) {
    const first = claimants[0];
    const agree = claimants.every(
      (n) => n.op === first.op && sameJson(n.attrs, first.attrs) && sameJson(n.params, first.params),
    );
    const exclusive = roleEntries(first).every(([, name]) =>
      (users.get(name) ?? []).every((u) => claimants.includes(u.node)),
    );
    if (agree && exclusive) owners.set(p, claimants);
  }
  const ownerPrefix = new Map<string, string>();
  for (const [p, claimants] of owners)
    for (const [, name] of roleEntries(claimants[0])) ownerPrefix.set(name, p);

  // Every module path (with its ancestors), and raw parameter attributes by holder.
  const paths = new Set<string>([""]);
  const addPath = (path: string): void => {
    for (let p = path; p !== "" && !paths.has(p); p = parentOf(p)) paths.add(p);
  };
  for (const p of owners.keys()) {
    checkPath(graph, p, "parameter prefix");
    addPath(p);
  }
  const rawByHolder = new Map<string, RawParam[]>();
  for (const [name, info] of Object.entries(graph.params)) {
    if (ownerPrefix.has(name)) continue;
    checkPath(graph, name, "parameter");
    const holder = parentOf(name);
    addPath(holder);
    const use = users.get(name)?.[0] ?? null;
    const raw: RawParam = { attr: lastSegment(name), name, info, use };
    const list = rawByHolder.get(holder);
    if (list === undefined) rawByHolder.set(holder, [raw]);
    else list.push(raw);
  }
  const scopePaths = new Set<string>();
  for (const node of nodes) {
    if (node.scope === "") continue;
    checkPath(graph, node.scope, `scope of ${nodeLabel(node)}`);
    for (let p = node.scope; p !== "" && !scopePaths.has(p); p = parentOf(p)) scopePaths.add(p);
  }

  // Callable scopes: a contiguous run, and every parameter used there held inside.
  const holder = (name: string): string => ownerPrefix.get(name) ?? parentOf(name);
  const runs = new Map<string, { start: number; end: number; count: number }>();
  nodes.forEach((node, i) => {
    for (let p = node.scope; p !== ""; p = parentOf(p)) {
      const r = runs.get(p);
      if (r === undefined) runs.set(p, { start: i, end: i, count: 1 });
      else {
        r.end = i;
        r.count++;
      }
    }
  });
  const callable = new Set<string>();
  for (const [s, r] of runs) {
    if (r.end - r.start + 1 !== r.count) continue;
    let local = true;
    for (let i = r.start; i <= r.end && local; i++) {
      for (const [, name] of roleEntries(nodes[i])) {
        if (!within(holder(name), s)) {
          local = false;
          break;
        }
      }
    }
    if (local) callable.add(s);
  }
  for (const s of scopePaths) {
    // Scopes that hold no parameters and cannot run on their own need no module at all.
    if (callable.has(s)) addPath(s);
  }

  const execPath = nodes.map((node) => {
    for (let p = node.scope; p !== ""; p = parentOf(p)) if (callable.has(p)) return p;
    return "";
  });

  // The tree, children in order of first use (a node running there, or a parameter first used by a node).
  const firstUse = new Map<string, number>();
  const touch = (path: string, at: number): void => {
    for (let p = path; ; p = parentOf(p)) {
      const seen = firstUse.get(p);
      if (seen === undefined || at < seen) firstUse.set(p, at);
      if (p === "") break;
    }
  };
  nodes.forEach((node, i) => {
    if (node.scope !== "" && paths.has(node.scope)) touch(node.scope, i);
    else {
      for (let p = node.scope; p !== ""; p = parentOf(p))
        if (paths.has(p)) {
          touch(p, i);
          break;
        }
    }
    for (const [, name] of roleEntries(node)) touch(holder(name), i);
  });
  const modules = new Map<string, PlannedModule>();
  const sorted = [...paths].sort(
    (a, b) =>
      (firstUse.get(a) ?? Number.MAX_SAFE_INTEGER) - (firstUse.get(b) ?? Number.MAX_SAFE_INTEGER) ||
      (a < b ? -1 : a > b ? 1 : 0),
  );
  for (const path of sorted) {
    const kind = own(graph.scopes, path)?.kind;
    modules.set(path, {
      path,
      segment: path === "" ? "" : lastSegment(path),
      children: [],
      role: path === "" ? "root" : callable.has(path) ? "scope" : "container",
      raw: rawByHolder.get(path) ?? [],
      ...(kind !== undefined ? { kind } : {}),
    });
  }
  for (const path of sorted) if (path !== "") modules.get(parentOf(path))!.children.push(path);
  const rootRun = { start: 0, end: nodes.length - 1 };
  modules.get("")!.run = rootRun;
  for (const s of callable) {
    const r = runs.get(s)!;
    modules.get(s)!.run = { start: r.start, end: r.end };
  }

  // Standard owners: leaf layer, the scope's own layer, or raw after all.
  const ownerOf = new Map<Node, string>();
  for (const [p, claimants] of owners) {
    const m = modules.get(p)!;
    const first = claimants[0] as ParamNode;
    const leaf = m.children.length === 0 && m.raw.length === 0 && m.role === "container";
    if (leaf) {
      m.role = "layer";
      m.layer = first;
      for (const n of claimants) ownerOf.set(n, p);
      continue;
    }
    const childNames = [...m.children.map(lastSegment), ...m.raw.map((r) => r.attr)];
    const canSubclass =
      first.op !== "constant" &&
      m.role === "scope" &&
      claimants.every((n) => execPath[nodes.indexOf(n)] === p) &&
      !childNames.some((c) => LAYER_ATTRS[first.op as Exclude<ParamOp, "constant">].includes(c));
    if (canSubclass) {
      m.selfLayer = first;
      for (const n of claimants) ownerOf.set(n, p);
      continue;
    }
    for (const [role, name] of roleEntries(first)) {
      m.raw.push({ attr: PARAM_SUFFIX[role], name, info: graph.params[name], use: { node: first, role } });
    }
  }

  // Names PyTorch can hold: no attribute of nn.Module, no clash between a parameter and a submodule.
  for (const m of modules.values()) {
    const seen = new Set<string>();
    for (const child of m.children) {
      const seg = lastSegment(child);
      checkAttributeName(seg, `module "${child}"`, graph.name);
      seen.add(seg);
    }
    for (const r of m.raw) {
      checkAttributeName(r.attr, `parameter "${r.name}"`, graph.name);
      if (seen.has(r.attr)) {
        throw new ArgumentError(
          `exportPytorch: graph "${graph.name}": parameter "${r.name}" has the same path as a submodule; a PyTorch module cannot hold both under one name`,
        );
      }
      seen.add(r.attr);
    }
  }

  const paramRefs = new Map<Node, Partial<Record<ParamRole, { holder: string; attr: string }>>>();
  for (const node of nodes) {
    const refs: Partial<Record<ParamRole, { holder: string; attr: string }>> = {};
    for (const [role, name] of roleEntries(node)) {
      refs[role] = { holder: parentOf(name), attr: lastSegment(name) };
    }
    paramRefs.set(node, refs);
  }
  return { modules, execPath, ownerOf, paramRefs };
}
