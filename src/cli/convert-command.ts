import { mkdir, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import type { Command } from "commander";
import { saveModel, serializeGraph } from "../graph/serialize.js";
import type { Graph, Weights } from "../graph/types.js";
import { writeFileAtomic } from "../io/atomic.js";
import { parseDims, parseNonNegativeInt, parsePositiveInt, parseShape } from "./args.js";
import type { CliContext } from "./context.js";
import { CliError, UsageError } from "./errors.js";
import { asCliError, loadModelSpec } from "./load-model.js";

/**
 * `convkit convert <model> -o <out>`: writes any model the loader reads as
 * - `out.onnx`: an ONNX file (opset 17 by default, 19 with deformable conv; --opset N);
 * - `out.json`: the graph alone (canonical graph JSON, no weights);
 * - `out` / `out/` (no extension, or an existing folder): a model folder, graph.json + weights.safetensors.
 * An existing output is refused unless --force. Only argument handling lives here.
 */

interface ConvertFlags {
  output: string;
  opset?: string;
  force?: boolean;
  input?: string;
  dims?: string;
  weights?: string;
  seed?: string;
}

type Target = "onnx" | "graph" | "folder";

async function existing(path: string): Promise<"file" | "dir" | null> {
  try {
    return (await stat(path)).isDirectory() ? "dir" : "file";
  } catch {
    return null;
  }
}

function targetOf(path: string, kind: "file" | "dir" | null): Target {
  if (/[\\/]$/.test(path)) return "folder";
  const ext = extname(path).toLowerCase();
  if (ext === ".onnx") return "onnx";
  if (ext === ".json") return "graph";
  if (kind === "dir" || ext === "") return "folder";
  throw new UsageError(
    `-o: expected an .onnx file, a graph .json file or a folder (no extension), got ${JSON.stringify(path)}`,
  );
}

export function addConvertCommand(program: Command, ctx: CliContext): void {
  program
    .command("convert")
    .description(
      "convert between ONNX, a model folder (graph.json + weights.safetensors) and graph-only JSON",
    )
    .argument("<model>", "a zoo model name, a graph .json file, a saved model folder, or an .onnx file")
    .requiredOption(
      "-o, --output <OUT>",
      "out.onnx, out.json (graph only) or a folder (graph.json + weights)",
    )
    .option(
      "--opset <N>",
      "ONNX opset of an .onnx output (default 17; 19 when the graph has deformable conv)",
    )
    .option("--force", "overwrite an existing output")
    .option("--input <CxHxW>", "input size: builds a zoo model at it, sizes symbolic ONNX dims")
    .option("--dims <NAME=SIZE,...>", "sizes of symbolic ONNX input dimensions, e.g. H=224,W=224")
    .option("--weights <FILE>", "weights (safetensors) for a graph that has none, or replacing its own")
    .option(
      "--seed <S>",
      "seed of freshly initialised weights: a zoo model's, or for a graph that has none (written instead of failing)",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  convkit convert model.onnx -o model/            # folder: graph.json + weights.safetensors\n  convkit convert model/ -o model.onnx --opset 13\n  convkit convert model.onnx -o graph.json        # the graph alone\n  convkit convert resnet18 -o resnet18.onnx       # a zoo model, freshly initialised\n\nExit codes: 0 written, 1 the model could not be loaded or written (or the output exists), 2 bad command line.",
    )
    .action(async (spec: string, flags: ConvertFlags) => {
      const out = flags.output;
      const outKind = await existing(out);
      const target = targetOf(out, outKind);
      const opset = flags.opset !== undefined ? parsePositiveInt(flags.opset, "--opset") : undefined;
      if (opset !== undefined && target !== "onnx") {
        throw new UsageError(`--opset applies to an .onnx output only, not ${JSON.stringify(out)}`);
      }
      const input = flags.input !== undefined ? parseShape(flags.input, "--input") : undefined;
      const dims = flags.dims !== undefined ? parseDims(flags.dims) : undefined;
      const seed = flags.seed !== undefined ? parseNonNegativeInt(flags.seed, "--seed") : undefined;
      if (outKind !== null && !flags.force) {
        const what = outKind === "dir" ? "folder" : "file";
        throw new CliError(`${JSON.stringify(out)}: the ${what} exists; add --force to overwrite it`);
      }
      if (outKind === "dir" && target !== "folder") {
        throw new CliError(
          `${JSON.stringify(out)} is a folder: cannot write ${target === "onnx" ? "an .onnx" : "a graph .json"} file there`,
        );
      }

      const loaded = await loadModelSpec(spec, {
        zoo: await ctx.zoo(),
        zooOptions: seed !== undefined ? { seed } : undefined,
        inputShape: input,
        dims,
        weightsPath: flags.weights,
        graphOnly: target === "graph",
      });
      const { graph } = loaded;
      let weights = loaded.weights;
      if (weights === null && target !== "graph") {
        if (seed === undefined) {
          throw new CliError(
            `${JSON.stringify(spec)} has no weights: give --weights FILE, or --seed S to write freshly initialised ones`,
          );
        }
        const { initialWeights } = await import("../train/init-weights.js");
        weights = initialWeights(graph, seed);
      }

      try {
        ctx.stdout(`${await write(target, out, graph, weights, opset)}\n`);
      } catch (e) {
        throw asCliError(e);
      }
    });
}

async function write(
  target: Target,
  out: string,
  graph: Graph,
  weights: Weights | null,
  opset: number | undefined,
): Promise<string> {
  const params = Object.keys(graph.params).length;
  const what = `${graph.name}: ${graph.nodes.length} nodes, ${params} parameter tensors`;
  try {
    if (target === "graph") {
      await writeFileAtomic(out, serializeGraph(graph));
      return `wrote ${out} (graph only, no weights; ${what})`;
    }
    if (target === "folder") {
      await mkdir(out, { recursive: true });
      await saveModel(out, graph, weights!);
      return `wrote ${join(out, "graph.json")} and ${join(out, "weights.safetensors")} (${what})`;
    }
    const { exportOnnx, DEFAULT_EXPORT_OPSET, DEFORM_EXPORT_OPSET } = await import("../onnx/index.js");
    const bytes = exportOnnx(graph, weights!, { opset });
    await writeFileAtomic(out, bytes);
    const used =
      opset ??
      (graph.nodes.some((n) => n.op === "deformConv2d") ? DEFORM_EXPORT_OPSET : DEFAULT_EXPORT_OPSET);
    return `wrote ${out} (ONNX opset ${used}, ${bytes.length} bytes; ${what})`;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (typeof code === "string")
      throw new CliError(`cannot write ${JSON.stringify(out)}: ${(e as Error).message}`);
    throw e;
  }
}
