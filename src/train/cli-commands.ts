import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { parseChoice, parseNonNegativeInt, parseNonNegativeNumber, parsePositiveInt } from "../cli/args.js";
import type { CliContext } from "../cli/context.js";
import { CliError, UsageError } from "../cli/errors.js";
import { KERNEL_CHOICES, selectKernels } from "../cli/kernels.js";
import { headDataset } from "../data/dataset.js";
import { loadFashionMnist } from "../data/fashion-mnist.js";
import { GraphModel } from "../graph/executor.js";
import { saveModel } from "../graph/serialize.js";
import type { Graph, Json } from "../graph/types.js";
import { writeFileAtomic } from "../io/atomic.js";
import { convkitVersion } from "../io/version.js";
import { getNumThreads, setNumThreads } from "../kernels/threads/index.js";
import { CHECKPOINT_FILE, hasCheckpoint } from "./checkpoint.js";
import { loadTrainableModel } from "./cli-model.js";
import { type TrainResult, train } from "./loop.js";
import { OPTIMIZERS, type OptimizerName, SCHEDULES, type ScheduleName } from "./loop-config.js";
import { createProgressReporter, formatDuration } from "./progress.js";

/**
 * `convkit train <model>`: trains a zoo model, a graph .json, a saved model folder or an .onnx file on
 * Fashion-MNIST (full when installed or given with --data, else the embedded subset) and writes
 * `<out>/model/` (graph.json + weights.safetensors, the graph's meta.normalize holding the input
 * normalisation), `<out>/history.json`, and checkpoints in `<out>/checkpoint/` (or --checkpoint DIR).
 * Ctrl-C (or SIGTERM) stops after the current step with a checkpoint; `--resume` continues exactly.
 * Only argument handling lives here: the loop is src/train/loop.ts.
 */

interface TrainFlags {
  data?: string;
  embedded?: boolean;
  epochs: string;
  batchSize: string;
  lr?: string;
  optimizer: string;
  momentum: string;
  nesterov?: boolean;
  weightDecay?: string;
  schedule: string;
  warmupEpochs: string;
  augment?: boolean;
  seed: string;
  checkpoint?: string;
  checkpointEvery: string;
  resume?: boolean;
  fresh?: boolean;
  budget?: string;
  trainLimit?: string;
  testLimit?: string;
  weights?: string;
  kernels: string;
  threads?: string;
  saveInitial?: boolean;
  output?: string;
}

/** JSON of numbers that may be NaN (a diverged run): NaN and infinities become null. */
function toJson(value: unknown): string {
  return `${JSON.stringify(value, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 1)}\n`;
}

export function addTrainCommand(program: Command, ctx: CliContext): void {
  program
    .command("train")
    .description(
      "train a model on Fashion-MNIST with checkpoints (Ctrl-C saves one; --resume continues exactly)",
    )
    .argument("<model>", "a zoo model name, a graph .json file, a saved model folder, or a .onnx file")
    .option(
      "--data <DIR>",
      "folder of Fashion-MNIST IDX files (default: the system copy, else the embedded subset)",
    )
    .option("--embedded", "use the embedded 5,000/1,000-image subset even when the full dataset is installed")
    .option("--epochs <N>", "passes over the training set", "10")
    .option("--batch-size <B>", "images per step", "64")
    .option("--lr <X>", "learning rate (default 0.05 for sgd, 0.001 for adam/adamw)")
    .option("--optimizer <NAME>", `one of ${OPTIMIZERS.join(", ")}`, "sgd")
    .option("--momentum <X>", "SGD momentum", "0.9")
    .option("--nesterov", "SGD with Nesterov momentum")
    .option("--weight-decay <X>", "weight decay (default 5e-4 sgd, 0 adam, 0.01 adamw)")
    .option("--schedule <NAME>", `lr schedule per epoch: ${SCHEDULES.join(", ")}`, "cosine")
    .option("--warmup-epochs <N>", "warm-up epochs of warmup-cosine", "1")
    .option("--augment", "random crop (padding 2) and horizontal flip")
    .option("--seed <S>", "seed of data order, augmentation, dropout (and of fresh weights)", "0")
    .option("--checkpoint <DIR>", "checkpoint folder (default <out>/checkpoint)")
    .option("--checkpoint-every <N>", "checkpoint every N steps, or 'epoch' (epoch ends always save)", "200")
    .option("--resume", "continue the run saved in the checkpoint folder")
    .option("--fresh", "start over even if the checkpoint folder holds a run (discarding it)")
    .option("--budget <MINUTES>", "stop after this much time (training and evaluation), with a checkpoint")
    .option("--train-limit <N>", "train on the first N training images only")
    .option("--test-limit <N>", "evaluate on the first N test images only")
    .option("--weights <FILE>", "initial weights (safetensors) for a graph .json")
    .option("--kernels <WHICH>", "auto (WebAssembly when available), wasm or reference", "auto")
    .option("--threads <N>", "kernel threads (default: the cores available)")
    .option("--save-initial", "also write the initial model to <out>/initial (for tools/torch_train.py)")
    .option("-o, --output <DIR>", "output folder (default runs/<model name>)")
    .addHelpText(
      "after",
      "\nExamples:\n  convkit train fmnist-small --embedded --epochs 2\n  convkit train fmnist-vgg-large --epochs 15 --augment -o runs/vgg\n  convkit train fmnist-vgg-large --epochs 15 --augment -o runs/vgg --resume   # after Ctrl-C\n\nWrites <out>/model/{graph.json,weights.safetensors}, <out>/history.json, <out>/checkpoint/.\nExit codes: 0 trained (or stopped by --budget), 1 failed or interrupted (checkpoint saved), 2 bad command line.",
    )
    .action(async (modelSpec: string, flags: TrainFlags) => {
      const epochs = parsePositiveInt(flags.epochs, "--epochs");
      const batchSize = parsePositiveInt(flags.batchSize, "--batch-size");
      const optimizer = parseChoice(flags.optimizer, OPTIMIZERS, "--optimizer") as OptimizerName;
      const schedule = parseChoice(flags.schedule, SCHEDULES, "--schedule") as ScheduleName;
      const seed = parseNonNegativeInt(flags.seed, "--seed");
      const lr = flags.lr !== undefined ? parseNonNegativeNumber(flags.lr, "--lr") : undefined;
      const momentum = parseNonNegativeNumber(flags.momentum, "--momentum");
      const weightDecay =
        flags.weightDecay !== undefined
          ? parseNonNegativeNumber(flags.weightDecay, "--weight-decay")
          : undefined;
      const warmupEpochs = parsePositiveInt(flags.warmupEpochs, "--warmup-epochs");
      const checkpointEvery =
        flags.checkpointEvery === "epoch"
          ? "epoch"
          : parsePositiveInt(flags.checkpointEvery, "--checkpoint-every");
      const budgetSeconds =
        flags.budget !== undefined ? parseNonNegativeNumber(flags.budget, "--budget") * 60 : undefined;
      const trainLimit =
        flags.trainLimit !== undefined ? parsePositiveInt(flags.trainLimit, "--train-limit") : undefined;
      const testLimit =
        flags.testLimit !== undefined ? parsePositiveInt(flags.testLimit, "--test-limit") : undefined;
      const kernelsWanted = parseChoice(flags.kernels, KERNEL_CHOICES, "--kernels");
      const threads = flags.threads !== undefined ? parsePositiveInt(flags.threads, "--threads") : undefined;
      if (flags.resume && flags.fresh) throw new UsageError("--resume and --fresh: choose one");
      if (flags.data !== undefined && flags.embedded)
        throw new UsageError("--data and --embedded: choose one");

      const model0 = await loadTrainableModel(modelSpec, {
        zoo: await ctx.zoo(),
        weightsPath: flags.weights,
        seed,
      });
      const graph = model0.graph;
      const out = resolve(flags.output ?? join("runs", graph.name));
      const checkpointDir = resolve(flags.checkpoint ?? join(out, "checkpoint"));
      if (hasCheckpoint(checkpointDir) && !flags.resume) {
        if (!flags.fresh) {
          throw new CliError(
            `${join(checkpointDir, CHECKPOINT_FILE)} holds a run: add --resume to continue it, or --fresh to start over`,
          );
        }
        // Only the checkpoint's own files: the folder may hold other things.
        for (const name of readdirSync(checkpointDir)) {
          if (name === CHECKPOINT_FILE || /^(weights|optimizer)-\d+\.safetensors$/.test(name))
            rmSync(join(checkpointDir, name), { force: true });
        }
      }
      const data = loadFashionMnist({ dir: flags.data, embedded: flags.embedded });
      const trainSet = headDataset(data.train, trainLimit);
      const testSet = headDataset(data.test, testLimit);
      const kernels = selectKernels(kernelsWanted);
      if (threads !== undefined) setNumThreads(threads);
      const model = new GraphModel(graph, model0.weights);
      if (flags.saveInitial) await saveModel(join(out, "initial"), graph, model.weights());
      ctx.stdout(
        `training ${graph.name} (weights: ${model0.weightsFrom}) on ${trainSet.name} (${trainSet.shape[0]} images), ` +
          `testing on ${testSet.name} (${testSet.shape[0]}); kernels: ${kernels}, ${getNumThreads()} thread(s); output: ${out}\n`,
      );
      if (flags.resume && !hasCheckpoint(checkpointDir))
        ctx.stdout(`no checkpoint in ${checkpointDir}: starting from the beginning\n`);

      const controller = new AbortController();
      const onSignal = (signal: NodeJS.Signals) => {
        if (controller.signal.aborted) process.exit(130); // a second Ctrl-C: leave now
        controller.abort();
        ctx.stderr(`\n${signal}: stopping after this step and saving a checkpoint (again to quit at once)\n`);
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      const progress = createProgressReporter({
        tty: process.stdout.isTTY === true && ctx.env.CONVKIT_PROGRESS !== "plain" ? process.stdout : null,
        write: ctx.stdout,
        label: graph.name,
        plainEverySeconds: ctx.env.CONVKIT_PROGRESS_SECONDS ? Number(ctx.env.CONVKIT_PROGRESS_SECONDS) : 10,
      });
      let result: TrainResult;
      try {
        result = await train(model, {
          train: trainSet,
          test: testSet,
          epochs,
          batchSize,
          optimizer,
          lr,
          momentum,
          nesterov: flags.nesterov ?? false,
          weightDecay,
          schedule,
          warmupEpochs,
          augment: flags.augment ?? false,
          seed,
          checkpointDir,
          checkpointEvery,
          resume: flags.resume ?? false,
          budgetSeconds,
          signal: controller.signal,
          onProgress: (e) => progress.onEvent(e),
        });
      } finally {
        progress.stop();
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }

      const normalize = result.hyperparameters.normalize;
      const record = {
        convkit: convkitVersion(),
        model: graph.name,
        modelSpec,
        weightsFrom: model0.weightsFrom,
        data: {
          source: data.source,
          dir: data.dir,
          train: { name: trainSet.name, images: trainSet.shape[0] },
          test: { name: testSet.name, images: testSet.shape[0] },
        },
        kernels,
        threads: getNumThreads(),
        hyperparameters: result.hyperparameters,
        stopped: result.stopped,
        epochs: result.epochs,
        steps: result.steps,
        seconds: result.seconds,
        resumedFrom: result.resumedFrom,
        final: result.final,
        history: result.history,
        checkpoint: checkpointDir,
        finishedAt: new Date().toISOString(),
      };
      mkdirSync(out, { recursive: true });
      await writeFileAtomic(join(out, "history.json"), toJson(record));
      if (result.stopped === "aborted") {
        throw new CliError(
          `interrupted at epoch ${result.epochs + 1}, step ${result.steps}: checkpoint saved in ${checkpointDir}; run the same command with --resume to continue`,
        );
      }
      const meta: Record<string, Json> = { ...(graph.meta ?? {}) };
      if (normalize !== null) meta.normalize = { mean: [...normalize.mean], std: [...normalize.std] };
      const trained: Graph = { ...graph, meta };
      await saveModel(join(out, "model"), trained, model.weights());
      const f = result.final;
      const acc = f.testAccuracy === null ? "-" : `${(100 * f.testAccuracy).toFixed(2)}%`;
      const why = result.stopped === "budget" ? " (stopped by --budget)" : "";
      ctx.stdout(
        `done${why}: ${result.epochs} epochs, ${result.steps} steps in ${formatDuration(result.seconds)}; ` +
          `test accuracy ${acc}, test loss ${f.testLoss === null ? "-" : f.testLoss.toFixed(4)}\n` +
          `wrote ${join(out, "model")}/ and ${join(out, "history.json")}\n`,
      );
    });
}
