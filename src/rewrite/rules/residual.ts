import type { Node } from "../../graph/types.js";
import type { Rule } from "../types.js";
import { type ConvUnit, convAttrs, isConv, soleReader, unitOf } from "../units.js";
import { perNode, refuse, rewriteMeta } from "./helpers.js";

/**
 * residual: a skip connection around a block of `units` consecutive conv units starting at the selected conv
 * (conv -> bn -> act -> conv -> bn [-> act]), joined by an add before the block's last activation, as in a ResNet
 * basic block: y = act(F(x) + skip(x)).
 *
 * skip "gate" (default, exact): when x and F(x) have the same shape, skip(x) = g ⊙ x with a per-channel gate g
 * (a depthwise 1x1 conv) initialised to zero (ReZero-style, learnable from the first step); when they differ,
 * a 1x1 projection conv (stride to match) initialised to zero. Either way the block starts as the old one.
 * skip "identity": the plain ResNet shortcut x (a default-initialised 1x1 projection when the shapes differ): the
 * function changes at once ("kept"/"fresh"): what training from these weights would start from.
 */
export const residual: Rule = {
  name: "residual",
  family: "connections",
  description: "add a skip around a block of conv units (1x1 projection when shapes differ), zero-gated",
  carry: "exact",
  exactness:
    "exact with skip=gate: the skip starts at zero (a zero per-channel gate, or a zero-initialised 1x1 projection when shapes differ)",
  options: {
    units: { type: "integer", default: 2, min: 1, description: "conv units in the block (2: a basic block)" },
    skip: {
      type: "enum",
      values: ["gate", "identity"],
      default: "gate",
      description: "gate: zero-initialised (exact); identity: ResNet's shortcut (function changes)",
    },
  },
  ops: ["conv2d", "deformConv2d"],
  defaultWhere: "op=conv2d",
  run(edit, selected, options) {
    const count = options.units as number;
    const gate = options.skip === "gate";
    const covered = new Set<string>();
    return perNode(edit, selected, (node) => {
      if (covered.has(node.name)) return { note: "inside a block made residual above; skipped" };
      if (!isConv(node) && node.op !== "deformConv2d") return null;
      const units: ConvUnit[] = [unitOf(edit, node)];
      for (let i = 1; i < count; i++) {
        const out = units[i - 1].output;
        const next = soleReader(edit, out);
        if (
          next === undefined ||
          (next.op !== "conv2d" && next.op !== "deformConv2d") ||
          next.inputs[0] !== out
        ) {
          const readers = edit.readers(out).map((r) => `${r.op} ${r.name}`);
          return refuse(
            "residual",
            `needs a chain of ${count} conv units, but unit ${i} ends at ${out}, read by ${readers.length > 0 ? readers.join(", ") : "nothing"}${edit.isOutput(out) ? " and the graph output" : ""} instead of one conv`,
          );
        }
        units.push(unitOf(edit, next as Extract<Node, { op: "conv2d" | "deformConv2d" }>));
      }
      const last = units[units.length - 1];
      const x = node.inputs[0];
      const join = last.act !== undefined ? last.preAct : last.output;
      const xs = edit.shape(x);
      const ys = edit.shape(join);
      const same = xs.join() === ys.join();
      let stride: [number, number] = [1, 1];
      if (!same) {
        const strideFor = (a: number, b: number): number | null => {
          for (let s = 1; s <= a; s++) if (Math.floor((a - 1) / s) + 1 === b) return s;
          return null;
        };
        const sh = strideFor(xs[2], ys[2]);
        const sw = strideFor(xs[3], ys[3]);
        if (sh === null || sw === null) {
          return refuse(
            "residual",
            `needs a block output a strided 1x1 conv can match, got ${xs.slice(1).join("x")} -> ${ys.slice(1).join("x")}`,
          );
        }
        stride = [sh, sw];
      }
      const scope = edit.fresh(node.scope, "residual");
      edit.setScope(scope, {
        kind: "residual",
        meta: rewriteMeta("residual", node, {
          units: count,
          skip: options.skip as string,
          projection: !same,
        }),
      });
      edit.at(edit.producer(join)!.name, "after");
      const made: string[] = [];
      let skip = x;
      let carry: "exact" | "kept" | "fresh" = "exact";
      if (!same || gate) {
        const [cin, cout] = [xs[1], ys[1]];
        const attrs = same
          ? convAttrs({ inChannels: cin, outChannels: cout, kernelSize: [1, 1], groups: cin, bias: false })
          : convAttrs({ inChannels: cin, outChannels: cout, kernelSize: [1, 1], stride, bias: false });
        const zero =
          gate && edit.weights !== null ? { weight: new Float32Array(cout * (cin / attrs.groups)) } : {};
        [skip] = edit.add("conv2d", [x], attrs, {
          name: edit.fresh(scope, same ? "gate" : "projection"),
          scope,
          data: zero,
        });
        made.push(skip);
        if (!gate) carry = "fresh";
      } else {
        carry = "kept";
      }
      const [sum] = edit.add("add", [join, skip], {}, { name: edit.fresh(scope, "add"), scope });
      made.push(sum);
      if (last.act !== undefined) edit.rewire(join, sum, { only: [last.act.name] });
      else edit.rewire(join, sum, { except: [sum] });
      for (const u of units.slice(1)) covered.add(u.conv.name);
      const out = last.act !== undefined ? last.output : sum;
      return {
        node: node.name,
        oldNodes: units.map((u) => u.conv.name),
        newNodes: [...units.map((u) => u.conv.name), ...made],
        carry,
        detail: `${count} unit(s) ${units.map((u) => u.conv.name).join(" + ")}; skip ${same ? (gate ? "zero gate" : "identity") : `1x1 projection ${xs[1]}->${ys[1]}${stride[0] > 1 || stride[1] > 1 ? ` stride ${stride.join("x")}` : ""}${gate ? " at zero" : ""}`}`,
        compare: { old: last.output, new: out, inputs: [x] },
      };
    });
  },
};
