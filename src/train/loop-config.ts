import type { Tensor } from "../autograd/tensor.js";
import type { Dataset } from "../data/dataset.js";
import { type Augment, channelStats, type Normalize } from "../data/loader.js";
import type { Graph } from "../graph/types.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { checkPositiveInt } from "../tensor/shape.js";
import { Adam, AdamW } from "./adam.js";
import type { Optimizer } from "./optimizer.js";
import {
  cosineSchedule,
  LrScheduler,
  type Schedule,
  stepSchedule,
  warmupCosineSchedule,
} from "./schedule.js";
import { SGD } from "./sgd.js";

/**
 * The training loop's hyper-parameters: names, defaults, validation, and the objects they make
 * (optimizer, lr scheduler). Kept apart from the loop so the CLI, the study and the PyTorch comparison
 * script (tools/torch_train.py, which mirrors these defaults) agree on one definition.
 */

export type OptimizerName = "sgd" | "adam" | "adamw";
export type ScheduleName = "none" | "step" | "cosine" | "warmup-cosine";

export const OPTIMIZERS: readonly OptimizerName[] = ["sgd", "adam", "adamw"];
export const SCHEDULES: readonly ScheduleName[] = ["none", "step", "cosine", "warmup-cosine"];

/** `augment: true` means this: pad 2 and crop back to the image size, mirror left-right half the time. */
export const DEFAULT_AUGMENT: Augment = Object.freeze({ crop: { padding: 2 }, hflip: 0.5 });

/** The hyper-parameters of a run (everything that changes the numbers, nothing about files or time). */
export interface Hyperparameters {
  /** Passes over the training set (default 10). */
  epochs?: number;
  /** Images per optimisation step (default 64). */
  batchSize?: number;
  /** Default "sgd". */
  optimizer?: OptimizerName;
  /** Default 0.05 for SGD, 1e-3 for Adam and AdamW. */
  lr?: number;
  /** SGD momentum (default 0.9; ignored by Adam/AdamW). */
  momentum?: number;
  /** SGD Nesterov momentum (default false). */
  nesterov?: boolean;
  /** Default 5e-4 for SGD, 0 for Adam, 1e-2 for AdamW (torch's AdamW default). Applies to every parameter. */
  weightDecay?: number;
  /** Learning-rate schedule, stepped once per epoch (default "cosine" over `epochs`). */
  schedule?: ScheduleName;
  /** Linear warm-up epochs for "warmup-cosine" (default 1; must be fewer than `epochs`). */
  warmupEpochs?: number;
  /** Period of "step" in epochs (default max(1, round(epochs / 3))). */
  stepSize?: number;
  /** Factor of "step" (default 0.1). */
  gamma?: number;
  /** Random crop + flip on training batches: true for DEFAULT_AUGMENT, or an explicit Augment (default off). */
  augment?: boolean | Augment;
  /**
   * Per-channel normalisation of inputs. Default: `graph.meta.normalize` when the model carries one
   * (a model trained before), else the training set's own statistics (`channelStats`). null: none.
   */
  normalize?: Normalize | null;
  /** Seed of the data order, augmentation and dropout (default 0). The model's initial weights are its own. */
  seed?: number;
  /** Batch size of evaluation (default 256; does not change results, only speed and memory). */
  evalBatchSize?: number;
}

/** Hyper-parameters with every default filled in, as recorded in histories and checkpoints. */
export interface ResolvedHyperparameters {
  epochs: number;
  batchSize: number;
  optimizer: OptimizerName;
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  schedule: ScheduleName;
  warmupEpochs: number;
  stepSize: number;
  gamma: number;
  augment: Augment | null;
  normalize: Normalize | null;
  seed: number;
  evalBatchSize: number;
}

function nonNegative(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0)
    throw new ArgumentError(describe("train", name, "a finite number >= 0", value));
  return value;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], name: string): T {
  if (typeof value !== "string" || !allowed.includes(value as T))
    throw new ArgumentError(describe("train", name, `one of ${allowed.join(", ")}`, value));
  return value as T;
}

/** The normalisation a graph carries in `meta.normalize` ({mean, std} arrays), if it carries a valid one. */
export function graphNormalize(graph: Graph): Normalize | null {
  const n = graph.meta?.normalize as { mean?: unknown; std?: unknown } | undefined | null;
  if (typeof n !== "object" || n === null) return null;
  const ok = (v: unknown): v is number[] =>
    Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "number" && Number.isFinite(x));
  return ok(n.mean) && ok(n.std) && n.mean.length === n.std.length ? { mean: n.mean, std: n.std } : null;
}

/** Fills defaults and validates; `train` is used for the default normalisation. */
export function resolveHyperparameters(
  h: Hyperparameters,
  graph: Graph,
  train: Dataset,
): ResolvedHyperparameters {
  const epochs = checkPositiveInt(h.epochs ?? 10, "train", "epochs");
  const optimizer = oneOf(h.optimizer ?? "sgd", OPTIMIZERS, "optimizer");
  const schedule = oneOf(h.schedule ?? "cosine", SCHEDULES, "schedule");
  const lr = nonNegative(h.lr ?? (optimizer === "sgd" ? 0.05 : 1e-3), "lr");
  const momentum = nonNegative(h.momentum ?? 0.9, "momentum");
  const nesterov = h.nesterov ?? false;
  if (typeof nesterov !== "boolean")
    throw new ArgumentError(describe("train", "nesterov", "a boolean", nesterov));
  const weightDecay = nonNegative(
    h.weightDecay ?? (optimizer === "sgd" ? 5e-4 : optimizer === "adamw" ? 1e-2 : 0),
    "weightDecay",
  );
  const warmupEpochs = checkPositiveInt(h.warmupEpochs ?? 1, "train", "warmupEpochs");
  if (schedule === "warmup-cosine" && warmupEpochs >= epochs) {
    throw new ArgumentError(
      describe("train", "warmupEpochs", `fewer than epochs (${epochs}) for warmup-cosine`, warmupEpochs),
    );
  }
  const stepSize = checkPositiveInt(h.stepSize ?? Math.max(1, Math.round(epochs / 3)), "train", "stepSize");
  const gamma = nonNegative(h.gamma ?? 0.1, "gamma");
  const seed = h.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new ArgumentError(describe("train", "seed", "a non-negative integer", seed));
  const augment =
    h.augment === true ? DEFAULT_AUGMENT : h.augment === false || h.augment === undefined ? null : h.augment;
  const normalize =
    h.normalize === null ? null : (h.normalize ?? graphNormalize(graph) ?? channelStats(train));
  return {
    epochs,
    batchSize: checkPositiveInt(h.batchSize ?? 64, "train", "batchSize"),
    optimizer,
    lr,
    momentum,
    nesterov,
    weightDecay,
    schedule,
    warmupEpochs,
    stepSize,
    gamma,
    augment,
    normalize: normalize === null ? null : { mean: [...normalize.mean], std: [...normalize.std] },
    seed,
    evalBatchSize: checkPositiveInt(h.evalBatchSize ?? 256, "train", "evalBatchSize"),
  };
}

/** The optimizer the hyper-parameters name, over `params` (one group, like `model.parameters()` in torch). */
export function makeOptimizer(
  h: ResolvedHyperparameters,
  params: readonly Tensor[],
): Optimizer<{ lr: number }> {
  switch (h.optimizer) {
    case "sgd":
      return new SGD(params, {
        lr: h.lr,
        momentum: h.momentum,
        nesterov: h.nesterov,
        weightDecay: h.weightDecay,
      });
    case "adam":
      return new Adam(params, { lr: h.lr, weightDecay: h.weightDecay });
    case "adamw":
      return new AdamW(params, { lr: h.lr, weightDecay: h.weightDecay });
  }
}

/** The per-epoch schedule the hyper-parameters name ("none" keeps the base lr). */
export function makeSchedule(h: ResolvedHyperparameters): Schedule {
  switch (h.schedule) {
    case "none":
      return (_epoch, base) => base;
    case "step":
      return stepSchedule({ stepSize: h.stepSize, gamma: h.gamma });
    case "cosine":
      return cosineSchedule({ tMax: h.epochs });
    case "warmup-cosine":
      return warmupCosineSchedule({ warmupEpochs: h.warmupEpochs, totalEpochs: h.epochs });
  }
}

export function makeScheduler(h: ResolvedHyperparameters, optimizer: Optimizer<{ lr: number }>): LrScheduler {
  return new LrScheduler(optimizer, makeSchedule(h));
}

/**
 * The settings a checkpoint must agree with to be resumed: everything that changes the numbers, and only
 * that. `epochs` matters only where the schedule depends on it (cosine), so a constant or step run may be
 * extended; a schedule's or optimizer's own settings only when that schedule or optimizer is in use.
 */
export function resumeFingerprint(
  h: ResolvedHyperparameters,
  graph: Graph,
  train: Dataset,
): Record<string, string> {
  const used: (keyof ResolvedHyperparameters)[] = [
    "batchSize",
    "optimizer",
    "lr",
    "weightDecay",
    "schedule",
    "augment",
    "normalize",
    "seed",
  ];
  if (h.optimizer === "sgd") used.push("momentum", "nesterov");
  if (h.schedule === "step") used.push("stepSize", "gamma");
  if (h.schedule === "warmup-cosine") used.push("warmupEpochs");
  if (h.schedule === "cosine" || h.schedule === "warmup-cosine") used.push("epochs");
  const out: Record<string, string> = {};
  for (const key of used) out[key] = JSON.stringify(h[key]);
  out.model = JSON.stringify([graph.name, Object.keys(graph.params).length]);
  out.trainSet = JSON.stringify([train.name, ...train.shape]);
  return out;
}
