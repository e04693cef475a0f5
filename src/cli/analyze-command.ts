import type { Command } from "commander";
import { analyze } from "../analyze/analyze.js";
import { formatAnalysis } from "../analyze/format.js";
import { analysisToJson } from "../analyze/json.js";
import { collapseByScope } from "../analyze/scopes.js";
import { parseDims, parsePositiveInt, parseShape } from "./args.js";
import type { CliContext } from "./context.js";
import { loadModelSpec } from "./load-model.js";

/** `convkit analyze <model>`: the analyzer's table or JSON. Only argument handling lives here. */

interface AnalyzeFlags {
  input?: string;
  batch?: string;
  json?: boolean;
  allOps?: boolean;
  depth?: string;
  dims?: string;
}

export function addAnalyzeCommand(program: Command, ctx: CliContext): void {
  program
    .command("analyze")
    .description(
      "shapes, parameters, MACs/FLOPs, activation memory and receptive field of a model, as a table or JSON",
    )
    .argument(
      "<model>",
      "a zoo model name (e.g. resnet18), a graph .json file, a folder saved by saveModel, or an .onnx file",
    )
    .option(
      "--input <CxHxW>",
      "input shape without batch, e.g. 3x224x224 (default: the graph's declared input)",
    )
    .option(
      "--dims <NAME=SIZE,...>",
      "sizes of symbolic ONNX input dimensions, e.g. H=224,W=224 (default: from --input)",
    )
    .option("--batch <N>", "batch size (default 1)")
    .option("--json", "print the documented JSON format (docs/analyze.md) instead of the table")
    .option("--all-ops", "count every op's MACs, not only conv and linear (torchvision's convention)")
    .option("--depth <K>", "collapse rows by scope prefix of K segments (1 = top-level blocks)")
    .addHelpText(
      "after",
      "\nExamples:\n  convkit analyze resnet18\n  convkit analyze resnet50 --depth 1\n  convkit analyze model/graph.json --input 1x28x28 --json\n  convkit analyze model.onnx --input 3x224x224\n\nExit codes: 0 ok, 1 the model could not be loaded or analysed, 2 bad command line.",
    )
    .action(async (model: string, flags: AnalyzeFlags) => {
      const input = flags.input !== undefined ? parseShape(flags.input, "--input") : undefined;
      const batch = flags.batch !== undefined ? parsePositiveInt(flags.batch, "--batch") : undefined;
      const depth = flags.depth !== undefined ? parsePositiveInt(flags.depth, "--depth") : undefined;
      const dims = flags.dims !== undefined ? parseDims(flags.dims) : undefined;
      // A zoo model is built at the asked input size, an ONNX model's symbolic sizes come from it (other
      // files keep theirs; analyze then checks they fit).
      const { graph } = await loadModelSpec(model, {
        zoo: await ctx.zoo(),
        inputShape: input,
        dims,
        graphOnly: true,
      });
      const analysis = analyze(graph, input, { batch, countAll: flags.allOps ?? false });
      if (flags.json) {
        const collapsed =
          depth !== undefined ? { depth, groups: collapseByScope(analysis, depth) } : undefined;
        ctx.stdout(analysisToJson(analysis, collapsed));
      } else {
        ctx.stdout(formatAnalysis(analysis, { depth }));
      }
    });
}
