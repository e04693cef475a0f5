import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Tensor } from "../autograd/tensor.js";
import type { DataLoaderState } from "../data/loader.js";
import { writeFileAtomicSync } from "../io/atomic.js";
import { parseSafetensors, serializeSafetensors, type TensorToWrite } from "../io/safetensors.js";
import { ArgumentError, DataError, describe, FormatError, ShapeError } from "../tensor/errors.js";
import type { OptimizerStateDict, OptionValue, ParamState } from "./optimizer.js";
import type { LrSchedulerState } from "./schedule.js";

/**
 * Training checkpoints that survive being killed at any instant.
 *
 * A checkpoint directory holds `checkpoint.json` and the safetensors files it names:
 * `weights-<g>.safetensors` (the model's tensors, loadable by any safetensors reader) and
 * `optimizer-<g>.safetensors` (momentum / moment buffers, as `state.<param>.<buffer>`), where g is a
 * generation number that grows with every save. Saving writes the new generation's files, each through
 * a temporary file that is fsynced and renamed, and only then replaces `checkpoint.json` the same way:
 * that rename is the commit. A process killed before it leaves the old `checkpoint.json` pointing at the
 * old generation's files, which are removed only after the commit. `checkpoint.json` records each file's
 * size and SHA-256, so loading detects files that do not belong together. One writer per directory.
 */

export const CHECKPOINT_FILE = "checkpoint.json";
const FORMAT = "convkit-checkpoint";
const VERSION = 1;

type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface CheckpointData {
  epoch: number;
  /** Optimisation steps taken so far (global, across epochs). */
  step: number;
  /** Model parameters and buffers by name (batch-norm running statistics included). */
  weights: Record<string, TensorToWrite> | ReadonlyMap<string, TensorToWrite>;
  optimizer?: OptimizerStateDict | null;
  /** Named generator states from `Rng.getState()`. */
  rng?: Record<string, readonly number[]>;
  schedule?: LrSchedulerState | null;
  loader?: DataLoaderState | null;
  /** Anything else JSON-serialisable the caller wants back (config, metrics so far). */
  extra?: JsonValue;
}

export interface LoadedCheckpoint {
  epoch: number;
  step: number;
  weights: Map<string, { shape: number[]; data: Float32Array }>;
  optimizer: OptimizerStateDict | null;
  rng: Record<string, number[]>;
  schedule: LrSchedulerState | null;
  loader: DataLoaderState | null;
  extra: JsonValue;
  generation: number;
  savedAt: string;
}

interface FileRecord {
  file: string;
  bytes: number;
  sha256: string;
}

interface OptimizerRecord extends FileRecord {
  type: string;
  paramGroups: ({ params: number[] } & Record<string, OptionValue>)[];
  state: ({ step: number; buffers: string[] } | null)[];
}

interface CheckpointJson {
  format: string;
  version: number;
  generation: number;
  savedAt: string;
  epoch: number;
  step: number;
  weights: FileRecord;
  optimizer: OptimizerRecord | null;
  rng: Record<string, (number | null)[]>;
  schedule: LrSchedulerState | null;
  loader: DataLoaderState | null;
  extra: JsonValue;
}

const GENERATION_FILE = /^(weights|optimizer)-(\d+)\.safetensors$/;
/** Temporaries of this module's own files, left behind when a writer was killed mid-write. */
const TEMP_FILE = /^(checkpoint\.json|(weights|optimizer)-\d+\.safetensors)\.tmp-\d+-[0-9a-z]+$/;

/** True when `dir` has a `checkpoint.json` (which may still fail validation). */
export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, CHECKPOINT_FILE));
}

/**
 * Writes `bytes` to `path` so that `path` is always either the old file or the complete new one:
 * temporary file in the same directory, fsync, rename, then fsync of the directory so the rename
 * itself is durable.
 */

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function checkCount(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new ArgumentError(describe("saveCheckpoint", what, "a non-negative integer", value));
  }
  return value;
}

function encodeRng(rng: Record<string, readonly number[]>): Record<string, (number | null)[]> {
  // Names are the caller's: fromEntries keeps a generator named "__proto__" an own key.
  return Object.fromEntries(
    Object.entries(rng).map(([name, state]) => {
      if (!Array.isArray(state) || state.length !== 5)
        throw new ArgumentError(
          describe("saveCheckpoint", `rng.${name}`, "an Rng.getState() array of 5 numbers", state),
        );
      // The fifth entry is the spare normal deviate, NaN when there is none: JSON has no NaN, so null.
      return [name, state.map((v) => (Number.isNaN(v) ? null : v))];
    }),
  );
}

/** Highest generation referenced by checkpoint.json or present as a file, so a new one never collides. */
function lastGeneration(dir: string): number {
  let g = 0;
  for (const name of readdirSync(dir)) {
    const m = GENERATION_FILE.exec(name);
    if (m !== null) g = Math.max(g, Number(m[2]));
  }
  try {
    const json = JSON.parse(readFileSync(join(dir, CHECKPOINT_FILE), "utf8")) as { generation?: unknown };
    if (typeof json.generation === "number" && Number.isSafeInteger(json.generation))
      g = Math.max(g, json.generation);
  } catch {
    // No readable checkpoint.json: the file scan decides.
  }
  return g;
}

/** Saves a checkpoint into `dir` (created if missing) atomically; see the module comment. */
export function saveCheckpoint(dir: string, data: CheckpointData): void {
  const epoch = checkCount(data.epoch, "epoch");
  const step = checkCount(data.step, "step");
  const weightEntries =
    data.weights instanceof Map ? [...data.weights.entries()] : Object.entries(data.weights);
  if (weightEntries.length === 0)
    throw new ArgumentError(describe("saveCheckpoint", "weights", "at least one tensor", "none"));
  // Serialise everything before touching the directory, so bad input fails with nothing written.
  const weightBytes = serializeSafetensors(weightEntries, { format: FORMAT });
  let optimizerBytes: Uint8Array | null = null;
  let optimizerMeta: Omit<OptimizerRecord, keyof FileRecord> | null = null;
  if (data.optimizer) {
    const tensors: [string, TensorToWrite][] = [];
    const state = data.optimizer.state.map((s, i) => {
      if (s === null) return null;
      const names = Object.keys(s.buffers);
      for (const name of names)
        tensors.push([`state.${i}.${name}`, { shape: [s.buffers[name].length], data: s.buffers[name] }]);
      return { step: s.step, buffers: names };
    });
    optimizerBytes = serializeSafetensors(tensors, { format: FORMAT, optimizer: data.optimizer.type });
    optimizerMeta = { type: data.optimizer.type, paramGroups: data.optimizer.paramGroups, state };
  }
  const json: Omit<CheckpointJson, "generation" | "weights" | "optimizer"> = {
    format: FORMAT,
    version: VERSION,
    savedAt: new Date().toISOString(),
    epoch,
    step,
    rng: encodeRng(data.rng ?? {}),
    schedule: data.schedule ?? null,
    loader: data.loader ?? null,
    extra: data.extra ?? null,
  };
  mkdirSync(dir, { recursive: true });
  const generation = lastGeneration(dir) + 1;
  const weightsFile = `weights-${generation}.safetensors`;
  writeFileAtomicSync(join(dir, weightsFile), weightBytes);
  let optimizer: OptimizerRecord | null = null;
  if (optimizerBytes !== null && optimizerMeta !== null) {
    const file = `optimizer-${generation}.safetensors`;
    writeFileAtomicSync(join(dir, file), optimizerBytes);
    optimizer = { file, bytes: optimizerBytes.length, sha256: sha256(optimizerBytes), ...optimizerMeta };
  }
  const full: CheckpointJson = {
    ...json,
    generation,
    weights: { file: weightsFile, bytes: weightBytes.length, sha256: sha256(weightBytes) },
    optimizer,
  };
  writeFileAtomicSync(
    join(dir, CHECKPOINT_FILE),
    new TextEncoder().encode(`${JSON.stringify(full, null, 1)}\n`),
  );
  // Committed: older generations and temporaries left by killed writers can go.
  const keep = new Set([weightsFile, optimizer?.file]);
  for (const name of readdirSync(dir)) {
    if ((GENERATION_FILE.test(name) && !keep.has(name)) || TEMP_FILE.test(name))
      rmSync(join(dir, name), { force: true });
  }
}

function bad(file: string, what: string, expected: string, got: unknown): FormatError {
  return new FormatError(describe(`loadCheckpoint(${file})`, what, expected, got));
}

function readRecorded(dir: string, record: unknown, what: string, jsonPath: string): Uint8Array {
  const r = record as Partial<FileRecord> | null;
  if (
    typeof r !== "object" ||
    r === null ||
    typeof r.file !== "string" ||
    !GENERATION_FILE.test(r.file) ||
    typeof r.sha256 !== "string" ||
    typeof r.bytes !== "number"
  ) {
    throw bad(jsonPath, what, "{file, bytes, sha256} naming a file of this checkpoint", record);
  }
  const path = join(dir, r.file);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new FormatError(
      `loadCheckpoint(${path}): cannot read the ${what} file named by ${CHECKPOINT_FILE} (${(error as Error).message})`,
    );
  }
  if (bytes.length !== r.bytes)
    throw bad(path, "size", `${r.bytes} bytes as recorded in ${CHECKPOINT_FILE}`, `${bytes.length} bytes`);
  const digest = sha256(bytes);
  if (digest !== r.sha256)
    throw bad(path, "SHA-256", `${r.sha256} as recorded in ${CHECKPOINT_FILE}`, digest);
  return bytes;
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Loads and validates the checkpoint in `dir`; any inconsistency is a FormatError naming the file. */
export function loadCheckpoint(dir: string): LoadedCheckpoint {
  const jsonPath = join(dir, CHECKPOINT_FILE);
  let text: string;
  try {
    text = readFileSync(jsonPath, "utf8");
  } catch (error) {
    throw new FormatError(
      `loadCheckpoint(${jsonPath}): no readable checkpoint (${(error as Error).message})`,
    );
  }
  let json: CheckpointJson;
  try {
    json = JSON.parse(text) as CheckpointJson;
  } catch (error) {
    throw new FormatError(`loadCheckpoint(${jsonPath}): not valid JSON (${(error as Error).message})`);
  }
  if (typeof json !== "object" || json === null || json.format !== FORMAT)
    throw bad(jsonPath, "format", JSON.stringify(FORMAT), json?.format);
  if (json.version !== VERSION) throw bad(jsonPath, "version", String(VERSION), json.version);
  for (const key of ["generation", "epoch", "step"] as const) {
    if (!isCount(json[key])) throw bad(jsonPath, key, "a non-negative integer", json[key]);
  }
  const weightContent = parseSafetensors(
    readRecorded(dir, json.weights, "weights", jsonPath),
    join(dir, json.weights.file),
  );
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, entry] of weightContent.tensors)
    weights.set(name, { shape: entry.shape, data: entry.data });

  let optimizer: OptimizerStateDict | null = null;
  if (json.optimizer !== null && json.optimizer !== undefined) {
    const rec = json.optimizer;
    const path = join(dir, String(rec.file));
    const content = parseSafetensors(readRecorded(dir, rec, "optimizer", jsonPath), path);
    if (typeof rec.type !== "string" || !Array.isArray(rec.paramGroups) || !Array.isArray(rec.state)) {
      throw bad(jsonPath, "optimizer", "{type, paramGroups, state}", rec);
    }
    const used = new Set<string>();
    const state = rec.state.map((s, i): ParamState | null => {
      if (s === null) return null;
      if (typeof s !== "object" || !isCount(s.step) || !Array.isArray(s.buffers))
        throw bad(jsonPath, `optimizer.state[${i}]`, "{step, buffers}", s);
      const buffers: Record<string, Float32Array> = {};
      for (const name of s.buffers) {
        const key = `state.${i}.${name}`;
        const entry = content.tensors.get(key);
        if (entry === undefined)
          throw bad(path, "tensors", `${key} as listed in ${CHECKPOINT_FILE}`, "no such tensor");
        buffers[name] = entry.data;
        used.add(key);
      }
      return { step: s.step, buffers };
    });
    const extraTensors = [...content.tensors.keys()].filter((k) => !used.has(k));
    if (extraTensors.length > 0)
      throw bad(path, "tensors", `only those listed in ${CHECKPOINT_FILE}`, extraTensors);
    optimizer = { type: rec.type, paramGroups: rec.paramGroups, state };
  }

  if (typeof json.rng !== "object" || json.rng === null)
    throw bad(jsonPath, "rng", "an object of named generator states", json.rng);
  // Names are the file's: fromEntries keeps a generator named "__proto__" an own key.
  const rng = Object.fromEntries(
    Object.entries(json.rng).map(([name, state]) => {
      const ok =
        Array.isArray(state) &&
        state.length === 5 &&
        state.slice(0, 4).every((v) => isCount(v) && v <= 0xffffffff) &&
        (state[4] === null || (typeof state[4] === "number" && Number.isFinite(state[4])));
      if (!ok) throw bad(jsonPath, `rng.${name}`, "4 uint32 words and a number or null", state);
      return [name, state.map((v) => (v === null ? Number.NaN : v))];
    }),
  );
  const schedule = json.schedule ?? null;
  if (
    schedule !== null &&
    (!isCount(schedule.lastEpoch) ||
      !Array.isArray(schedule.baseLrs) ||
      !schedule.baseLrs.every(Number.isFinite))
  ) {
    throw bad(jsonPath, "schedule", "{lastEpoch, baseLrs}", schedule);
  }
  const loader = json.loader ?? null;
  if (loader !== null && (!isCount(loader.seed) || !isCount(loader.epoch)))
    throw bad(jsonPath, "loader", "{seed, epoch}", loader);
  return {
    epoch: json.epoch,
    step: json.step,
    weights,
    optimizer,
    rng,
    schedule,
    loader,
    extra: json.extra ?? null,
    generation: json.generation,
    savedAt: String(json.savedAt),
  };
}

/**
 * Copies loaded weights into a model's tensors, checking names and shapes first so that a mismatch
 * changes nothing. `strict` (default) requires exactly the same names on both sides.
 */
export function restoreWeights(
  target: Record<string, Tensor> | ReadonlyMap<string, Tensor>,
  weights: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>,
  options: { strict?: boolean } = {},
): void {
  const entries = target instanceof Map ? [...target.entries()] : Object.entries(target);
  const strict = options.strict ?? true;
  if (strict) {
    const missing = entries.filter(([name]) => !weights.has(name)).map(([name]) => name);
    const names = new Set(entries.map(([name]) => name));
    const unexpected = [...weights.keys()].filter((name) => !names.has(name));
    if (missing.length > 0 || unexpected.length > 0) {
      throw new DataError(
        describe(
          "restoreWeights",
          "names",
          "the model's tensors exactly",
          `missing [${missing.join(", ")}], unexpected [${unexpected.join(", ")}]`,
        ),
      );
    }
  }
  for (const [name, tensor] of entries) {
    const w = weights.get(name);
    if (w === undefined) continue;
    if (w.shape.length !== tensor.shape.length || w.shape.some((d, i) => d !== tensor.shape[i])) {
      throw new ShapeError(
        describe("restoreWeights", name, `shape [${tensor.shape.join(", ")}]`, `[${w.shape.join(", ")}]`),
      );
    }
  }
  for (const [name, tensor] of entries) {
    const w = weights.get(name);
    if (w !== undefined) tensor.data.set(w.data);
  }
}
