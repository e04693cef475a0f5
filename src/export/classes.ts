import { nodeLabel } from "../graph/infer.js";
import type { Graph, Node, ParamRole } from "../graph/types.js";
import { ArgumentError } from "../tensor/errors.js";
import { LAYER_ATTRS, type ModulePlan, type PlannedModule, within } from "./module-plan.js";
import {
  attributeAccess,
  isPlainIdentifier,
  MODULE_ATTRIBUTES,
  pascalCase,
  pyList,
  pyNum,
  pyStr,
  variableBase,
} from "./python-names.js";
import {
  type LayerAccess,
  layerArgs,
  layerClass,
  layerConstructor,
  nodeExpression,
  OP_SHORT,
  type OpContext,
  type RuntimeHelper,
} from "./python-ops.js";

/**
 * The classes of model.py, generated bottom-up (a block's children before the block).
 *
 * Each module of the plan is first written as a *draft*: its `__init__` and `forward` with every literal marked
 * (channels, kernel sizes, split sizes... see `OpContext.lit`). Drafts that are equal once the marked literals are
 * blanked out are one class: ResNet's bottlenecks at different widths, GoogLeNet's 57 conv-BN-ReLU units, DenseNet's
 * layers. A literal that differs between them becomes a constructor argument (literals that always agree are
 * merged into one argument, e.g. a conv's out_channels and its batch norm's num_features), named after what it
 * is (`in_channels`, or `branch2_out_channels` where the short name would be ambiguous); a literal they all
 * share stays in the code. Arguments used in forward are kept as attributes (`self.sizes`). The parent then
 * builds the child with keyword arguments: `self.branch1 = ConvBnAct(in_channels=192, out_channels=64)`, which
 * are literals of the parent in turn, so a parent can be shared as well.
 */

export interface GeneratedClass {
  name: string;
  /** Scope paths the class is used at ("" for the root). */
  paths: string[];
  /** Constructor arguments. */
  params: string[];
  /** The Python source of the class. */
  text: string;
}

export interface GeneratorContext {
  rank: (value: string) => number;
  use: (helper: RuntimeHelper) => void;
}

export const RESERVED_CLASS_NAMES: ReadonlySet<string> = new Set([
  "Block",
  "Constant",
  "DeformConv2d",
  "Module",
  "Tensor",
]);

/** Names defined at module level in model.py (no variable or argument may shadow them). */
export const MODULE_LEVEL_NAMES: readonly string[] = [
  "self",
  "torch",
  "nn",
  "F",
  "math",
  "json",
  "os",
  "struct",
  "sys",
  "Block",
  "Constant",
  "DeformConv2d",
  "deform_conv2d",
  "channel_shuffle",
  "pad_max_pool2d",
  "pad_avg_pool2d",
  "pool_out_size",
  "batch_norm",
  "new_weight",
  "new_bias",
  "super",
];

// A marked literal: U+E000 prefix U+E001 name U+E002 python text U+E003 (private-use characters, never in code).
const MARK = /\uE000([^\uE001]*)\uE001([^\uE002]*)\uE002([^\uE003]*)\uE003/g;

function mark(prefix: string, name: string, expr: string): string {
  return `\uE000${prefix}\uE001${name}\uE002${expr}\uE003`;
}

interface Slot {
  prefix: string;
  name: string;
  expr: string;
  inForward: boolean;
}

interface Draft {
  module: PlannedModule;
  base: string;
  init: string[];
  forward: string[];
  key: string;
  slots: Slot[];
}

interface Instance {
  className: string;
  args: [string, string][];
}

function slotsOf(lines: string[], inForward: boolean): Slot[] {
  const out: Slot[] = [];
  for (const line of lines) {
    for (const m of line.matchAll(MARK)) out.push({ prefix: m[1], name: m[2], expr: m[3], inForward });
  }
  return out;
}

function listPaths(paths: string[]): string {
  const shown = paths.slice(0, 6).map((p) => (p === "" ? "(root)" : p));
  return paths.length > 6 ? `${shown.join(", ")} and ${paths.length - 6} more` : shown.join(", ");
}

/** A prefix for the literals of a child attribute ("branch1_", "block0_" for "0"). */
function attrPrefix(segment: string): string {
  const base = segment.replace(/[^A-Za-z0-9_]/g, "_");
  return /^[0-9]/.test(base) ? `block${base}_` : `${base}_`;
}

/** Generates every class of the plan, shared and parametrised as the file comment says. */
export function generateClasses(
  graph: Graph,
  plan: ModulePlan,
  ctx: GeneratorContext,
  rootName: string,
): GeneratedClass[] {
  return new ClassGenerator(graph, plan, ctx, rootName).generate();
}

class ClassGenerator {
  private readonly instances = new Map<string, Instance>();
  private readonly taken = new Set<string>();
  private readonly readers = new Map<string, number[]>();
  private readonly outputs: Set<string>;

  constructor(
    private readonly graph: Graph,
    private readonly plan: ModulePlan,
    private readonly ctx: GeneratorContext,
    private readonly rootName: string,
  ) {
    this.taken.add(rootName);
    for (const n of [...RESERVED_CLASS_NAMES, ...MODULE_LEVEL_NAMES]) this.taken.add(n);
    graph.nodes.forEach((node, i) => {
      for (const v of node.inputs) {
        const list = this.readers.get(v);
        if (list === undefined) this.readers.set(v, [i]);
        else list.push(i);
      }
    });
    this.outputs = new Set(graph.outputs);
  }

  generate(): GeneratedClass[] {
    // Heights: a class can be written once the classes of its children are final.
    const height = new Map<string, number>();
    const heightOf = (path: string): number => {
      const known = height.get(path);
      if (known !== undefined) return known;
      const m = this.plan.modules.get(path)!;
      let h = 0;
      for (const c of m.children) {
        if (this.plan.modules.get(c)!.role !== "layer") h = Math.max(h, heightOf(c) + 1);
      }
      height.set(path, h);
      return h;
    };
    const classPaths = [...this.plan.modules.values()].filter((m) => m.role !== "layer").map((m) => m.path);
    for (const p of classPaths) heightOf(p);
    const maxHeight = Math.max(...classPaths.map((p) => height.get(p)!));
    const classes: GeneratedClass[] = [];
    for (let h = 0; h <= maxHeight; h++) {
      const groups = new Map<string, Draft[]>();
      for (const path of classPaths) {
        if (height.get(path) !== h) continue;
        const draft = this.draft(this.plan.modules.get(path)!);
        const key = path === "" ? "\u0000root" : draft.key;
        const group = groups.get(key);
        if (group === undefined) groups.set(key, [draft]);
        else group.push(draft);
      }
      for (const group of groups.values()) classes.push(this.finalize(group));
    }
    return classes;
  }

  // ---------------------------------------------------------------- drafts

  private draft(m: PlannedModule): Draft {
    const base = this.baseClass(m);
    const init = this.initLines(m);
    const forward = m.role === "root" || m.role === "scope" ? this.forwardLines(m) : [];
    const blank = (line: string) =>
      line.replace(MARK, (_all, p: string, n: string) => `\uE000${p}${n}\uE003`);
    const key = [base, ...init.map(blank), ...forward.map(blank)].join("\n");
    return {
      module: m,
      base,
      init,
      forward,
      key,
      slots: [...slotsOf(init, false), ...slotsOf(forward, true)],
    };
  }

  private litFor(prefix: string): OpContext["lit"] {
    return (name: string, expr: string) => mark(prefix, name, expr);
  }

  private baseClass(m: PlannedModule): string {
    if (m.selfLayer === undefined) return "Block";
    const cls = layerClass(m.selfLayer, this.ctx);
    const names = [...m.children.map((c) => c.slice(c.lastIndexOf(".") + 1)), ...m.raw.map((r) => r.attr)];
    return names.every(isPlainIdentifier) ? cls : `Block, ${cls}`;
  }

  private initLines(m: PlannedModule): string[] {
    const lines: string[] = [];
    lines.push(
      m.selfLayer !== undefined
        ? `super().__init__(${layerArgs(m.selfLayer, this.litFor("")).join(", ")})`
        : "super().__init__()",
    );
    for (const child of m.children) {
      const c = this.plan.modules.get(child)!;
      const lit = this.litFor(attrPrefix(c.segment));
      let value: string;
      if (c.role === "layer") {
        value = layerConstructor(c.layer!, { use: this.ctx.use, lit });
      } else {
        const inst = this.instances.get(child)!;
        value = `${inst.className}(${inst.args.map(([p, v]) => `${p}=${lit(p, v)}`).join(", ")})`;
      }
      lines.push(
        isPlainIdentifier(c.segment)
          ? `self.${c.segment} = ${value}`
          : `self.add_module(${pyStr(c.segment)}, ${value})`,
      );
    }
    const order = Object.keys(this.graph.params);
    const raws = [...m.raw].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
    for (const r of raws) lines.push(this.rawLine(r));
    return lines;
  }

  private rawLine(r: PlannedModule["raw"][number]): string {
    const shape = r.info.shape;
    if (r.info.kind === "buffer") {
      let init = `torch.zeros(${pyList(shape)})`;
      if (r.use?.role === "runningVar") init = `torch.ones(${pyList(shape)})`;
      if (r.use?.role === "numBatchesTracked") init = "torch.tensor(0, dtype=torch.long)";
      return `self.register_buffer(${pyStr(r.attr)}, ${init})`;
    }
    let value: string;
    const node = r.use?.node;
    const role = r.use?.role;
    const convLike = node?.op === "conv2d" || node?.op === "deformConv2d" || node?.op === "linear";
    if (convLike && role === "weight") {
      this.ctx.use("new_weight");
      value = `new_weight(${shape.map(pyNum).join(", ")})`;
    } else if (convLike && role === "bias") {
      this.ctx.use("new_bias");
      const fanIn =
        node.op === "linear"
          ? node.attrs.inFeatures
          : (node.attrs.inChannels / node.attrs.groups) * node.attrs.kernelSize[0] * node.attrs.kernelSize[1];
      value = `new_bias(${pyNum(shape[0])}, ${pyNum(fanIn)})`;
    } else if (node?.op === "batchNorm2d" && role === "weight") {
      value = `nn.Parameter(torch.ones(${pyList(shape)}))`;
    } else {
      value = `nn.Parameter(torch.zeros(${pyList(shape)}))`;
    }
    return isPlainIdentifier(r.attr)
      ? `self.${r.attr} = ${value}`
      : `self.register_parameter(${pyStr(r.attr)}, ${value})`;
  }

  private forwardLines(m: PlannedModule): string[] {
    const g = this.graph;
    const nodes = g.nodes;
    const run = m.run!;

    // Items: nodes running here, and calls of callable child scopes (one per contiguous run).
    type Item = { inputs: string[]; outputs: string[]; node?: Node; call?: string };
    const items: Item[] = [];
    for (let i = run.start; i <= run.end; i++) {
      const exec = this.plan.execPath[i];
      if (exec === m.path) {
        items.push({ inputs: nodes[i].inputs, outputs: nodes[i].outputs, node: nodes[i] });
        continue;
      }
      const target = this.childScope(m.path, exec);
      const r = this.plan.modules.get(target)!.run!;
      const { inputs, outputs } = this.signature(r);
      items.push({ inputs, outputs, call: target });
      i = r.end;
    }

    const { inputs, outputs } =
      m.role === "root" ? { inputs: g.inputs.map((v) => v.name), outputs: g.outputs } : this.signature(run);
    const vars = new Map<string, string>();
    const taken = new Set<string>(MODULE_LEVEL_NAMES);
    const fresh = (base: string): string => {
      let name = /^[A-Z]/.test(base) ? `v_${base}` : base;
      const stem = name;
      for (let k = 2; taken.has(name); k++) name = `${stem}_${k}`;
      taken.add(name);
      return name;
    };
    inputs.forEach((v, k) => {
      let base = inputs.length === 1 ? "x" : `x${k}`;
      if (m.role === "root" && inputs.length > 1) base = variableBase(v, "input");
      vars.set(v, fresh(base));
    });

    // Last item reading each value (or defining it, when nothing reads it): values are released after it.
    const lastUse = new Map<string, number>();
    items.forEach((item, k) => {
      for (const v of item.outputs) lastUse.set(v, k);
      for (const v of item.inputs) lastUse.set(v, k);
    });
    const keep = new Set([...inputs, ...outputs]);

    const lines = [`def forward(self, ${inputs.map((v) => vars.get(v)!).join(", ")}):`];
    items.forEach((item, k) => {
      const args = item.inputs.map((v) => {
        const name = vars.get(v);
        if (name === undefined)
          throw new ArgumentError(
            `exportPytorch: value "${v}" is read before it is defined in ${m.path || "the root"}`,
          );
        return name;
      });
      let outs: string[];
      let expr: string;
      if (item.node !== undefined) {
        const node = item.node;
        outs = node.outputs.map((v) => fresh(this.variableFor(m.path, node, v)));
        const ctx: OpContext = { rank: this.ctx.rank, use: this.ctx.use, lit: this.litFor(`${outs[0]}_`) };
        expr = nodeExpression(node, args, this.layerAccess(m, node), ctx);
      } else {
        const rel = item.call!.slice(m.path === "" ? 0 : m.path.length + 1);
        const base = variableBase(rel, "block");
        outs = item.outputs.map((_, j) => fresh(item.outputs.length === 1 ? base : `${base}_${j}`));
        expr = `${this.moduleExpr(m.path, item.call!)}(${args.join(", ")})`;
      }
      item.outputs.forEach((v, j) => {
        vars.set(v, outs[j]);
      });
      const target = item.node?.op === "split" && outs.length === 1 ? `${outs[0]},` : outs.join(", ");
      let line = `    ${target} = ${expr}`;
      if (k < items.length - 1) {
        const dead = [...new Set([...item.inputs, ...item.outputs])].filter(
          (v) => lastUse.get(v) === k && !keep.has(v),
        );
        if (dead.length > 0) line += `;  del ${dead.map((v) => vars.get(v)!).join(", ")}`;
      }
      lines.push(line);
    });
    lines.push(`    return ${outputs.map((v) => vars.get(v)!).join(", ")}`);
    return lines;
  }

  /** The shallowest callable scope strictly under `parent` on the way to `exec`. */
  private childScope(parent: string, exec: string): string {
    const rest = exec.slice(parent === "" ? 0 : parent.length + 1).split(".");
    let path = parent;
    for (const seg of rest) {
      path = path === "" ? seg : `${path}.${seg}`;
      const m = this.plan.modules.get(path);
      if (m !== undefined && m.role === "scope") return path;
    }
    throw new ArgumentError(`exportPytorch: no module runs scope "${exec}"`);
  }

  /** Values flowing into a run (read, not defined there) and out of it (read later, or graph outputs). */
  private signature(run: { start: number; end: number }): { inputs: string[]; outputs: string[] } {
    const nodes = this.graph.nodes;
    const defined = new Set<string>();
    const inputs: string[] = [];
    for (let i = run.start; i <= run.end; i++) {
      for (const v of nodes[i].inputs) if (!defined.has(v) && !inputs.includes(v)) inputs.push(v);
      for (const v of nodes[i].outputs) defined.add(v);
    }
    const outputs: string[] = [];
    for (let i = run.start; i <= run.end; i++) {
      for (const v of nodes[i].outputs) {
        const readLater = (this.readers.get(v) ?? []).some((r) => r > run.end);
        if (readLater || this.outputs.has(v)) outputs.push(v);
      }
    }
    return { inputs, outputs };
  }

  private variableFor(path: string, node: Node, value: string): string {
    const local =
      path !== "" && node.name.startsWith(`${path}.`) ? node.name.slice(path.length + 1) : node.name;
    const k = node.outputs.length > 1 ? node.outputs.indexOf(value) : -1;
    return variableBase(k >= 0 ? `${local}_${k}` : local, OP_SHORT[node.op]);
  }

  /** `self`, `self.layer1[0].conv1`... from the class at `from` to the module at `to` (under it). */
  private moduleExpr(from: string, to: string): string {
    if (to === from) return "self";
    const rest = to.slice(from === "" ? 0 : from.length + 1);
    return rest.split(".").reduce((expr, seg) => attributeAccess(expr, seg), "self");
  }

  private layerAccess(m: PlannedModule, node: Node): LayerAccess | null {
    const refs = this.plan.paramRefs.get(node)!;
    if (Object.keys(refs).length === 0) return null;
    const owner = this.plan.ownerOf.get(node);
    if (owner !== undefined) {
      const o = this.plan.modules.get(owner)!;
      if (o.role === "layer") return { kind: "module", expr: this.moduleExpr(m.path, owner) };
      if (o.selfLayer !== undefined && owner === m.path) return { kind: "self" };
    }
    return {
      kind: "raw",
      param: (role: ParamRole) => {
        const ref = refs[role];
        if (ref === undefined)
          throw new ArgumentError(`exportPytorch: ${nodeLabel(node)}: no parameter for role ${role}`);
        if (!within(ref.holder, m.path))
          throw new ArgumentError(
            `exportPytorch: ${nodeLabel(node)}: parameter of role ${role} lives outside ${m.path}`,
          );
        return attributeAccess(this.moduleExpr(m.path, ref.holder), ref.attr);
      },
    };
  }

  // ---------------------------------------------------------------- classes

  private finalize(group: Draft[]): GeneratedClass {
    const first = group[0];
    const m = first.module;
    const name = m.path === "" ? this.rootName : this.allocate(this.baseName(m));

    // Literals that differ between the members become arguments; equal value vectors share one argument.
    const count = first.slots.length;
    const vectors = Array.from({ length: count }, (_, i) => group.map((d) => d.slots[i].expr));
    const paramOf: (number | null)[] = [];
    const params: { short: string; full: string; vector: string[]; inForward: boolean }[] = [];
    const byVector = new Map<string, number>();
    for (let i = 0; i < count; i++) {
      const vector = vectors[i];
      if (vector.every((v) => v === vector[0])) {
        paramOf.push(null);
        continue;
      }
      const key = JSON.stringify(vector);
      let index = byVector.get(key);
      if (index === undefined) {
        const s = first.slots[i];
        index = params.length;
        byVector.set(key, index);
        params.push({ short: s.name, full: `${s.prefix}${s.name}`, vector, inForward: false });
      }
      if (first.slots[i].inForward) params[index].inForward = true;
      paramOf.push(index);
    }
    // Short names where unambiguous, else prefixed; never a name the class body uses otherwise.
    const reserved = new Set([...MODULE_LEVEL_NAMES, ...this.taken, "x"]);
    const names: string[] = [];
    for (const p of params) {
      const shortUnique = params.filter((q) => q.short === p.short).length === 1;
      let n = shortUnique ? p.short : p.full;
      if (!isPlainIdentifier(n) || reserved.has(n)) n = `${n}_`;
      while (names.includes(n)) n = `${n}_`;
      names.push(n);
    }
    // Arguments used in forward are kept as attributes, clear of submodules, parameters and torch's own names.
    const occupied = new Set([
      ...m.children.map((c) => c.slice(c.lastIndexOf(".") + 1)),
      ...m.raw.map((r) => r.attr),
      ...(m.selfLayer !== undefined && m.selfLayer.op !== "constant" ? LAYER_ATTRS[m.selfLayer.op] : []),
    ]);
    const attrs = names.map((n, i) => {
      if (!params[i].inForward) return null;
      let a = n;
      while (occupied.has(a) || MODULE_ATTRIBUTES.has(a)) a = `${a}_value`;
      occupied.add(a);
      return a;
    });

    let slot = 0;
    const fill = (line: string, inForward: boolean): string =>
      line.replace(MARK, (_all, _p: string, _n: string, expr: string) => {
        const index = paramOf[slot++];
        if (index === null) return expr;
        return inForward ? `self.${attrs[index]}` : names[index];
      });
    const init = first.init.map((l) => fill(l, false));
    const forward = first.forward.map((l) => fill(l, true));
    const body: string[] = [
      `    def __init__(self${names.map((n) => `, ${n}`).join("")}):`,
      `        ${init[0]}`,
    ];
    attrs.forEach((a, i) => {
      if (a !== null) body.push(`        self.${a} = ${names[i]}`);
    });
    for (const l of init.slice(1)) body.push(`        ${l}`);
    if (forward.length > 0) body.push("", ...forward.map((l) => `    ${l}`));

    const paths = group.map((d) => d.module.path);
    group.forEach((d, k) => {
      this.instances.set(d.module.path, {
        className: name,
        args: names.map((n, i) => [n, params[i].vector[k]] as [string, string]),
      });
    });
    const text = [`class ${name}(${first.base}):`, `    """${this.docOf(m, paths)}"""`, "", ...body].join(
      "\n",
    );
    return { name, paths, params: names, text };
  }

  private allocate(base: string): string {
    let name = base;
    // "Bottleneck2", but "Branch2_2" (not "Branch22") after a name ending in a digit.
    const sep = /[0-9]$/.test(base) ? "_" : "";
    for (let i = 2; this.taken.has(name); i++) name = `${base}${sep}${i}`;
    this.taken.add(name);
    return name;
  }

  private baseName(m: PlannedModule): string {
    let name = "";
    if (m.kind !== undefined) name = pascalCase(m.kind);
    if (name === "" && !/^[0-9]+$/.test(m.segment)) name = pascalCase(m.segment);
    if (name === "") {
      const parent = m.path.includes(".") ? m.path.slice(0, m.path.lastIndexOf(".")) : "";
      const above = parent === "" ? "" : pascalCase(parent.slice(parent.lastIndexOf(".") + 1));
      name = `${above || "Module"}Item`;
    }
    if (/^M[0-9]/.test(name) && m.kind === undefined) name = `Module${name.slice(1)}`;
    return RESERVED_CLASS_NAMES.has(name) ? `${name}Block` : name;
  }

  private docOf(m: PlannedModule, paths: string[]): string {
    const g = this.graph;
    if (m.role === "root") {
      const input = g.inputs.map((i) => `${i.name} [${i.shape.join(", ")}]`).join(", ");
      return `convkit graph ${pyStr(g.name).slice(1, -1)}: ${g.nodes.length} nodes; input ${input}.`;
    }
    if (m.role === "container") {
      return `Holds the parameters under ${listPaths(paths)}; its layers run in the enclosing module's forward.`;
    }
    const kind = m.kind !== undefined ? `convkit block "${m.kind}"` : "convkit scope";
    return `The ${kind} at ${listPaths(paths)}.`;
  }
}
