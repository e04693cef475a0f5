import type { Tensor } from "../autograd/tensor.js";
import type { Graph, Node, OpName, Weights } from "../graph/types.js";
import type { GraphEdit } from "./surgery.js";

/**
 * The rewriter's vocabulary: rules, their options, what they did (sites), what they refused, and how well
 * the rewritten network reproduces the original (errors measured on sample data).
 */

/**
 * How a rule carries the trained weights over to the rewritten network:
 * - `exact`: function preserving; the output is unchanged within float error;
 * - `approximate: SVD`: the new kernels are a truncated SVD (low-rank factorisation) of the old one, the best
 *   approximation of the kernel in the Frobenius norm, exact when the kernel's rank allows;
 * - `approximate: projection`: the old kernel projected onto the new structure (grouped: its block-diagonal
 *   part), again the best in the Frobenius norm, exact when the kernel already has that structure;
 * - `approximate: distillation`: the new block is fitted to the old block's outputs on sample inputs with Adam;
 * - `kept`: the weights are kept as they are but the function changes (e.g. a shuffle in front of a grouped conv);
 * - `fresh`: new weights are initialised as PyTorch does; only the untouched layers keep theirs.
 */
export type CarryKind =
  | "exact"
  | "approximate: SVD"
  | "approximate: projection"
  | "approximate: distillation"
  | "kept"
  | "fresh";

/** A rule option's value. */
export type OptionValue = number | boolean | string | number[] | null;

/** Schema of one option: its type, default and one-line description (for `convkit rules` and validation). */
export interface OptionSpec {
  type: "integer" | "number" | "boolean" | "enum" | "integer[]";
  default: OptionValue;
  description: string;
  /** Allowed values of an enum. */
  values?: readonly string[];
  /** Smallest allowed number (integers and numbers, each element of integer[]). */
  min?: number;
  /** Whether null is allowed (an "auto" default). */
  nullable?: boolean;
}

export type OptionSchema = Readonly<Record<string, OptionSpec>>;

/** Options as a rule receives them: every schema key present, validated. */
export type RuleOptions = Readonly<Record<string, OptionValue>>;

/** Sample data for distillation and error measurement. */
export interface SampleData {
  /** Graph inputs (one tensor for a single-input graph, or by input name). */
  inputs: Record<string, Tensor>;
  /** Every value of the graph being rewritten, computed on `inputs` in eval mode (lazily). */
  values(): Map<string, Tensor>;
}

/** Settings shared by every rule of one rewrite. */
export interface RuleContext {
  /** The graph before this rule (the edit works on a copy of it). */
  graph: Graph;
  /** Its weights, or null for a structural rewrite (no carry-over, no measurement). */
  weights: Weights | null;
  /** Samples to distil on (present when weights are). */
  samples: SampleData | null;
  /** Distillation settings. */
  distill: DistillSettings;
  /** Seed for new parameters and fitting. */
  seed: number;
}

export interface DistillSettings {
  steps: number;
  lr: number;
}

/**
 * One place a rule rewrote: the nodes it replaced or changed, the nodes now standing there, and how to compare
 * the two on sample data.
 */
export interface Site {
  /** The selected node the rewrite started from. */
  node: string;
  /** Nodes of the old graph this site replaced or changed. */
  oldNodes: string[];
  /** Nodes of the new graph that stand for them (new ones and changed ones). */
  newNodes: string[];
  /** What the site's carry-over actually was (the rule's kind, or another where options or shapes decide). */
  carry: CarryKind;
  /** A short note on the site ("rank 1 of 9: weight error 0.31", "gate bias 0, bn scaled by 2"...). */
  detail: string;
  /**
   * How to compare: `old` is a value of the old graph, `new` one of the new graph. With `inputs`, the new
   * nodes are run on their own on the old graph's values of these inputs (the error of this site alone);
   * without, both whole graphs are run and the values compared (errors of earlier sites included).
   * `feeds`: old-graph values to feed the inputs with, where their names differ (an earlier site of the same
   * rule rewired the input); an input found in neither graph's old values is fed the new graph's value.
   * `rate`: the new value is denser by this factor per axis (dilate): compare new[::rate] with old.
   */
  compare: { old: string; new: string; inputs?: string[]; feeds?: string[]; rate?: [number, number] };
  /** Relative error of the carried-over weights themselves (SVD, projection), when meaningful. */
  weightError?: number;
  /** Distillation: relative L2 error reached on the fitting samples (the measured `error` is on held-out ones). */
  fitError?: number;
}

/** A selected node the rule could not rewrite, and why ("stage1.conv1: separable needs groups=1, got 4"). */
export interface Refusal {
  node: string;
  reason: string;
}

/** What a rule's `run` returns. */
export interface RuleRun {
  sites: Site[];
  refusals: Refusal[];
  /** Remarks that are neither sites nor refusals (nodes skipped because an earlier site covered them). */
  notes?: string[];
}

/** A rewrite rule: a pure transform selected by name. */
export interface Rule {
  name: string;
  family: "kernel" | "channels" | "connections";
  /** One line, for `convkit rules`. */
  description: string;
  /** The carry-over kind with the default options. */
  carry: CarryKind;
  /** When the carry-over is exact, or how good it is. */
  exactness: string;
  options: OptionSchema;
  /** Ops the rule acts on (nodes of other ops are never selected). */
  ops: readonly OpName[];
  /** Selector used when the caller gives none. */
  defaultWhere: string;
  /** Rewrites the selected nodes (in graph order) in `edit`. */
  run(edit: GraphEdit, selected: Node[], options: RuleOptions, context: RuleContext): RuleRun;
}

/** Relative error of one comparison: ‖Δ‖₂/‖ref‖₂ and max|Δ| / max|ref|. */
export interface ErrorStats {
  relL2: number;
  maxRel: number;
}

/** A site with its measured error. */
export interface MeasuredSite extends Site {
  error: ErrorStats | null;
}

/** The result of one rule on one graph. */
export interface RuleResult {
  rule: string;
  options: RuleOptions;
  where: string;
  graph: Graph;
  weights: Weights | null;
  /** The graph the rule started from. */
  before: Graph;
  sites: MeasuredSite[];
  refusals: Refusal[];
  notes: string[];
  /** Whole-model output error against the graph before this rule (null without weights or comparable outputs). */
  outputError: ErrorStats | null;
}
