import type { Node } from "../graph/types.js";
import { OP_NAMES } from "../graph/types.js";
import { ArgumentError } from "../tensor/errors.js";

/**
 * The `--where` selector: which nodes a rule is asked to rewrite.
 *
 * A selector is a conjunction of clauses `key op value`, separated by `,`, `&&`, `&` or the word `and`:
 *
 *     kernel>=5, op=conv2d, scope=stage2.*, channels>=64, stride=1, groups=1, stage=2
 *
 * Keys (a node without the property never matches a clause on it):
 * - `op`: the node's op (`conv2d`, `maxPool2d`...); `name`, `scope`: globs on the node name and its scope path
 *   (`*` any run of characters, dots included; `?` one character). Only `=` and `!=` apply to these.
 * - `kernel` (largest of kH, kW; `kernel=1x7` compares both), `kh`, `kw`, `stride` (largest), `dilation`
 *   (largest), `groups`: of convolutions and pools;
 * - `cin`, `cout`: a conv's in/out channels (a linear layer's features, a batch norm's features for both);
 *   `channels`: both cin and cout satisfy the comparison;
 * - `size`: height of the node's first input (spatial resolution);
 * - `stage`: N from the first scope segment named `stageN` or `layerN` (torchvision's ResNet), e.g. `stage=2`.
 *
 * Numbers compare with `=`, `!=`, `<`, `<=`, `>`, `>=`. Errors name the clause and the bad token.
 */

type Cmp = "=" | "!=" | "<" | "<=" | ">" | ">=";

interface Clause {
  key: string;
  cmp: Cmp;
  /** Number, glob text or op name. */
  value: number | string;
  /** For `kernel=AxB`. */
  pair?: [number, number];
  text: string;
}

/** A parsed selector: a predicate over nodes (the context gives shapes for `size`). */
export interface Selector {
  /** The text it was parsed from ("" selects everything). */
  readonly text: string;
  matches(node: Node, context?: SelectorContext): boolean;
}

export interface SelectorContext {
  /** Value shapes (batch included), for `size`. */
  shapes?: ReadonlyMap<string, readonly number[]>;
}

const STRING_KEYS = ["op", "name", "scope"] as const;
const NUMBER_KEYS = [
  "kernel",
  "kh",
  "kw",
  "stride",
  "dilation",
  "groups",
  "cin",
  "cout",
  "channels",
  "size",
  "stage",
] as const;
/** Every key the selector language knows, for help texts and errors. */
export const WHERE_KEYS: readonly string[] = [...STRING_KEYS, ...NUMBER_KEYS];

const CLAUSE = /^([A-Za-z_][A-Za-z0-9_]*)\s*(==|!=|<=|>=|=|<|>)\s*(.*)$/;

function fail(text: string, clause: string, message: string): never {
  throw new ArgumentError(`where "${text}": clause "${clause}": ${message}`);
}

/** Parses a selector; throws ArgumentError naming the clause and token that do not fit. */
export function parseWhere(text: string): Selector {
  if (typeof text !== "string") {
    throw new ArgumentError(
      `where: expected a selector string like "kernel>=5, op=conv2d", got ${typeof text}`,
    );
  }
  const source = text.trim();
  const clauses: Clause[] = [];
  if (source !== "") {
    const parts = source.split(/\s*(?:,|&&|&|\band\b)\s*/i);
    for (const raw of parts) {
      const part = raw.trim();
      if (part === "") throw new ArgumentError(`where "${text}": empty clause (two separators in a row?)`);
      clauses.push(parseClause(text, part));
    }
  }
  return {
    text: source,
    matches: (node, context) => clauses.every((c) => test(c, node, context)),
  };
}

function parseClause(text: string, part: string): Clause {
  const m = CLAUSE.exec(part);
  if (m === null) {
    const key = /^[A-Za-z_][A-Za-z0-9_]*/.exec(part)?.[0];
    if (key === undefined)
      fail(text, part, `expected a key (one of ${WHERE_KEYS.join(", ")}), got "${part}"`);
    const rest = part.slice(key.length).trim();
    fail(
      text,
      part,
      `expected a comparison (=, !=, <, <=, >, >=) after "${key}", got ${rest === "" ? "nothing" : `"${rest}"`}`,
    );
  }
  const key = m[1].toLowerCase();
  const cmp = (m[2] === "==" ? "=" : m[2]) as Cmp;
  const value = m[3].trim();
  if (!WHERE_KEYS.includes(key)) {
    fail(text, part, `unknown key "${m[1]}" (expected one of ${WHERE_KEYS.join(", ")})`);
  }
  if (value === "") fail(text, part, `expected a value after "${m[1]}${m[2]}", got nothing`);
  if ((STRING_KEYS as readonly string[]).includes(key)) {
    if (cmp !== "=" && cmp !== "!=") fail(text, part, `"${key}" compares with = or != only, got "${m[2]}"`);
    if (key === "op" && !(OP_NAMES as readonly string[]).includes(value)) {
      const near = OP_NAMES.filter((o) => o.toLowerCase().startsWith(value.toLowerCase().slice(0, 4)));
      const hint = near.length > 0 ? `; did you mean ${near.join(" or ")}?` : "";
      fail(text, part, `unknown op "${value}" (expected one of ${OP_NAMES.join(", ")})${hint}`);
    }
    return { key, cmp, value, text: part };
  }
  if (key === "kernel" && /^\d+\s*x\s*\d+$/i.test(value)) {
    if (cmp !== "=" && cmp !== "!=")
      fail(text, part, `"kernel=AxB" compares with = or != only, got "${m[2]}"`);
    const [a, b] = value.split(/\s*x\s*/i).map(Number);
    return { key, cmp, value: Math.max(a, b), pair: [a, b], text: part };
  }
  if (!/^-?\d+$/.test(value)) {
    fail(text, part, `expected an integer after "${m[1]}${m[2]}", got "${value}"`);
  }
  return { key, cmp, value: Number(value), text: part };
}

/** Glob to RegExp: `*` any run (dots included), `?` one character, everything else literal. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (const ch of glob) {
    if (ch === "*") re += ".*";
    else if (ch === "?") re += ".";
    else re += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

function compare(a: number, cmp: Cmp, b: number): boolean {
  switch (cmp) {
    case "=":
      return a === b;
    case "!=":
      return a !== b;
    case "<":
      return a < b;
    case "<=":
      return a <= b;
    case ">":
      return a > b;
    case ">=":
      return a >= b;
  }
}

/** The stage number of a node from its scope ("stage2.block1" or "layer3.0" -> 2 or 3), or null. */
export function stageOf(node: Pick<Node, "scope" | "name">): number | null {
  const path = node.scope !== "" ? node.scope : node.name;
  for (const segment of path.split(".")) {
    const m = /^(?:stage|layer)(\d+)$/.exec(segment);
    if (m !== null) return Number(m[1]);
  }
  return null;
}

function spatial(node: Node): { k: [number, number]; s: [number, number]; d: [number, number] } | null {
  switch (node.op) {
    case "conv2d":
    case "deformConv2d":
      return { k: node.attrs.kernelSize, s: node.attrs.stride, d: node.attrs.dilation };
    case "maxPool2d":
      return { k: node.attrs.kernelSize, s: node.attrs.stride, d: node.attrs.dilation };
    case "avgPool2d":
      return { k: node.attrs.kernelSize, s: node.attrs.stride, d: [1, 1] };
    default:
      return null;
  }
}

function channels(node: Node): { cin: number; cout: number } | null {
  switch (node.op) {
    case "conv2d":
    case "deformConv2d":
      return { cin: node.attrs.inChannels, cout: node.attrs.outChannels };
    case "linear":
      return { cin: node.attrs.inFeatures, cout: node.attrs.outFeatures };
    case "batchNorm2d":
      return { cin: node.attrs.numFeatures, cout: node.attrs.numFeatures };
    default:
      return null;
  }
}

function test(c: Clause, node: Node, context: SelectorContext | undefined): boolean {
  const eq = (ok: boolean): boolean => (c.cmp === "=" ? ok : !ok);
  switch (c.key) {
    case "op":
      return eq(node.op === c.value);
    case "name":
      return eq(globToRegExp(String(c.value)).test(node.name));
    case "scope":
      return eq(globToRegExp(String(c.value)).test(node.scope));
    case "cin":
    case "cout":
    case "channels": {
      const ch = channels(node);
      if (ch === null) return false;
      const v = c.value as number;
      if (c.key === "cin") return compare(ch.cin, c.cmp, v);
      if (c.key === "cout") return compare(ch.cout, c.cmp, v);
      return compare(ch.cin, c.cmp, v) && compare(ch.cout, c.cmp, v);
    }
    case "groups":
      if (node.op !== "conv2d" && node.op !== "deformConv2d") return false;
      return compare(node.attrs.groups, c.cmp, c.value as number);
    case "size": {
      const shape = context?.shapes?.get(node.inputs[0] ?? "");
      if (shape === undefined || shape.length < 3) return false;
      return compare(shape[2], c.cmp, c.value as number);
    }
    case "stage": {
      const stage = stageOf(node);
      return stage !== null && compare(stage, c.cmp, c.value as number);
    }
    default: {
      const sp = spatial(node);
      if (sp === null) return false;
      if (c.pair !== undefined) return eq(sp.k[0] === c.pair[0] && sp.k[1] === c.pair[1]);
      const v = c.value as number;
      switch (c.key) {
        case "kernel":
          return compare(Math.max(...sp.k), c.cmp, v);
        case "kh":
          return compare(sp.k[0], c.cmp, v);
        case "kw":
          return compare(sp.k[1], c.cmp, v);
        case "stride":
          return compare(Math.max(...sp.s), c.cmp, v);
        case "dilation":
          return compare(Math.max(...sp.d), c.cmp, v);
        default:
          return false;
      }
    }
  }
}
