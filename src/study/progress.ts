import { createRequire } from "node:module";
import { formatDuration } from "../train/progress.js";
import type { StudyEvent, VariantRecord } from "./types.js";

/**
 * Terminal progress for `convkit study`: on a terminal, two bars (the study: runs done, elapsed, ETA; the
 * variant in training: epoch, step, loss, accuracy, images/s, its ETA) with a line per finished variant;
 * otherwise plain lines (a variant's start and end, its epochs, and a step line at most every
 * `plainEverySeconds`), so logs stay readable.
 */

interface Bar {
  update(value: number, payload?: Record<string, string | number>): void;
  setTotal(total: number): void;
}
interface MultiBar {
  create(
    total: number,
    start: number,
    payload?: Record<string, string | number>,
    options?: Record<string, unknown>,
  ): Bar;
  remove(bar: Bar): boolean;
  log(text: string): void;
  stop(): void;
}
interface CliProgress {
  MultiBar: new (options: Record<string, unknown>) => MultiBar;
}

export interface StudyProgressOptions {
  tty?: NodeJS.WriteStream | null;
  write: (text: string) => void;
  plainEverySeconds?: number;
}

export interface StudyProgress {
  onEvent(event: StudyEvent): void;
  stop(): void;
}

const pct = (v: number | null) => (v === null ? "-" : `${(100 * v).toFixed(1)}%`);

/** One line for a finished (or failed) variant. */
export function formatVariantLine(r: VariantRecord, index: number, total: number, skipped: boolean): string {
  const head = `[${index + 1}/${total}] ${r.label}`;
  if (r.status === "failed") return `${head}: FAILED: ${r.error ?? "unknown error"}`;
  const t = r.training;
  const cost = r.cost
    ? `${r.cost.params.toLocaleString("en-US")} params, ${(r.cost.macs / 1e6).toFixed(2)}M MACs`
    : "";
  const train = t
    ? `${t.epochs}${t.stopped === "budget" ? "+" : ""} epoch(s) in ${formatDuration(t.seconds)}`
    : "";
  return `${head}: test accuracy ${pct(r.accuracy)} | ${cost} | ${train}${skipped ? " (done before: kept)" : ""}`;
}

export function createStudyProgress(options: StudyProgressOptions): StudyProgress {
  return options.tty ? barProgress(options.tty) : plainProgress(options);
}

function plainProgress(options: StudyProgressOptions): StudyProgress {
  const every = (options.plainEverySeconds ?? 10) * 1000;
  let last = performance.now();
  return {
    onEvent(e) {
      switch (e.kind) {
        case "plan":
          options.write(
            `study: ${e.runs.length} runs (${e.runs.map((r) => r.id).join(", ")}); ${e.mode === "budget" ? `time budget ${formatDuration(e.budgetSeconds ?? 0)}` : "fixed epochs"}\n`,
          );
          break;
        case "variant-start":
          last = performance.now();
          options.write(
            `[${e.index + 1}/${e.total}] ${e.label}: ${e.resumed ? "resuming, " : ""}${e.epochs} epoch(s)${e.budgetSeconds !== null ? ` within ${formatDuration(e.budgetSeconds)}` : ""} | study ${formatDuration(e.elapsedSeconds)} elapsed, ETA ${formatDuration(e.etaSeconds)}\n`,
          );
          break;
        case "phase":
          options.write(`  ${e.id}: ${e.text}\n`);
          break;
        case "train": {
          const t = e.event;
          if (t.kind === "epoch") {
            last = performance.now();
            const r = t.record;
            options.write(
              `  ${e.id} epoch ${r.epoch}/${t.epochs}${r.partial ? " (partial)" : ""}: train loss ${r.trainLoss.toFixed(4)} acc ${pct(r.trainAccuracy)} | test acc ${pct(r.testAccuracy)} | ${Math.round(r.imagesPerSecond)} img/s | study ETA ${formatDuration(e.etaSeconds)}\n`,
            );
          } else if (t.kind === "step") {
            const now = performance.now();
            if (now - last < every) return;
            last = now;
            options.write(
              `  ${e.id} epoch ${t.epoch}/${t.epochs} step ${t.step}/${t.stepsPerEpoch} loss ${t.loss.toFixed(4)} acc ${pct(t.accuracy)} ${Math.round(t.imagesPerSecond)} img/s | variant ETA ${formatDuration(t.etaSeconds)} | study ETA ${formatDuration(e.etaSeconds)}\n`,
            );
          }
          break;
        }
        case "variant-done":
          options.write(`${formatVariantLine(e.record, e.index, e.total, e.skipped)}\n`);
          break;
        case "variant-failed":
          options.write(`[${e.index + 1}/${e.total}] ${e.id}: FAILED: ${e.error}\n`);
          break;
        case "interrupted":
          options.write(`study interrupted${e.id ? ` during ${e.id}` : ""}: state and checkpoint saved\n`);
          break;
        case "done":
          options.write(`study done in ${formatDuration(e.seconds)}: ${e.reportDir}\n`);
          break;
      }
    },
    stop() {},
  };
}

function barProgress(stream: NodeJS.WriteStream): StudyProgress {
  const require = createRequire(import.meta.url);
  const cliProgress = require("cli-progress") as CliProgress;
  const multi = new cliProgress.MultiBar({
    stream,
    format: "{name} [{bar}] {value}/{total} {unit} | {info}",
    barsize: 24,
    hideCursor: true,
    clearOnComplete: false,
    fps: 5,
  });
  let study: Bar | null = null;
  let variant: Bar | null = null;
  let total = 0;
  let done = 0;
  let label = "";
  let elapsed0 = 0;
  let t0 = performance.now();
  const studyInfo = (eta: number) =>
    `${formatDuration(elapsed0 + (performance.now() - t0) / 1000)} elapsed | ETA ${formatDuration(eta)} | ${label}`;
  return {
    onEvent(e) {
      switch (e.kind) {
        case "plan":
          total = e.runs.length;
          study = multi.create(total, 0, { name: "study  ", unit: "runs ", info: "starting" });
          break;
        case "variant-start": {
          label = e.label;
          elapsed0 = e.elapsedSeconds;
          t0 = performance.now();
          study?.update(done, { name: "study  ", unit: "runs ", info: studyInfo(e.etaSeconds) });
          if (variant) multi.remove(variant);
          variant = multi.create(1, 0, { name: "variant", unit: "steps", info: `${e.label}: preparing` });
          break;
        }
        case "phase":
          variant?.update(0, { name: "variant", unit: "steps", info: `${label}: ${e.text}` });
          break;
        case "train": {
          const t = e.event;
          if (t.kind === "start") variant?.setTotal(t.totalSteps);
          if (t.kind === "step") {
            variant?.update(t.globalStep, {
              name: "variant",
              unit: "steps",
              info: `${label} epoch ${t.epoch}/${t.epochs} | loss ${t.loss.toFixed(3)} | acc ${pct(t.accuracy)} | ${Math.round(t.imagesPerSecond)} img/s | ETA ${formatDuration(t.etaSeconds)}`,
            });
            study?.update(done, { name: "study  ", unit: "runs ", info: studyInfo(e.etaSeconds) });
          } else if (t.kind === "evaluate") {
            variant?.update(t.globalStep, { name: "variant", unit: "steps", info: `${label}: evaluating` });
          }
          break;
        }
        case "variant-done":
        case "variant-failed":
          done = e.index + 1;
          multi.log(
            `${e.kind === "variant-done" ? formatVariantLine(e.record, e.index, e.total, e.skipped) : `[${e.index + 1}/${e.total}] ${e.id}: FAILED: ${e.error}`}\n`,
          );
          study?.update(done, { name: "study  ", unit: "runs ", info: `${done}/${total} done` });
          break;
        case "interrupted":
          multi.log(`study interrupted${e.id ? ` during ${e.id}` : ""}: state and checkpoint saved\n`);
          break;
        case "done":
          study?.update(total, {
            name: "study  ",
            unit: "runs ",
            info: `done in ${formatDuration(e.seconds)}`,
          });
          break;
      }
    },
    stop() {
      multi.stop();
    },
  };
}
