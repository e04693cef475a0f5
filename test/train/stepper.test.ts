import { describe, expect, it } from "vitest";
import { GraphModel } from "../../src/graph/executor.js";
import type { Weights } from "../../src/graph/types.js";
import { ArgumentError, ShapeError } from "../../src/tensor/errors.js";
import { evaluate, type TrainEvent, train } from "../../src/train/loop.js";
import { evaluateModel, TrainStepper } from "../../src/train/stepper.js";
import { tinyData, tinyNet } from "./loop-fixtures.js";

function sameWeights(a: Weights, b: Weights): boolean {
  if (a.size !== b.size) return false;
  for (const [name, data] of a) {
    const other = b.get(name);
    if (other === undefined || other.length !== data.length) return false;
    for (let i = 0; i < data.length; i++) if (!Object.is(data[i], other[i])) return false;
  }
  return true;
}

describe("TrainStepper", () => {
  // The independent reference is the training loop itself: same model, data and seed must give the same
  // batch losses, learning rates and final weights, bit for bit.
  it("takes exactly the steps train() takes (losses, lr schedule, weights), dropout and augmentation on", async () => {
    const { train: data, test } = tinyData(96, 64);
    const hyper = {
      epochs: 2,
      batchSize: 32,
      lr: 0.05,
      seed: 7,
      augment: true,
      schedule: "cosine" as const,
    };
    const net = tinyNet({ dropout: 0.3 });
    const a = new GraphModel(net.graph, net.weights);
    const events: TrainEvent[] = [];
    await train(a, { ...hyper, train: data, onProgress: (e) => events.push(e) });
    const steps = events.filter((e) => e.kind === "step");

    const b = new GraphModel(net.graph, net.weights);
    const stepper = new TrainStepper(b, { ...hyper, train: data });
    expect(stepper.stepsPerEpoch).toBe(3);
    expect(stepper.totalSteps).toBe(6);
    const ours = [];
    for (let r = stepper.next(); r !== null; r = stepper.next()) ours.push(r);
    expect(stepper.done).toBe(true);
    expect(ours.map((r) => r.loss)).toEqual(steps.map((s) => s.batchLoss));
    expect(ours.map((r) => r.lr)).toEqual(steps.map((s) => s.lr));
    expect(ours.map((r) => r.epochEnd)).toEqual([false, false, true, false, false, true]);
    expect(ours.map((r) => [r.epoch, r.batch, r.step])).toEqual([
      [0, 0, 1],
      [0, 1, 2],
      [0, 2, 3],
      [1, 0, 4],
      [1, 1, 5],
      [1, 2, 6],
    ]);
    expect(sameWeights(a.weights(), b.weights())).toBe(true);
    // Evaluation agrees with the loop's evaluate at the training normalisation (what train() passes it),
    // and a limit evaluates only the first images.
    const e1 = evaluate(a, test, { normalize: stepper.hyperparameters.normalize });
    const e2 = stepper.evaluate(test);
    expect([e2.loss, e2.accuracy, e2.count]).toEqual([e1.loss, e1.accuracy, e1.count]);
    const part = stepper.evaluate(test, { limit: 20, batchSize: 10 });
    expect(part.count).toBe(20);
  });

  it("lowers the loss on Fashion-MNIST within a few dozen steps", () => {
    const { train: data } = tinyData(640, 10);
    const net = tinyNet();
    const stepper = new TrainStepper(new GraphModel(net.graph, net.weights), {
      train: data,
      batchSize: 32,
      lr: 0.05,
      epochs: 3,
    });
    const losses: number[] = [];
    for (let i = 0; i < 40; i++) losses.push(stepper.next()!.loss);
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean(losses.slice(-10))).toBeLessThan(0.8 * mean(losses.slice(0, 10)));
  });

  it("restores the model's mode after evaluating and checks the logits", () => {
    const { test } = tinyData(10, 20);
    const wrong = tinyNet({ classes: 3 });
    const model = new GraphModel(wrong.graph, wrong.weights).train();
    expect(() => evaluateModel(model, test)).toThrow(ShapeError);
    expect(model.training).toBe(true);
    expect(() => evaluateModel(model, test, { limit: -1 })).toThrow(ArgumentError);
  });

  it("rejects bad hyper-parameters like train()", () => {
    const { train: data } = tinyData(10, 10);
    const net = tinyNet();
    expect(
      () => new TrainStepper(new GraphModel(net.graph, net.weights), { train: data, batchSize: 0 }),
    ).toThrow(ArgumentError);
  });
});
