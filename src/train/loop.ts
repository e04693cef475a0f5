import type { Dataset } from "../data/dataset.js";
import { DataLoader } from "../data/loader.js";
import type { GraphModel } from "../graph/executor.js";
import { crossEntropy } from "../ops/loss.js";
import { ArgumentError, describe, FormatError } from "../tensor/errors.js";
import { Rng } from "../tensor/rng.js";
import {
  type CheckpointData,
  hasCheckpoint,
  loadCheckpoint,
  restoreWeights,
  saveCheckpoint,
} from "./checkpoint.js";
import {
  type Hyperparameters,
  makeOptimizer,
  makeScheduler,
  type ResolvedHyperparameters,
  resolveHyperparameters,
  resumeFingerprint,
} from "./loop-config.js";
import { correctCount } from "./metrics.js";
import { checkLogits, type EvaluateOptions, type Evaluation, evaluateModel } from "./stepper.js";

/**
 * The training loop: epochs of seeded mini-batch SGD/Adam(W) with cross-entropy, evaluation after each
 * epoch, checkpoints that make a killed run resumable without losing or changing anything.
 *
 * Repeatability: everything random comes from `seed` (the data order and augmentation through the
 * DataLoader's per-(epoch, batch) streams, dropout through `model.rng`, reseeded at the start) and the
 * kernels are deterministic, so the same model, data and seed give the same history and weights.
 *
 * Resume: a checkpoint holds the weights (parameters and buffers, e.g. batch-norm running statistics),
 * the optimizer state, the scheduler, the loader, the dropout generator, the position (epoch, next
 * batch) and the epoch's partial sums and finished history. Resuming restores all of it and replays the
 * epoch from the next batch, so a run killed at any moment and resumed ends with the same weights, bit
 * for bit, as one that was never interrupted (test/train/resume.test.ts kills one with SIGKILL).
 *
 * `train` is async only to yield to the event loop after every step, so that Ctrl-C handlers, abort
 * signals and progress rendering get a chance to run; the work itself is synchronous.
 */

export interface TrainOptions extends Hyperparameters {
  train: Dataset;
  /** Evaluated after every epoch (and at a budget stop); without it test metrics are null. */
  test?: Dataset;
  /** Where checkpoints go (created if missing). Without it nothing is written. */
  checkpointDir?: string;
  /** A checkpoint every N optimisation steps, or only at epoch ends ("epoch", default). Epoch ends always save. */
  checkpointEvery?: number | "epoch";
  /** Continue from the checkpoint in `checkpointDir` when there is one (otherwise start afresh). */
  resume?: boolean;
  onProgress?: (event: TrainEvent) => void;
  /** Aborting stops after the current step, saves a checkpoint (when `checkpointDir`) and returns. */
  signal?: AbortSignal;
  /**
   * Wall-clock budget for the whole run in seconds (training and evaluation, summed over resumed sessions).
   * When spent, training stops after the current step, saves a checkpoint and evaluates the model as it is.
   */
  budgetSeconds?: number;
}

/** One epoch of the history. Epochs are numbered from 1. */
export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  /** null without a test set. */
  testLoss: number | null;
  testAccuracy: number | null;
  /** The learning rate used during the epoch. */
  lr: number;
  /** Optimisation steps and training images of the epoch. */
  steps: number;
  images: number;
  /** Wall-clock seconds of the epoch (training and evaluation; summed over sessions if it was resumed). */
  seconds: number;
  /** Training images per second (training steps only). */
  imagesPerSecond: number;
  /** Present and true on the last record of a run stopped by its budget in the middle of an epoch. */
  partial?: boolean;
}

export interface FinalMetrics {
  trainLoss: number;
  trainAccuracy: number;
  testLoss: number | null;
  testAccuracy: number | null;
}

export type StopReason = "completed" | "budget" | "aborted";

export interface TrainResult {
  history: EpochRecord[];
  /** Metrics of the model as returned: the last epoch's, or the partial epoch's at a stop. */
  final: FinalMetrics;
  stopped: StopReason;
  /** Finished epochs and steps taken in total (resumed sessions included). */
  epochs: number;
  steps: number;
  /** Wall-clock seconds in total (resumed sessions included). */
  seconds: number;
  /** Where this session started from, when it resumed a checkpoint. */
  resumedFrom: { epoch: number; step: number; batch: number } | null;
  hyperparameters: ResolvedHyperparameters;
}

interface EventBase {
  /** Current epoch (from 1) and the total. */
  epoch: number;
  epochs: number;
  /** Steps done in total, and the total the run will take. */
  globalStep: number;
  totalSteps: number;
  elapsedSeconds: number;
}

export type TrainEvent =
  | (EventBase & {
      kind: "start";
      stepsPerEpoch: number;
      resumedFrom: TrainResult["resumedFrom"];
    })
  | (EventBase & {
      kind: "step";
      /** Step within the epoch (from 1) and steps per epoch. */
      step: number;
      stepsPerEpoch: number;
      /** Running means over the epoch so far. */
      loss: number;
      accuracy: number;
      batchLoss: number;
      lr: number;
      imagesPerSecond: number;
      /** Estimated seconds left (steps left at this session's pace, evaluation included); NaN at first. */
      etaSeconds: number;
    })
  | (EventBase & { kind: "evaluate" })
  | (EventBase & { kind: "epoch"; record: EpochRecord })
  | (EventBase & { kind: "checkpoint"; dir: string })
  | (EventBase & { kind: "stop"; reason: StopReason });

/**
 * Loss and accuracy of `model` on `dataset`: eval mode (batch norm uses its running statistics, no
 * dropout) under noGrad; the model's mode is restored afterwards. The browser-safe implementation lives in
 * stepper.ts; this is its name in the Node training API.
 */
export const evaluate = evaluateModel;
export type { EvaluateOptions, Evaluation };

/** What the loop keeps in `checkpoint.extra` besides what saveCheckpoint stores natively. */
interface LoopState {
  kind: "convkit-train";
  version: 1;
  fingerprint: Record<string, string>;
  /** Next batch to run in `epoch` (0 at an epoch boundary; stepsPerEpoch when only evaluation is left). */
  batch: number;
  /** Sums over the current epoch's finished batches. */
  lossSum: number;
  correct: number;
  seen: number;
  trainSeconds: number;
  epochSeconds: number;
  elapsedSeconds: number;
  history: EpochRecord[];
}

const STATE_KIND = "convkit-train";

/** JSON has no NaN/Infinity: they travel as null and come back as NaN. */
function toJsonNumber(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

function encodeHistory(history: EpochRecord[]): unknown[] {
  return history.map((r) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r)) out[k] = typeof v === "number" ? toJsonNumber(v) : v;
    return out;
  });
}

function decodeState(extra: unknown, dir: string): LoopState {
  const s = extra as Partial<LoopState> | null;
  if (
    typeof s !== "object" ||
    s === null ||
    s.kind !== STATE_KIND ||
    s.version !== 1 ||
    typeof s.fingerprint !== "object" ||
    !Array.isArray(s.history) ||
    !Number.isSafeInteger(s.batch)
  ) {
    throw new FormatError(
      describe(
        `train (resume from ${dir})`,
        "checkpoint.extra",
        "the training loop's state",
        "something else",
      ),
    );
  }
  const num = (v: unknown) => (typeof v === "number" ? v : Number.NaN);
  const history = (s.history as unknown as Record<string, unknown>[]).map((r) => {
    const out: Record<string, unknown> = { ...r };
    for (const k of ["trainLoss", "trainAccuracy", "lr", "seconds", "imagesPerSecond"]) out[k] = num(r[k]);
    return out as unknown as EpochRecord;
  });
  return {
    ...(s as LoopState),
    lossSum: num(s.lossSum),
    trainSeconds: num(s.trainSeconds),
    epochSeconds: num(s.epochSeconds),
    elapsedSeconds: num(s.elapsedSeconds),
    history,
  };
}

/** Gives pending callbacks (signal handlers, timers, I/O) a turn. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof setImmediate === "function") setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}

/** Trains `model` in place; see the module comment. Returns the history and the final metrics. */
export async function train(model: GraphModel, options: TrainOptions): Promise<TrainResult> {
  const h = resolveHyperparameters(options, model.graph, options.train);
  const { checkpointDir, signal, onProgress } = options;
  const every = options.checkpointEvery ?? "epoch";
  if (every !== "epoch" && (!Number.isSafeInteger(every) || every < 1))
    throw new ArgumentError(describe("train", "checkpointEvery", 'a positive integer or "epoch"', every));
  const budget = options.budgetSeconds;
  if (budget !== undefined && !(budget >= 0))
    throw new ArgumentError(describe("train", "budgetSeconds", "a number >= 0", budget));
  if (options.resume && checkpointDir === undefined)
    throw new ArgumentError(describe("train", "resume", "a checkpointDir to resume from", "none"));
  const test = options.test;

  // Two independent streams from the seed: data (order + augmentation) and the model's dropout.
  const seeds = new Rng(h.seed);
  const loaderSeed = seeds.nextUint32();
  const dropoutSeed = seeds.nextUint32();
  const loader = new DataLoader(options.train, {
    batchSize: h.batchSize,
    shuffle: true,
    seed: loaderSeed,
    normalize: h.normalize ?? undefined,
    augment: h.augment ?? undefined,
  });
  const params = [...model.parameters().values()];
  if (params.length === 0)
    throw new ArgumentError(describe("train", `model "${model.graph.name}"`, "trainable parameters", "none"));
  const optimizer = makeOptimizer(h, params);
  const scheduler = makeScheduler(h, optimizer);
  const fingerprint = resumeFingerprint(h, model.graph, options.train);
  const stepsPerEpoch = loader.length;
  const totalSteps = stepsPerEpoch * h.epochs;

  let epoch = 0;
  let batchIndex = 0;
  let step = 0;
  let lossSum = 0;
  let correct = 0;
  let seen = 0;
  /** Seconds of training steps in the current epoch (for images/s), and of the epoch before this session. */
  let trainSeconds = 0;
  let epochSecondsBefore = 0;
  let previousSeconds = 0;
  let history: EpochRecord[] = [];
  let resumedFrom: TrainResult["resumedFrom"] = null;
  model.rng.seed(dropoutSeed);

  if (options.resume && checkpointDir !== undefined && hasCheckpoint(checkpointDir)) {
    const ckpt = loadCheckpoint(checkpointDir);
    const state = decodeState(ckpt.extra, checkpointDir);
    const differ = Object.keys({ ...fingerprint, ...state.fingerprint }).filter(
      (k) => fingerprint[k] !== state.fingerprint[k],
    );
    if (differ.length > 0) {
      const what = differ.map((k) => `${k}: ${state.fingerprint[k] ?? "-"} vs ${fingerprint[k] ?? "-"}`);
      throw new ArgumentError(
        describe(
          `train (resume from ${checkpointDir})`,
          "settings",
          "the checkpoint's (checkpoint vs now)",
          what.join("; "),
        ),
      );
    }
    if (ckpt.optimizer === null || ckpt.schedule === null || ckpt.loader === null || !ckpt.rng.dropout) {
      throw new FormatError(
        describe(
          `train (resume from ${checkpointDir})`,
          "checkpoint",
          "optimizer, schedule, loader and rng states",
          "some missing",
        ),
      );
    }
    restoreWeights(model.state(), ckpt.weights);
    optimizer.loadStateDict(ckpt.optimizer);
    scheduler.loadStateDict(ckpt.schedule);
    loader.setState(ckpt.loader);
    model.rng.setState(ckpt.rng.dropout);
    epoch = ckpt.epoch;
    step = ckpt.step;
    batchIndex = state.batch;
    lossSum = state.lossSum;
    correct = state.correct;
    seen = state.seen;
    trainSeconds = state.trainSeconds;
    epochSecondsBefore = state.epochSeconds;
    previousSeconds = state.elapsedSeconds;
    history = state.history;
    resumedFrom = { epoch, step, batch: batchIndex };
  }

  const t0 = performance.now();
  let epochStart = t0;
  const sessionSeconds = () => (performance.now() - t0) / 1000;
  const elapsed = () => previousSeconds + sessionSeconds();
  const epochSeconds = () => epochSecondsBefore + (performance.now() - epochStart) / 1000;
  const base = (): EventBase => ({
    epoch: Math.min(epoch + 1, h.epochs),
    epochs: h.epochs,
    globalStep: step,
    totalSteps,
    elapsedSeconds: elapsed(),
  });
  // The position last written (a resumed session starts at its checkpoint's).
  let savedAt = resumedFrom === null ? "" : `${epoch}:${batchIndex}`;
  const save = () => {
    if (checkpointDir === undefined || savedAt === `${epoch}:${batchIndex}`) return;
    const state: LoopState = {
      kind: STATE_KIND,
      version: 1,
      fingerprint,
      batch: batchIndex,
      lossSum,
      correct,
      seen,
      trainSeconds,
      epochSeconds: batchIndex === 0 ? 0 : epochSeconds(),
      elapsedSeconds: elapsed(),
      history,
    };
    saveCheckpoint(checkpointDir, {
      epoch,
      step,
      weights: model.state(),
      optimizer: optimizer.stateDict(),
      rng: { dropout: model.rng.getState() },
      schedule: scheduler.stateDict(),
      loader: loader.getState(),
      extra: { ...state, history: encodeHistory(history) } as unknown as CheckpointData["extra"],
    });
    savedAt = `${epoch}:${batchIndex}`;
    onProgress?.({ ...base(), kind: "checkpoint", dir: checkpointDir });
  };

  const runTest = (): { loss: number | null; accuracy: number | null } => {
    if (test === undefined) return { loss: null, accuracy: null };
    onProgress?.({ ...base(), kind: "evaluate" });
    const e = evaluate(model, test, { batchSize: h.evalBatchSize, normalize: h.normalize });
    return { loss: e.loss, accuracy: e.accuracy };
  };

  onProgress?.({ ...base(), kind: "start", stepsPerEpoch, resumedFrom });
  let stopped: StopReason = "completed";
  const sessionStartStep = step;
  const interrupted = (): StopReason | null =>
    signal?.aborted ? "aborted" : budget !== undefined && elapsed() >= budget ? "budget" : null;

  model.train();
  try {
    outer: while (epoch < h.epochs) {
      const reason = interrupted();
      if (reason !== null) {
        stopped = reason;
        break;
      }
      const lr = optimizer.lr;
      epochStart = performance.now();
      for (const batch of loader.epochBatches(epoch, batchIndex)) {
        const stepStart = performance.now();
        optimizer.zeroGrad();
        const logits = model.forward(batch.images, { training: true });
        checkLogits(model, logits, options.train, "train");
        const loss = crossEntropy(logits, batch.labels);
        loss.backward();
        optimizer.step();
        const n = batch.labels.length;
        const batchLoss = loss.item();
        lossSum += batchLoss * n;
        correct += correctCount(logits, batch.labels);
        seen += n;
        batchIndex++;
        step++;
        trainSeconds += (performance.now() - stepStart) / 1000;
        const sessionSteps = step - sessionStartStep;
        onProgress?.({
          ...base(),
          kind: "step",
          step: batchIndex,
          stepsPerEpoch,
          loss: lossSum / seen,
          accuracy: correct / seen,
          batchLoss,
          lr,
          imagesPerSecond: trainSeconds > 0 ? seen / trainSeconds : 0,
          etaSeconds: (sessionSeconds() / sessionSteps) * (totalSteps - step),
        });
        if (every !== "epoch" && step % every === 0) save();
        await yieldToEventLoop();
        const why = interrupted();
        if (why !== null && batchIndex < stepsPerEpoch) {
          stopped = why;
          break outer;
        }
      }
      // The epoch's batches are done: evaluate, record, advance the schedule, checkpoint.
      const evaluation = runTest();
      history.push({
        epoch: epoch + 1,
        trainLoss: seen > 0 ? lossSum / seen : Number.NaN,
        trainAccuracy: seen > 0 ? correct / seen : 0,
        testLoss: evaluation.loss,
        testAccuracy: evaluation.accuracy,
        lr,
        steps: stepsPerEpoch,
        images: seen,
        seconds: epochSeconds(),
        imagesPerSecond: trainSeconds > 0 ? seen / trainSeconds : 0,
      });
      onProgress?.({ ...base(), kind: "epoch", record: history[history.length - 1] });
      scheduler.step();
      epoch++;
      batchIndex = 0;
      lossSum = 0;
      correct = 0;
      seen = 0;
      trainSeconds = 0;
      epochSecondsBefore = 0;
      save();
    }
  } finally {
    model.eval();
  }

  let partial: EpochRecord | null = null;
  if (stopped !== "completed") {
    save();
    if (seen > 0) {
      // Stopped inside an epoch: reported as a partial epoch (the checkpoint's history keeps whole ones).
      const seconds = epochSeconds();
      const evaluation = stopped === "budget" ? runTest() : { loss: null, accuracy: null };
      partial = {
        epoch: epoch + 1,
        trainLoss: lossSum / seen,
        trainAccuracy: correct / seen,
        testLoss: evaluation.loss,
        testAccuracy: evaluation.accuracy,
        lr: optimizer.lr,
        steps: batchIndex,
        images: seen,
        seconds,
        imagesPerSecond: trainSeconds > 0 ? seen / trainSeconds : 0,
        partial: true,
      };
    }
    onProgress?.({ ...base(), kind: "stop", reason: stopped });
  }
  const all = partial === null ? [...history] : [...history, partial];
  const last = all[all.length - 1];
  const final: FinalMetrics =
    last === undefined
      ? { trainLoss: Number.NaN, trainAccuracy: 0, testLoss: null, testAccuracy: null }
      : {
          trainLoss: last.trainLoss,
          trainAccuracy: last.trainAccuracy,
          testLoss: last.testLoss,
          testAccuracy: last.testAccuracy,
        };
  return {
    history: all,
    final,
    stopped,
    epochs: history.length,
    steps: step,
    seconds: elapsed(),
    resumedFrom,
    hyperparameters: h,
  };
}
