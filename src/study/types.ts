import type { Dataset } from "../data/dataset.js";
import type { Graph, Weights } from "../graph/types.js";
import type { CarryKind, ErrorStats, RuleStep } from "../rewrite/index.js";
import type { EpochRecord, StopReason, TrainEvent } from "../train/loop.js";
import type { OptimizerName } from "../train/loop-config.js";

/**
 * The study's vocabulary: what `runStudy` takes, the variants it plans, what it records for each, and the
 * report it writes (`report.json`, documented in docs/study.md). Records are plain JSON data.
 */

/** The `format` tag and version of report.json. */
export const STUDY_FORMAT = "convkit.study";
export const STUDY_VERSION = 1;

/** How a variant came to be: the baseline itself, a rewrite trained from scratch, or fine-tuned from the trained baseline. */
export type VariantKind = "baseline" | "scratch" | "finetune";

export interface StudyData {
  train: Dataset;
  test: Dataset;
  /** For the report: where the data came from ("embedded", "system", "dir") and the folder. */
  source?: string;
  dir?: string;
}

export interface StudyBaseline {
  /** Name for the report (default: the graph's name). */
  name?: string;
  graph: Graph;
  /** Initial weights (default: fresh PyTorch-default initialisation from the seed). */
  weights?: Weights;
}

/** A progress event (for terminals and logs). */
export type StudyEvent =
  | { kind: "plan"; runs: PlannedRunInfo[]; mode: "epochs" | "budget"; budgetSeconds: number | null }
  | {
      kind: "variant-start";
      index: number;
      total: number;
      id: string;
      label: string;
      /** Planned epochs, and the training time allowed (budget mode). */
      epochs: number;
      budgetSeconds: number | null;
      resumed: boolean;
      elapsedSeconds: number;
      etaSeconds: number;
    }
  | { kind: "phase"; id: string; text: string }
  | { kind: "train"; id: string; index: number; total: number; event: TrainEvent; etaSeconds: number }
  | { kind: "variant-done"; index: number; total: number; record: VariantRecord; skipped: boolean }
  | { kind: "variant-failed"; index: number; total: number; id: string; error: string }
  | { kind: "interrupted"; id: string | null }
  | { kind: "done"; seconds: number; reportDir: string };

export interface PlannedRunInfo {
  id: string;
  label: string;
  kind: VariantKind;
}

export interface StudyOptions {
  /** A zoo name (default STUDY_BASELINE, "fmnist-vgg-large") or a graph with optional initial weights. */
  baseline?: string | StudyBaseline;
  /**
   * Rules to study: "all" (default: every rule of the registry and the combined "modern" variant) or a list of
   * rule names / specs ("group:groups=4"); the name "modern" in the list adds the combined variant.
   */
  rules?: "all" | readonly string[];
  /** Epochs of every from-scratch run (fixed-work mode). Exclusive with `budgetMinutes`. */
  epochs?: number;
  /**
   * Wall-clock budget of the whole study in minutes (default 9 when `epochs` is absent): each training run gets
   * an equal share of what is left (fine-tuning half a share) and as many epochs as fit in it.
   */
  budgetMinutes?: number;
  /** Also fine-tune each exact/approximate rewrite from the trained baseline (default true). */
  fineTune?: boolean;
  /** Epochs of a fine-tuning run in fixed-work mode (default max(1, ceil(epochs / 2))). */
  fineTuneEpochs?: number;
  /** Default: the embedded Fashion-MNIST subset. */
  data?: StudyData;
  /** Seed of initial weights, data order, rewrites (default 0). */
  seed?: number;
  /** Output folder (report, models, checkpoints). */
  outDir: string;
  /** Continue the study in `outDir` (completed variants are kept, the one in progress resumes). */
  resume?: boolean;
  /** Kernel threads (setNumThreads); default: the library's setting. */
  threads?: number;
  /** "auto" (default: WebAssembly SIMD when available), "wasm", "reference". */
  kernels?: "auto" | "wasm" | "reference";
  /**
   * Training hyper-parameters shared by every run (cosine schedule). Default: AdamW, batch 32, lr 0.002 under a
   * time budget (short runs); SGD with momentum 0.9, batch 64, lr 0.05 with fixed epochs.
   */
  optimizer?: OptimizerName;
  batchSize?: number;
  /** From-scratch learning rate, and fine-tuning's (default lr / 5). */
  lr?: number;
  fineTuneLr?: number;
  /** Default 5e-4 (SGD), 0.01 (AdamW), 0 (Adam). */
  weightDecay?: number;
  augment?: boolean;
  /** Adam steps of layer-wise distillation in carried-over rewrites (default 100). */
  distillSteps?: number;
  /** Timed inference runs at batch 1 and 64 (default 9 and 5, after one warm-up each). */
  latencyRuns?: { batch1?: number; batch64?: number };
  /** Training steps between checkpoints (default 25). */
  checkpointEvery?: number;
  /** Aborting stops after the current step, saves everything, writes the report so far, and returns. */
  signal?: AbortSignal;
  onEvent?: (event: StudyEvent) => void;
  /** Test hook: called before each variant is built; a throw makes that variant fail. */
  beforeVariant?: (id: string) => void;
}

/** One variant to build and train. */
export interface VariantPlan {
  id: string;
  label: string;
  kind: VariantKind;
  /** The rule the variant stands for (null for the baseline; the last step's rule for combinations). */
  rule: string | null;
  /** Rewrite steps from the baseline. */
  steps: RuleStep[];
  /** The variant it should be compared with (the baseline, or the prerequisite variant of a combination). */
  reference: string | null;
  /** Weight of its share of a time budget (1 from scratch, 0.5 fine-tuning). */
  weight: number;
  /** Why a combination: "residual needs ... (applied after stack-small)". */
  note?: string;
}

/** What one rule did when the study tried it on the baseline. */
export interface RuleRecord {
  rule: string;
  family: string;
  description: string;
  /** The rule's carry-over kind with its default options. */
  carry: CarryKind;
  /** The step the study applied (options and selector). */
  step: RuleStep;
  /** Whether it rewrote anything on the baseline (alone or after its prerequisite). */
  applies: boolean;
  /** Prerequisite rules applied first, when the rule alone had nothing to rewrite. */
  after: string[];
  sites: number;
  refusals: { node: string; reason: string }[];
  notes: string[];
  /** Variant ids made from this rule. */
  variants: string[];
}

export interface SiteRecord {
  node: string;
  oldNodes: string[];
  newNodes: string[];
  carry: CarryKind;
  detail: string;
  /** Relative error of the site on sample data (carried-over rewrites only). */
  error: ErrorStats | null;
  /** Parameters and MACs (batch 1) of the replaced nodes and of the nodes standing for them, by the analyzer. */
  paramsBefore: number;
  paramsAfter: number;
  macsBefore: number;
  macsAfter: number;
  /** The replaced convolution's configuration, when the site replaced one. */
  conv: { inChannels: number; outChannels: number; kernelSize: [number, number]; groups: number } | null;
}

export interface StepRecord {
  rule: string;
  options: Record<string, unknown>;
  where: string;
  sites: SiteRecord[];
  refusals: { node: string; reason: string }[];
  notes: string[];
}

export interface CostRecord {
  params: number;
  buffers: number;
  /** Multiply-accumulates at batch 1 (torchvision's convention: conv, deformable conv and linear). */
  macs: number;
  flops: number;
  /** Model receptive field [h, w] in input pixels, with its flags. */
  receptiveField: {
    size: [number, number];
    jump: [number, number];
    deformable: boolean;
    globalContext: boolean;
  } | null;
  /** Spatial size [h, w] of the last feature map before global pooling. */
  finalMap: [number, number] | null;
}

export interface LatencyRecord {
  /** Median milliseconds of one forward pass (eval mode, noGrad) at batch 1 and 64. */
  batch1Ms: number;
  batch64Ms: number;
  /** Every timed run, milliseconds. */
  batch1Runs: number[];
  batch64Runs: number[];
  /** Measured on another variant of the same architecture (fine-tuning reuses its from-scratch twin's). */
  sameAs?: string;
}

export interface TrainingRecord {
  /** Epochs planned and finished, steps, training images seen (partial epochs included). */
  epochsPlanned: number;
  epochs: number;
  steps: number;
  images: number;
  /** Wall-clock seconds of training and per-epoch evaluation (resumed sessions summed). */
  seconds: number;
  /** Training images per second over the run. */
  imagesPerSecond: number;
  stopped: StopReason;
  lr: number;
  /** Training time the budget allowed (budget mode), seconds. */
  budgetSeconds: number | null;
  /** Where this run resumed from, if it was interrupted. */
  resumedFrom: { epoch: number; step: number; batch: number } | null;
  history: EpochRecord[];
  /**
   * Training loss smoothed over steps (exponential moving average, factor 0.1), sampled about 25 times an epoch,
   * as [epochs so far, loss]; covers the last session only when the run was resumed.
   */
  lossCurve: [number, number][];
}

export interface VariantRecord {
  id: string;
  label: string;
  kind: VariantKind;
  rule: string | null;
  reference: string | null;
  note?: string;
  status: "done" | "failed";
  /** The error message of a failed variant. */
  error?: string;
  /** How the initial weights were made. */
  init: string;
  steps: StepRecord[];
  /** Whole-model output error of a carried-over rewrite against the trained baseline (sample images). */
  outputError: ErrorStats | null;
  cost: CostRecord | null;
  latency: LatencyRecord | null;
  training: TrainingRecord | null;
  /** Test accuracy (0..1), its standard error sqrt(p(1-p)/n), test loss. */
  accuracy: number | null;
  standardError: number | null;
  testLoss: number | null;
  /** Fine-tuning: test accuracy right after the rewrite, before any training. */
  accuracyAtStart: number | null;
  /** Saved model folder and drawing, relative to the study folder. */
  model: string | null;
  drawing: string | null;
  finishedAt: string;
}

export type Verdict = "supported" | "not supported" | "inconclusive" | "not tested";

export interface ClaimRecord {
  id: string;
  /** Article section ("§2") and the claim in one sentence. */
  section: string;
  claim: string;
  /** Variants compared. */
  variants: string[];
  /** The numbers behind the verdict, by name. */
  measured: Record<string, number | string | null>;
  /** What was measured, in a sentence or two with the numbers. */
  finding: string;
  verdict: Verdict;
}

export interface StudyReport {
  format: typeof STUDY_FORMAT;
  version: typeof STUDY_VERSION;
  convkit: string;
  status: "complete" | "interrupted";
  baseline: { name: string; graph: string };
  data: {
    source: string;
    dir: string | null;
    train: { name: string; images: number };
    test: { name: string; images: number };
  };
  settings: {
    mode: "epochs" | "budget";
    epochs: number | null;
    fineTuneEpochs: number | null;
    budgetMinutes: number | null;
    fineTune: boolean;
    seed: number;
    batchSize: number;
    optimizer: OptimizerName;
    /** SGD's momentum (null for Adam/AdamW). */
    momentum: number | null;
    weightDecay: number;
    schedule: "cosine";
    lr: number;
    fineTuneLr: number;
    augment: boolean;
    distillSteps: number;
    normalize: { mean: number[]; std: number[] };
    rules: string[];
  };
  machine: {
    node: string;
    platform: string;
    cpus: number;
    kernels: string;
    threads: { requested: number; active: number; reason: string | null };
    loadAverage: number[];
  };
  timing: { startedAt: string; finishedAt: string; seconds: number; sessions: number };
  noise: { testImages: number; standardErrorPoints: number | null; note: string };
  rules: RuleRecord[];
  variants: VariantRecord[];
  /** Ids of the pending variants (an interrupted study). */
  pending: string[];
  /** Ids on the accuracy-vs-MACs Pareto front. */
  pareto: string[];
  claims: ClaimRecord[];
}

/** What `runStudy` returns. */
export interface StudyResult {
  report: StudyReport;
  /** Absolute paths of report.json and index.html. */
  reportJson: string;
  indexHtml: string;
  /** True when the study stopped early (abort signal). */
  interrupted: boolean;
}
