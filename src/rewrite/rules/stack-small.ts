import type { Rule } from "../types.js";
import { convAttrs, isConv, kernelText } from "../units.js";
import { distillSite, fmt, perNode, refuse, rewriteMeta, zeroConv } from "./helpers.js";

/**
 * stack-small: a k x k conv (k odd, >= 5) becomes n = (k-1)/2 stacked 3x3 convs with the same receptive field
 * (5x5 -> two, 7x7 -> three), VGG's argument: n·9 instead of k² weights per channel pair (5x5 -> two 3x3 at equal
 * channels: 18/25 of the MACs, 28% saved) and n-1 extra non-linearities.
 *
 * Layout (scope `<conv>`, kind "smallKernelStack"): conv1 [bn1] [relu1] ... convN. Dilation and groups are kept
 * on every conv; the stride goes on the last conv (the receptive field stays k x k, the output size is the old
 * one), or with strideAt "first" on the first (the inner convs then run at the output resolution: far fewer MACs,
 * but the field grows to 3 + 2(n-1)·s); each side's padding is spread over the convs (5x5 padding 2 -> padding 1
 * each, as VGG).
 *
 * Carry-over: no exact construction exists at the same width (a 5x5 kernel is not in general a product of two
 * 3x3 kernels with Cout channels between), so the stack is fitted to the old conv's outputs on sample inputs by
 * layer-wise distillation (Adam, full batch), starting from random inner convs and a zero last conv (output 0,
 * relative error 1, which the fit only improves). The site's detail gives the fit error; the report gives the
 * error on held-out samples.
 */
export const stackSmall: Rule = {
  name: "stack-small",
  family: "kernel",
  description: "k x k conv (k >= 5) -> stack of (k-1)/2 3x3 convs with the same receptive field (VGG)",
  carry: "approximate: distillation",
  exactness:
    "fitted by layer-wise distillation to the old conv's outputs on sample inputs (Adam); the report gives the relative error reached",
  options: {
    activation: {
      type: "enum",
      values: ["relu", "none"],
      default: "relu",
      description: "activation between the 3x3 convs",
    },
    batchNorm: { type: "boolean", default: false, description: "batch norm after each inner 3x3 conv" },
    midChannels: {
      type: "integer",
      default: null,
      nullable: true,
      min: 1,
      description: "channels between the 3x3 convs (default: the conv's output channels)",
    },
    strideAt: {
      type: "enum",
      values: ["last", "first"],
      default: "last",
      description:
        "which 3x3 conv of a strided stack strides: last keeps the receptive field, first saves MACs",
    },
  },
  ops: ["conv2d"],
  defaultWhere: "kernel>=5",
  run(edit, selected, options, context) {
    const act = options.activation as string;
    const bn = options.batchNorm as boolean;
    const strideAt = options.strideAt as string;
    return perNode(edit, selected, (node, original) => {
      if (!isConv(node)) return null;
      const a = node.attrs;
      const [kh, kw] = a.kernelSize;
      if (kh !== kw || kh < 5 || kh % 2 === 0) {
        return refuse(
          "stack-small",
          `needs a square odd kernel of at least 5x5, got ${kernelText(a.kernelSize)}`,
        );
      }
      const n = (kh - 1) / 2;
      const mid = (options.midChannels as number | null) ?? a.outChannels;
      if (mid % a.groups !== 0) {
        return refuse(
          "stack-small",
          `needs midChannels divisible by the conv's groups ${a.groups}, got ${mid}`,
        );
      }
      // Each side's padding spread over the n convs, the first ones taking the remainder.
      const share = (p: number, i: number): number => Math.floor(p / n) + (i < p % n ? 1 : 0);
      const strideOf = (i: number): [number, number] =>
        (strideAt === "first" ? i === 0 : i === n - 1) ? a.stride : [1, 1];
      const inShape = edit.shape(node.inputs[0]);
      const outShape = edit.shape(node.outputs[0]);
      let [h, w] = [inShape[2], inShape[3]];
      for (let i = 0; i < n; i++) {
        const [sh, sw] = strideOf(i);
        h =
          Math.floor((h + share(a.padding[0], i) + share(a.padding[2], i) - 2 * a.dilation[0] - 1) / sh) + 1;
        w =
          Math.floor((w + share(a.padding[1], i) + share(a.padding[3], i) - 2 * a.dilation[1] - 1) / sw) + 1;
        if (h < 1 || w < 1) {
          return refuse(
            "stack-small",
            `needs an input large enough for the 3x3 convs, got ${inShape[2]}x${inShape[3]}`,
          );
        }
      }
      if (h !== outShape[2] || w !== outShape[3]) {
        return refuse(
          "stack-small",
          `with the stride on the ${strideAt} conv gives ${h}x${w} outputs instead of ${outShape[2]}x${outShape[3]}`,
        );
      }
      const scope = node.name;
      const x = node.inputs[0];
      edit.setScope(scope, {
        kind: "smallKernelStack",
        meta: rewriteMeta("stack-small", node, { n, activation: act, batchNorm: bn, midChannels: mid }),
      });
      edit.at(node.name, "before");
      const made: string[] = [];
      let y = x;
      for (let i = 0; i < n; i++) {
        const last = i === n - 1;
        const attrs = convAttrs({
          inChannels: i === 0 ? a.inChannels : mid,
          outChannels: last ? a.outChannels : mid,
          kernelSize: [3, 3],
          stride: strideOf(i),
          padding: [
            share(a.padding[0], i),
            share(a.padding[1], i),
            share(a.padding[2], i),
            share(a.padding[3], i),
          ],
          dilation: a.dilation,
          groups: a.groups,
          bias: last ? a.bias : !bn,
        });
        const data = last
          ? zeroConv(
              edit,
              attrs.outChannels * (attrs.inChannels / attrs.groups) * 9,
              attrs.bias ? attrs.outChannels : null,
            )
          : {};
        [y] = edit.add("conv2d", [y], attrs, { name: edit.fresh(scope, `conv${i + 1}`), scope, data });
        made.push(y);
        if (last) break;
        if (bn) {
          const attrsBn = {
            numFeatures: mid,
            eps: 1e-5,
            momentum: 0.1,
            affine: true,
            trackRunningStats: true,
          };
          [y] = edit.add("batchNorm2d", [y], attrsBn, { name: edit.fresh(scope, `bn${i + 1}`), scope });
          made.push(y);
        }
        if (act === "relu") {
          [y] = edit.add("relu", [y], {}, { name: edit.fresh(scope, `relu${i + 1}`), scope });
          made.push(y);
        }
      }
      edit.remove(node.name);
      edit.rewire(node.outputs[0], y);
      const fit = distillSite(edit, context, [x], y, node.outputs[0], [original.inputs[0]]);
      return {
        node: node.name,
        oldNodes: [node.name],
        newNodes: made,
        carry: "approximate: distillation",
        detail: `${n} x 3x3 (${act === "relu" ? "relu" : "linear"}${bn ? ", bn" : ""}) for ${kernelText(a.kernelSize)}${fit === undefined ? "" : `, fit error ${fmt(fit)} after ${context.distill.steps} steps`}`,
        compare: { old: node.outputs[0], new: y, inputs: [x], feeds: [original.inputs[0]] },
        fitError: fit,
      };
    });
  },
};
