/**
 * Child process for resume.test.ts (not a test itself): trains the tiny net (batch norm, dropout,
 * augmentation, SGD with Nesterov momentum, cosine schedule) with a checkpoint every 3 steps, printing
 * "step N" after every step, and writes the final weights and history when it finishes.
 *
 *   tsx resume-worker.ts <out-prefix> [checkpoint-dir] [resume]
 *
 * Without a checkpoint dir it is the uninterrupted reference run.
 */
import { writeFileSync } from "node:fs";
import { GraphModel } from "../../src/graph/executor.js";
import { weightsToSafetensors } from "../../src/graph/serialize.js";
import { train } from "../../src/train/loop.js";
import { tinyData, tinyNet } from "./loop-fixtures.js";

const [outPrefix, checkpointDir, mode] = process.argv.slice(2);
const { graph, weights } = tinyNet({ seed: 3, dropout: 0.25 });
const model = new GraphModel(graph, weights);
const data = tinyData(320, 100);
const result = await train(model, {
  train: data.train,
  test: data.test,
  epochs: 3,
  batchSize: 32,
  optimizer: "sgd",
  lr: 0.05,
  momentum: 0.9,
  nesterov: true,
  schedule: "cosine",
  augment: true,
  seed: 11,
  checkpointDir,
  checkpointEvery: 3,
  resume: mode === "resume",
  onProgress: (e) => {
    if (e.kind === "start" && e.resumedFrom) process.stdout.write(`resumed ${e.resumedFrom.step}\n`);
    if (e.kind === "step") process.stdout.write(`step ${e.globalStep}\n`);
  },
});
writeFileSync(`${outPrefix}.safetensors`, weightsToSafetensors(graph, model.weights()));
writeFileSync(`${outPrefix}.json`, JSON.stringify(result.history));
process.stdout.write("done\n");
