import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { GraphModel } from "../../src/graph/executor.js";
import { loadModel, saveModel } from "../../src/graph/serialize.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { evaluate } from "../../src/train/loop.js";
import { graphNormalize } from "../../src/train/loop-config.js";
import { zoo } from "../../src/zoo/index.js";
import { tinyData, tinyNet } from "./loop-fixtures.js";

/** `convkit train` end to end in a child process: src/cli/main.ts run as the entry point, like bin/convkit.mjs. */

const entry = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "convkit-train-cli-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function convkit(args: string[], interruptAfter?: RegExp): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", entry, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, CONVKIT_PROGRESS_SECONDS: "0" },
    });
    let stdout = "";
    let stderr = "";
    let sent = false;
    child.stdout.on("data", (d: Buffer) => {
      stdout += String(d);
      if (interruptAfter !== undefined && !sent && interruptAfter.test(stdout)) {
        sent = true;
        child.kill("SIGINT");
      }
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += String(d);
    });
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

const modelDir = join(root, "tiny-model");
const { graph, weights } = tinyNet({ seed: 2 });
await saveModel(modelDir, graph, weights);
const common = [
  "--embedded",
  "--train-limit",
  "256",
  "--test-limit",
  "100",
  "--batch-size",
  "32",
  "--kernels",
  "reference",
];

describe("convkit train", () => {
  it("trains a saved model for one epoch and writes the model, its normalisation and the history", async () => {
    const out = join(root, "out");
    const run = await convkit(["train", modelDir, ...common, "--epochs", "1", "-o", out]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/weights: .*tiny-model.weights\.safetensors/);
    expect(run.stdout).toMatch(/epoch 1\/1 step \d+\/8 loss/); // plain step lines (not a terminal)
    expect(run.stdout).toMatch(/epoch 1\/1: train loss .* test loss .* img\/s/);
    expect(run.stdout).toMatch(/done: 1 epochs, 8 steps/);
    const history = JSON.parse(readFileSync(join(out, "history.json"), "utf8"));
    expect(history.stopped).toBe("completed");
    expect(history.history).toHaveLength(1);
    expect(history.data).toMatchObject({ source: "embedded", train: { images: 256 }, test: { images: 100 } });
    expect(history.kernels).toBe("reference");
    // The written model is the trained one, carrying the normalisation it was trained with.
    const saved = await loadModel(join(out, "model"));
    const normalize = graphNormalize(saved.graph);
    expect(normalize).toEqual(history.hyperparameters.normalize);
    const test = tinyData(256, 100).test;
    const again = evaluate(new GraphModel(saved.graph, saved.weights), test);
    expect(again.accuracy).toBe(history.final.testAccuracy);
    expect(existsSync(join(out, "checkpoint", "checkpoint.json"))).toBe(true);
  }, 30_000);

  it("Ctrl-C saves a checkpoint and exits; --resume continues from it", async () => {
    const out = join(root, "interrupted");
    const args = ["train", modelDir, ...common, "--schedule", "none", "--checkpoint-every", "1", "-o", out];
    const stopped = await convkit([...args, "--epochs", "1000"], /step \d+\/8/);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toMatch(/SIGINT: stopping after this step/);
    expect(stopped.stderr).toMatch(/interrupted at epoch \d+, step \d+: checkpoint saved in .*--resume/);
    const saved = loadCheckpoint(join(out, "checkpoint"));
    expect(saved.step).toBeGreaterThan(0);
    expect(existsSync(join(out, "model"))).toBe(false);

    const refused = await convkit([...args, "--epochs", "1000"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/holds a run: add --resume to continue it, or --fresh/);

    const epochs = saved.epoch + 1;
    const resumed = await convkit([...args, "--epochs", String(epochs), "--resume"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(new RegExp(`resuming at epoch ${saved.epoch + 1} step`));
    const history = JSON.parse(readFileSync(join(out, "history.json"), "utf8"));
    expect(history.resumedFrom.step).toBe(saved.step);
    expect(history.steps).toBe(epochs * 8);
    expect(existsSync(join(out, "model", "weights.safetensors"))).toBe(true);
  }, 30_000);

  it("trains a zoo model by name, with --seed reaching its initial weights", async () => {
    const out = join(root, "zoo");
    const run = await convkit([
      "train",
      "fmnist-small",
      ...common,
      "--epochs",
      "1",
      "--seed",
      "3",
      "--save-initial",
      "--threads",
      "2",
      "-o",
      out,
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/training fmnist-small \(weights: zoo:fmnist-small\)/);
    const history = JSON.parse(readFileSync(join(out, "history.json"), "utf8"));
    expect(history.model).toBe("fmnist-small");
    expect(history.hyperparameters.seed).toBe(3);
    expect(history.threads).toBe(2);
    expect(run.stdout).toMatch(/, 2 thread\(s\); output/);
    const initial = await loadModel(join(out, "initial"));
    const expected = zoo["fmnist-small"]({ seed: 3 }).weights;
    for (const [name, data] of expected) expect(initial.weights.get(name), name).toEqual(data);
    expect(zoo["fmnist-small"]({ seed: 4 }).weights).not.toEqual(expected);
  }, 30_000);

  it("fails with one line and exit code 1 for a model it cannot load", async () => {
    const bad = join(root, "broken.onnx");
    writeFileSync(bad, "not an onnx file");
    for (const spec of [bad, "fmnist-smal"]) {
      const run = await convkit(["train", spec, "--embedded", "-o", join(root, "never")]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^convkit: [^\n]+\n$/);
    }
  }, 30_000);

  it("answers a bad command line with exit code 2 and a one-line message", async () => {
    const run = await convkit(["train", modelDir, "--optimizer", "lbfgs"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--optimizer: expected one of sgd, adam, adamw, got "lbfgs"/);
    const threads = await convkit(["train", modelDir, "--threads", "0"]);
    expect(threads.code).toBe(2);
    expect(threads.stderr).toMatch(/--threads: expected a positive integer, got "0"/);
  });
});
