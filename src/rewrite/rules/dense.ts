import type { GraphEdit } from "../surgery.js";
import type { Rule } from "../types.js";
import { isConv, localName, unitOf } from "../units.js";
import { perNode, refuse } from "./helpers.js";

/**
 * dense: a conv reads, besides its input, the outputs of earlier conv units at the same resolution, concatenated
 * on the channel axis (DenseNet's "each layer sees all earlier feature maps"): x' = concat([x, f1, f2, ...]).
 * The conv's weight grows by zero columns for the new input channels, so it starts as the old function (exact);
 * training then learns to use them. Cost: the conv's parameters and MACs grow by the added channels' share.
 */
export const dense: Rule = {
  name: "dense",
  family: "connections",
  description: "concatenate earlier same-size feature maps into a conv's input (DenseNet), zero-initialised",
  carry: "exact",
  exactness: "always: the weights for the added input channels start at zero",
  options: {
    window: {
      type: "integer",
      default: null,
      nullable: true,
      min: 1,
      description: "at most this many earlier feature maps, the nearest first (default: all)",
    },
  },
  ops: ["conv2d"],
  defaultWhere: "op=conv2d",
  run(edit, selected, options) {
    const window = options.window as number | null;
    return perNode(edit, selected, (node) => {
      if (!isConv(node)) return null;
      const a = node.attrs;
      if (a.groups !== 1)
        return refuse("dense", `needs groups=1 (added channels would cross groups), got ${a.groups}`);
      const x = node.inputs[0];
      const xs = edit.shape(x);
      const after = downstreamOf(edit, node.outputs[0]);
      const here = edit.indexOf(node.name);
      const found: string[] = [];
      for (let i = here - 1; i >= 0; i--) {
        const p = edit.nodeList[i];
        if (p.op !== "conv2d" && p.op !== "deformConv2d") continue;
        const out = unitOf(edit, p).output;
        if (out === x || found.includes(out) || after.has(out)) continue;
        const s = edit.shape(out);
        if (s[2] !== xs[2] || s[3] !== xs[3]) continue;
        found.push(out);
        if (window !== null && found.length >= window) break;
      }
      if (found.length === 0) {
        return refuse(
          "dense",
          `needs an earlier conv unit output of its input size ${xs[2]}x${xs[3]}, found none`,
        );
      }
      found.reverse();
      const extra = found.reduce((n, v) => n + edit.shape(v)[1], 0);
      const cin = a.inChannels + extra;
      edit.at(node.name, "before");
      const [cat] = edit.add(
        "concat",
        [x, ...found],
        { axis: 1 },
        {
          name: edit.fresh(node.scope, `${localName(node.name)}_concat`),
          scope: node.scope,
        },
      );
      edit.setInputs(node.name, [cat]);
      const w = edit.nodeParam(node, "weight");
      let weight: Float32Array | undefined;
      if (w !== null) {
        const taps = a.kernelSize[0] * a.kernelSize[1];
        weight = new Float32Array(a.outChannels * cin * taps);
        for (let o = 0; o < a.outChannels; o++) {
          weight.set(w.subarray(o * a.inChannels * taps, (o + 1) * a.inChannels * taps), o * cin * taps);
        }
      }
      edit.update<"conv2d">(node.name, { ...a, inChannels: cin }, weight === undefined ? {} : { weight });
      return {
        node: node.name,
        oldNodes: [node.name],
        newNodes: [cat, node.name],
        carry: "exact",
        detail: `reads ${found.join(", ")} too (+${extra} channels, weights at zero)`,
        compare: { old: node.outputs[0], new: node.outputs[0], inputs: [x, ...found] },
      };
    });
  },
};

/** Values computed from `value` (itself included). */
function downstreamOf(edit: GraphEdit, value: string): Set<string> {
  const seen = new Set<string>([value]);
  for (const node of edit.nodeList) {
    if (node.inputs.some((v) => seen.has(v))) for (const v of node.outputs) seen.add(v);
  }
  return seen;
}
