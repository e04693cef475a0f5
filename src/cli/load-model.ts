import { readFile, stat } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import { loadModel, parseGraph, weightsFromSafetensors } from "../graph/serialize.js";
import type { Graph, Weights } from "../graph/types.js";
import { validateGraph } from "../graph/validate.js";
import { readSafetensorsFile } from "../io/safetensors.js";
import type { OnnxImportInfo } from "../onnx/import.js";
import { ArgumentError, ConvkitError } from "../tensor/errors.js";
import { initialWeights } from "../train/init-weights.js";
import type { ZooOptions } from "../zoo/common.js";
import { CliError, oneLine, UsageError } from "./errors.js";
import type { ZooRegistry } from "./zoo.js";

/**
 * The one model loader of every command: turns the `<model>` argument into a graph (and its weights).
 *
 * - a zoo name (`resnet18`): the factory's graph and freshly initialised weights, built at the asked input
 *   size and seed;
 * - a folder written by saveModel: `graph.json`, with `weights.safetensors` when present (loadModel);
 * - a graph `.json` file: the graph; weights from `weights.safetensors` beside it when the file is named
 *   graph.json, else none;
 * - an `.onnx` file: the ONNX importer (src/onnx), symbolic input sizes from `dims` or the input shape;
 * - `weightsPath` (a safetensors file, e.g. `--weights`) replaces whatever weights the source had.
 *
 * Every failure is a CliError (exit 1) with one line naming the file and what went wrong: library errors
 * (FormatError, ShapeError...) keep their message, file system errors say "no such file" and the like.
 */

export type ModelKind = "zoo" | "folder" | "graph" | "onnx";

export interface LoadedModel {
  graph: Graph;
  /** Null when the source has no weights (a bare graph .json, a folder without weights.safetensors). */
  weights: Weights | null;
  kind: ModelKind;
  /** Where the weights came from (a file path, "zoo:<name>"), or null. */
  weightsFrom: string | null;
  /** What the ONNX importer reports, for .onnx files. */
  onnx?: OnnxImportInfo;
}

export interface LoadModelOptions {
  /** The zoo registry (`await ctx.zoo()`); null when this build has none. */
  zoo: ZooRegistry | null;
  /** Passed to a zoo factory (seed, numClasses...). */
  zooOptions?: ZooOptions;
  /**
   * The model's input shape as asked on the command line, `[C, H, W]` or `[N, C, H, W]` (`--input 3x224x224`,
   * or the shape of an input .npy): a zoo model is built at that size, and the symbolic channel/spatial
   * dimensions of an ONNX model's (first) input take their sizes from it unless `dims` names them.
   */
  inputShape?: readonly number[];
  /** Sizes of symbolic ONNX input dimensions by name (`--dims H=224,W=224`). */
  dims?: Readonly<Record<string, number>>;
  /** A safetensors file replacing the model's weights (`--weights`). */
  weightsPath?: string;
  /** Only the graph is needed: weights files beside a graph are not read (the analyzer). */
  graphOnly?: boolean;
}

/** The `<model>` argument of a command, loaded. See the module comment for what `spec` may be. */
export async function loadModelSpec(spec: string, options: LoadModelOptions): Promise<LoadedModel> {
  let loaded: LoadedModel;
  try {
    loaded = await loadSource(spec, options);
    if (options.weightsPath !== undefined) {
      loaded = {
        ...loaded,
        weights: await readWeights(loaded.graph, options.weightsPath),
        weightsFrom: options.weightsPath,
      };
    }
  } catch (e) {
    throw asCliError(e);
  }
  return loaded;
}

/** A loaded model that certainly has weights: fresh PyTorch-default ones from `seed` when the source had none. */
export interface RunnableModel extends LoadedModel {
  weights: Weights;
  /** A file path, "zoo:<name>", or "initialised (seed S)". */
  weightsFrom: string;
}

/** Like loadModelSpec, initialising weights from `seed` (also the zoo's seed) when the source has none. */
export async function loadRunnableModel(
  spec: string,
  options: Omit<LoadModelOptions, "graphOnly"> & { seed: number },
): Promise<RunnableModel> {
  const { seed, ...rest } = options;
  const loaded = await loadModelSpec(spec, { ...rest, zooOptions: { seed, ...rest.zooOptions } });
  if (loaded.weights !== null && loaded.weightsFrom !== null) {
    return { ...loaded, weights: loaded.weights, weightsFrom: loaded.weightsFrom };
  }
  try {
    return {
      ...loaded,
      weights: initialWeights(loaded.graph, seed),
      weightsFrom: `initialised (seed ${seed})`,
    };
  } catch (e) {
    throw asCliError(e);
  }
}

/** The graph only (the analyzer): `zooOptions` builds a zoo model at another size. */
export async function loadModelGraph(
  spec: string,
  zoo: ZooRegistry | null,
  zooOptions?: ZooOptions,
  options: Omit<LoadModelOptions, "zoo" | "zooOptions" | "graphOnly"> = {},
): Promise<Graph> {
  return (await loadModelSpec(spec, { ...options, zoo, zooOptions, graphOnly: true })).graph;
}

/** The model file types by extension (folders and zoo names are recognised otherwise). */
export const MODEL_EXTENSIONS: readonly string[] = [".json", ".onnx"];

/** What to say about files that are models in another framework's format. */
const FOREIGN: Record<string, string> = {
  ".pt": "a PyTorch checkpoint: export it with torch.onnx.export and give the .onnx file",
  ".pth": "a PyTorch checkpoint: export it with torch.onnx.export and give the .onnx file",
  ".h5": "a Keras model: convert it to ONNX (tf2onnx) and give the .onnx file",
  ".keras": "a Keras model: convert it to ONNX (tf2onnx) and give the .onnx file",
  ".pb": "a TensorFlow graph: convert it to ONNX (tf2onnx) and give the .onnx file",
  ".tflite": "a TensorFlow Lite model: convert it to ONNX (tf2onnx) and give the .onnx file",
  ".safetensors": "weights only: give the folder that holds graph.json and weights.safetensors",
  ".npy": "an array, not a model",
};

async function loadSource(spec: string, options: LoadModelOptions): Promise<LoadedModel> {
  const ext = extname(spec).toLowerCase();
  if (ext === ".onnx") return loadOnnx(spec, options);
  if (ext === ".json") return loadGraphFile(spec, options);
  const kind = await pathKind(spec);
  if (kind === "dir") return loadFolder(spec, options);

  const zoo = options.zoo;
  const factory = zoo !== null && Object.hasOwn(zoo, spec) ? zoo[spec] : undefined;
  if (factory !== undefined) return loadZooModel(spec, factory, options);

  const looksLikeFile = ext !== "" || /[\\/]/.test(spec);
  if (looksLikeFile) {
    const known = `${MODEL_EXTENSIONS.join(", ")}, a model folder or a zoo name`;
    if (kind === "missing" && (ext === "" || !Object.hasOwn(FOREIGN, ext))) {
      throw new CliError(`cannot read ${JSON.stringify(spec)}: no such file or folder (expected ${known})`);
    }
    const foreign = Object.hasOwn(FOREIGN, ext) ? `: this looks like ${FOREIGN[ext]}` : "";
    throw new CliError(
      `${JSON.stringify(spec)}: unsupported model file type ${JSON.stringify(ext || "(none)")} (expected ${known})${foreign}`,
    );
  }
  throw unknownModel(spec, zoo);
}

function loadZooModel(spec: string, factory: ZooRegistry[string], options: LoadModelOptions): LoadedModel {
  const input = options.inputShape;
  const sized: ZooOptions =
    input !== undefined && input.length >= 3
      ? {
          inChannels: input[input.length - 3],
          inputSize: [input[input.length - 2], input[input.length - 1]] as [number, number],
        }
      : {};
  const zooOptions = { ...options.zooOptions, ...sized };
  const built = factory(Object.keys(zooOptions).length > 0 ? zooOptions : undefined);
  if (typeof built !== "object" || built === null || typeof built.graph !== "object") {
    throw new CliError(`zoo model ${JSON.stringify(spec)}: the factory did not return {graph, weights}`);
  }
  const weights = built.weights ?? null;
  return { graph: built.graph, weights, kind: "zoo", weightsFrom: weights === null ? null : `zoo:${spec}` };
}

async function loadFolder(dir: string, options: LoadModelOptions): Promise<LoadedModel> {
  const graphPath = join(dir, "graph.json");
  const weightsPath = join(dir, "weights.safetensors");
  if ((await pathKind(graphPath)) !== "file") {
    throw new CliError(
      `${JSON.stringify(dir)}: a model folder needs graph.json (and weights.safetensors), as saveModel writes`,
    );
  }
  if (options.graphOnly || options.weightsPath !== undefined || (await pathKind(weightsPath)) !== "file") {
    const graph = parseGraph(await readText(graphPath), graphPath);
    return { graph, weights: null, kind: "folder", weightsFrom: null };
  }
  const { graph, weights } = await loadModel(dir);
  return { graph, weights, kind: "folder", weightsFrom: weightsPath };
}

async function loadGraphFile(path: string, options: LoadModelOptions): Promise<LoadedModel> {
  const graph = parseGraph(await readText(path), path);
  // A graph.json copied out of a model folder still finds its weights.
  const beside = join(path, "..", "weights.safetensors");
  if (
    !options.graphOnly &&
    options.weightsPath === undefined &&
    basename(path) === "graph.json" &&
    (await pathKind(beside)) === "file"
  ) {
    return { graph, weights: await readWeights(graph, beside), kind: "graph", weightsFrom: beside };
  }
  return { graph, weights: null, kind: "graph", weightsFrom: null };
}

async function loadOnnx(path: string, options: LoadModelOptions): Promise<LoadedModel> {
  // Loaded on first use: commands that never see an .onnx file do not pay for protobufjs.
  const { importOnnx, MAX_ONNX_FILE_BYTES } = await import("../onnx/index.js");
  const info = await stat(path).catch((e: unknown) => {
    throw new CliError(`cannot read ${JSON.stringify(path)}: ${reason(e)}`);
  });
  if (info.isDirectory()) throw new CliError(`cannot read ${JSON.stringify(path)}: is a directory`);
  if (info.size > MAX_ONNX_FILE_BYTES) {
    throw new CliError(`${path}: ${info.size} bytes is more than an ONNX protobuf can hold (2 GiB)`);
  }
  const bytes = new Uint8Array(await readFile(path));
  const dims = { ...(await dimsFromInputShape(bytes, path, options.inputShape)), ...options.dims };
  try {
    const imported = importOnnx(bytes, { dims, name: basename(path, extname(path)), source: path });
    return {
      graph: imported.graph,
      weights: imported.weights,
      kind: "onnx",
      weightsFrom: path,
      onnx: imported.info,
    };
  } catch (e) {
    const missing =
      e instanceof ArgumentError ? /symbolic input dimension\(s\) (.*) need a size/.exec(e.message) : null;
    if (missing === null) throw e;
    const names = [...missing[1].matchAll(/"([^"]+)" \(input/g)].map((m) => m[1]);
    const example = [...new Set(names)].map((n) => `${n}=<size>`).join(",");
    throw new CliError(
      `${path}: symbolic input dimension(s) ${missing[1]} need a size: add --dims ${example} (or give --input)`,
    );
  }
}

/**
 * Sizes of the symbolic dimensions of the model's first input, read from `inputShape` by position (the batch
 * axis is left to the importer: it stays symbolic). Needs the declared dims, so the file is decoded once more;
 * only when an input shape was given.
 */
async function dimsFromInputShape(
  bytes: Uint8Array,
  path: string,
  inputShape: readonly number[] | undefined,
): Promise<Record<string, number>> {
  if (inputShape === undefined) return {};
  const { decodeModel } = await import("../onnx/proto.js");
  const model = decodeModel(bytes, path);
  const initializers = new Set(model.graph.initializers.map((t) => t.name));
  const first = model.graph.inputs.find((i) => !initializers.has(i.name));
  const declared = first?.dims;
  if (declared === undefined || declared === null) return {};
  // [C, H, W] for a [N, C, H, W] input: align the trailing axes.
  const offset = declared.length - inputShape.length;
  if (offset !== 0 && offset !== 1) {
    throw new CliError(
      `${path}: input "${first!.name}" has ${declared.length} dimensions [${declared.map((d) => d ?? "?").join(", ")}], the input shape given has ${inputShape.length}`,
    );
  }
  // Names are the file's: fromEntries makes a dim named "__proto__" an own key (assignment would not).
  return Object.fromEntries(
    declared.flatMap((d, axis) =>
      axis > 0 && typeof d === "string" && axis - offset >= 0 ? [[d, inputShape[axis - offset]]] : [],
    ),
  );
}

async function readWeights(graph: Graph, path: string): Promise<Weights> {
  if ((await pathKind(path)) !== "file") throw new CliError(`weights ${JSON.stringify(path)}: no such file`);
  const weights = weightsFromSafetensors(graph, await readSafetensorsFile(path), { source: path });
  validateGraph(graph, weights);
  return weights;
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    throw new CliError(`cannot read ${JSON.stringify(path)}: ${reason(e)}`);
  }
}

async function pathKind(path: string): Promise<"file" | "dir" | "missing"> {
  try {
    return (await stat(path)).isDirectory() ? "dir" : "file";
  } catch {
    return "missing";
  }
}

/** A short reason for a file system error. */
export function reason(e: unknown): string {
  const code = (e as { code?: string }).code;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES") return "permission denied";
  if (code === "EISDIR") return "is a directory";
  if (code === "ENOTDIR") return "a parent is not a directory";
  return (e as Error).message ?? String(e);
}

/**
 * A failure as the CLI reports it: CliError / UsageError as they are, other library errors (FormatError,
 * ShapeError, ...) as a CliError with their one-line message, file system errors with their path and reason.
 */
export function asCliError(e: unknown): ConvkitError {
  if (e instanceof CliError || e instanceof UsageError) return e;
  if (e instanceof ConvkitError) return new CliError(oneLine(e.message));
  const err = e as { code?: string; path?: string };
  if (typeof err?.code === "string" && typeof err.path === "string") {
    return new CliError(`cannot read ${JSON.stringify(err.path)}: ${reason(e)}`);
  }
  throw e;
}

/** Levenshtein distance, for "did you mean" suggestions. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = row[j];
      row[j] = next;
    }
  }
  return row[b.length];
}

function unknownModel(spec: string, zoo: ZooRegistry | null): CliError {
  if (zoo === null) {
    return new CliError(
      `unknown model ${JSON.stringify(spec)}: this build has no model zoo; give a graph .json file, a model folder or an .onnx file`,
    );
  }
  const names = Object.keys(zoo).sort();
  const near = names
    .map((n) => ({ n, d: distance(spec.toLowerCase(), n.toLowerCase()) }))
    .filter((x) => x.d <= Math.max(2, Math.floor(spec.length / 3)))
    .sort((p, q) => p.d - q.d)
    .slice(0, 3)
    .map((x) => JSON.stringify(x.n));
  const hint = near.length > 0 ? `did you mean ${near.join(" or ")}? ` : "";
  const list = names.length <= 40 ? `zoo models: ${names.join(", ")}` : `${names.length} zoo models`;
  return new CliError(
    `unknown model ${JSON.stringify(spec)}: not a zoo name nor a model file; ${hint}${list}`,
  );
}
