import { own } from "../graph/own.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import type { Analysis, ReceptiveField } from "./types.js";

/**
 * The per-scope collapsed view: consecutive layers grouped by the first `depth` segments of their scope path
 * (depth 1 = top-level blocks such as "layer1", depth 2 = "layer1.0"...), costs summed. For big models.
 */

export interface ScopeGroup {
  /** The scope prefix, or the node's own name for a node whose scope is shallower than `depth`. */
  name: string;
  /** The scope's kind from `graph.scopes` ("basicBlock"), else the op of a single node, else "". */
  kind: string;
  /** Number of nodes in the group. */
  nodes: number;
  /** Output shape of the group's last node. */
  outputShape: number[];
  /** Trainable parameters, shared ones counted once (so groups add up to the totals). */
  params: number;
  /** Buffer elements, shared ones counted once. */
  buffers: number;
  macs: number;
  flops: number;
  activationBytes: number;
  /** Field at the group's last node. */
  receptiveField: ReceptiveField | null;
}

/** The group key of a node: its scope cut to `depth` segments, or its own name when the scope is shallower. */
export function groupKey(name: string, scope: string, depth: number): string {
  const parts = scope === "" ? [] : scope.split(".");
  return parts.length >= depth ? parts.slice(0, depth).join(".") : name;
}

/**
 * Groups layers by scope prefix of `depth` segments (a positive integer), in order of first appearance. The
 * groups' params, buffers, MACs and FLOPs add up to the totals.
 */
export function collapseByScope(analysis: Analysis, depth: number): ScopeGroup[] {
  if (!Number.isSafeInteger(depth) || depth < 1) {
    throw new ArgumentError(describe("collapseByScope", "depth", "a positive integer", depth));
  }
  const groups = new Map<string, ScopeGroup>();
  for (const layer of analysis.layers) {
    const key = groupKey(layer.name, layer.scope, depth);
    let g = groups.get(key);
    if (g === undefined) {
      g = {
        name: key,
        kind: own(analysis.scopes, key) ?? "",
        nodes: 0,
        outputShape: [],
        params: 0,
        buffers: 0,
        macs: 0,
        flops: 0,
        activationBytes: 0,
        receptiveField: null,
      };
      groups.set(key, g);
    }
    g.nodes++;
    // A shared parameter counts in the group of the first node that uses it.
    g.params += layer.params - layer.sharedParams;
    g.buffers += layer.buffers - layer.sharedBuffers;
    g.macs += layer.macs;
    g.flops += layer.flops;
    g.activationBytes += layer.activationBytes;
    g.outputShape = [...layer.outputShape];
    g.receptiveField = layer.receptiveField;
    if (g.nodes === 1 && g.kind === "" && key === layer.name) g.kind = layer.op;
  }
  return [...groups.values()];
}
