import { existsSync } from "node:fs";
import { join, relative } from "node:path";
import type { Command } from "commander";
import { parsePositiveInt, parseShape } from "../cli/args.js";
import type { CliContext } from "../cli/context.js";
import { CliError, UsageError } from "../cli/errors.js";
import { weightsFromSafetensors } from "../graph/serialize.js";
import type { Graph, Weights } from "../graph/types.js";
import { validateGraph } from "../graph/validate.js";
import { readSafetensorsFile } from "../io/safetensors.js";
import { loadTrainableModel } from "../train/cli-model.js";
import { writePytorchExport } from "./write.js";

/**
 * `convkit export <model> --to pytorch -o DIR`: writes the PyTorch export folder (write.ts). Only argument
 * handling lives here. The model is a zoo name (built at --input / --classes), a saved model folder, a graph
 * .json (weights from --weights, beside it, or fresh from --seed), or an .onnx file, as for `convkit train`.
 */

interface ExportFlags {
  to: string;
  output?: string;
  input?: string;
  classes?: string;
  weights?: string;
  seed: string;
  className?: string;
  data: boolean;
}

const TARGETS = ["pytorch"] as const;

async function loadForExport(
  spec: string,
  flags: ExportFlags,
  ctx: CliContext,
): Promise<{ graph: Graph; weights: Weights; from: string }> {
  const seed = Number(flags.seed);
  if (!/^\s*\d+\s*$/.test(flags.seed) || !Number.isSafeInteger(seed))
    throw new UsageError(`--seed: expected a non-negative integer, got ${JSON.stringify(flags.seed)}`);
  const input = flags.input !== undefined ? parseShape(flags.input, "--input") : undefined;
  if (input !== undefined && input.length !== 3)
    throw new UsageError(`--input: expected CxHxW (e.g. 3x224x224), got ${JSON.stringify(flags.input)}`);
  const classes = flags.classes !== undefined ? parsePositiveInt(flags.classes, "--classes") : undefined;
  const zoo = await ctx.zoo();
  const factory = zoo !== null && Object.hasOwn(zoo, spec) ? zoo[spec] : undefined;
  if (factory !== undefined) {
    const built = factory({
      seed,
      ...(input !== undefined
        ? { inChannels: input[0], inputSize: [input[1], input[2]] as [number, number] }
        : {}),
      ...(classes !== undefined ? { numClasses: classes } : {}),
    });
    if (flags.weights !== undefined) {
      if (!existsSync(flags.weights))
        throw new CliError(`--weights ${JSON.stringify(flags.weights)}: no such file`);
      const weights = weightsFromSafetensors(built.graph, await readSafetensorsFile(flags.weights), {
        source: flags.weights,
      });
      return { graph: built.graph, weights, from: flags.weights };
    }
    if (built.weights === undefined)
      throw new CliError(`zoo model ${JSON.stringify(spec)}: the factory gave no weights`);
    return { graph: built.graph, weights: built.weights, from: `zoo:${spec} (seed ${seed})` };
  }
  if (input !== undefined || classes !== undefined) {
    throw new UsageError(
      "--input and --classes apply to zoo models only (a saved graph keeps its own input and classes)",
    );
  }
  const m = await loadTrainableModel(spec, { zoo, weightsPath: flags.weights, seed });
  return { graph: m.graph, weights: m.weights, from: m.weightsFrom };
}

export function addExportCommand(program: Command, ctx: CliContext): void {
  program
    .command("export")
    .description(
      "export a model to PyTorch: nn.Module source (model.py), weights, and train_ddp.py for DistributedDataParallel",
    )
    .argument("<model>", "a zoo model name, a saved model folder, a graph .json file, or a .onnx file")
    .option("--to <FORMAT>", `target format: ${TARGETS.join(", ")}`, "pytorch")
    .option("-o, --output <DIR>", "output folder (default exports/<model>-pytorch)")
    .option("--input <CxHxW>", "input shape of a zoo model, e.g. 1x28x28 (default the model's own)")
    .option("--classes <N>", "number of classes of a zoo model")
    .option("--weights <FILE>", "weights (safetensors) for the graph, e.g. a trained model's")
    .option("--seed <S>", "seed of the initial weights of a zoo model or a graph without weights", "0")
    .option("--class-name <NAME>", "name of the top-level nn.Module class (default from the model name)")
    .option("--no-data", "do not copy the embedded Fashion-MNIST subset into <DIR>/data")
    .addHelpText(
      "after",
      "\nExamples:\n  convkit export runs/vgg/model --to pytorch -o exports/vgg\n  convkit export resnet50 --to pytorch --input 3x224x224 -o exports/resnet50\n\nThen, in the output folder:\n  python3 model.py                                              # check: builds, loads the weights, runs a batch\n  torchrun --standalone --nproc_per_node=8 train_ddp.py --data DIR --epochs 30 -o runs/ddp\n  convkit analyze runs/ddp/model                                # the trained model back in convkit\n\nExit codes: 0 written, 1 the model could not be loaded or exported, 2 bad command line.",
    )
    .action(async (spec: string, flags: ExportFlags) => {
      if (!TARGETS.includes(flags.to as (typeof TARGETS)[number]))
        throw new UsageError(`--to: expected one of ${TARGETS.join(", ")}, got ${JSON.stringify(flags.to)}`);
      const { graph, weights, from } = await loadForExport(spec, flags, ctx);
      validateGraph(graph, weights);
      const dir = flags.output ?? join("exports", `${graph.name}-pytorch`);
      const written = await writePytorchExport(dir, graph, weights, {
        data: flags.data,
        ...(flags.className !== undefined ? { className: flags.className } : {}),
      });
      const shown = relative(process.cwd(), written.dir) || ".";
      ctx.stdout(
        `exported ${graph.name} (weights: ${from}) to ${written.dir}/: ${written.files.filter((f) => !f.startsWith("data/")).join(", ")}` +
          `${flags.data ? ", data/ (embedded Fashion-MNIST subset)" : ""}; top-level class ${written.className}\n` +
          `next:\n  cd ${shown} && python3 model.py\n` +
          `  torchrun --standalone --nproc_per_node=<GPUs> train_ddp.py --epochs 30 -o runs/ddp   (see ${join(shown, "README.md")})\n`,
      );
    });
}
