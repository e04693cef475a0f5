import { resolve } from "node:path";
import type { Command } from "commander";
import { parseNonNegativeInt, parsePositiveInt, parsePositiveNumber } from "../cli/args.js";
import type { CliContext } from "../cli/context.js";
import { CliError, UsageError } from "../cli/errors.js";
import { parseKernelChoice } from "../cli/kernels.js";
import { loadModelSpec } from "../cli/load-model.js";
import { headDataset } from "../data/dataset.js";
import { FASHION_MNIST_SYSTEM_DIR, loadFashionMnist } from "../data/fashion-mnist.js";
import { formatCount } from "../draw/svg.js";
import { OPTIMIZERS, type OptimizerName } from "../train/loop-config.js";
import { formatDuration } from "../train/progress.js";
import { STUDY_BASELINE } from "../zoo/index.js";
import { parseRuleList } from "./plan.js";
import { createStudyProgress } from "./progress.js";
import { DEFAULT_BUDGET_MINUTES, runStudy } from "./run.js";
import type { StudyData, StudyOptions, StudyReport } from "./types.js";

/**
 * `convkit study`: the command-line front end of `runStudy` (argument handling, data loading, Ctrl-C, terminal
 * progress, the closing summary). The CLI registers it with `addStudyCommand(program, ctx)`.
 */

interface StudyFlags {
  baseline: string;
  rules: string;
  epochs?: string;
  budget?: string;
  fineTuneEpochs?: string;
  fineTune: boolean;
  data?: string;
  embedded?: boolean;
  full?: boolean;
  seed: string;
  output: string;
  resume?: boolean;
  threads?: string;
  kernels: string;
  optimizer?: string;
  batchSize?: string;
  lr?: string;
  fineTuneLr?: string;
  augment?: boolean;
  checkpointEvery: string;
  trainLimit?: string;
  testLimit?: string;
}

/** The data a command line asks for: the embedded subset unless --data DIR or --full. */
export function studyData(flags: { data?: string; embedded?: boolean; full?: boolean }): StudyData {
  const chosen = [flags.data !== undefined, flags.embedded === true, flags.full === true].filter(
    Boolean,
  ).length;
  if (chosen > 1) throw new UsageError("--data, --embedded and --full: choose one");
  if (flags.full) {
    const fm = loadFashionMnist({});
    if (fm.source !== "system") {
      throw new CliError(
        `--full: the full Fashion-MNIST is not installed in ${FASHION_MNIST_SYSTEM_DIR} (Debian: apt install dataset-fashion-mnist); or give --data DIR`,
      );
    }
    return fm;
  }
  if (flags.data !== undefined) return loadFashionMnist({ dir: flags.data });
  return loadFashionMnist({ embedded: true });
}

/** The closing summary: one line per variant. */
export function formatSummary(report: StudyReport): string {
  const base = report.variants.find((v) => v.id === "baseline");
  const rows = report.variants.map((v) => {
    if (v.status === "failed") return [v.label, "failed", "", "", "", (v.error ?? "").slice(0, 60)];
    const c = v.cost!;
    const acc = v.accuracy === null ? "-" : `${(100 * v.accuracy).toFixed(1)}%`;
    const d =
      v.accuracy !== null && base?.accuracy != null && v.id !== "baseline"
        ? `${v.accuracy >= base.accuracy ? "+" : "-"}${Math.abs(100 * (v.accuracy - base.accuracy)).toFixed(1)}`
        : "";
    const t = v.training ? formatDuration(v.training.seconds) : "";
    return [v.label, c.params.toLocaleString("en-US"), formatCount(c.macs), acc, d, t];
  });
  const head = ["variant", "params", "MACs", "test acc", "Δ", "time"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((x, i) => (i === 0 || i === 5 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join("  ");
  return `${[line(head), ...rows.map(line)].join("\n")}\n`;
}

export function addStudyCommand(program: Command, ctx: CliContext): void {
  program
    .command("study")
    .description(
      "rewrite a baseline network every way the article proposes, train and measure each variant, and write an HTML report",
    )
    .option(
      "--baseline <NAME|model>",
      "zoo name, graph .json, model folder or .onnx file (trained from scratch)",
      STUDY_BASELINE,
    )
    .option(
      "--rules <all|list>",
      "rules to study: all, or a comma-separated list (e.g. separable,se,group:groups=4,modern)",
      "all",
    )
    .option("--epochs <N>", "epochs of every from-scratch run (equal work; default: a time budget instead)")
    .option(
      "--budget <MINUTES>",
      `time budget of the whole study, shared by the runs (default ${DEFAULT_BUDGET_MINUTES} when --epochs is not given)`,
    )
    .option(
      "--fine-tune-epochs <N>",
      "epochs of each fine-tuning run with --epochs (default half, rounded up)",
    )
    .option("--no-fine-tune", "do not fine-tune rewrites from the trained baseline")
    .option("--data <DIR>", "folder of Fashion-MNIST IDX files")
    .option("--embedded", "the embedded 5,000/1,000-image subset (the default)")
    .option("--full", `the full dataset installed in ${FASHION_MNIST_SYSTEM_DIR} (60,000/10,000 images)`)
    .option("--seed <S>", "seed of initial weights, data order and rewrites", "0")
    .option("-o, --output <DIR>", "output folder (report, models, checkpoints)", "runs/study")
    .option("--resume", "continue the study in the output folder (finished variants are kept)")
    .option("--threads <N>", "kernel threads (default: the cores available)")
    .option("--kernels <WHICH>", "auto (WebAssembly when available), wasm or reference", "auto")
    .option(
      "--optimizer <NAME>",
      "sgd, adam or adamw (default: adamw under a time budget, sgd with --epochs)",
    )
    .option("--batch-size <B>", "images per step (default 32 under a time budget, 64 with --epochs)")
    .option("--lr <X>", "learning rate from scratch (default 0.002 adam/adamw, 0.05 sgd)")
    .option("--fine-tune-lr <X>", "learning rate of fine-tuning (default lr / 5)")
    .option("--augment", "random crop (padding 2) and horizontal flip")
    .option("--checkpoint-every <N>", "training steps between checkpoints", "25")
    .option("--train-limit <N>", "train on the first N training images only (quick runs)")
    .option("--test-limit <N>", "test on the first N test images only (quick runs)")
    .addHelpText(
      "after",
      `\nExamples:\n  convkit study                                   # embedded data, ${DEFAULT_BUDGET_MINUTES}-minute budget -> runs/study/index.html\n  convkit study --rules separable,se,modern --epochs 3 -o runs/quick\n  convkit study --full --epochs 15 -o runs/study-full   # full Fashion-MNIST (hours on 2 cores)\n  convkit study --resume                          # after Ctrl-C or a crash\n\nWrites <out>/index.html (open it in a browser), <out>/report.json, <out>/variants/<id>/model/.\nExit codes: 0 done (failed variants are in the report), 1 failed or interrupted (--resume continues), 2 bad command line.`,
    )
    .action(async (flags: StudyFlags) => {
      if (flags.epochs !== undefined && flags.budget !== undefined)
        throw new UsageError("--epochs and --budget: choose one");
      const epochs = flags.epochs !== undefined ? parsePositiveInt(flags.epochs, "--epochs") : undefined;
      const budgetMinutes =
        flags.budget !== undefined ? parsePositiveNumber(flags.budget, "--budget") : undefined;
      if (flags.fineTuneEpochs !== undefined && epochs === undefined)
        throw new UsageError(
          "--fine-tune-epochs needs --epochs (under a time budget the runs size themselves)",
        );
      const seed = parseNonNegativeInt(flags.seed, "--seed");
      const kernels = parseKernelChoice(flags.kernels);
      const optimizer = flags.optimizer;
      if (optimizer !== undefined && !(OPTIMIZERS as readonly string[]).includes(optimizer))
        throw new UsageError(
          `--optimizer: expected one of ${OPTIMIZERS.join(", ")}, got ${JSON.stringify(optimizer)}`,
        );
      const rules = flags.rules.trim() === "all" ? "all" : parseRuleList(flags.rules);
      if (rules !== "all" && rules.length === 0)
        throw new UsageError("--rules: expected all or a list of rules");

      const data = studyData(flags); // usage errors (--data with --full) before any loading
      const zoo = await ctx.zoo();
      let baseline: StudyOptions["baseline"];
      if (zoo !== null && Object.hasOwn(zoo, flags.baseline)) baseline = flags.baseline;
      else {
        const loaded = await loadModelSpec(flags.baseline, { zoo, graphOnly: true });
        baseline = { name: flags.baseline, graph: loaded.graph };
      }
      const trainLimit =
        flags.trainLimit !== undefined ? parsePositiveInt(flags.trainLimit, "--train-limit") : undefined;
      const testLimit =
        flags.testLimit !== undefined ? parsePositiveInt(flags.testLimit, "--test-limit") : undefined;
      const studyData_: StudyData = {
        ...data,
        train: headDataset(data.train, trainLimit),
        test: headDataset(data.test, testLimit),
      };
      const out = resolve(flags.output);

      const controller = new AbortController();
      const onSignal = (signal: NodeJS.Signals) => {
        if (controller.signal.aborted) process.exit(130); // a second Ctrl-C: leave now
        controller.abort();
        ctx.stderr(
          `\n${signal}: stopping after this step, saving the checkpoint and the report so far (again to quit at once)\n`,
        );
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      const progress = createStudyProgress({
        tty: process.stdout.isTTY === true && ctx.env.CONVKIT_PROGRESS !== "plain" ? process.stdout : null,
        write: ctx.stdout,
        plainEverySeconds: ctx.env.CONVKIT_PROGRESS_SECONDS ? Number(ctx.env.CONVKIT_PROGRESS_SECONDS) : 10,
      });
      ctx.stdout(
        `study of ${typeof baseline === "string" ? baseline : flags.baseline} on ${studyData_.train.name} (${studyData_.train.shape[0]} training, ${studyData_.test.shape[0]} test images); output ${out}\n`,
      );
      let result: Awaited<ReturnType<typeof runStudy>>;
      try {
        result = await runStudy({
          baseline,
          rules,
          epochs,
          budgetMinutes,
          fineTune: flags.fineTune,
          fineTuneEpochs:
            flags.fineTuneEpochs !== undefined
              ? parsePositiveInt(flags.fineTuneEpochs, "--fine-tune-epochs")
              : undefined,
          data: studyData_,
          seed,
          outDir: out,
          resume: flags.resume ?? false,
          threads: flags.threads !== undefined ? parsePositiveInt(flags.threads, "--threads") : undefined,
          kernels,
          optimizer: optimizer as OptimizerName | undefined,
          batchSize:
            flags.batchSize !== undefined ? parsePositiveInt(flags.batchSize, "--batch-size") : undefined,
          lr: flags.lr !== undefined ? parsePositiveNumber(flags.lr, "--lr") : undefined,
          fineTuneLr:
            flags.fineTuneLr !== undefined
              ? parsePositiveNumber(flags.fineTuneLr, "--fine-tune-lr")
              : undefined,
          augment: flags.augment ?? false,
          checkpointEvery: parsePositiveInt(flags.checkpointEvery, "--checkpoint-every"),
          signal: controller.signal,
          onEvent: (e) => progress.onEvent(e),
        });
      } finally {
        progress.stop();
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
      ctx.stdout(`\n${formatSummary(result.report)}`);
      if (result.interrupted) {
        throw new CliError(
          `interrupted: the finished variants, the checkpoint of the one in progress and the report so far are in ${out}; run the same command with --resume to continue`,
        );
      }
      const verdicts = result.report.claims.map((c) => `${c.id}: ${c.verdict}`).join(", ");
      ctx.stdout(
        `\nclaims: ${verdicts}\ndone in ${formatDuration(result.report.timing.seconds)}: open ${result.indexHtml}\n(report.json beside it; trained models in ${out}/variants/<id>/model/)\n`,
      );
    });
}
