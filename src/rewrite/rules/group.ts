import type { Rule } from "../types.js";
import { isConv } from "../units.js";
import { fmt, perNode, refuse } from "./helpers.js";

/**
 * group: a conv with groups g0 (normally 1) gets groups g (a multiple of g0): output channel o now reads only the
 * input channels of its group. The new weight keeps the old kernel's entries inside the groups and drops those
 * across them: the block-diagonal projection, which is the closest grouped kernel in the Frobenius norm (and the
 * output error is the dropped part's contribution). Exact when the old kernel is already block diagonal.
 * Parameters and MACs divide by g / g0.
 */
export const group: Rule = {
  name: "group",
  family: "channels",
  description: "conv -> grouped conv (groups = g): keeps the block-diagonal part of the kernel",
  carry: "approximate: projection",
  exactness:
    "the block-diagonal part of the kernel is kept (the closest grouped kernel in Frobenius norm): exact when the weights across groups are zero",
  options: {
    groups: {
      type: "integer",
      default: 2,
      min: 2,
      description: "number of groups g (divides in and out channels)",
    },
  },
  ops: ["conv2d"],
  defaultWhere: "groups=1",
  run(edit, selected, options) {
    const g = options.groups as number;
    return perNode(edit, selected, (node, original) => {
      if (!isConv(node)) return null;
      const a = node.attrs;
      const g0 = a.groups;
      if (g0 === g)
        return refuse("group", `needs a conv with fewer groups than ${g}, got groups=${g0} already`);
      if (g0 > 1 && g0 === a.inChannels)
        return refuse("group", `needs a conv that is not depthwise, got groups=${g0} = channels`);
      if (g % g0 !== 0)
        return refuse("group", `needs groups=${g} to be a multiple of the conv's groups, got groups=${g0}`);
      if (a.inChannels % g !== 0)
        return refuse("group", `needs input channels divisible by ${g}, got ${a.inChannels}`);
      if (a.outChannels % g !== 0)
        return refuse("group", `needs output channels divisible by ${g}, got ${a.outChannels}`);
      const w = edit.nodeParam(node, "weight");
      const taps = a.kernelSize[0] * a.kernelSize[1];
      const oldIn = a.inChannels / g0;
      const newIn = a.inChannels / g;
      let weight: Float32Array | undefined;
      let weightError: number | undefined;
      if (w !== null) {
        weight = new Float32Array(a.outChannels * newIn * taps);
        let dropped = 0;
        let total = 0;
        for (let o = 0; o < a.outChannels; o++) {
          const groupNew = Math.floor((o * g) / a.outChannels);
          const groupOld = Math.floor((o * g0) / a.outChannels);
          for (let c = 0; c < oldIn; c++) {
            // The input channel's global index decides whether it stays in o's (smaller) new group.
            const inside = Math.floor((groupOld * oldIn + c) / newIn) === groupNew;
            const local = groupOld * oldIn + c - groupNew * newIn;
            for (let t = 0; t < taps; t++) {
              const v = w[(o * oldIn + c) * taps + t];
              total += v * v;
              if (inside) weight[(o * newIn + local) * taps + t] = v;
              else dropped += v * v;
            }
          }
        }
        weightError = total > 0 ? Math.sqrt(dropped / total) : 0;
      }
      edit.update<"conv2d">(node.name, { ...a, groups: g }, weight === undefined ? {} : { weight });
      return {
        node: node.name,
        oldNodes: [node.name],
        newNodes: [node.name],
        carry: weightError === 0 ? "exact" : "approximate: projection",
        detail: `groups ${g0} -> ${g}${weightError === undefined ? "" : `, dropped kernel part ${fmt(weightError)}`}`,
        compare: {
          old: node.outputs[0],
          new: node.outputs[0],
          inputs: [node.inputs[0]],
          feeds: [original.inputs[0]],
        },
        weightError,
      };
    });
  },
};
