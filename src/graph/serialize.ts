import {
  parseSafetensors,
  readSafetensorsFile,
  type SafetensorsContent,
  serializeSafetensors,
} from "../io/safetensors.js";
import { FormatError, ShapeError } from "../tensor/errors.js";
import { formatShape } from "../tensor/shape.js";
import type { Graph, Json, Weights } from "./types.js";
import { validateGraph } from "./validate.js";

/**
 * Saving and loading models: the graph as canonical JSON (structure), the weights as safetensors (numbers),
 * named like a PyTorch state_dict so either side can be exchanged with torch. A saved model is a folder:
 *
 *   <dir>/graph.json           serializeGraph(graph)
 *   <dir>/weights.safetensors  every graph.params entry, float32, `__metadata__` {format: "pt", graph: name}
 *
 * The JSON is canonical: fixed key order at the top level and in nodes, sorted keys elsewhere, one node per
 * line, so serialising twice (or after a parse) gives identical text and diffs stay readable.
 */

const TOP_ORDER = ["format", "version", "name", "inputs", "outputs", "nodes", "params", "scopes", "meta"];
const NODE_ORDER = ["name", "op", "scope", "inputs", "outputs", "attrs", "params"];

/** Canonical JSON text of a graph (ends with a newline). */
export function serializeGraph(graph: Graph): string {
  const g = graph as unknown as Record<string, unknown>;
  const extra = Object.keys(g).filter((k) => !TOP_ORDER.includes(k));
  if (extra.length > 0)
    throw new FormatError(`graph "${graph.name}": unknown top-level field(s) ${extra.join(", ")}`);
  const lines: string[] = [];
  for (const key of TOP_ORDER) {
    const value = g[key];
    if (value === undefined) continue;
    let text: string;
    if (key === "nodes") {
      text = block(
        "[",
        graph.nodes.map((node) => canonical(node, NODE_ORDER)),
        "]",
      );
    } else if (key === "params" || key === "scopes") {
      // Insertion order is meaningful for params (the parameter order optimizers and exporters see).
      const entries = Object.entries(value as Record<string, unknown>);
      text = block(
        "{",
        entries.map(([k, v]) => `${JSON.stringify(k)}: ${canonical(v)}`),
        "}",
      );
    } else {
      text = canonical(value);
    }
    lines.push(`  ${JSON.stringify(key)}: ${text}`);
  }
  return `{\n${lines.join(",\n")}\n}\n`;
}

function block(open: string, items: string[], close: string): string {
  if (items.length === 0) return `${open}${close}`;
  return `${open}\n${items.map((s) => `    ${s}`).join(",\n")}\n  ${close}`;
}

/** One-line JSON with object keys in `order` first, then sorted (nested objects sorted). */
function canonical(value: unknown, order: readonly string[] = []): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) {
      throw new FormatError(`graph JSON: non-finite number ${value} cannot be stored`);
    }
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonical(v)).join(", ")}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
  const first = order.filter((k) => keys.includes(k));
  const rest = keys.filter((k) => !order.includes(k)).sort();
  return `{${[...first, ...rest].map((k) => `${JSON.stringify(k)}: ${canonical(obj[k])}`).join(", ")}}`;
}

/** Parses graph JSON and validates it (FormatError/ShapeError naming `source` and the node at fault). */
export function parseGraph(text: string, source = "<graph json>"): Graph {
  let raw: unknown;
  try {
    raw = JSON.parse(text) as Json;
  } catch (e) {
    throw new FormatError(`graph ${JSON.stringify(source)}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new FormatError(`graph ${JSON.stringify(source)}: expected a JSON object`);
  }
  const graph = raw as Graph;
  try {
    validateGraph(graph);
  } catch (e) {
    if (e instanceof FormatError) throw new FormatError(`${source}: ${e.message}`);
    if (e instanceof ShapeError) throw new ShapeError(`${source}: ${e.message}`);
    throw e;
  }
  return graph;
}

/** Safetensors bytes of a graph's weights, in graph.params order, checked against the declared shapes. */
export function weightsToSafetensors(
  graph: Graph,
  weights: Weights,
  metadata: Record<string, string> = {},
): Uint8Array {
  validateGraph(graph, weights);
  const tensors = Object.entries(graph.params).map(
    ([name, info]) =>
      [name, { shape: info.shape, data: weights.get(name)! }] as [
        string,
        { shape: number[]; data: Float32Array },
      ],
  );
  return serializeSafetensors(tensors, { format: "pt", graph: graph.name, ...metadata });
}

/**
 * Weights for `graph` from parsed safetensors: every parameter must be present with its declared shape (a
 * PyTorch scalar `num_batches_tracked` stored as I64 is converted like every value). With `strict` (default)
 * tensors that are not parameters of the graph are an error; otherwise they are ignored.
 */
export function weightsFromSafetensors(
  graph: Graph,
  content: SafetensorsContent,
  options: { strict?: boolean; source?: string } = {},
): Weights {
  const where = `weights ${JSON.stringify(options.source ?? "<safetensors>")} for graph "${graph.name}"`;
  const weights: Weights = new Map();
  for (const [name, info] of Object.entries(graph.params)) {
    const entry = content.tensors.get(name);
    if (entry === undefined)
      throw new FormatError(`${where}: missing tensor "${name}" (shape ${formatShape(info.shape)})`);
    if (entry.shape.join() !== info.shape.join() || entry.shape.length !== info.shape.length) {
      throw new ShapeError(
        `${where}: tensor "${name}": expected shape ${formatShape(info.shape)}, got ${formatShape(entry.shape)}`,
      );
    }
    weights.set(name, entry.data);
  }
  if (options.strict ?? true) {
    for (const name of content.tensors.keys()) {
      if (!Object.hasOwn(graph.params, name))
        throw new FormatError(`${where}: tensor "${name}" is not a parameter of the graph`);
    }
  }
  return weights;
}

/** Writes `dir/graph.json` and `dir/weights.safetensors` (each atomically; the folder is created). */
export async function saveModel(dir: string, graph: Graph, weights: Weights): Promise<void> {
  const { mkdir } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const { writeFileAtomic } = await import("../io/atomic.js");
  const bytes = weightsToSafetensors(graph, weights);
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, "weights.safetensors"), bytes);
  await writeFileAtomic(join(dir, "graph.json"), serializeGraph(graph));
}

/** Reads a folder written by `saveModel`; graph and weights are validated together. */
export async function loadModel(
  dir: string,
  options: { strict?: boolean } = {},
): Promise<{ graph: Graph; weights: Weights }> {
  const { readFile } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const graphPath = join(dir, "graph.json");
  const weightsPath = join(dir, "weights.safetensors");
  const graph = parseGraph(await readFile(graphPath, "utf8"), graphPath);
  const weights = weightsFromSafetensors(graph, await readSafetensorsFile(weightsPath), {
    ...options,
    source: weightsPath,
  });
  validateGraph(graph, weights);
  return { graph, weights };
}

/** Parses weights for `graph` from safetensors bytes (browser-friendly counterpart of loadModel's second half). */
export function weightsFromBytes(
  graph: Graph,
  bytes: Uint8Array,
  source = "<buffer>",
  strict = true,
): Weights {
  return weightsFromSafetensors(graph, parseSafetensors(bytes, source), { strict, source });
}
