import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../io/atomic.js";
import { ArgumentError, FormatError } from "../tensor/errors.js";
import type { VariantRecord } from "./types.js";

/**
 * The study's own progress, kept in `<out>/study-state.json` (written atomically after every change) so that
 * `--resume` skips the variants already finished and resumes the one in progress from its checkpoint with the
 * plan it started with (epochs, time allowed). Failed variants are tried again on resume.
 */

export const STATE_FILE = "study-state.json";
const STATE_FORMAT = "convkit.study-state";

/** The run in progress: what it was planned with, so that a resumed session keeps to it. */
export interface RunningVariant {
  id: string;
  epochs: number;
  budgetSeconds: number | null;
}

export interface StudyState {
  format: typeof STATE_FORMAT;
  version: 1;
  /** Settings that must agree for a resume (baseline, rules, data, seed, epochs or budget...). */
  fingerprint: Record<string, string>;
  startedAt: string;
  /** Sessions so far (1 for an uninterrupted study). */
  sessions: number;
  /** Wall-clock seconds of the earlier sessions together. */
  elapsedSeconds: number;
  /** Finished variants (done or failed) by id. */
  records: Record<string, VariantRecord>;
  running: RunningVariant | null;
  /** Probed training speed (images/s) by architecture (the JSON of its rewrite steps). */
  probes: Record<string, number>;
  /** Real training speed over probed speed, per finished run (calibrates the probes). */
  speedRatios: number[];
}

export function newState(fingerprint: Record<string, string>): StudyState {
  return {
    format: STATE_FORMAT,
    version: 1,
    fingerprint,
    startedAt: new Date().toISOString(),
    sessions: 0,
    elapsedSeconds: 0,
    records: {},
    running: null,
    probes: {},
    speedRatios: [],
  };
}

export function hasState(dir: string): boolean {
  return existsSync(join(dir, STATE_FILE));
}

/** JSON with NaN and infinities as null (a diverged run's losses). */
export function toJson(value: unknown, indent?: number): string {
  return `${JSON.stringify(value, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), indent)}\n`;
}

/** Reads the state in `dir`, checking it belongs to the same study (the differences are listed otherwise). */
export function loadState(dir: string, fingerprint: Record<string, string>): StudyState {
  const path = join(dir, STATE_FILE);
  let state: StudyState;
  try {
    state = JSON.parse(readFileSync(path, "utf8")) as StudyState;
  } catch (e) {
    throw new FormatError(`study: cannot read ${path}: ${(e as Error).message}`);
  }
  if (state?.format !== STATE_FORMAT || state.version !== 1 || typeof state.records !== "object") {
    throw new FormatError(`study: ${path} is not a convkit study state`);
  }
  const keys = new Set([...Object.keys(fingerprint), ...Object.keys(state.fingerprint ?? {})]);
  const diffs = [...keys]
    .filter((k) => fingerprint[k] !== state.fingerprint?.[k])
    .map((k) => `${k}: ${state.fingerprint?.[k] ?? "(none)"} then, ${fingerprint[k] ?? "(none)"} now`);
  if (diffs.length > 0) {
    throw new ArgumentError(
      `study: cannot resume ${dir} with different settings (${diffs.join("; ")}); use the same options or another folder`,
    );
  }
  state.probes ??= {};
  state.speedRatios ??= [];
  return state;
}

export async function saveState(dir: string, state: StudyState): Promise<void> {
  await writeFileAtomic(join(dir, STATE_FILE), toJson(state, 1));
}
