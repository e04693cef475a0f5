import { createRequire } from "node:module";
import type { EpochRecord, TrainEvent } from "./loop.js";

/**
 * Terminal progress for `convkit train`: a cli-progress bar over all steps (epoch, step, loss, accuracy,
 * images/s, ETA) with a summary line per epoch when stdout is a terminal; plain lines otherwise (an epoch
 * summary, and a step line at most every `plainEverySeconds`), so logs and pipes stay readable.
 */

/** The part of cli-progress used here (the package ships no type declarations). */
interface Bar {
  update(value: number, payload?: Record<string, string | number>): void;
  setTotal(total: number): void;
}
interface MultiBar {
  create(total: number, start: number, payload?: Record<string, string | number>): Bar;
  log(text: string): void;
  stop(): void;
}
interface CliProgress {
  MultiBar: new (options: Record<string, unknown>) => MultiBar;
}

export interface ProgressReporter {
  onEvent(event: TrainEvent): void;
  /** Removes the bar (call before printing anything else, and on errors). */
  stop(): void;
}

export interface ProgressOptions {
  /** Draw a bar on this terminal stream; otherwise write plain lines through `write`. */
  tty?: NodeJS.WriteStream | null;
  write: (text: string) => void;
  /** Shown before the bar (the model's name). */
  label?: string;
  /** Plain mode: seconds between step lines (default 10). */
  plainEverySeconds?: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const two = (v: number) => String(v).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${two(m)}:${two(s % 60)}`;
}

const pct = (v: number | null) => (v === null ? "-" : `${(100 * v).toFixed(2)}%`);
const num = (v: number | null) => (v === null ? "-" : v.toFixed(4));

/** One line per epoch, the same in both modes. */
export function formatEpoch(r: EpochRecord, epochs: number): string {
  return (
    `epoch ${r.epoch}/${epochs}${r.partial ? " (partial)" : ""}: ` +
    `train loss ${num(r.trainLoss)} acc ${pct(r.trainAccuracy)} | ` +
    `test loss ${num(r.testLoss)} acc ${pct(r.testAccuracy)} | ` +
    `lr ${r.lr.toPrecision(3)} | ${Math.round(r.imagesPerSecond)} img/s | ${formatDuration(r.seconds)}`
  );
}

export function createProgressReporter(options: ProgressOptions): ProgressReporter {
  return options.tty ? barReporter(options.tty, options) : plainReporter(options);
}

function plainReporter(options: ProgressOptions): ProgressReporter {
  const every = (options.plainEverySeconds ?? 10) * 1000;
  let last = performance.now();
  const prefix = options.label ? `${options.label}: ` : "";
  return {
    onEvent(e) {
      if (e.kind === "start") {
        const from = e.resumedFrom
          ? `, resuming at epoch ${e.resumedFrom.epoch + 1} step ${e.resumedFrom.batch}`
          : "";
        options.write(`${prefix}${e.epochs} epochs of ${e.stepsPerEpoch} steps${from}\n`);
      } else if (e.kind === "step") {
        const now = performance.now();
        if (now - last < every) return;
        last = now;
        options.write(
          `${prefix}epoch ${e.epoch}/${e.epochs} step ${e.step}/${e.stepsPerEpoch} loss ${e.loss.toFixed(4)} ` +
            `acc ${pct(e.accuracy)} ${Math.round(e.imagesPerSecond)} img/s ETA ${formatDuration(e.etaSeconds)}\n`,
        );
      } else if (e.kind === "epoch") {
        last = performance.now();
        options.write(`${prefix}${formatEpoch(e.record, e.epochs)}\n`);
      }
    },
    stop() {},
  };
}

function barReporter(stream: NodeJS.WriteStream, options: ProgressOptions): ProgressReporter {
  const require = createRequire(import.meta.url);
  const cliProgress = require("cli-progress") as CliProgress;
  const multi = new cliProgress.MultiBar({
    stream,
    format:
      `${options.label ? `${options.label} ` : ""}epoch {epochText} [{bar}] {value}/{total} steps | ` +
      "loss {loss} | acc {acc} | {ips} img/s | ETA {etaText}",
    barsize: 24,
    hideCursor: true,
    clearOnComplete: false,
    fps: 5,
  });
  let bar: Bar | null = null;
  let epochs = 0;
  const payload = { epochText: "-", loss: "-", acc: "-", ips: "-", etaText: "--:--" };
  return {
    onEvent(e) {
      epochs = e.epochs;
      if (e.kind === "start") {
        payload.epochText = `${e.epoch}/${e.epochs}`;
        bar = multi.create(e.totalSteps, e.globalStep, payload);
      } else if (e.kind === "step") {
        payload.epochText = `${e.epoch}/${e.epochs} step ${e.step}/${e.stepsPerEpoch}`;
        payload.loss = e.loss.toFixed(4);
        payload.acc = pct(e.accuracy);
        payload.ips = String(Math.round(e.imagesPerSecond));
        payload.etaText = formatDuration(e.etaSeconds);
        bar?.update(e.globalStep, payload);
      } else if (e.kind === "evaluate") {
        payload.etaText = "evaluating";
        bar?.update(e.globalStep, payload);
      } else if (e.kind === "epoch") {
        multi.log(`${formatEpoch(e.record, epochs)}\n`);
      }
    },
    stop() {
      multi.stop();
    },
  };
}
