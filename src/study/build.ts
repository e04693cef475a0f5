import { analyze } from "../analyze/analyze.js";
import type { Analysis } from "../analyze/types.js";
import type { Tensor } from "../autograd/tensor.js";
import type { Graph, Weights } from "../graph/types.js";
import { applyRule, type ErrorStats, getRule, type RuleResult, type RuleStep } from "../rewrite/index.js";
import { initialWeights } from "../train/init-weights.js";
import type { SiteRecord, StepRecord } from "./types.js";

/**
 * A variant's initial model, from the baseline and the rewrite steps:
 *
 * - from scratch: the rewritten architecture with fresh PyTorch-default weights from the seed, except that the
 *   steps at the end whose carry-over is exact (deformable, dilate, se, residual, dense) are applied *with*
 *   weights to that fresh initialisation, so their new parts start as the papers start them (zero offsets,
 *   a zero skip gate, zero dense columns, a constant SE gate) and a variant made of exact steps only starts from
 *   exactly the baseline's initial weights;
 * - fine-tuned: the trained baseline rewritten with its weights carried over (exact, SVD, projection, or
 *   layer-wise distillation fitted on training images).
 */

export interface BuiltModel {
  graph: Graph;
  weights: Weights;
  /** How the initial weights were made, in words. */
  init: string;
  steps: StepRecord[];
  outputError: ErrorStats | null;
}

export interface CarryOptions {
  /** Normalised training images: errors are measured on `samples`, distillation fits on `fitSamples`. */
  samples?: Tensor;
  fitSamples?: Tensor;
  distillSteps: number;
  seed: number;
}

/** Analyses of a step's graph before and after, for per-site parameter and MAC counts. */
function siteRecords(result: RuleResult, before: Analysis, after: Analysis): SiteRecord[] {
  const sum = (a: Analysis, names: readonly string[], key: "params" | "macs") => {
    const set = new Set(names);
    return a.layers.reduce((s, l) => (set.has(l.name) ? s + l[key] : s), 0);
  };
  return result.sites.map((s) => {
    const old = result.before.nodes.find((n) => n.name === s.oldNodes[0] || n.name === s.node);
    const conv =
      old !== undefined && (old.op === "conv2d" || old.op === "deformConv2d")
        ? {
            inChannels: old.attrs.inChannels,
            outChannels: old.attrs.outChannels,
            kernelSize: [...old.attrs.kernelSize] as [number, number],
            groups: old.attrs.groups,
          }
        : null;
    return {
      node: s.node,
      oldNodes: [...s.oldNodes],
      newNodes: [...s.newNodes],
      carry: s.carry,
      detail: s.detail,
      error: s.error,
      paramsBefore: sum(before, s.oldNodes, "params"),
      paramsAfter: sum(after, s.newNodes, "params"),
      macsBefore: sum(before, s.oldNodes, "macs"),
      macsAfter: sum(after, s.newNodes, "macs"),
      conv,
    };
  });
}

/** The JSON record of each step's result (sites with their costs, refusals, notes). */
export function stepRecords(results: readonly RuleResult[]): StepRecord[] {
  return results.map((r) => {
    const before = analyze(r.before);
    const after = analyze(r.graph);
    return {
      rule: r.rule,
      options: { ...r.options },
      where: r.where,
      sites: siteRecords(r, before, after),
      refusals: r.refusals.map((x) => ({ node: x.node, reason: x.reason })),
      notes: [...r.notes],
    };
  });
}

function applyAll(
  graph: Graph,
  weights: Weights | null,
  steps: readonly RuleStep[],
  seed: number,
  carry?: CarryOptions,
): RuleResult[] {
  const results: RuleResult[] = [];
  let g = graph;
  let w = weights;
  steps.forEach((step, i) => {
    const r = applyRule(g, w, step, {
      seed: seed + i,
      measure: carry !== undefined && w !== null,
      samples: carry?.samples,
      fitSamples: carry?.fitSamples,
      distill: carry === undefined ? undefined : { steps: carry.distillSteps },
    });
    results.push(r);
    g = r.graph;
    w = r.weights;
  });
  return results;
}

/** The from-scratch initial model of a variant (see the module comment). */
export function buildFromScratch(
  graph: Graph,
  baselineWeights: Weights,
  steps: readonly RuleStep[],
  seed: number,
): BuiltModel {
  if (steps.length === 0) {
    return {
      graph,
      weights: baselineWeights,
      init: `fresh PyTorch-default initialisation (seed ${seed})`,
      steps: [],
      outputError: null,
    };
  }
  let cut = steps.length;
  while (cut > 0 && getRule(steps[cut - 1].rule).carry === "exact") cut--;
  const structural = applyAll(graph, null, steps.slice(0, cut), seed);
  const mid = structural.at(-1)?.graph ?? graph;
  const start = cut === 0 ? baselineWeights : initialWeights(mid, seed);
  const exact = applyAll(mid, start, steps.slice(cut), seed + cut);
  const last = exact.at(-1) ?? { graph: mid, weights: start };
  const exactNames = steps.slice(cut).map((s) => s.rule);
  const init =
    cut === 0
      ? `the baseline's initial weights (seed ${seed}) carried over exactly; the ${exactNames.join(" and ")} parts start as the identity`
      : `fresh PyTorch-default initialisation (seed ${seed})${exactNames.length > 0 ? `, then ${exactNames.join(" and ")} carried over exactly (new parts start as the identity)` : ""}`;
  return {
    graph: last.graph,
    weights: last.weights!,
    init,
    steps: stepRecords([...structural, ...exact]),
    outputError: null,
  };
}

/** The fine-tuning start: the trained baseline rewritten with its weights carried over. */
export function buildCarriedOver(
  graph: Graph,
  trainedWeights: Weights,
  steps: readonly RuleStep[],
  carry: CarryOptions,
): BuiltModel {
  const results = applyAll(graph, trainedWeights, steps, carry.seed, carry);
  const last = results.at(-1)!;
  const kinds = [...new Set(results.flatMap((r) => r.sites.map((s) => s.carry)))];
  let outputError: ErrorStats | null = null;
  for (const r of results) {
    if (r.outputError === null) continue;
    // Errors compound along a pipeline; a single step (the usual case) reports its own.
    outputError =
      outputError === null
        ? r.outputError
        : {
            relL2: Math.max(outputError.relL2, r.outputError.relL2),
            maxRel: Math.max(outputError.maxRel, r.outputError.maxRel),
          };
  }
  return {
    graph: last.graph,
    weights: last.weights!,
    init: `the trained baseline's weights carried over (${kinds.join(", ")})`,
    steps: stepRecords(results),
    outputError,
  };
}
