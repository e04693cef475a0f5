import type { Graph, Weights } from "../graph/types.js";
import { exportPytorch, type PytorchExportOptions } from "./pytorch.js";

/**
 * The export folder (`convkit export <model> --to pytorch -o DIR`), Node only (node:fs is loaded on demand, so
 * the rest of src/export stays usable in a browser):
 *
 *   DIR/model.py             the network as nn.Module classes, build_model(), load_weights/save_weights
 *   DIR/weights.safetensors  convkit's weights, named like the state_dict
 *   DIR/graph.json           the convkit graph (train_ddp.py writes it back beside the trained weights)
 *   DIR/train_ddp.py         DistributedDataParallel training under torchrun
 *   DIR/README.md            the commands
 *   DIR/data/                the embedded Fashion-MNIST subset (train_ddp.py's default data; `data: false` skips)
 */

export interface WritePytorchOptions extends PytorchExportOptions {
  /** Copy the embedded Fashion-MNIST subset into DIR/data (default true). */
  data?: boolean;
}

/** Writes the export folder (created if needed; files replaced atomically). Returns the files written. */
export async function writePytorchExport(
  dir: string,
  graph: Graph,
  weights: Weights,
  options: WritePytorchOptions = {},
): Promise<{ dir: string; files: string[]; className: string }> {
  const { copyFile, mkdir, readdir } = await import("node:fs/promises");
  const { join, resolve } = await import("node:path");
  const { writeFileAtomic } = await import("../io/atomic.js");
  const { serializeGraph, weightsToSafetensors } = await import("../graph/serialize.js");
  // weightsToSafetensors validates the graph with its weights (names, shapes) before anything is written.
  const bytes = weightsToSafetensors(graph, weights, { exporter: "convkit export --to pytorch" });
  const out = exportPytorch(graph, {
    convkitVersion: (await import("../io/version.js")).convkitVersion(),
    ...options,
  });
  const root = resolve(dir);
  await mkdir(root, { recursive: true });
  const files: [string, string | Uint8Array][] = [
    ["model.py", out.modelPy],
    ["train_ddp.py", out.trainDdpPy],
    ["weights.safetensors", bytes],
    ["graph.json", serializeGraph(graph)],
    ["README.md", out.readme],
  ];
  for (const [name, content] of files) await writeFileAtomic(join(root, name), content);
  const written = files.map(([name]) => name);
  if (options.data ?? true) {
    const { embeddedFashionMnistDir } = await import("../data/fashion-mnist.js");
    const from = embeddedFashionMnistDir();
    await mkdir(join(root, "data"), { recursive: true });
    for (const name of (await readdir(from)).filter((n) => n.endsWith(".gz")).sort()) {
      await copyFile(join(from, name), join(root, "data", name));
      written.push(`data/${name}`);
    }
  }
  return { dir: root, files: written, className: out.className };
}
