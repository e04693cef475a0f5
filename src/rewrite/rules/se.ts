import type { Node } from "../../graph/types.js";
import type { GraphEdit } from "../surgery.js";
import type { Rule } from "../types.js";
import { convAttrs, isConv, POSITIVELY_HOMOGENEOUS, soleReader, unitOf } from "../units.js";
import { fmt, perNode, rewriteMeta } from "./helpers.js";

/**
 * se: squeeze-and-excitation after a conv unit (conv -> bn -> act; on a ResNet branch, before the join), laid out
 * as the `squeezeExcite` block: avgpool -> fc1 (1x1 conv C -> C/r) -> relu -> fc2 (1x1 conv C/r -> C) -> sigmoid
 * -> scale (x * gate). The unit's readers then read the scaled map.
 *
 * Carry-over. fc2 starts with weight 0 and bias b, so the gate is the constant σ(b) whatever the input (fc1 keeps
 * PyTorch's random init, so fc2 gets gradients from the first step). A constant gate can be undone exactly: the
 * last affine layer before the SE point (the unit's batch norm γ and β, or the conv's weight and bias), reached
 * through positively homogeneous ops only (relu, leaky relu, pools, dropout), is divided by σ(b), and
 * σ(b)·(x/σ(b)) = x within float rounding. b defaults to 0 then (gate 0.5, the steepest point of the sigmoid).
 * Where no such layer exists (e.g. after relu6 or an add), nothing can absorb the gate and b defaults to 10: the
 * block passes features scaled by σ(10) = 1 − 4.5e-5, and that is the relative error it reports.
 */
export const se: Rule = {
  name: "se",
  family: "channels",
  description: "add squeeze-and-excitation (reduction r) after a conv unit; starts as an identity",
  carry: "exact",
  exactness:
    "the gate starts constant (fc2 weight 0, bias b) and the unit's batch norm or conv is divided by sigmoid(b): exact within float error; where nothing can absorb it, b = 10 and the output is scaled by 1 - 4.5e-5",
  options: {
    reduction: {
      type: "number",
      default: 16,
      min: 1,
      description: "squeeze channels = max(1, floor(C / r))",
    },
    gateBias: {
      type: "number",
      default: null,
      nullable: true,
      description: "initial fc2 bias b (default: 0 when compensated, else 10)",
    },
  },
  ops: ["conv2d", "deformConv2d"],
  defaultWhere: "op=conv2d",
  run(edit, selected, options) {
    return perNode(edit, selected, (node) => {
      if (!isConv(node) && node.op !== "deformConv2d") return null;
      const unit = unitOf(edit, node);
      const u = unit.output;
      const c = edit.shape(u)[1];
      const squeeze = Math.max(1, Math.floor(c / (options.reduction as number)));
      const absorber = findAbsorber(edit, u);
      const b = (options.gateBias as number | null) ?? (absorber === null ? 10 : 0);
      // The gate as float32 computes it, so the compensation cancels it to the last bit where it can.
      const gate = Math.fround(1 / (1 + Math.exp(-b)));
      const scale = 1 / gate;
      let detail: string;
      let inputs = [u];
      if (absorber !== null) {
        for (const role of ["weight", "bias"] as const) {
          const data = edit.nodeParam(absorber.node, role);
          const pname = (absorber.node.params as Record<string, string | undefined>)[role];
          if (data !== null && pname !== undefined)
            edit.setParam(
              pname,
              data.map((v) => v * scale),
            );
        }
        inputs = absorber.node.inputs.slice(0, 1);
        detail = `gate starts at sigmoid(${b}) = ${fmt(gate)}; ${absorber.node.name} scaled by ${fmt(scale)} to cancel it`;
      } else {
        detail = `gate starts at sigmoid(${b}) = ${fmt(gate)}; nothing before it can absorb the gate (output scaled by ${fmt(gate)})`;
      }
      const scope = edit.fresh(node.scope, "se");
      edit.setScope(scope, {
        kind: "squeezeExcite",
        meta: rewriteMeta("se", node, {
          reduction: options.reduction as number,
          squeezeChannels: squeeze,
          gateBias: b,
        }),
      });
      const producer = edit.producer(u)!;
      edit.at(producer.name, "after");
      const made: string[] = [];
      const add = (names: string[]): string => {
        made.push(...names);
        return names[0];
      };
      const pooled = add(
        edit.add(
          "adaptiveAvgPool2d",
          [u],
          { outputSize: [1, 1] },
          { name: edit.fresh(scope, "avgpool"), scope },
        ),
      );
      const fc1 = add(
        edit.add("conv2d", [pooled], convAttrs({ inChannels: c, outChannels: squeeze, kernelSize: [1, 1] }), {
          name: edit.fresh(scope, "fc1"),
          scope,
        }),
      );
      const r = add(edit.add("relu", [fc1], {}, { name: edit.fresh(scope, "relu"), scope }));
      const fc2Data =
        edit.weights === null
          ? {}
          : { weight: new Float32Array(c * squeeze), bias: new Float32Array(c).fill(b) };
      const fc2 = add(
        edit.add("conv2d", [r], convAttrs({ inChannels: squeeze, outChannels: c, kernelSize: [1, 1] }), {
          name: edit.fresh(scope, "fc2"),
          scope,
          data: fc2Data,
        }),
      );
      const s = add(edit.add("sigmoid", [fc2], {}, { name: edit.fresh(scope, "sigmoid"), scope }));
      const out = add(edit.add("mul", [u, s], {}, { name: edit.fresh(scope, "scale"), scope }));
      edit.rewire(u, out, { except: [made[0], out] });
      return {
        node: node.name,
        oldNodes: absorber === null ? [] : [absorber.node.name],
        newNodes: absorber === null ? made : [absorber.node.name, ...made],
        carry: absorber === null ? "kept" : "exact",
        detail,
        compare: { old: u, new: out, inputs },
      };
    });
  },
};

/**
 * The layer that can absorb a positive scale of value `u`: walking back from u through positively homogeneous
 * single-reader ops to an affine batch norm or a conv/linear whose parameters nobody else uses. Null if none.
 */
function findAbsorber(edit: GraphEdit, u: string): { node: Node } | null {
  let value = u;
  for (;;) {
    const p = edit.producer(value);
    if (p === undefined) return null;
    if (value !== u && soleReader(edit, value) === undefined) return null;
    if (POSITIVELY_HOMOGENEOUS.includes(p.op) && p.inputs.length === 1) {
      value = p.inputs[0];
      continue;
    }
    const affine =
      (p.op === "batchNorm2d" && p.attrs.affine) ||
      p.op === "conv2d" ||
      p.op === "deformConv2d" ||
      p.op === "linear";
    if (!affine) return null;
    const names = Object.values(p.params as Record<string, string>);
    const shared = edit.nodeList.some(
      (n) => n !== p && Object.values(n.params as Record<string, string>).some((q) => names.includes(q)),
    );
    return shared ? null : { node: p };
  }
}
