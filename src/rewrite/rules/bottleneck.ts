import { lowRank } from "../linalg.js";
import type { Rule } from "../types.js";
import { convAttrs, isConv, kernelText } from "../units.js";
import { fmt, perNode, refuse, relativeDistance, rewriteMeta } from "./helpers.js";

/**
 * bottleneck: a 1x1 reduction (Cin -> m, no bias, no activation) is inserted before an expensive k x k conv,
 * which then reads m channels instead of Cin (scope `<conv>` with `reduce` and `conv`).
 *
 * Carry-over. The pair computes W'[o, j, y, x]·R[j, c], i.e. the old kernel as a (Cout·kH·kW) x Cin matrix
 * factorised with inner dimension m:
 * - m >= Cin: R is the identity (padded with zero rows), W' the old kernel (zero-padded): exact;
 * - m < Cin: the rank-m truncated SVD of that matrix, the best such pair in the Frobenius norm; exact when the
 *   kernel's input-channel rank is <= m.
 * MACs: Cin·m·H·W + k²·m·Cout·Hout·Wout instead of k²·Cin·Cout·Hout·Wout.
 */
export const bottleneck: Rule = {
  name: "bottleneck",
  family: "kernel",
  description: "insert a 1x1 reduction (Cin -> Cin/ratio) before an expensive conv",
  carry: "approximate: SVD",
  exactness:
    "identity 1x1 when channels >= Cin (exact); otherwise rank-m SVD of the kernel over its input channels, exact when that rank is <= m",
  options: {
    ratio: { type: "number", default: 4, min: 1, description: "reduction ratio: m = round(Cin / ratio)" },
    channels: {
      type: "integer",
      default: null,
      nullable: true,
      min: 1,
      description: "reduced channels m given directly (overrides ratio)",
    },
  },
  ops: ["conv2d"],
  defaultWhere: "kernel>=3, groups=1",
  run(edit, selected, options) {
    return perNode(edit, selected, (node, original) => {
      if (!isConv(node)) return null;
      const a = node.attrs;
      if (a.groups !== 1) return refuse("bottleneck", `needs groups=1, got ${a.groups}`);
      if (a.kernelSize[0] * a.kernelSize[1] === 1) {
        return refuse(
          "bottleneck",
          "needs a kernel larger than 1x1 (a 1x1 conv is its own bottleneck), got 1x1",
        );
      }
      const [cin, cout] = [a.inChannels, a.outChannels];
      const ratio = options.ratio as number;
      const m = (options.channels as number | null) ?? Math.max(1, Math.round(cin / ratio));
      if (options.channels === null && ratio > 1 && m >= cin) {
        return refuse(
          "bottleneck",
          `needs more input channels to reduce: m = max(1, round(${cin} / ${ratio})) = ${m} is not below ${cin}`,
        );
      }
      const taps = a.kernelSize[0] * a.kernelSize[1];
      const w = edit.nodeParam(node, "weight");
      const bias = edit.nodeParam(node, "bias");
      let reduce: Float32Array | undefined;
      let conv: Float32Array | undefined;
      let weightError: number | undefined;
      if (w !== null) {
        reduce = new Float32Array(m * cin);
        conv = new Float32Array(cout * m * taps);
        if (m >= cin) {
          for (let c = 0; c < cin; c++) reduce[c * cin + c] = 1;
          for (let o = 0; o < cout; o++) {
            for (let c = 0; c < cin; c++) {
              for (let t = 0; t < taps; t++) conv[(o * m + c) * taps + t] = w[(o * cin + c) * taps + t];
            }
          }
          weightError = 0;
        } else {
          // Matrix rows (o, t), columns c.
          const mat = new Float64Array(cout * taps * cin);
          for (let o = 0; o < cout; o++) {
            for (let c = 0; c < cin; c++) {
              for (let t = 0; t < taps; t++) mat[(o * taps + t) * cin + c] = w[(o * cin + c) * taps + t];
            }
          }
          const lr = lowRank(mat, cout * taps, cin, m);
          reduce.set(Float32Array.from(lr.right));
          for (let o = 0; o < cout; o++) {
            for (let j = 0; j < m; j++) {
              for (let t = 0; t < taps; t++) conv[(o * m + j) * taps + t] = lr.left[(o * taps + t) * m + j];
            }
          }
          const recon = new Float32Array(w.length);
          for (let o = 0; o < cout; o++) {
            for (let j = 0; j < m; j++) {
              for (let t = 0; t < taps; t++) {
                const l = conv[(o * m + j) * taps + t];
                for (let c = 0; c < cin; c++) recon[(o * cin + c) * taps + t] += l * reduce[j * cin + c];
              }
            }
          }
          weightError = relativeDistance(recon, w);
        }
      }
      const scope = node.name;
      const x = node.inputs[0];
      edit.setScope(scope, { kind: "bottleneck", meta: rewriteMeta("bottleneck", node, { channels: m }) });
      edit.at(node.name, "before");
      const [r] = edit.add(
        "conv2d",
        [x],
        convAttrs({ inChannels: cin, outChannels: m, kernelSize: [1, 1], bias: false }),
        {
          name: edit.fresh(scope, "reduce"),
          scope,
          data: reduce === undefined ? {} : { weight: reduce },
        },
      );
      const [c] = edit.add("conv2d", [r], convAttrs({ ...a, inChannels: m }), {
        name: edit.fresh(scope, "conv"),
        scope,
        data: conv === undefined ? {} : bias === null ? { weight: conv } : { weight: conv, bias },
      });
      edit.remove(node.name);
      edit.rewire(node.outputs[0], c);
      // Exact by construction when the 1x1 is an identity; otherwise when the kernel's rank allows (measured).
      const exact = m >= cin || (weightError !== undefined && weightError < 1e-6);
      return {
        node: node.name,
        oldNodes: [node.name],
        newNodes: [r, c],
        carry: exact ? "exact" : "approximate: SVD",
        detail: `1x1 ${cin}->${m} then ${kernelText(a.kernelSize)} ${m}->${cout}${m >= cin ? " (identity 1x1)" : `, rank ${m} of ${Math.min(cin, cout * taps)}`}${weightError === undefined ? "" : `, kernel error ${fmt(weightError)}`}`,
        compare: { old: node.outputs[0], new: c, inputs: [x], feeds: [original.inputs[0]] },
        weightError,
      };
    });
  },
};
