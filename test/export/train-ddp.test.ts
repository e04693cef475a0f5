import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { noGrad } from "../../src/autograd/gradmode.js";
import { tensor } from "../../src/autograd/tensor.js";
import { loadFashionMnist } from "../../src/data/fashion-mnist.js";
import { writePytorchExport } from "../../src/export/index.js";
import { GraphModel } from "../../src/graph/executor.js";
import { loadModel } from "../../src/graph/serialize.js";
import type { Graph, Weights } from "../../src/graph/types.js";
import { buildZooModel } from "../../src/zoo/index.js";
import { PYTHON, torchAvailability } from "./helpers.js";

/**
 * train_ddp.py under torchrun: 2 processes on the CPU with the gloo backend, 30 steps of 32 images (16 per process)
 * on the embedded Fashion-MNIST subset copied into the export folder. The loss falls; the result is a convkit model
 * folder that loadModel reads (names and shapes checked) and on which convkit's executor measures the test
 * accuracy train_ddp.py reported.
 */

const torch = torchAvailability();

interface History {
  backend: string;
  worldSize: number;
  steps: { step: number; loss: number; lr: number }[];
  epochs: { epoch: number; trainLoss: number; testLoss: number; testAccuracy: number }[];
  normalize: { mean: number[]; std: number[] };
}

describe("train_ddp.py: 2 processes, gloo, embedded data", () => {
  // PyTorch is a test requirement (README, .ci/run): fail with the reason rather than skip.
  const root = mkdtempSync(join(tmpdir(), "convkit-export-ddp-"));
  const run = join(root, "run");
  let initial: { graph: Graph; weights: Weights };
  let status: number | null = null;
  let output = "";

  beforeAll(async () => {
    if (!torch.ok) throw new Error(`${torch.reason}: install Debian's python3-torch and python3-torchvision`);
    initial = buildZooModel("fmnist-small", { seed: 2 });
    await writePytorchExport(join(root, "export"), initial.graph, initial.weights);
    // --redirects 1 --tee 1: torch 1.13's torchrun cannot parse its default "0" under Python 3.11 (Debian 12).
    const r = spawnSync(
      PYTHON,
      [
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        "--nproc_per_node=2",
        "--rdzv_backend=c10d",
        "--rdzv_endpoint=localhost:0",
        "--redirects=1",
        "--tee=1",
        `--log_dir=${join(root, "logs")}`,
        join(root, "export", "train_ddp.py"),
        "--epochs=2",
        "--batch-size=32",
        "--lr=0.05",
        "--train-limit=480",
        "--test-limit=200",
        "--max-steps=30",
        "--log-every=1",
        `--output=${run}`,
      ],
      { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1" }, timeout: 120_000 },
    );
    status = r.status;
    output = `${r.stdout}\n${r.stderr}`;
  }, 150_000);

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("trains with DistributedDataParallel on 2 gloo processes and the loss falls", () => {
    expect(status, output).toBe(0);
    const h = JSON.parse(readFileSync(join(run, "history.json"), "utf8")) as History;
    expect([h.backend, h.worldSize]).toEqual(["gloo", 2]);
    expect(h.steps.map((s) => s.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = mean(h.steps.slice(0, 5).map((s) => s.loss));
    const last = mean(h.steps.slice(-5).map((s) => s.loss));
    expect(last, `loss of the first 5 steps ${first}, of the last 5 ${last}`).toBeLessThan(first - 0.1);
    expect(h.epochs.map((e) => e.epoch)).toEqual([1, 2]);
    expect(h.epochs[1].trainLoss).toBeLessThan(h.epochs[0].trainLoss);
    expect(h.epochs[1].testLoss).toBeLessThan(h.epochs[0].testLoss);
    // convkit's cosine schedule over 2 epochs: 0.05, then 0.025.
    expect([h.steps[0].lr, h.steps[29].lr]).toEqual([0.05, 0.025]);
    expect(existsSync(join(run, "checkpoint.pt"))).toBe(true);
  });

  it("writes a convkit model folder that loads back and gives the reported test accuracy", async () => {
    expect(status, output).toBe(0);
    const { graph, weights } = await loadModel(join(run, "model"));
    expect(graph.name).toBe(initial.graph.name);
    expect([...weights.keys()].sort()).toEqual(Object.keys(initial.graph.params).sort());
    // Trained: the first conv moved, and batch norm counted the 30 steps (int64 in PyTorch).
    const w = "features.conv1.conv.weight";
    expect(Array.from(weights.get(w)!)).not.toEqual(Array.from(initial.weights.get(w)!));
    expect(weights.get("features.conv1.bn.num_batches_tracked")![0]).toBe(30);
    const h = JSON.parse(readFileSync(join(run, "history.json"), "utf8")) as History;
    expect(graph.meta?.normalize).toEqual(h.normalize);

    // convkit evaluates the PyTorch-trained weights on the same 200 test images.
    const test = loadFashionMnist({ embedded: true }).test;
    const [n, c, hh, ww] = [200, ...test.shape.slice(1)] as [number, number, number, number];
    const size = c * hh * ww;
    const x = new Float32Array(n * size);
    for (let i = 0; i < n * size; i++) {
      const ch = Math.floor(i / (hh * ww)) % c;
      x[i] = (test.images[i] / 255 - h.normalize.mean[ch]) / h.normalize.std[ch];
    }
    const logits = noGrad(() => new GraphModel(graph, weights).forward(tensor(x, [n, c, hh, ww])));
    let correct = 0;
    for (let i = 0; i < n; i++) {
      const row = logits.data.subarray(i * 10, i * 10 + 10);
      if (row.indexOf(Math.max(...row)) === test.labels[i]) correct++;
    }
    expect(correct / n).toBeCloseTo(h.epochs[1].testAccuracy, 2);
  });

  it("runs as one process without torchrun: --resize for a 1 x 32 x 32 model, --fresh, --resume", async () => {
    const lenet = buildZooModel("lenet5");
    const dir = join(root, "lenet");
    await writePytorchExport(dir, lenet.graph, lenet.weights);
    const script = join(dir, "train_ddp.py");
    const out = join(root, "lenet-run");
    const common = [
      "--batch-size=16",
      "--train-limit=64",
      "--test-limit=50",
      "--log-every=1",
      `--output=${out}`,
    ];
    const py = (args: string[]) =>
      spawnSync(PYTHON, [script, ...args, ...common], {
        encoding: "utf8",
        env: { ...process.env, OMP_NUM_THREADS: "1" },
      });

    const refused = py(["--epochs=1"]);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain(
      "the model takes inputs [1, 32, 32] but the images are [1, 28, 28]; pass --resize",
    );

    const first = py(["--resize", "--fresh", "--epochs=2", "--max-steps=4"]);
    expect(first.status, first.stderr).toBe(0);
    const second = py(["--resize", "--fresh", "--epochs=2", "--resume"]);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toContain('"resumed"');
    const h = JSON.parse(readFileSync(join(out, "history.json"), "utf8")) as History;
    expect(h.worldSize).toBe(1);
    expect(h.epochs.map((e) => e.epoch)).toEqual([1, 2]);
    expect(h.steps.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const { graph } = await loadModel(join(out, "model"));
    expect(graph.name).toBe("lenet5");
  }, 60_000);
});
