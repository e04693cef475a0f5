import type { OnnxNode } from "./proto.js";

/**
 * Node names and scopes for imported graphs, recovered from what exporters leave in the file:
 *
 * - PyTorch (1.13+) names nodes after the module path: `/layer1/layer1.0/conv1/Conv` is op Conv in module
 *   `layer1.0.conv1`. Segments are either a full dotted path (`layer1.0`) or a child name (`conv1`);
 *   `modulePath` joins them into the state_dict-style path.
 * - Parameters keep their state_dict names (`layer1.0.conv1.weight`), the most reliable source: a node that
 *   reads a weight named `P.weight` is named `P`.
 * - A module path that contains other modules (`layer1.0`) is a *container*: functional ops called in its
 *   forward (the residual Add) are named `layer1.0.add` rather than taking the block's own name.
 */

/** Segments of a PyTorch-style node name, or null when the name is not of that form. */
function torchSegments(name: string): string[] | null {
  if (!name.startsWith("/")) return null;
  const parts = name.slice(1).split("/");
  return parts.length >= 1 && parts.every((p) => p.length > 0) ? parts : null;
}

/** `layer1.0.conv1` for `/layer1/layer1.0/conv1/Conv`; "" for `/Add`; null when not PyTorch-style. */
export function modulePath(name: string): string | null {
  const parts = torchSegments(name);
  if (parts === null) return null;
  let path = "";
  for (const seg of parts.slice(0, -1)) {
    if (path === "" || seg === path || seg.startsWith(`${path}.`)) path = seg;
    else path = `${path}.${seg}`;
  }
  return path;
}

/** The op part of a PyTorch-style name, lower-cased (`Add_1` -> `add_1`); null when not PyTorch-style. */
export function opSegment(name: string): string | null {
  const parts = torchSegments(name);
  return parts === null ? null : parts[parts.length - 1].toLowerCase();
}

/** Module paths that contain other nodes' module paths. */
export function containerPaths(nodes: readonly OnnxNode[]): Set<string> {
  const paths = new Set<string>();
  for (const n of nodes) {
    const p = modulePath(n.name);
    if (p !== null && p !== "") paths.add(p);
  }
  const containers = new Set<string>();
  for (const p of paths) {
    let cut = p.lastIndexOf(".");
    while (cut > 0) {
      const parent = p.slice(0, cut);
      if (paths.has(parent)) containers.add(parent);
      cut = parent.lastIndexOf(".");
    }
  }
  return containers;
}

const PARAM_SUFFIXES = [".weight", ".bias", ".running_mean", ".running_var", ".num_batches_tracked"];

/** Whether an initializer name is a readable state_dict-style name (not `onnx::Conv_123` or `123`). */
export function isReadableParamName(name: string | null): name is string {
  if (name === null || name.length === 0 || name.includes("::") || name.includes("/")) return false;
  return /^[A-Za-z_]/.test(name);
}

/** `layer1.0.conv1` for `layer1.0.conv1.weight`; null when the name does not end in a parameter suffix. */
export function paramPrefix(name: string | null): string | null {
  if (!isReadableParamName(name)) return null;
  for (const s of PARAM_SUFFIXES)
    if (name.endsWith(s) && name.length > s.length) return name.slice(0, -s.length);
  return null;
}

/** Scope of a node name: everything before the last dot. */
export function scopeOf(name: string): string {
  const cut = name.lastIndexOf(".");
  return cut < 0 ? "" : name.slice(0, cut);
}

/** Makes a name usable as a graph node name (non-empty; PyTorch-style slashes become dots). */
export function sanitize(name: string): string {
  const s = name
    .replace(/^\/+/, "")
    .replace(/\//g, ".")
    .replace(/\.{2,}/g, ".")
    .replace(/\.$/, "");
  return s.length > 0 ? s : "node";
}
