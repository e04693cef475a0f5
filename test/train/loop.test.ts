import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { noGrad } from "../../src/autograd/gradmode.js";
import { channelStats, DataLoader } from "../../src/data/loader.js";
import { GraphModel } from "../../src/graph/executor.js";
import type { Weights } from "../../src/graph/types.js";
import { crossEntropy } from "../../src/ops/loss.js";
import { ArgumentError, ShapeError } from "../../src/tensor/errors.js";
import { hasCheckpoint, loadCheckpoint } from "../../src/train/checkpoint.js";
import { initialWeights } from "../../src/train/init-weights.js";
import {
  type EpochRecord,
  evaluate,
  type TrainEvent,
  type TrainOptions,
  train,
} from "../../src/train/loop.js";
import { tinyData, tinyNet } from "./loop-fixtures.js";

const root = mkdtempSync(join(tmpdir(), "convkit-loop-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `run${dirs++}`);

/** The history without wall-clock fields, which differ between runs. */
function numbers(history: EpochRecord[]) {
  return history.map(({ seconds: _s, imagesPerSecond: _i, ...rest }) => rest);
}

function sameWeights(a: Weights, b: Weights): boolean {
  for (const [name, data] of a) {
    const other = b.get(name);
    if (other === undefined || other.length !== data.length) return false;
    for (let i = 0; i < data.length; i++) if (!Object.is(data[i], other[i])) return false;
  }
  return a.size === b.size;
}

const data = tinyData(320, 200);
const base: Omit<TrainOptions, "epochs"> = {
  train: data.train,
  test: data.test,
  batchSize: 32,
  lr: 0.05,
  augment: true,
  seed: 5,
};

function model(options: { seed?: number; dropout?: number } = {}): GraphModel {
  const { graph, weights } = tinyNet({ seed: options.seed ?? 1, dropout: options.dropout ?? 0.2 });
  return new GraphModel(graph, weights);
}

describe("train", () => {
  it("reduces the loss and beats chance on a tiny problem, recording every epoch", async () => {
    const m = model();
    const events: TrainEvent["kind"][] = [];
    const r = await train(m, { ...base, epochs: 4, augment: false, onProgress: (e) => events.push(e.kind) });
    expect(r.stopped).toBe("completed");
    expect(r.history.map((h) => h.epoch)).toEqual([1, 2, 3, 4]);
    expect(r.steps).toBe(4 * 10);
    const [first, , , last] = r.history;
    expect(last.trainLoss).toBeLessThan(0.75 * first.trainLoss);
    expect(last.trainAccuracy).toBeGreaterThan(first.trainAccuracy);
    // 10 classes: chance is 10%.
    expect(last.testAccuracy).toBeGreaterThan(0.5);
    expect(r.final.testAccuracy).toBe(last.testAccuracy);
    for (const h of r.history) {
      expect(h.images).toBe(320);
      expect(h.imagesPerSecond).toBeGreaterThan(0);
    }
    // Cosine over 4 epochs from 0.05, one value per epoch.
    r.history.forEach((h, e) => {
      expect(h.lr).toBeCloseTo(0.025 * (1 + Math.cos((Math.PI * e) / 4)), 12);
    });
    expect(events[0]).toBe("start");
    expect(events.filter((k) => k === "step").length).toBe(40);
    expect(events.filter((k) => k === "epoch").length).toBe(4);
    expect(m.training).toBe(false);
  });

  it("is repeatable: same seed, same history and weights; another seed differs", async () => {
    const runs = [];
    for (const seed of [5, 5, 6]) {
      const m = model();
      const r = await train(m, { ...base, epochs: 2, seed });
      runs.push({ history: numbers(r.history), weights: m.weights() });
    }
    expect(runs[1].history).toEqual(runs[0].history);
    expect(sameWeights(runs[1].weights, runs[0].weights)).toBe(true);
    expect(runs[2].history).not.toEqual(runs[0].history);
    expect(sameWeights(runs[2].weights, runs[0].weights)).toBe(false);
  });

  it.each(["sgd", "adam", "adamw"] as const)("trains with %s", async (optimizer) => {
    const m = model();
    const before = evaluate(m, data.train).loss;
    const r = await train(m, {
      ...base,
      epochs: 2,
      optimizer,
      lr: optimizer === "sgd" ? 0.05 : 3e-3,
      schedule: "warmup-cosine",
      nesterov: optimizer === "sgd",
    });
    expect(r.history[1].trainLoss).toBeLessThan(before);
    // Warm-up: epoch 1 runs at startFactor 0.1 of the base lr, epoch 2 at the base lr.
    expect(r.history[0].lr).toBeCloseTo(0.1 * r.hyperparameters.lr, 12);
    expect(r.history[1].lr).toBeCloseTo(r.hyperparameters.lr, 12);
  });

  it("normalises with the training set's statistics by default, and with the model's meta.normalize when present", async () => {
    const r = await train(model(), { ...base, epochs: 1 });
    expect(r.hyperparameters.normalize).toEqual(channelStats(data.train));
    const { graph, weights } = tinyNet();
    const carried = new GraphModel({ ...graph, meta: { normalize: { mean: [0.5], std: [0.25] } } }, weights);
    const r2 = await train(carried, { ...base, epochs: 1 });
    expect(r2.hyperparameters.normalize).toEqual({ mean: [0.5], std: [0.25] });
  });

  it("rejects a model whose output does not match the classes, naming the model", async () => {
    const { graph, weights } = tinyNet({ classes: 7 });
    await expect(train(new GraphModel(graph, weights), { ...base, epochs: 1 })).rejects.toThrow(ShapeError);
    await expect(train(new GraphModel(graph, weights), { ...base, epochs: 1 })).rejects.toThrow(
      /model "tiny".*10 classes/,
    );
  });

  it("rejects bad settings with ArgumentError", async () => {
    await expect(train(model(), { ...base, epochs: 0 })).rejects.toThrow(ArgumentError);
    await expect(
      train(model(), { ...base, epochs: 2, schedule: "warmup-cosine", warmupEpochs: 2 }),
    ).rejects.toThrow(/warmupEpochs/);
    await expect(train(model(), { ...base, epochs: 1, checkpointEvery: 0 })).rejects.toThrow(
      /checkpointEvery/,
    );
    await expect(train(model(), { ...base, epochs: 1, resume: true })).rejects.toThrow(/checkpointDir/);
  });
});

describe("evaluate", () => {
  it("runs in eval mode: batch norm uses its running statistics, which it leaves unchanged", async () => {
    const m = model();
    await train(m, { ...base, epochs: 1 });
    const normalize = channelStats(data.train);
    const before = m.weights();
    const m1 = evaluate(m, data.test, { batchSize: 1, normalize });
    const m200 = evaluate(m, data.test, { batchSize: 200, normalize });
    // Batch statistics would make a batch of one image a different computation from a batch of 200.
    expect(m1.correct).toBe(m200.correct);
    expect(Math.abs(m1.loss - m200.loss)).toBeLessThan(1e-6);
    expect(sameWeights(m.weights(), before)).toBe(true);
    // The same numbers by hand: eval-mode forward (running stats), mean cross-entropy.
    const batch = [...new DataLoader(data.test, { batchSize: 200, normalize })][0];
    const byHand = noGrad(() =>
      crossEntropy(m.forward(batch.images, { training: false }), batch.labels).item(),
    );
    expect(m200.loss).toBeCloseTo(byHand, 6);
    const trainMode = noGrad(() =>
      crossEntropy(m.forward(batch.images, { training: true }), batch.labels).item(),
    );
    m.loadWeights(before); // the training-mode forward above moved the running statistics
    expect(trainMode).not.toBeCloseTo(byHand, 3);
    expect(m1.count).toBe(200);
    expect(m.training).toBe(false);
  });

  it("restores the model's mode", () => {
    const m = model();
    m.train();
    evaluate(m, data.test);
    expect(m.training).toBe(true);
  });
});

describe("train: checkpoints, abort, budget, resume", () => {
  it("abort stops after the step with a checkpoint; resuming in-process ends where an uninterrupted run ends", async () => {
    const reference = model();
    const full = await train(reference, { ...base, epochs: 2 });

    const dir = freshDir();
    const controller = new AbortController();
    const m = model();
    const stopped = await train(m, {
      ...base,
      epochs: 2,
      checkpointDir: dir,
      checkpointEvery: 4,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.kind === "step" && e.globalStep === 13) controller.abort();
      },
    });
    expect(stopped.stopped).toBe("aborted");
    expect(stopped.steps).toBe(13);
    expect(stopped.epochs).toBe(1);
    expect(stopped.history.at(-1)?.partial).toBe(true);
    const saved = loadCheckpoint(dir);
    expect([saved.epoch, saved.step]).toEqual([1, 13]);

    // A fresh process would build the model from scratch: do the same.
    const resumed = model();
    const r = await train(resumed, { ...base, epochs: 2, checkpointDir: dir, resume: true });
    expect(r.resumedFrom).toEqual({ epoch: 1, step: 13, batch: 3 });
    expect(r.stopped).toBe("completed");
    expect(numbers(r.history)).toEqual(numbers(full.history));
    expect(sameWeights(resumed.weights(), reference.weights())).toBe(true);
  });

  it("a budget stops cleanly mid-run with a checkpoint, and evaluates the model as it stands", async () => {
    const dir = freshDir();
    const m = model();
    const r = await train(m, { ...base, epochs: 50, checkpointDir: dir, budgetSeconds: 0.15 });
    expect(r.stopped).toBe("budget");
    expect(r.steps).toBeGreaterThan(0);
    expect(r.steps).toBeLessThan(500);
    expect(r.seconds).toBeGreaterThanOrEqual(0.15);
    const last = r.history.at(-1)!;
    expect(last.testAccuracy).not.toBeNull();
    expect(r.final.testAccuracy).toBe(last.testAccuracy);
    expect(loadCheckpoint(dir).step).toBe(r.steps);
    expect(evaluate(m, data.test, { normalize: r.hyperparameters.normalize }).accuracy).toBe(
      last.testAccuracy,
    );
  });

  it("resuming a finished run trains no more; resuming with other settings is refused", async () => {
    const dir = freshDir();
    const first = await train(model(), { ...base, epochs: 1, checkpointDir: dir });
    const m = model();
    const again = await train(m, { ...base, epochs: 1, checkpointDir: dir, resume: true });
    expect(again.steps).toBe(first.steps);
    expect(numbers(again.history)).toEqual(numbers(first.history));
    await expect(
      train(model(), { ...base, epochs: 1, lr: 0.1, checkpointDir: dir, resume: true }),
    ).rejects.toThrow(/lr: 0.05 vs 0.1/);
    await expect(train(model(), { ...base, epochs: 3, checkpointDir: dir, resume: true })).rejects.toThrow(
      /epochs: 1 vs 3/,
    );
  });

  it("resume without a checkpoint starts afresh and saves one", async () => {
    const dir = freshDir();
    const r = await train(model(), { ...base, epochs: 1, checkpointDir: dir, resume: true });
    expect(r.resumedFrom).toBeNull();
    expect(hasCheckpoint(dir)).toBe(true);
    expect(loadCheckpoint(dir).epoch).toBe(1);
  });
});

describe("initialWeights", () => {
  it("gives a graph the builder's own initial weights for the same seed (PyTorch defaults, node order)", () => {
    const { graph, weights } = tinyNet({ seed: 9, dropout: 0.1 });
    const fresh = initialWeights(graph, 9);
    expect(sameWeights(fresh, weights)).toBe(true);
    expect(sameWeights(initialWeights(graph, 10), weights)).toBe(false);
  });

  it("draws the same weights for a graph in memory and the same graph read back from JSON", async () => {
    const { buildZooModel } = await import("../../src/zoo/index.js");
    const { parseGraph, serializeGraph } = await import("../../src/graph/serialize.js");
    const { initialWeights } = await import("../../src/train/init-weights.js");
    const { graph } = buildZooModel("fmnist-small", { seed: 3 });
    const fromMemory = initialWeights(graph, 7);
    const fromJson = initialWeights(parseGraph(serializeGraph(graph)), 7);
    expect([...fromJson.keys()].sort()).toEqual([...fromMemory.keys()].sort());
    for (const [name, data] of fromMemory)
      expect(Array.from(fromJson.get(name)!), name).toEqual(Array.from(data));
  });
});
