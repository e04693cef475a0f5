import { analyze } from "../analyze/analyze.js";
import { noGrad } from "../autograd/gradmode.js";
import { Tensor } from "../autograd/tensor.js";
import type { Dataset } from "../data/dataset.js";
import { DataLoader, type Normalize } from "../data/loader.js";
import { GraphModel } from "../graph/executor.js";
import type { Graph, Weights } from "../graph/types.js";
import { crossEntropy } from "../ops/loss.js";
import { Rng } from "../tensor/rng.js";
import type { CostRecord, LatencyRecord } from "./types.js";

/**
 * What the study measures besides accuracy: the analyzer's counts (params, MACs, FLOPs, receptive field) at
 * the data's image size, inference latency in convkit, and a short training-speed probe that sizes the epochs
 * of a run in budget mode.
 */

/** The analyzer's totals for one image `[C, H, W]` (batch 1). */
export function costOf(graph: Graph, image: readonly number[]): CostRecord {
  const a = analyze(graph, [...image]);
  const rf = a.receptiveField;
  const layer = rf === null ? undefined : a.layers.find((l) => l.name === rf.layer);
  const shape = layer?.outputShape;
  return {
    params: a.totals.params,
    buffers: a.totals.buffers,
    macs: a.totals.macs,
    flops: a.totals.flops,
    receptiveField:
      rf === null
        ? null
        : {
            size: [...rf.size] as [number, number],
            jump: [...rf.jump] as [number, number],
            deformable: rf.deformable,
            globalContext: rf.globalContext,
          },
    finalMap: shape !== undefined && shape.length === 4 ? [shape[2], shape[3]] : null,
  };
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function randomBatch(batch: number, image: readonly number[], seed: number): Tensor {
  const rng = new Rng(seed);
  const shape = [batch, ...image];
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return new Tensor(data, shape);
}

/**
 * Median wall-clock time of one forward pass in eval mode under noGrad, at batch 1 and 64, after one untimed
 * warm-up each (the input is N(0, 1) noise: the time does not depend on the values).
 */
export function measureLatency(
  model: GraphModel,
  image: readonly number[],
  runs: { batch1: number; batch64: number },
): LatencyRecord {
  const wasTraining = model.training;
  model.eval();
  const time = (batch: number, count: number): number[] => {
    const x = randomBatch(batch, image, batch);
    const out: number[] = [];
    noGrad(() => {
      model.forward(x);
      for (let i = 0; i < count; i++) {
        const t0 = performance.now();
        model.forward(x);
        out.push(performance.now() - t0);
      }
    });
    return out;
  };
  try {
    const b1 = time(1, runs.batch1);
    const b64 = time(64, runs.batch64);
    return { batch1Ms: median(b1), batch64Ms: median(b64), batch1Runs: b1, batch64Runs: b64 };
  } finally {
    model.train(wasTraining);
  }
}

/** Timed steps of a speed probe (after one warm-up step). */
const PROBE_STEPS = 5;

/**
 * Training images per second of `graph`: one warm-up and the median of PROBE_STEPS timed forward + backward
 * passes on real batches, on a throw-away copy of the model (batch norm statistics of the real one are
 * untouched). No optimizer step: it costs little next to the passes.
 */
export function probeTrainingSpeed(
  graph: Graph,
  weights: Weights,
  data: Dataset,
  options: { batchSize: number; normalize: Normalize },
): number {
  const model = new GraphModel(graph, weights).train();
  const loader = new DataLoader(data, { batchSize: options.batchSize, normalize: options.normalize });
  // One warm-up step (first-call compilation, workers starting), then the median of several: with two timed
  // steps, one slow step (a collection, another process) threw the estimate, and the plan's epochs, far off.
  const perImage: number[] = [];
  let i = 0;
  for (const batch of loader.epochBatches(0)) {
    const t0 = performance.now();
    model.zeroGrad();
    const loss = crossEntropy(model.forward(batch.images, { training: true }), batch.labels);
    loss.backward();
    if (i > 0) perImage.push((performance.now() - t0) / 1000 / batch.labels.length);
    if (++i >= PROBE_STEPS + 1) break;
  }
  if (perImage.length === 0) return Number.POSITIVE_INFINITY;
  perImage.sort((a, b) => a - b);
  const median = perImage[perImage.length >> 1];
  return median > 0 ? 1 / median : Number.POSITIVE_INFINITY;
}

/**
 * Epochs and training seconds for one run of a time budget. Every run gets the same share of the budget per unit
 * of weight (`shareSeconds`, fixed when the study starts, so that variants are compared at equal time whatever
 * ran before them); from it go the seconds the run spends outside training (building, distilling, probing,
 * measuring latency, saving). It plans the whole number of epochs that covers its share at the probed speed
 * (rounded up, at least 1; evaluation after each epoch costs about a third of a training image per test image),
 * and the loop's own budget stops it at its share, evaluating the model as it stands (a partial last epoch). So
 * every run trains for its full share: rounding to the nearest epoch instead left fast variants idle for up to a
 * third of it, and the comparison measured the rounding rather than the convolution mode.
 */
export function planBudgetRun(options: {
  shareSeconds: number;
  /** Seconds the run spends outside training (already spent, and estimated to come). */
  overheadSeconds: number;
  imagesPerSecond: number;
  trainImages: number;
  testImages: number;
  maxEpochs?: number;
}): { epochs: number; budgetSeconds: number } {
  const budgetSeconds = Math.max(5, options.shareSeconds - options.overheadSeconds);
  const perEpoch = (options.trainImages + options.testImages / 3) / options.imagesPerSecond;
  const fit = Math.ceil(budgetSeconds / perEpoch);
  return { epochs: Math.max(1, Math.min(options.maxEpochs ?? 30, fit)), budgetSeconds };
}
