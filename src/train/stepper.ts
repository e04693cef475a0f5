import { noGrad } from "../autograd/gradmode.js";
import type { Tensor } from "../autograd/tensor.js";
import type { Dataset } from "../data/dataset.js";
import { type Batch, channelStats, DataLoader, type Normalize } from "../data/loader.js";
import type { GraphModel } from "../graph/executor.js";
import { crossEntropy } from "../ops/loss.js";
import { ArgumentError, describe, ShapeError } from "../tensor/errors.js";
import { Rng } from "../tensor/rng.js";
import {
  graphNormalize,
  type Hyperparameters,
  makeOptimizer,
  makeScheduler,
  type ResolvedHyperparameters,
  resolveHyperparameters,
} from "./loop-config.js";
import { correctCount } from "./metrics.js";
import type { Optimizer } from "./optimizer.js";
import type { LrScheduler } from "./schedule.js";

/**
 * The training loop's core without files or timers, one optimisation step per call: what a browser (a Web
 * Worker) or any caller that drives its own schedule runs. No module here imports a Node built-in.
 *
 * It draws its randomness exactly as `train` (src/train/loop.ts) does: the seed gives the data loader's seed
 * and then the dropout seed, so the same model, data and hyper-parameters give the same steps as `train`
 * (test/train/stepper.test.ts compares them loss for loss). The learning-rate schedule advances once per
 * epoch, after its last batch.
 */

export interface StepperOptions extends Hyperparameters {
  train: Dataset;
}

/** What one optimisation step did. */
export interface StepResult {
  /** Epoch of the step (from 0) and its batch within the epoch (from 0). */
  epoch: number;
  batch: number;
  /** Steps taken so far, this one included. */
  step: number;
  /** Cross-entropy and accuracy of this batch (before the update). */
  loss: number;
  accuracy: number;
  images: number;
  /** Learning rate used by this step. */
  lr: number;
  /** Milliseconds of forward, backward and update. */
  milliseconds: number;
  /** This step finished its epoch (the schedule has advanced). */
  epochEnd: boolean;
}

export interface EvaluateOptions {
  /** Default 256. */
  batchSize?: number;
  /** Default: `graph.meta.normalize` when the model carries one, else the dataset's own `channelStats`. */
  normalize?: Normalize | null;
  /** Evaluate only the first `limit` images (default: all). */
  limit?: number;
}

export interface Evaluation {
  loss: number;
  accuracy: number;
  correct: number;
  count: number;
  seconds: number;
}

/** Checks the model maps a batch of this dataset to one logit per class, with a clear message otherwise. */
export function checkLogits(model: GraphModel, logits: Tensor, dataset: Dataset, op: string): void {
  const k = dataset.classes.length;
  if (logits.shape.length !== 2 || logits.shape[1] !== k) {
    throw new ShapeError(
      describe(
        op,
        `output of model "${model.graph.name}"`,
        `logits [B, ${k}] for the ${k} classes of ${dataset.name}`,
        `shape [${logits.shape.join(", ")}]`,
      ),
    );
  }
}

/**
 * Loss and accuracy of `model` on `dataset` (or its first `limit` images): eval mode under noGrad, the
 * model's mode restored afterwards.
 */
export function evaluateModel(
  model: GraphModel,
  dataset: Dataset,
  options: EvaluateOptions = {},
): Evaluation {
  const t0 = performance.now();
  const limit = options.limit ?? dataset.shape[0];
  if (!Number.isSafeInteger(limit) || limit < 0)
    throw new ArgumentError(describe("evaluateModel", "limit", "a non-negative integer", limit));
  const normalize =
    options.normalize === null
      ? undefined
      : (options.normalize ?? graphNormalize(model.graph) ?? channelStats(dataset));
  const loader = new DataLoader(dataset, { batchSize: options.batchSize ?? 256, normalize });
  const wasTraining = model.training;
  let lossSum = 0;
  let correct = 0;
  let count = 0;
  try {
    model.eval();
    noGrad(() => {
      for (const batch of loader.epochBatches(0)) {
        if (count >= limit) break;
        const logits = model.forward(batch.images, { training: false });
        checkLogits(model, logits, dataset, "evaluate");
        const n = batch.labels.length;
        lossSum += crossEntropy(logits, batch.labels).item() * n;
        correct += correctCount(logits, batch.labels);
        count += n;
      }
    });
  } finally {
    model.train(wasTraining);
  }
  return {
    loss: count === 0 ? Number.NaN : lossSum / count,
    accuracy: count === 0 ? 0 : correct / count,
    correct,
    count,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Trains a GraphModel one step at a time (see the module comment). */
export class TrainStepper {
  readonly model: GraphModel;
  readonly hyperparameters: ResolvedHyperparameters;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly optimizer: Optimizer<{ lr: number }>;
  private readonly loader: DataLoader;
  private readonly scheduler: LrScheduler;
  private readonly dataset: Dataset;
  private batches: Iterator<Batch> | null = null;
  /** Epoch and batch of the next step (from 0). */
  epoch = 0;
  batch = 0;
  /** Steps taken. */
  step = 0;

  constructor(model: GraphModel, options: StepperOptions) {
    this.model = model;
    this.dataset = options.train;
    const h = resolveHyperparameters(options, model.graph, options.train);
    this.hyperparameters = h;
    const seeds = new Rng(h.seed);
    this.loader = new DataLoader(options.train, {
      batchSize: h.batchSize,
      shuffle: true,
      seed: seeds.nextUint32(),
      normalize: h.normalize ?? undefined,
      augment: h.augment ?? undefined,
    });
    model.rng.seed(seeds.nextUint32());
    const params = [...model.parameters().values()];
    if (params.length === 0)
      throw new ArgumentError(
        describe("train", `model "${model.graph.name}"`, "trainable parameters", "none"),
      );
    this.optimizer = makeOptimizer(h, params);
    this.scheduler = makeScheduler(h, this.optimizer);
    this.stepsPerEpoch = this.loader.length;
    this.totalSteps = this.stepsPerEpoch * h.epochs;
  }

  /** Whether every planned epoch is done. */
  get done(): boolean {
    return this.epoch >= this.hyperparameters.epochs;
  }

  /** Runs one optimisation step in training mode; null once every epoch is done. */
  next(): StepResult | null {
    if (this.done) return null;
    this.batches ??= this.loader.epochBatches(this.epoch, this.batch);
    const item = this.batches.next();
    if (item.done) {
      // An empty dataset: no step can run.
      throw new ArgumentError(describe("train", "train", "a dataset with at least one image", 0));
    }
    const { images, labels } = item.value;
    const lr = this.optimizer.lr;
    const t0 = performance.now();
    this.model.train();
    this.optimizer.zeroGrad();
    const logits = this.model.forward(images, { training: true });
    checkLogits(this.model, logits, this.dataset, "train");
    const loss = crossEntropy(logits, labels);
    loss.backward();
    this.optimizer.step();
    const milliseconds = performance.now() - t0;
    const n = labels.length;
    const result: StepResult = {
      epoch: this.epoch,
      batch: this.batch,
      step: ++this.step,
      loss: loss.item(),
      accuracy: correctCount(logits, labels) / n,
      images: n,
      lr,
      milliseconds,
      epochEnd: false,
    };
    this.batch++;
    if (this.batch >= this.stepsPerEpoch) {
      this.scheduler.step();
      this.epoch++;
      this.batch = 0;
      this.batches = null;
      result.epochEnd = true;
    }
    return result;
  }

  /** Loss and accuracy on `dataset` with the training normalisation (eval mode, noGrad). */
  evaluate(dataset: Dataset, options: Omit<EvaluateOptions, "normalize"> = {}): Evaluation {
    return evaluateModel(this.model, dataset, {
      batchSize: options.batchSize ?? this.hyperparameters.evalBatchSize,
      limit: options.limit,
      normalize: this.hyperparameters.normalize,
    });
  }
}
