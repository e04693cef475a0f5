import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { noGrad } from "../../src/autograd/gradmode.js";
import { channelStats, DataLoader } from "../../src/data/loader.js";
import { GraphModel } from "../../src/graph/executor.js";
import { saveModel } from "../../src/graph/serialize.js";
import { parseSafetensors, serializeSafetensors } from "../../src/io/safetensors.js";
import { train } from "../../src/train/loop.js";
import { expectClose } from "../helpers/close.js";
import { tinyData, tinyNet } from "./loop-fixtures.js";

/**
 * tools/torch_train.py on the embedded subset, briefly: its graph interpreter computes convkit's logits,
 * and one full-batch SGD step (where the data order cannot matter) lands on convkit's weights. The long
 * full-dataset comparison is a documented command (docs/training.md), not a test.
 */

const script = fileURLToPath(new URL("../../tools/torch_train.py", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "convkit-torch-train-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function torchTrain(args: string[]): Record<string, unknown> {
  const out = join(root, `result-${Math.random().toString(36).slice(2)}.json`);
  const r = spawnSync("/usr/bin/python3", [script, ...args, "--json", out, "--quiet"], { encoding: "utf8" });
  expect(r.status, `torch_train.py failed: ${r.stderr}`).toBe(0);
  return JSON.parse(readFileSync(out, "utf8")) as Record<string, unknown>;
}

const common = ["--embedded", "--train-limit", "64", "--test-limit", "100", "--threads", "1"];

describe("tools/torch_train.py", () => {
  it("rebuilds the same network from graph JSON (eval-mode logits agree) and trains a few steps", async () => {
    const { graph, weights } = tinyNet({ seed: 4, dropout: 0.2 });
    const model = new GraphModel(graph, weights);
    const data = tinyData(64, 100);
    await train(model, { train: data.train, epochs: 1, batchSize: 16 }); // non-trivial running statistics
    const dir = join(root, "trained");
    await saveModel(dir, graph, model.weights());
    const batch = [...new DataLoader(data.test, { batchSize: 32, normalize: channelStats(data.train) })][0];
    const logits = noGrad(() => model.forward(batch.images, { training: false }));
    const file = join(root, "logits.safetensors");
    writeFileSync(
      file,
      serializeSafetensors([
        ["images", batch.images],
        ["logits", logits],
      ]),
    );
    const result = torchTrain([
      dir,
      ...common,
      "--epochs",
      "2",
      "--batch-size",
      "16",
      "--max-steps",
      "5",
      "--augment",
      "--compare-logits",
      file,
    ]);
    expect(result.logitsMaxAbsDiff as number).toBeLessThan(1e-5 * Math.max(1, result.logitsMaxAbs as number));
    const [run] = result.runs as {
      steps: number;
      testAccuracy: number;
      imagesPerSecond: number;
      history: unknown[];
    }[];
    expect(run.steps).toBe(5);
    expect(run.history).toHaveLength(2);
    expect(run.testAccuracy).toBeGreaterThanOrEqual(0);
    expect(run.testAccuracy).toBeLessThanOrEqual(1);
    expect(run.imagesPerSecond).toBeGreaterThan(0);
  }, 60_000);

  it("one full-batch SGD step gives convkit's weights and batch-norm statistics", async () => {
    const { graph, weights } = tinyNet({ seed: 6 });
    const dir = join(root, "initial");
    await saveModel(dir, graph, weights);
    const model = new GraphModel(graph, weights);
    const data = tinyData(64, 100);
    await train(model, { train: data.train, test: data.test, epochs: 1, batchSize: 64, nesterov: true });
    const out = join(root, "torch-weights.safetensors");
    torchTrain([dir, ...common, "--epochs", "1", "--batch-size", "64", "--nesterov", "--save-weights", out]);
    const theirs = parseSafetensors(readFileSync(out)).tensors;
    for (const [name, ours] of model.weights()) {
      const t = theirs.get(name);
      expect(t, name).toBeDefined();
      expectClose(ours, t!.data, { rtol: 1e-4, label: name });
    }
  }, 60_000);
});
