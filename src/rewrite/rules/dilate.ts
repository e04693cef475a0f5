import { inferNode } from "../../graph/infer.js";
import type { Node, Pads } from "../../graph/types.js";
import type { GraphEdit } from "../surgery.js";
import type { Refusal, Rule, RuleRun, Site } from "../types.js";

/**
 * dilate: keep resolution, as for segmentation (DeepLab's atrous trick). Each selected strided layer (conv or
 * pool, stride s) gets stride 1, and every spatial layer after it gets its dilation and padding multiplied by the
 * density r its input now has (r = product of the removed strides on its path), so each keeps its receptive
 * field in input pixels.
 *
 * Exactness: weights are unchanged, and the new feature maps contain the old ones on the lattice of step r: new
 * value at (r·i, r·j) = old value at (i, j) (exact when the sizes divide by the strides; measured per selected
 * layer by subsampling). Only an op that folds the map (global pooling) sees the extra points: a classifier's
 * output therefore changes, a segmentation head's does not on the lattice.
 *
 * Refusals: a denser map must not reach flatten/reshape/linear (their size is fixed), an average pool with a
 * window (it has no dilation), a deformable conv (its offsets are in pixels), or a max pool whose padding would
 * exceed half its window; a join (add, concat, mul) must see its inputs at the same density (e.g. a ResNet block's
 * conv and its downsample must be selected together). The refusal names the selected layers and the node.
 */
export const dilate: Rule = {
  name: "dilate",
  family: "kernel",
  description:
    "keep resolution: a strided layer gets stride 1 and the layers after it dilation x stride (DeepLab)",
  carry: "exact",
  exactness:
    "weights unchanged; the denser maps equal the old ones on the stride lattice (sizes divisible by the strides); a global pool afterwards averages the extra points",
  options: {},
  ops: ["conv2d", "maxPool2d", "avgPool2d"],
  defaultWhere: "stride>=2",
  run(edit, selected) {
    const refusals: Refusal[] = [];
    let active = selected.filter((node) => {
      const s = strideOf(node);
      if (s[0] > 1 || s[1] > 1) return true;
      refusals.push({
        node: node.name,
        reason: `${node.name}: dilate needs a strided layer (stride>1), got stride ${s.join("x")}`,
      });
      return false;
    });
    for (;;) {
      const plan = planRates(edit, new Set(active.map((n) => n.name)));
      if (plan.blocked === null) return apply(edit, active, plan.rates, refusals);
      const { origins, reason } = plan.blocked;
      for (const name of origins) refusals.push({ node: name, reason: `${name}: dilate: ${reason}` });
      active = active.filter((n) => !origins.includes(n.name));
      if (active.length === 0) return { sites: [], refusals };
    }
  },
};

type Rate = [number, number];

/** A changed node: the density of its (first) input and output, and the selected layers that cause it. */
interface Change {
  input: Rate;
  output: Rate;
  from: string[];
}

interface Plan {
  rates: Map<string, Change>;
  blocked: { origins: string[]; reason: string } | null;
}

function upstreamFirst(from: Set<string>, self: string): string[] {
  const others = [...from].filter((n) => n !== self);
  return others.length > 0 ? others : [...from];
}

function strideOf(node: Node): [number, number] {
  return node.op === "conv2d" || node.op === "maxPool2d" || node.op === "avgPool2d"
    ? node.attrs.stride
    : [1, 1];
}

const one = (r: Rate): boolean => r[0] === 1 && r[1] === 1;

/** Propagates densities from the selected layers; stops at the first node that cannot take a denser input. */
function planRates(edit: GraphEdit, active: Set<string>): Plan {
  const rate = new Map<string, { r: Rate; from: Set<string> }>();
  const rates = new Map<string, Change>();
  const get = (v: string) => rate.get(v) ?? { r: [1, 1] as Rate, from: new Set<string>() };
  const shapes = (v: string) => edit.shape(v);
  for (const node of edit.nodeList) {
    // Spatial inputs (a [N, C, 1, 1] gate broadcasts and has no density).
    const spatial = node.inputs.filter((v) => {
      const s = shapes(v);
      return s.length === 4 && s[2] * s[3] > 1;
    });
    const ins = spatial.map(get);
    const denser = ins.filter((i) => !one(i.r));
    const from = new Set(ins.flatMap((i) => [...i.from]));
    const rin: Rate = ins.length > 0 ? ins[0].r : [1, 1];
    // Blame the selected layers upstream first; the node itself only when nothing upstream is involved.
    const block = (reason: string): Plan => ({
      rates,
      blocked: { origins: upstreamFirst(from, node.name), reason },
    });
    if (ins.some((i) => i.r[0] !== rin[0] || i.r[1] !== rin[1])) {
      const other = ins.find((i) => i.r[0] !== rin[0] || i.r[1] !== rin[1])!;
      return block(
        `${node.op} node ${node.name} would join maps at densities ${rin.join("x")} and ${other.r.join("x")}; select the strided layers of every branch together`,
      );
    }
    const selected = active.has(node.name);
    if (denser.length === 0 && !selected) continue;
    let rout: Rate = rin;
    switch (node.op) {
      case "conv2d":
      case "maxPool2d":
      case "avgPool2d": {
        const s = node.attrs.stride;
        if (selected) {
          from.add(node.name);
          rout = [rin[0] * s[0], rin[1] * s[1]];
        }
        const k = node.attrs.kernelSize;
        if (!one(rin) && node.op === "avgPool2d" && k[0] * k[1] > 1) {
          return block(
            `avgPool2d node ${node.name} would read a denser map, and average pooling has no dilation`,
          );
        }
        break;
      }
      case "deformConv2d":
        return block(`deformConv2d node ${node.name} would read a denser map (its offsets are in pixels)`);
      case "adaptiveAvgPool2d":
      case "adaptiveMaxPool2d":
        rout = [1, 1];
        break;
      case "mean":
      case "sum": {
        const dims = node.attrs.dims;
        if (!(dims.includes(2) && dims.includes(3))) {
          return block(`${node.op} node ${node.name} keeps a spatial axis of a denser map`);
        }
        rout = [1, 1];
        break;
      }
      case "concat":
      case "split":
        if (node.attrs.axis !== 1)
          return block(`${node.op} node ${node.name} works on a spatial axis of a denser map`);
        break;
      case "batchNorm2d":
      case "relu":
      case "relu6":
      case "leakyRelu":
      case "sigmoid":
      case "hardSigmoid":
      case "hardSwish":
      case "silu":
      case "tanh":
      case "dropout":
      case "identity":
      case "add":
      case "sub":
      case "mul":
      case "div":
      case "channelShuffle":
        break;
      default:
        return block(
          `${node.op} node ${node.name} would read a map ${rin.join("x")} times denser (it needs the original size; stop before it, e.g. at a global pool)`,
        );
    }
    if (selected || !one(rin)) rates.set(node.name, { input: rin, output: rout, from: [...from] });
    const out = { r: rout, from: one(rout) ? new Set<string>() : from };
    for (const v of node.outputs) rate.set(v, out);
  }
  // The new attributes must give valid pools and consistent joins: check on a trial copy.
  const trial = trialAttrs(edit, active, rates);
  if ("failed" in trial) {
    const failed = trial.failed;
    const origins =
      failed === null ? [...active] : upstreamFirst(new Set(rates.get(failed)?.from ?? active), failed);
    return { rates, blocked: { origins, reason: trial.reason } };
  }
  return { rates, blocked: null };
}

/**
 * New attrs of every changed node, or the reason they are not valid. Shapes are inferred node by node on the
 * new attrs, so that a selected layer after another one pads for its actual (denser) input.
 */
function trialAttrs(
  edit: GraphEdit,
  active: Set<string>,
  rates: Map<string, Change>,
): { attrs: Map<string, Node["attrs"]> } | { failed: string | null; reason: string } {
  const attrs = new Map<string, Node["attrs"]>();
  const shapes = new Map<string, number[]>();
  for (const info of edit.source.inputs) shapes.set(info.name, edit.shape(info.name));
  for (const node of edit.nodeList) {
    const plan = rates.get(node.name);
    let next: Node = node;
    if (plan !== undefined && (node.op === "conv2d" || node.op === "maxPool2d" || node.op === "avgPool2d")) {
      const r = plan.input;
      const a = node.attrs;
      const d = "dilation" in a ? a.dilation : ([1, 1] as [number, number]);
      const k = a.kernelSize;
      const dil: [number, number] = [d[0] * r[0], d[1] * r[1]];
      let pads: Pads = [a.padding[0] * r[0], a.padding[1] * r[1], a.padding[2] * r[0], a.padding[3] * r[1]];
      let stride = a.stride;
      if (active.has(node.name)) {
        // Stride 1, and padding after so that the dense output has (r x stride x) the old output's size; a pool,
        // whose padding PyTorch limits to half its window, gets at least the lattice's last point instead.
        const inShape = shapes.get(node.inputs[0])!;
        const outShape = edit.shape(node.outputs[0]);
        const after = (axis: 0 | 1): number => {
          const step = r[axis] * a.stride[axis];
          const have = inShape[2 + axis] + pads[axis] - (k[axis] - 1) * dil[axis];
          const full = Math.max(0, step * outShape[2 + axis] - have);
          const least = Math.max(0, step * (outShape[2 + axis] - 1) + 1 - have);
          return node.op !== "conv2d" && full > Math.floor(k[axis] / 2) ? least : full;
        };
        pads = [pads[0], pads[1], after(0), after(1)];
        stride = [1, 1];
      }
      if (node.op !== "conv2d" && pads.some((p, i) => p > Math.floor(k[i % 2] / 2))) {
        return {
          failed: node.name,
          reason: `${node.op} node ${node.name} would need padding [${pads.join(", ")}], more than half its ${k.join("x")} window`,
        };
      }
      const changed =
        node.op === "avgPool2d"
          ? { ...node.attrs, stride, padding: pads }
          : { ...node.attrs, stride, padding: pads, dilation: dil };
      attrs.set(node.name, changed);
      next = { ...node, attrs: changed } as Node;
    }
    try {
      const outs = inferNode(
        next,
        next.inputs.map((v) => shapes.get(v)!),
      );
      next.outputs.forEach((v, i) => {
        shapes.set(v, outs[i]);
      });
    } catch (e) {
      return {
        failed: rates.has(node.name) ? node.name : null,
        reason: `the denser network does not fit: ${(e as Error).message}`,
      };
    }
  }
  return { attrs };
}

function apply(edit: GraphEdit, active: Node[], rates: Map<string, Change>, refusals: Refusal[]): RuleRun {
  const names = new Set(active.map((n) => n.name));
  const trial = trialAttrs(edit, names, rates);
  if ("failed" in trial) {
    for (const n of active) refusals.push({ node: n.name, reason: `${n.name}: dilate: ${trial.reason}` });
    return { sites: [], refusals };
  }
  const attrs = trial.attrs;
  for (const [name, a] of attrs) edit.update(name, a as never);
  const changed = [...attrs.keys()];
  const sites: Site[] = active.map((node) => {
    const r = rates.get(node.name)!;
    return {
      node: node.name,
      oldNodes: [node.name],
      newNodes: [node.name],
      carry: "exact",
      detail: `stride ${strideOf(node).join("x")} -> 1; output ${r.output.join("x")} denser; ${changed.length - 1} later layer(s) dilated`,
      compare: { old: node.outputs[0], new: node.outputs[0], rate: r.output },
    };
  });
  return { sites, refusals };
}
