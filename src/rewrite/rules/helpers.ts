import type { Tensor } from "../../autograd/tensor.js";
import type { Json, Node } from "../../graph/types.js";
import { distillRegion } from "../distill.js";
import type { GraphEdit, ParamData } from "../surgery.js";
import type { Refusal, RuleContext, RuleRun, Site } from "../types.js";

/** What a rule does with one selected node: a site, or the reason it cannot (a refusal). */
export type NodeOutcome = Site | { refuse: string } | { note: string } | null;

/** Runs `fn` on each selected node still present, collecting sites, refusals and notes. */
export function perNode(
  edit: GraphEdit,
  selected: readonly Node[],
  fn: (node: Node, original: Node) => NodeOutcome,
): RuleRun {
  const run: Required<RuleRun> = { sites: [], refusals: [], notes: [] };
  for (const node of selected) {
    if (!edit.has(node.name)) continue;
    // `node` is as the rule's input graph had it (its inputs are values of that graph, for feeding samples).
    const outcome = fn(edit.node(node.name), node);
    if (outcome === null) continue;
    if ("refuse" in outcome)
      run.refusals.push({ node: node.name, reason: `${node.name}: ${outcome.refuse}` } satisfies Refusal);
    else if ("note" in outcome) run.notes.push(`${node.name}: ${outcome.note}`);
    else run.sites.push(outcome);
  }
  return run;
}

/** `{refuse}` with the rule's name in front: "separable needs groups=1, got 4". */
export function refuse(rule: string, text: string): { refuse: string } {
  return { refuse: `${rule} ${text}` };
}

/** Relative Frobenius distance ‖a − b‖ / ‖b‖. */
export function relativeDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dd = 0;
  let bb = 0;
  for (let i = 0; i < b.length; i++) {
    const d = a[i] - b[i];
    dd += d * d;
    bb += b[i] * b[i];
  }
  return bb > 0 ? Math.sqrt(dd / bb) : Math.sqrt(dd);
}

/** Formats a small relative error for site details. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return "0";
  return x < 1e-3 ? x.toExponential(2) : x.toPrecision(3);
}

/** Scope meta recording what a rewrite made a scope from. */
export function rewriteMeta(
  rule: string,
  from: Node,
  extra: Record<string, Json> = {},
): Record<string, Json> {
  const what =
    from.op === "conv2d" || from.op === "deformConv2d"
      ? `${from.op} ${from.attrs.kernelSize.join("x")} ${from.attrs.inChannels}->${from.attrs.outChannels}${from.attrs.groups > 1 ? ` g${from.attrs.groups}` : ""}`
      : from.op;
  return { rewrite: rule, from: from.name, replaced: what, ...extra };
}

/** Sample activations of the graph before the rule (null for a structural rewrite). */
export function activation(context: RuleContext, value: string): Tensor | null {
  if (context.samples === null) return null;
  const t = context.samples.values().get(value);
  return t ?? null;
}

/**
 * Fits the region between `inputs` and `output` of the edit to the old graph's value `target` (same inputs)
 * by distillation; returns the relative fit error, or undefined for a structural rewrite.
 */
export function distillSite(
  edit: GraphEdit,
  context: RuleContext,
  inputs: readonly string[],
  output: string,
  target: string,
  feeds: readonly string[] = inputs,
): number | undefined {
  if (edit.weights === null || context.samples === null) return undefined;
  const values = context.samples.values();
  const feed = inputs.map((name, i) => ({ name, value: values.get(feeds[i])! }));
  return distillRegion(edit, feed, output, values.get(target)!, context.distill);
}

/**
 * Starting data for the conv that ends a distilled block: zero weight and bias, so the block starts at output 0
 * (relative error exactly 1) and the fit can only improve on that; the layers before it keep PyTorch's random
 * init as features to fit from. Empty for a structural rewrite.
 */
export function zeroConv(edit: GraphEdit, weightCount: number, bias: number | null): ParamData {
  if (edit.weights === null) return {};
  return bias === null
    ? { weight: new Float32Array(weightCount) }
    : { weight: new Float32Array(weightCount), bias: new Float32Array(bias) };
}
