import { lowRank } from "../linalg.js";
import type { Rule } from "../types.js";
import { convAttrs, isConv, kernelText } from "../units.js";
import { fmt, perNode, refuse, relativeDistance, rewriteMeta } from "./helpers.js";

/**
 * separable: a k x k conv (Cin -> Cout) becomes a depthwise k x k conv (Cin -> Cin*m, groups Cin) followed by a
 * pointwise 1x1 conv (Cin*m -> Cout), m the depth multiplier; no nonlinearity between (Xception's linear form),
 * so the pair is a factorisation of the old kernel:
 *
 *   W[o, c, :, :] ≈ Σ_{j<m} P[o, c*m + j] · D[c*m + j, :, :]
 *
 * For each input channel c the [Cout, kH*kW] slice of W is replaced by its best rank-m approximation (truncated
 * SVD, singular values split evenly between D and P): exact when every slice has rank <= m, always when
 * m >= min(Cout, kH*kW). The depthwise conv takes the old stride, padding and dilation; the pointwise conv the old
 * bias. MACs: (m/Cout + m/(kH*kW)) of the old conv's.
 */
export const separable: Rule = {
  name: "separable",
  family: "channels",
  description:
    "k x k conv -> depthwise k x k + pointwise 1x1 (MobileNet/Xception), optional depth multiplier",
  carry: "approximate: SVD",
  exactness:
    "per input channel, rank-m SVD of the [Cout, kH*kW] kernel slice (m = depthMultiplier): exact when each slice has rank <= m, always when m >= min(Cout, kH*kW)",
  options: {
    depthMultiplier: {
      type: "integer",
      default: 1,
      min: 1,
      description: "depthwise outputs per input channel (m)",
    },
  },
  ops: ["conv2d"],
  defaultWhere: "kernel>=2, groups=1",
  run(edit, selected, options) {
    const m = options.depthMultiplier as number;
    return perNode(edit, selected, (node, original) => {
      if (!isConv(node)) return null;
      const a = node.attrs;
      if (a.groups !== 1) return refuse("separable", `needs groups=1, got ${a.groups}`);
      if (a.kernelSize[0] * a.kernelSize[1] === 1) {
        return refuse("separable", `needs a kernel larger than 1x1, got ${kernelText(a.kernelSize)}`);
      }
      const [cin, cout] = [a.inChannels, a.outChannels];
      const taps = a.kernelSize[0] * a.kernelSize[1];
      const w = edit.nodeParam(node, "weight");
      const bias = edit.nodeParam(node, "bias");
      let dw: Float32Array | undefined;
      let pw: Float32Array | undefined;
      let weightError: number | undefined;
      if (w !== null) {
        dw = new Float32Array(cin * m * taps);
        pw = new Float32Array(cout * cin * m);
        const slice = new Float64Array(cout * taps);
        for (let c = 0; c < cin; c++) {
          for (let o = 0; o < cout; o++) {
            for (let t = 0; t < taps; t++) slice[o * taps + t] = w[(o * cin + c) * taps + t];
          }
          const f = lowRank(slice, cout, taps, m);
          for (let j = 0; j < m; j++) {
            for (let t = 0; t < taps; t++) dw[(c * m + j) * taps + t] = f.right[j * taps + t];
            for (let o = 0; o < cout; o++) pw[o * cin * m + c * m + j] = f.left[o * m + j];
          }
        }
        const recon = new Float32Array(w.length);
        for (let o = 0; o < cout; o++) {
          for (let c = 0; c < cin; c++) {
            for (let j = 0; j < m; j++) {
              const p = pw[o * cin * m + c * m + j];
              for (let t = 0; t < taps; t++)
                recon[(o * cin + c) * taps + t] += p * dw[(c * m + j) * taps + t];
            }
          }
        }
        weightError = relativeDistance(recon, w);
      }
      const scope = node.name;
      const x = node.inputs[0];
      edit.setScope(scope, {
        kind: "depthwiseSeparable",
        meta: rewriteMeta("separable", node, { depthMultiplier: m }),
      });
      edit.at(node.name, "before");
      const [d] = edit.add(
        "conv2d",
        [x],
        convAttrs({
          inChannels: cin,
          outChannels: cin * m,
          kernelSize: a.kernelSize,
          stride: a.stride,
          padding: a.padding,
          dilation: a.dilation,
          groups: cin,
          bias: false,
        }),
        { name: edit.fresh(scope, "depthwise"), scope, data: dw === undefined ? {} : { weight: dw } },
      );
      const [p] = edit.add(
        "conv2d",
        [d],
        convAttrs({ inChannels: cin * m, outChannels: cout, kernelSize: [1, 1], bias: a.bias }),
        {
          name: edit.fresh(scope, "pointwise"),
          scope,
          data: pw === undefined ? {} : bias === null ? { weight: pw } : { weight: pw, bias },
        },
      );
      edit.remove(node.name);
      edit.rewire(node.outputs[0], p);
      // Exact by construction at full rank; otherwise when each slice's rank allows (measured).
      const exact = m >= Math.min(cout, taps) || (weightError !== undefined && weightError < 1e-6);
      return {
        node: node.name,
        oldNodes: [node.name],
        newNodes: [d, p],
        carry: exact ? "exact" : "approximate: SVD",
        detail: `depthwise ${kernelText(a.kernelSize)} x${m} + pointwise; rank ${Math.min(m, cout, taps)} of ${Math.min(cout, taps)} per input channel${weightError === undefined ? "" : `, kernel error ${fmt(weightError)}`}`,
        compare: { old: node.outputs[0], new: p, inputs: [x], feeds: [original.inputs[0]] },
        weightError,
      };
    });
  },
};
