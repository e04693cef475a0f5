import type { Tensor } from "../autograd/tensor.js";
import type { Graph, Weights } from "../graph/types.js";
import { inferShapes } from "../graph/validate.js";
import { ArgumentError } from "../tensor/errors.js";
import { compareValues, makeSamples, measureSite, runAll, type SampleInputs } from "./measure.js";
import { resolveOptions } from "./options.js";
import { getRule } from "./registry.js";
import { GraphEdit } from "./surgery.js";
import type {
  DistillSettings,
  ErrorStats,
  MeasuredSite,
  RuleContext,
  RuleResult,
  SampleData,
} from "./types.js";
import { parseWhere } from "./where.js";

/**
 * Applying rules: select nodes, run the rule on a GraphEdit, validate, and measure on sample data how far each
 * rewritten site (alone, on the old network's activations) and the whole model moved from the original.
 */

/** One rule to apply: its name, options, and selector (the rule's default selector when absent). */
export interface RuleStep {
  rule: string;
  options?: Readonly<Record<string, unknown>>;
  where?: string;
}

export interface RewriteOptions {
  /** Sample inputs on which errors are measured (default: `sampleBatch` draws from N(0, 1)). */
  samples?: SampleInputs;
  /**
   * Sample inputs distillation fits on (default: `samples` when given, else `fitBatch` other draws, so that the
   * measured errors of distilled sites are on held-out data).
   */
  fitSamples?: SampleInputs;
  /** Batch of random samples for measuring when `samples` is absent (default 4). */
  sampleBatch?: number;
  /**
   * Batch of random samples to fit on when neither `fitSamples` nor `samples` is given (default 16: a wide layer
   * on a small map has few positions per sample, and fitting it on a few samples overfits them).
   */
  fitBatch?: number;
  /** Seed of new parameters, random samples and fitting (default 0). */
  seed?: number;
  /** Distillation: Adam steps (default 300) and learning rate (default 0.001). */
  distill?: Partial<DistillSettings>;
  /** Measure errors on the samples (default true; needs weights). */
  measure?: boolean;
  /** Throw instead of reporting refusals. */
  strict?: boolean;
}

/** The result of a pipeline of rules. */
export interface RewriteResult {
  /** The original graph. */
  source: Graph;
  graph: Graph;
  weights: Weights | null;
  steps: RuleResult[];
  /** Whole-model output error of the final graph against the original (null without weights). */
  outputError: ErrorStats | null;
}

const DEFAULT_DISTILL: DistillSettings = { steps: 300, lr: 0.001 };

/**
 * Applies one rule: a pure function of the graph and weights (neither is modified). With `weights === null` the
 * rewrite is structural (shapes and analysis only): nothing is carried over or measured.
 */
export function applyRule(
  graph: Graph,
  weights: Weights | null,
  step: RuleStep | string,
  options: RewriteOptions = {},
): RuleResult {
  const { rule: name, options: given, where } = typeof step === "string" ? { rule: step } : step;
  const rule = getRule(name);
  const resolved = resolveOptions(rule, given ?? {});
  const seed = options.seed ?? 0;
  const selector = parseWhere(where ?? rule.defaultWhere);
  const shapes = inferShapes(graph);
  const candidates = graph.nodes.filter((n) => rule.ops.includes(n.op));
  const selected = candidates.filter((n) => selector.matches(n, { shapes }));
  const notes: string[] = [];
  if (selected.length === 0) {
    const what = `no ${rule.ops.join(" or ")} node matches "${selector.text}"`;
    if (where !== undefined)
      throw new ArgumentError(`rule "${rule.name}": where "${where}" selects nothing: ${what}`);
    notes.push(`nothing to rewrite: ${what}`);
  }
  const measure = weights !== null && (options.measure ?? true);
  const batch = options.sampleBatch;
  const data =
    weights === null ? null : makeSamples(graph, weights, { inputs: options.samples, batch, seed: seed + 1 });
  const fit =
    weights === null
      ? null
      : options.fitSamples === undefined && options.samples !== undefined
        ? data
        : makeSamples(graph, weights, {
            inputs: options.fitSamples,
            batch: options.fitBatch ?? 16,
            seed: seed + 2,
          });
  const context: RuleContext = {
    graph,
    weights,
    samples: fit,
    distill: {
      steps: options.distill?.steps ?? DEFAULT_DISTILL.steps,
      lr: options.distill?.lr ?? DEFAULT_DISTILL.lr,
    },
    seed,
  };
  const edit = new GraphEdit(graph, weights, { seed });
  const run =
    selected.length === 0 ? { sites: [], refusals: [] } : rule.run(edit, selected, resolved, context);
  if (options.strict && run.refusals.length > 0) {
    throw new ArgumentError(`rule "${rule.name}" refused: ${run.refusals.map((r) => r.reason).join("; ")}`);
  }
  const out = edit.finish();
  notes.push(...(run.notes ?? []));
  let sites: MeasuredSite[] = run.sites.map((s) => ({ ...s, error: null }));
  let outputError: ErrorStats | null = null;
  if (measure && data !== null && out.weights !== null) {
    const oldValues = data.values();
    let newValues: Map<string, Tensor> | null = null;
    const lazyNew = (): Map<string, Tensor> => {
      newValues ??= runAll(out.graph, out.weights!, data.inputs);
      return newValues;
    };
    sites = run.sites.map((s) => ({
      ...s,
      error: measureSite(s, oldValues, out.graph, out.weights!, lazyNew),
    }));
    outputError = outputsError(graph, oldValues, out.graph, lazyNew);
  }
  return {
    rule: rule.name,
    options: resolved,
    where: selector.text,
    graph: out.graph,
    weights: out.weights,
    before: graph,
    sites,
    refusals: run.refusals,
    notes,
    outputError,
  };
}

/** Worst error over the graph outputs that have the same shape in both graphs (null if none do). */
function outputsError(
  before: Graph,
  oldValues: Map<string, Tensor>,
  after: Graph,
  newValues: () => Map<string, Tensor>,
): ErrorStats | null {
  let worst: ErrorStats | null = null;
  before.outputs.forEach((name, i) => {
    const ref = oldValues.get(name);
    const got = newValues().get(after.outputs[i] ?? "");
    if (ref === undefined || got === undefined || ref.shape.join() !== got.shape.join()) return;
    const e = compareValues(got, ref);
    worst =
      worst === null
        ? e
        : { relL2: Math.max(worst.relL2, e.relL2), maxRel: Math.max(worst.maxRel, e.maxRel) };
  });
  return worst;
}

/**
 * Applies rules in order, each to the previous one's result; sample inputs are the same throughout so the
 * final output error compares the last graph with the original.
 */
export function rewrite(
  graph: Graph,
  weights: Weights | null,
  steps: readonly (RuleStep | string)[],
  options: RewriteOptions = {},
): RewriteResult {
  if (steps.length === 0) throw new ArgumentError("rewrite: expected at least one rule");
  const seed = options.seed ?? 0;
  // Fixed sample inputs for every step, so that errors compare like with like along the pipeline.
  let fixed = options;
  let first: SampleData | null = null;
  if (weights !== null) {
    first = makeSamples(graph, weights, {
      inputs: options.samples,
      batch: options.sampleBatch,
      seed: seed + 1,
    });
    const fitInputs =
      options.fitSamples ??
      (options.samples !== undefined
        ? options.samples
        : makeSamples(graph, weights, { batch: options.fitBatch ?? 16, seed: seed + 2 }).inputs);
    fixed = { ...options, samples: first.inputs, fitSamples: fitInputs };
  }
  let g = graph;
  let w = weights;
  const results: RuleResult[] = [];
  steps.forEach((step, i) => {
    const result = applyRule(g, w, step, { ...fixed, seed: seed + i });
    results.push(result);
    g = result.graph;
    w = result.weights;
  });
  let outputError: ErrorStats | null = null;
  if (first !== null && w !== null && (options.measure ?? true)) {
    const final = makeSamples(g, w, { inputs: first.inputs });
    outputError = outputsError(graph, first.values(), g, () => final.values());
  }
  return { source: graph, graph: g, weights: w, steps: results, outputError };
}
