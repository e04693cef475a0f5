import type { Graph, Weights } from "../graph/types.js";
import { validateGraph } from "../graph/validate.js";
import { parseSafetensors, type SafetensorsContent } from "../io/safetensors.js";
import { FormatError, ShapeError } from "../tensor/errors.js";
import { formatShape } from "../tensor/shape.js";

/**
 * The reverse path: a PyTorch state dict saved as safetensors (train_ddp.py, model.py's save_weights, or
 * `safetensors.torch.save_file(model.state_dict(), path)`) back into the convkit graph it was exported from.
 *
 * Names are the graph's parameter names, so nothing is renamed, with two exceptions PyTorch itself introduces:
 * a `module.` prefix on every key (a model saved while wrapped in DistributedDataParallel / DataParallel) and
 * `_orig_mod.` (torch.compile) are removed when the graph has no such names. Every parameter must be present
 * with its declared shape; every problem is listed in one error. float32 values are taken bit for bit; other
 * dtypes are converted (int64 `num_batches_tracked` exactly; float64/float16/bfloat16 rounded to float32).
 */

export interface PytorchStateDictOptions {
  /** Names the file in error messages. */
  source?: string;
  /** Tensors that are not parameters of the graph are an error (default true); otherwise ignored. */
  strict?: boolean;
}

const WRAPPER_PREFIXES = ["module.", "_orig_mod."];

/** The tensor names with wrapper prefixes removed (see the file comment). */
function unwrapNames(graph: Graph, names: string[]): Map<string, string> {
  const map = new Map(names.map((n) => [n, n]));
  for (let changed = true; changed; ) {
    changed = false;
    for (const prefix of WRAPPER_PREFIXES) {
      const keys = [...map.keys()];
      const graphHas = Object.keys(graph.params).some((p) => p.startsWith(prefix));
      if (keys.length > 0 && !graphHas && keys.every((k) => k.startsWith(prefix))) {
        const next = new Map<string, string>();
        for (const [k, original] of map) next.set(k.slice(prefix.length), original);
        map.clear();
        for (const [k, v] of next) map.set(k, v);
        changed = true;
      }
    }
  }
  return map;
}

function listed(items: string[], limit = 8): string {
  return items.length > limit
    ? `${items.slice(0, limit).join(", ")}, ... (${items.length} in all)`
    : items.join(", ");
}

/** Weights for `graph` from parsed safetensors content (see the file comment). */
export function weightsFromStateDict(
  graph: Graph,
  content: SafetensorsContent,
  options: PytorchStateDictOptions = {},
): Weights {
  const where = `state dict ${JSON.stringify(options.source ?? "<safetensors>")} for graph "${graph.name}"`;
  const names = unwrapNames(graph, [...content.tensors.keys()]);
  const missing: string[] = [];
  const mismatched: string[] = [];
  const weights: Weights = new Map();
  for (const [name, info] of Object.entries(graph.params)) {
    const original = names.get(name);
    if (original === undefined) {
      missing.push(`${name} ${formatShape(info.shape)}`);
      continue;
    }
    const entry = content.tensors.get(original)!;
    if (entry.shape.length !== info.shape.length || entry.shape.some((d, i) => d !== info.shape[i])) {
      mismatched.push(`${name}: expected ${formatShape(info.shape)}, got ${formatShape(entry.shape)}`);
      continue;
    }
    weights.set(name, entry.data);
  }
  const unexpected =
    (options.strict ?? true) ? [...names.keys()].filter((n) => !Object.hasOwn(graph.params, n)) : [];
  if (missing.length > 0 || unexpected.length > 0 || mismatched.length > 0) {
    const parts: string[] = [];
    if (missing.length > 0) parts.push(`missing ${missing.length}: ${listed(missing)}`);
    if (unexpected.length > 0)
      parts.push(`not parameters of the graph ${unexpected.length}: ${listed(unexpected)}`);
    if (mismatched.length > 0) parts.push(`wrong shape ${mismatched.length}: ${listed(mismatched)}`);
    const message = `${where}: ${parts.join("; ")}`;
    throw missing.length === 0 && unexpected.length === 0
      ? new ShapeError(message)
      : new FormatError(message);
  }
  validateGraph(graph, weights);
  return weights;
}

/** Weights for `graph` from the bytes of a safetensors state dict saved by PyTorch. */
export function loadPytorchStateDict(
  graph: Graph,
  bytes: Uint8Array,
  options: PytorchStateDictOptions = {},
): Weights {
  return weightsFromStateDict(graph, parseSafetensors(bytes, options.source ?? "<buffer>"), options);
}

/** Reads a safetensors state dict file for `graph` (Node). */
export async function readPytorchStateDict(
  graph: Graph,
  path: string,
  options: Omit<PytorchStateDictOptions, "source"> = {},
): Promise<Weights> {
  const { readFile } = await import("node:fs/promises");
  const bytes = await readFile(path);
  return loadPytorchStateDict(graph, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
    ...options,
    source: path,
  });
}
