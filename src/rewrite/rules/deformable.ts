import type { OpAttrs } from "../../graph/types.js";
import type { Rule } from "../types.js";
import { convAttrs, isConv } from "../units.js";
import { perNode, refuse, rewriteMeta } from "./helpers.js";

/**
 * deformable: a conv becomes a deformable conv (DCN v1, or v2 with a modulation mask), laid out exactly as the
 * `deformableConv` block (src/blocks/deformable.ts) and the deform layer (src/ops/deform-layer.ts):
 *
 *   scope <conv name>:  conv_offset (regular conv, same kernel/stride/padding/dilation, groups 1, zero weight and
 *                       bias) -> v2: split into offsets and logits, mask = 2*sigmoid(logits) (`mask_sigmoid`,
 *                       `mask` = s + s) -> deform_conv (deformConv2d, the old weight and bias, still named
 *                       `<conv name>.weight` / `.bias`, so a checkpoint of the plain net loads into the new one).
 *
 * Exact: zero offsets sample the regular grid and the v2 mask starts at 2*sigmoid(0) = 1, so the deformable conv
 * computes the old conv (deformConv2d with zero offsets equals conv2d with the same padding; float error only).
 */
export const deformable: Rule = {
  name: "deformable",
  family: "kernel",
  description:
    "conv -> deformable conv (DCN v1, or v2 with mask), offsets predicted by a zero-initialised conv",
  carry: "exact",
  exactness:
    "always: the offset conv starts at zero (regular sampling grid) and the v2 mask at 2*sigmoid(0) = 1, so the output equals the old conv's",
  options: {
    version: {
      type: "integer",
      default: 1,
      min: 1,
      description: "1: DCNv1 (offsets), 2: DCNv2 (offsets and mask)",
    },
    offsetGroups: {
      type: "integer",
      default: 1,
      min: 1,
      description: "groups of input channels with their own offsets",
    },
  },
  ops: ["conv2d"],
  defaultWhere: "kernel>=2",
  run(edit, selected, options) {
    const version = options.version as number;
    const og = options.offsetGroups as number;
    return perNode(edit, selected, (node, original) => {
      if (!isConv(node)) return null;
      const a = node.attrs;
      if (version !== 1 && version !== 2) return refuse("deformable", `needs version 1 or 2, got ${version}`);
      if (a.kernelSize[0] * a.kernelSize[1] === 1) {
        return refuse(
          "deformable",
          "needs a kernel larger than 1x1 (a 1x1 conv has nothing to deform), got 1x1",
        );
      }
      if (a.inChannels % og !== 0) {
        return refuse(
          "deformable",
          `needs offsetGroups dividing the input channels ${a.inChannels}, got ${og}`,
        );
      }
      const w = edit.nodeParam(node, "weight");
      const b = edit.nodeParam(node, "bias");
      const taps = a.kernelSize[0] * a.kernelSize[1];
      const modulated = version === 2;
      const branch = (modulated ? 3 : 2) * og * taps;
      const scope = node.name;
      const x = node.inputs[0];
      // Removed first so that its parameter names are free for the deformable conv (see above).
      const index = edit.indexOf(node.name);
      edit.remove(node.name);
      edit.atIndex(index);
      edit.setScope(scope, {
        kind: "deformableConv",
        meta: rewriteMeta("deformable", node, { version, offsetGroups: og, maskScale: modulated ? 2 : null }),
      });
      const geometry = {
        kernelSize: a.kernelSize,
        stride: a.stride,
        padding: a.padding,
        dilation: a.dilation,
      };
      const zeros =
        edit.weights === null
          ? {}
          : {
              weight: new Float32Array(branch * a.inChannels * taps),
              bias: new Float32Array(branch),
            };
      const [offsetBranch] = edit.add(
        "conv2d",
        [x],
        convAttrs({ inChannels: a.inChannels, outChannels: branch, ...geometry, bias: true }),
        { name: edit.fresh(scope, "conv_offset"), scope, data: zeros },
      );
      const made = [offsetBranch];
      let offset = offsetBranch;
      let mask: string | undefined;
      if (modulated) {
        const splitName = edit.fresh(scope, "split");
        const parts = edit.add(
          "split",
          [offsetBranch],
          { sizes: [2 * og * taps, og * taps], axis: 1 },
          { name: splitName, scope },
        );
        offset = parts[0];
        const [s] = edit.add("sigmoid", [parts[1]], {}, { name: edit.fresh(scope, "mask_sigmoid"), scope });
        [mask] = edit.add("add", [s, s], {}, { name: edit.fresh(scope, "mask"), scope });
        made.push(splitName, s, mask);
      }
      const attrs: OpAttrs["deformConv2d"] = { ...a, offsetGroups: og, mask: modulated };
      const data = w === null ? {} : b === null ? { weight: w } : { weight: w, bias: b };
      const [out] = edit.add("deformConv2d", mask === undefined ? [x, offset] : [x, offset, mask], attrs, {
        name: edit.fresh(scope, "deform_conv"),
        scope,
        data,
        paramNames: a.bias
          ? { weight: `${scope}.weight`, bias: `${scope}.bias` }
          : { weight: `${scope}.weight` },
      });
      made.push(out);
      edit.rewire(node.outputs[0], out);
      return {
        node: node.name,
        oldNodes: [node.name],
        newNodes: made,
        carry: "exact",
        detail: `DCNv${version}, ${og} offset group(s), offset conv ${branch} channels at zero${modulated ? ", mask 2*sigmoid(0) = 1" : ""}`,
        compare: { old: node.outputs[0], new: out, inputs: [x], feeds: [original.inputs[0]] },
      };
    });
  },
};
