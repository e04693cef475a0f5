import { lowRank } from "../linalg.js";
import type { Rule } from "../types.js";
import { convAttrs, isConv, kernelText } from "../units.js";
import { fmt, perNode, refuse, relativeDistance, rewriteMeta } from "./helpers.js";

/**
 * asymmetric: a kH x kW conv (Cin -> Cout) becomes a 1 x kW conv (Cin -> Cmid) then a kH x 1 conv (Cmid -> Cout)
 * (or kH x 1 first with order "kx1-1xk"), as the `asymmetricPair` block lays out (scope with conv1, conv2).
 *
 * Carry-over. With no nonlinearity between, the pair computes the kernel
 *   W[o, c, y, x] = Σ_m B[o, m, y] · A[m, c, x],
 * i.e. the matrix W[(o, y), (c, x)] of size (Cout·kH) x (Cin·kW) factorised with inner dimension Cmid. The best
 * such pair is the rank-Cmid truncated SVD of that matrix (Eckart-Young), which is what we take. It is exact
 * when the matrix has rank <= Cmid: e.g. kernels whose every input channel has one column profile
 * (W[o, c, y, x] = b[o, c, y]·a[c, x], rank <= Cin) when Cmid >= Cin; always when Cmid >= min(Cout·kH, Cin·kW).
 * The first conv has no bias (its zero padding then stays zero, so the composition is exact at the borders too);
 * the old bias goes to the second. Geometry: the 1 x kW conv takes the old horizontal stride/padding/dilation,
 * the kH x 1 conv the vertical ones, so the output size and receptive field are the old ones.
 * MACs at stride 1 with Cmid = Cout = Cin: 2k of the old k² (1x3 + 3x1: 6/9).
 */
export const asymmetric: Rule = {
  name: "asymmetric",
  family: "kernel",
  description: "k x k conv -> 1 x k then k x 1 conv (or k x 1 first), by a rank-Cmid SVD of the kernel",
  carry: "approximate: SVD",
  exactness:
    "rank-Cmid SVD of the kernel as a (Cout*kH) x (Cin*kW) matrix: exact when its rank <= Cmid (e.g. kernels with one column profile per input channel and Cmid >= Cin)",
  options: {
    order: {
      type: "enum",
      values: ["1xk-kx1", "kx1-1xk"],
      default: "1xk-kx1",
      description: "which conv comes first",
    },
    midChannels: {
      type: "integer",
      default: null,
      nullable: true,
      min: 1,
      description: "channels between the two convs (default: the conv's output channels)",
    },
  },
  ops: ["conv2d"],
  defaultWhere: "kernel>=3, groups=1",
  run(edit, selected, options) {
    const rowFirst = options.order === "1xk-kx1";
    return perNode(edit, selected, (node, original) => {
      if (!isConv(node)) return null;
      const a = node.attrs;
      if (a.groups !== 1) return refuse("asymmetric", `needs groups=1, got ${a.groups}`);
      const [kh, kw] = a.kernelSize;
      if (kh < 2 || kw < 2) {
        return refuse(
          "asymmetric",
          `needs a kernel larger than 1 on both axes, got ${kernelText(a.kernelSize)}`,
        );
      }
      const [cin, cout] = [a.inChannels, a.outChannels];
      const mid = (options.midChannels as number | null) ?? cout;
      // Rows of the factorised matrix follow the second conv's axis, columns the first conv's.
      const [kFirst, kSecond] = rowFirst ? [kw, kh] : [kh, kw];
      const w = edit.nodeParam(node, "weight");
      const bias = edit.nodeParam(node, "bias");
      let first: Float32Array | undefined;
      let second: Float32Array | undefined;
      let weightError: number | undefined;
      if (w !== null) {
        const rows = cout * kSecond;
        const cols = cin * kFirst;
        const mat = new Float64Array(rows * cols);
        // W[o, c, y, x] at (o*kSecond + s, c*kFirst + f), with (y, x) = rowFirst ? (s, f) : (f, s).
        for (let o = 0; o < cout; o++) {
          for (let c = 0; c < cin; c++) {
            for (let y = 0; y < kh; y++) {
              for (let x = 0; x < kw; x++) {
                const [s, f] = rowFirst ? [y, x] : [x, y];
                mat[(o * kSecond + s) * cols + c * kFirst + f] = w[((o * cin + c) * kh + y) * kw + x];
              }
            }
          }
        }
        const lr = lowRank(mat, rows, cols, mid);
        // First conv weight [mid, cin, 1, kw] or [mid, cin, kh, 1]: the right factor, laid out (m, c, f).
        first = Float32Array.from(lr.right);
        // Second conv weight [cout, mid, kh, 1] or [cout, mid, 1, kw]: left factor (o, s, m) -> (o, m, s).
        second = new Float32Array(cout * mid * kSecond);
        for (let o = 0; o < cout; o++) {
          for (let m = 0; m < mid; m++) {
            for (let s = 0; s < kSecond; s++)
              second[(o * mid + m) * kSecond + s] = lr.left[(o * kSecond + s) * mid + m];
          }
        }
        const recon = new Float32Array(w.length);
        for (let o = 0; o < cout; o++) {
          for (let m = 0; m < mid; m++) {
            for (let s = 0; s < kSecond; s++) {
              const l = second[(o * mid + m) * kSecond + s];
              if (l === 0) continue;
              for (let c = 0; c < cin; c++) {
                for (let f = 0; f < kFirst; f++) {
                  const [y, x] = rowFirst ? [s, f] : [f, s];
                  recon[((o * cin + c) * kh + y) * kw + x] += l * first[(m * cin + c) * kFirst + f];
                }
              }
            }
          }
        }
        weightError = relativeDistance(recon, w);
      }
      const [pt, pl, pb, pr] = a.padding;
      const row = {
        kernelSize: [1, kw] as [number, number],
        stride: [1, a.stride[1]] as [number, number],
        padding: [0, pl, 0, pr] as [number, number, number, number],
        dilation: [1, a.dilation[1]] as [number, number],
      };
      const col = {
        kernelSize: [kh, 1] as [number, number],
        stride: [a.stride[0], 1] as [number, number],
        padding: [pt, 0, pb, 0] as [number, number, number, number],
        dilation: [a.dilation[0], 1] as [number, number],
      };
      const [g1, g2] = rowFirst ? [row, col] : [col, row];
      const scope = node.name;
      const x = node.inputs[0];
      edit.setScope(scope, {
        kind: "asymmetricPair",
        meta: rewriteMeta("asymmetric", node, { order: options.order as string, midChannels: mid }),
      });
      edit.at(node.name, "before");
      const [c1] = edit.add(
        "conv2d",
        [x],
        convAttrs({ inChannels: cin, outChannels: mid, ...g1, bias: false }),
        {
          name: edit.fresh(scope, "conv1"),
          scope,
          data: first === undefined ? {} : { weight: first },
        },
      );
      const [c2] = edit.add(
        "conv2d",
        [c1],
        convAttrs({ inChannels: mid, outChannels: cout, ...g2, bias: a.bias }),
        {
          name: edit.fresh(scope, "conv2"),
          scope,
          data: second === undefined ? {} : bias === null ? { weight: second } : { weight: second, bias },
        },
      );
      edit.remove(node.name);
      edit.rewire(node.outputs[0], c2);
      const full = Math.min(cout * kSecond, cin * kFirst);
      return {
        node: node.name,
        oldNodes: [node.name],
        newNodes: [c1, c2],
        carry:
          mid >= full || (weightError !== undefined && weightError < 1e-6) ? "exact" : "approximate: SVD",
        detail: `${kernelText(g1.kernelSize)} (${cin}->${mid}) + ${kernelText(g2.kernelSize)} (${mid}->${cout}); rank ${Math.min(mid, full)} of ${full}${weightError === undefined ? "" : `, kernel error ${fmt(weightError)}`}`,
        compare: { old: node.outputs[0], new: c2, inputs: [x], feeds: [original.inputs[0]] },
        weightError,
      };
    });
  },
};
