import type { Node } from "../../graph/types.js";
import type { GraphEdit } from "../surgery.js";
import type { Rule } from "../types.js";
import { ACTIVATION_OPS, isConv, unitOf } from "../units.js";
import { perNode, refuse } from "./helpers.js";

/**
 * shuffle: a channel shuffle (ShuffleNet) after a grouped conv's unit (conv -> bn -> act -> shuffle), so that the
 * next grouped conv sees channels from every group.
 *
 * channelShuffle(x, g) puts input channel src(j) = (j mod g)·(C/g) + floor(j/g) at position j. Between the
 * shuffle and the convs it feeds, channel-wise ops (activations, pools, dropout) pass the permutation through and
 * batch norms get their parameters permuted. Each conv it reaches then:
 * - groups 1: its input-channel weights are permuted the same way: W'[:, j] = W[:, src(j)]: exactly the old
 *   function;
 * - grouped (the usual case, and the point of the shuffle): keeps its weights; each of its groups now reads
 *   channels from all groups, so the function changes ("kept"); retrain.
 * The shuffle must reach convs only: a path into an add, concat, flatten or graph output is refused (those would
 * mix shuffled and unshuffled channels).
 */
export const shuffle: Rule = {
  name: "shuffle",
  family: "channels",
  description:
    "channel shuffle after a grouped conv (ShuffleNet), so that the next grouped conv mixes groups",
  carry: "kept",
  exactness:
    "exact for readers that are full convs (their input channels are permuted to match); grouped readers keep their weights and the function changes (retrain)",
  options: {
    groups: {
      type: "integer",
      default: null,
      nullable: true,
      min: 2,
      description: "shuffle groups (default: the conv's groups)",
    },
  },
  ops: ["conv2d"],
  defaultWhere: "groups>=2",
  run(edit, selected, options) {
    return perNode(edit, selected, (node) => {
      if (!isConv(node)) return null;
      const g = (options.groups as number | null) ?? node.attrs.groups;
      if (node.attrs.groups < 2 && options.groups === null) {
        return refuse(
          "shuffle",
          `needs a grouped conv (groups>=2) or the groups option, got groups=${node.attrs.groups}`,
        );
      }
      const unit = unitOf(edit, node);
      const u = unit.output;
      const channels = edit.shape(u)[1];
      if (channels % g !== 0) return refuse("shuffle", `needs ${channels} channels divisible by groups ${g}`);
      if (edit.isOutput(u))
        return refuse("shuffle", `needs a unit whose output feeds convs, got a graph output ${u}`);
      const walk = reachedBy(edit, u);
      if (typeof walk === "string") return refuse("shuffle", walk);
      if (walk.convs.length === 0)
        return refuse("shuffle", `needs the unit output ${u} to feed at least one conv, got none`);
      const src = Int32Array.from(
        { length: channels },
        (_, j) => (j % g) * (channels / g) + Math.floor(j / g),
      );
      const scope = node.scope;
      edit.at(edit.producer(u)!.name, "after");
      const [s] = edit.add(
        "channelShuffle",
        [u],
        { groups: g },
        { name: edit.fresh(scope, "shuffle"), scope },
      );
      edit.rewire(u, s, { except: [s] });
      for (const bn of walk.norms) {
        for (const role of ["weight", "bias", "runningMean", "runningVar"] as const) {
          const data = edit.nodeParam(bn, role);
          if (data !== null)
            edit.setParam((bn.params as Record<string, string>)[role], permute(data, src, 1, 1));
        }
      }
      let kept = 0;
      for (const conv of walk.convs) {
        const a = conv.attrs;
        const dense = a.groups === 1 && (conv.op === "conv2d" || conv.attrs.offsetGroups === 1);
        if (!dense) {
          kept++;
          continue;
        }
        const w = edit.nodeParam(conv, "weight");
        if (w !== null) {
          edit.setParam(
            conv.params.weight,
            permute(w, src, a.outChannels, a.kernelSize[0] * a.kernelSize[1]),
          );
        }
      }
      const first = walk.convs[0];
      return {
        node: node.name,
        oldNodes: [...walk.norms.map((n) => n.name), ...walk.convs.map((c) => c.name)],
        newNodes: [s, ...walk.norms.map((n) => n.name), ...walk.convs.map((c) => c.name)],
        carry: kept === 0 ? "exact" : "kept",
        detail: `shuffle(${g}) on ${channels} channels; ${walk.convs.length - kept} full conv(s) permuted to match, ${kept} grouped conv(s) keep their weights (now mixing groups)`,
        compare: { old: first.outputs[0], new: first.outputs[0], inputs: [u] },
      };
    });
  },
};

/** Ops a channel permutation passes through unchanged (they act on each channel alone). */
const CHANNELWISE: readonly string[] = [
  ...ACTIVATION_OPS,
  "dropout",
  "identity",
  "maxPool2d",
  "avgPool2d",
  "adaptiveAvgPool2d",
  "adaptiveMaxPool2d",
];

type ConvNode = Extract<Node, { op: "conv2d" | "deformConv2d" }>;

/** The batch norms and convs a shuffled `u` would reach, or why it cannot be shuffled. */
function reachedBy(
  edit: GraphEdit,
  u: string,
): { norms: Extract<Node, { op: "batchNorm2d" }>[]; convs: ConvNode[] } | string {
  const norms: Extract<Node, { op: "batchNorm2d" }>[] = [];
  const convs: ConvNode[] = [];
  const seen = new Set<string>();
  const queue = [u];
  while (queue.length > 0) {
    const v = queue.shift()!;
    if (v !== u && edit.isOutput(v))
      return `needs the shuffled channels to reach convs only, got graph output ${v}`;
    for (const r of edit.readers(v)) {
      if (seen.has(r.name)) continue;
      seen.add(r.name);
      if (
        (r.op === "conv2d" || r.op === "deformConv2d") &&
        r.inputs[0] === v &&
        !r.inputs.slice(1).includes(v)
      ) {
        convs.push(r);
      } else if (r.op === "batchNorm2d") {
        norms.push(r);
        queue.push(r.outputs[0]);
      } else if (CHANNELWISE.includes(r.op)) {
        queue.push(r.outputs[0]);
      } else {
        return `needs the shuffled channels to reach convs only, got ${r.op} node ${r.name} (it would mix shuffled and unshuffled channels)`;
      }
    }
  }
  return { norms, convs };
}

/** Permutes axis 1 of a [rows, channels, inner] array: out[:, j] = data[:, src[j]]. */
function permute(data: Float32Array, src: Int32Array, rows: number, inner: number): Float32Array {
  const channels = src.length;
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < channels; j++) {
      const from = (r * channels + src[j]) * inner;
      out.set(data.subarray(from, from + inner), (r * channels + j) * inner);
    }
  }
  return out;
}
