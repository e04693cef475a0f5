import type { Pads } from "../../graph/types.js";
import type { Rule } from "../types.js";
import { convAttrs, isConv, kernelText } from "../units.js";
import { distillSite, fmt, perNode, refuse, rewriteMeta, zeroConv } from "./helpers.js";

/**
 * multi-size: one conv becomes Inception-style parallel branches of several kernel sizes, concatenated to the
 * old output channels (scope `<conv>`, kind "inception"):
 *
 *   branch1x1: conv 1x1 (Cin -> c1)
 *   branchKxK: conv 1x1 reduce (Cin -> Cin/reduction) -> relu -> conv KxK (-> cK)     for each K > 1
 *              (no reduce when Cin/reduction would not be below Cin, e.g. a 1-channel input)
 *   concat (c1 + c3 + ... = Cout)
 *
 * Every branch is centred on the old kernel (padding per side = old padding − (k − K)·d/2) and takes the old stride
 * and dilation, so all outputs have the old size; the channels are split evenly (the first branches take the
 * remainder). Carry-over by layer-wise distillation to the old conv's outputs, as stack-small (each branch's last
 * conv starts at zero).
 */
export const multiSize: Rule = {
  name: "multi-size",
  family: "kernel",
  description: "conv -> Inception-style branches of several kernel sizes with 1x1 bottlenecks, concatenated",
  carry: "approximate: distillation",
  exactness:
    "fitted by layer-wise distillation to the old conv's outputs on sample inputs (Adam); the report gives the relative error reached",
  options: {
    sizes: {
      type: "integer[]",
      default: [1, 3, 5],
      min: 1,
      description: "kernel sizes of the branches (e.g. 1/3/5)",
    },
    reduction: {
      type: "number",
      default: 2,
      min: 1,
      description: "1x1 bottleneck of each K > 1 branch: Cin / reduction channels",
    },
    activation: {
      type: "enum",
      values: ["relu", "none"],
      default: "relu",
      description: "activation after each bottleneck",
    },
  },
  ops: ["conv2d"],
  defaultWhere: "kernel>=3, groups=1",
  run(edit, selected, options, context) {
    const sizes = options.sizes as number[];
    const act = options.activation as string;
    return perNode(edit, selected, (node, original) => {
      if (!isConv(node)) return null;
      const a = node.attrs;
      if (a.groups !== 1) return refuse("multi-size", `needs groups=1, got ${a.groups}`);
      if (new Set(sizes).size !== sizes.length)
        return refuse("multi-size", `needs distinct sizes, got ${sizes.join("/")}`);
      if (a.outChannels < sizes.length) {
        return refuse(
          "multi-size",
          `needs at least ${sizes.length} output channels (one per branch), got ${a.outChannels}`,
        );
      }
      const [kh, kw] = a.kernelSize;
      const [dh, dw] = a.dilation;
      const padsFor = (k: number): Pads | string => {
        if ((kh - k) % 2 !== 0 || (kw - k) % 2 !== 0) {
          return `needs branch sizes of the kernel's parity to stay centred, got ${k} for ${kernelText(a.kernelSize)}`;
        }
        const dy = ((kh - k) * dh) / 2;
        const dx = ((kw - k) * dw) / 2;
        const p: Pads = [a.padding[0] - dy, a.padding[1] - dx, a.padding[2] - dy, a.padding[3] - dx];
        if (p.some((v) => v < 0)) {
          return `needs padding of at least (k-K)*d/2 per side to centre a ${k}x${k} branch, got padding [${a.padding.join(", ")}]`;
        }
        return p;
      };
      const pads: Pads[] = [];
      for (const k of sizes) {
        const p = padsFor(k);
        if (typeof p === "string") return refuse("multi-size", p);
        pads.push(p);
      }
      const n = sizes.length;
      const split = sizes.map((_, i) => Math.floor(a.outChannels / n) + (i < a.outChannels % n ? 1 : 0));
      const mid = Math.max(1, Math.round(a.inChannels / (options.reduction as number)));
      // A bottleneck that would not reduce (few input channels, e.g. the first conv) is left out.
      const reduces = mid < a.inChannels;
      const scope = node.name;
      const x = node.inputs[0];
      edit.setScope(scope, {
        kind: "inception",
        meta: rewriteMeta("multi-size", node, { sizes, reduction: options.reduction as number, split }),
      });
      edit.at(node.name, "before");
      const made: string[] = [];
      const outs: string[] = [];
      sizes.forEach((k, i) => {
        const branch = edit.fresh(scope, `branch${k}x${k}`);
        edit.reserve(branch);
        edit.setScope(branch, { kind: "convBranch", meta: { kernelSize: k } });
        let y = x;
        if (k > 1 && reduces) {
          const reduce = convAttrs({ inChannels: a.inChannels, outChannels: mid, kernelSize: [1, 1] });
          [y] = edit.add("conv2d", [y], reduce, { name: edit.fresh(branch, "reduce"), scope: branch });
          made.push(y);
          if (act === "relu") {
            [y] = edit.add("relu", [y], {}, { name: edit.fresh(branch, "relu"), scope: branch });
            made.push(y);
          }
        }
        const attrs = convAttrs({
          inChannels: k > 1 && reduces ? mid : a.inChannels,
          outChannels: split[i],
          kernelSize: [k, k],
          stride: a.stride,
          padding: pads[i],
          dilation: a.dilation,
          bias: a.bias,
        });
        const data = zeroConv(
          edit,
          attrs.outChannels * attrs.inChannels * k * k,
          attrs.bias ? attrs.outChannels : null,
        );
        [y] = edit.add("conv2d", [y], attrs, { name: edit.fresh(branch, "conv"), scope: branch, data });
        made.push(y);
        outs.push(y);
      });
      const [cat] = edit.add("concat", outs, { axis: 1 }, { name: edit.fresh(scope, "concat"), scope });
      made.push(cat);
      edit.remove(node.name);
      edit.rewire(node.outputs[0], cat);
      const fit = distillSite(edit, context, [x], cat, node.outputs[0], [original.inputs[0]]);
      return {
        node: node.name,
        oldNodes: [node.name],
        newNodes: made,
        carry: "approximate: distillation",
        detail: `branches ${sizes.map((k, i) => `${k}x${k}:${split[i]}`).join(" ")} (${reduces ? `bottleneck ${mid}` : "no bottleneck"})${fit === undefined ? "" : `, fit error ${fmt(fit)} after ${context.distill.steps} steps`}`,
        compare: { old: node.outputs[0], new: cat, inputs: [x], feeds: [original.inputs[0]] },
        fitError: fit,
      };
    });
  },
};
