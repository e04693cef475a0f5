import { readFile, stat } from "node:fs/promises";
import { basename, extname } from "node:path";
import type { Graph, Weights } from "../graph/types.js";
import { writeFileAtomic } from "../io/atomic.js";
import { FormatError } from "../tensor/errors.js";
import { exportOnnx, type OnnxExportOptions } from "./export.js";
import { importOnnx, type OnnxImport, type OnnxImportOptions } from "./import.js";

/**
 * File helpers for front ends (the CLI, scripts): read an .onnx file into a Graph, write one back.
 * Messages name the file; a file larger than protobuf's 2 GiB limit is refused before it is read.
 */

/** Protobuf messages are limited to 2 GiB; larger .onnx files need external data, which is refused anyway. */
export const MAX_ONNX_FILE_BYTES = 2 ** 31 - 1;

/** Imports an .onnx file (see `importOnnx`); the graph is named after the file unless `options.name` is given. */
export async function loadOnnxFile(path: string, options: OnnxImportOptions = {}): Promise<OnnxImport> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (e) {
    throw new FormatError(`${path}: cannot read the file (${(e as Error).message})`);
  }
  if (size > MAX_ONNX_FILE_BYTES) {
    throw new FormatError(`${path}: ${size} bytes is more than an ONNX protobuf can hold (2 GiB)`);
  }
  const bytes = new Uint8Array(await readFile(path));
  const name = options.name ?? basename(path, extname(path));
  return importOnnx(bytes, { ...options, name, source: options.source ?? path });
}

/** Exports a graph to an .onnx file (written atomically: a temporary file renamed into place). */
export async function saveOnnxFile(
  path: string,
  graph: Graph,
  weights: Weights,
  options: OnnxExportOptions = {},
): Promise<void> {
  await writeFileAtomic(path, exportOnnx(graph, weights, options));
}

/** Whether a path looks like an ONNX file (by extension), for front ends choosing a reader. */
export function isOnnxPath(path: string): boolean {
  return extname(path).toLowerCase() === ".onnx";
}
