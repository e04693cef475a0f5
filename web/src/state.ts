import type { Graph, Weights } from "../../src/graph/types.js";
import type { OnnxImportInfo } from "../../src/onnx/import.js";
import { buildZooModel, ZOO } from "../../src/zoo/index.js";

/**
 * The model the Model and Rewrite pages work on: a zoo model by name, or an ONNX file the visitor opened (kept
 * for the session, so the Rewrite page can rewrite it).
 */

export interface LoadedModel {
  /** "zoo:resnet18" or "file:model.onnx". */
  key: string;
  label: string;
  graph: Graph;
  weights: Weights;
  source: "zoo" | "onnx";
  onnx?: OnnxImportInfo;
}

let current: LoadedModel | null = null;
let uploaded: LoadedModel | null = null;
const zooCache = new Map<string, LoadedModel>();

export const DEFAULT_MODEL = "zoo:fmnist-vgg-large";

export function zooModel(name: string): LoadedModel {
  let m = zooCache.get(name);
  if (!m) {
    const { graph, weights } = buildZooModel(name);
    m = { key: `zoo:${name}`, label: `${name} — ${ZOO[name].description}`, graph, weights, source: "zoo" };
    zooCache.set(name, m);
  }
  return m;
}

/** The model by key ("zoo:name" or the uploaded file's key); the study baseline by default. */
export function modelByKey(key: string): LoadedModel {
  if (uploaded && key === uploaded.key) return uploaded;
  const name = key.startsWith("zoo:") ? key.slice(4) : "";
  return zooModel(Object.hasOwn(ZOO, name) ? name : DEFAULT_MODEL.slice(4));
}

export function currentModel(): LoadedModel {
  current ??= modelByKey(DEFAULT_MODEL);
  return current;
}

export function setCurrentModel(m: LoadedModel): void {
  current = m;
  if (m.source === "onnx") uploaded = m;
}

/** Choices for a model select: the zoo, and the uploaded file when there is one. */
export function modelChoices(): [string, string][] {
  const out: [string, string][] = Object.entries(ZOO).map(([name, e]) => [
    `zoo:${name}`,
    `${name} — ${e.description}`,
  ]);
  if (uploaded) out.unshift([uploaded.key, uploaded.label]);
  return out;
}
