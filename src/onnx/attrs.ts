import { FormatError } from "../tensor/errors.js";
import { AttrType, type OnnxAttribute, type OnnxNode } from "./proto.js";

/**
 * Typed access to a node's attributes, with ONNX's defaults given by the caller and errors that name the
 * node, the attribute, what was expected and what the file holds.
 */

/** `Conv node "/layer1/conv/Conv"` (or the op type and index when the node has no name). */
export function onnxLabel(node: OnnxNode): string {
  return `${node.opType} node ${JSON.stringify(node.name)}`;
}

function bad(node: OnnxNode, name: string, expected: string, got: string): never {
  throw new FormatError(`${onnxLabel(node)}: attribute ${name}: expected ${expected}, got ${got}`);
}

function get(node: OnnxNode, name: string, types: readonly number[]): OnnxAttribute | undefined {
  const a = node.attributes.get(name);
  if (a === undefined) return undefined;
  if (a.refAttrName !== "")
    bad(node, name, "a value", `a reference to function attribute "${a.refAttrName}"`);
  // IR 1 files may omit the type; accept them when the value field says which it is.
  if (a.type !== 0 && !types.includes(a.type)) bad(node, name, `type ${types.join("/")}`, `type ${a.type}`);
  return a;
}

export function attrInt(node: OnnxNode, name: string, fallback: number): number {
  const a = get(node, name, [AttrType.INT]);
  if (a === undefined) return fallback;
  if (a.i === null) return 0; // proto3-style writers omit zero
  if (!Number.isFinite(a.i)) bad(node, name, "an integer", String(a.i));
  return a.i;
}

export function attrFloat(node: OnnxNode, name: string, fallback: number): number {
  const a = get(node, name, [AttrType.FLOAT]);
  if (a === undefined) return fallback;
  return a.f ?? 0;
}

export function attrInts(node: OnnxNode, name: string): number[] | undefined {
  const a = get(node, name, [AttrType.INTS]);
  return a === undefined ? undefined : [...a.ints];
}

export function attrString(node: OnnxNode, name: string, fallback: string): string {
  const a = get(node, name, [AttrType.STRING]);
  if (a === undefined || a.s === null) return fallback;
  return new TextDecoder().decode(a.s);
}

/** Checks that an ints attribute has `n` entries (when present) and returns it or the default. */
export function attrIntsOf(node: OnnxNode, name: string, n: number, fallback: number[]): number[] {
  const v = attrInts(node, name);
  if (v === undefined) return fallback;
  if (v.length !== n) bad(node, name, `${n} integers`, `[${v.join(", ")}]`);
  return v;
}
