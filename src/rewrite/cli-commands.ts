import { readFile, stat, writeFile } from "node:fs/promises";
import { extname } from "node:path";
import type { Command } from "commander";
import { parseNonNegativeInt, parsePositiveInt, parsePositiveNumber, parseShape } from "../cli/args.js";
import { loadModel, parseGraph, saveModel, serializeGraph } from "../graph/serialize.js";
import type { Graph, Weights } from "../graph/types.js";
import { ArgumentError } from "../tensor/errors.js";
import { parseRuleSpec } from "./options.js";
import { RULES } from "./registry.js";
import { type Analyzer, buildReport, formatReport, reportToJson } from "./report.js";
import { type RuleStep, rewrite } from "./rewrite.js";
import { WHERE_KEYS } from "./where.js";

/**
 * `convkit rules` and `convkit rewrite`, for the CLI to register: `addRewriteCommands(program, deps)`.
 *
 * Only argument handling lives here; the work is `rewrite` + `buildReport`. What this module cannot know by
 * itself comes in `deps`: the output streams, and (each with a default, imported on first use so that the
 * rewriter itself depends on the Graph only) the analyzer, the zoo, ONNX import/export and the fast kernels.
 */

/** A model as the rewrite command loads it: weights null when the source has none (a bare graph .json). */
export interface LoadedModel {
  graph: Graph;
  weights: Weights | null;
}

export interface RewriteCommandDeps {
  stdout: (text: string) => void;
  /** Notes that are not the report (files written, no weights). Default: stdout. */
  stderr?: (text: string) => void;
  /** Analyses a graph at an input [C, H, W] (default: the analyzer's `analyze`). */
  analyze?: (graph: Graph, input?: readonly number[]) => ReturnType<Analyzer>;
  /** The zoo: name -> factory (default: src/zoo's registry). */
  zoo?: () => Promise<
    Readonly<Record<string, (options?: { inChannels?: number; inputSize?: [number, number] }) => LoadedModel>>
  >;
  /** ONNX bytes -> graph and weights (default: src/onnx's importOnnx). */
  importOnnx?: (bytes: Uint8Array, source: string) => LoadedModel | Promise<LoadedModel>;
  /** Graph and weights -> ONNX bytes (default: src/onnx's exportOnnx). */
  exportOnnx?: (graph: Graph, weights: Weights) => Uint8Array | Promise<Uint8Array>;
  /** Switches the conv kernels to WebAssembly before distilling (default: src/kernels/wasm's useWasmKernelsSync). */
  fastKernels?: () => void;
}

interface RewriteFlags {
  rule: string[];
  where: string[];
  output?: string;
  json?: boolean;
  input?: string;
  samples?: string;
  steps?: string;
  lr?: string;
  seed?: string;
  structural?: boolean;
  strict?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** An optional option value through one of src/cli/args.ts's parsers (which throw UsageError, exit 2). */
function optional<T>(text: string | undefined, parse: (text: string) => T): T | undefined {
  return text === undefined ? undefined : parse(text);
}

/** The rule steps of a command line: each --rule with its --where (one --where for all, or one per rule). */
export function stepsFromFlags(rules: readonly string[], wheres: readonly string[]): RuleStep[] {
  if (rules.length === 0)
    throw new ArgumentError("rewrite: expected at least one --rule (see convkit rules)");
  if (wheres.length > 1 && wheres.length !== rules.length) {
    throw new ArgumentError(
      `rewrite: got ${wheres.length} --where for ${rules.length} --rule; give one --where for all rules or one per rule`,
    );
  }
  return rules.map((spec, i) => {
    const { rule, options } = parseRuleSpec(spec);
    const where = wheres.length === 0 ? undefined : wheres.length === 1 ? wheres[0] : wheres[i];
    return { rule, options, where };
  });
}

/** Text of `convkit rules`: every rule with its family, carry-over kind, description and options. */
export function formatRules(): string {
  const out: string[] = [];
  for (const rule of RULES) {
    out.push(
      `${rule.name.padEnd(12)} ${rule.family.padEnd(12)} ${rule.carry.padEnd(26)} ${rule.description}`,
    );
    for (const [key, spec] of Object.entries(rule.options)) {
      const def =
        spec.default === null
          ? "auto"
          : Array.isArray(spec.default)
            ? spec.default.join("/")
            : String(spec.default);
      const values = spec.values !== undefined ? ` (${spec.values.join("|")})` : "";
      out.push(`${"".padEnd(13)}--rule ${rule.name}:${key}=${def}${values}  ${spec.description}`);
    }
    out.push(`${"".padEnd(13)}default --where "${rule.defaultWhere}"; exact when: ${rule.exactness}`);
  }
  out.push("");
  out.push(`--where keys: ${WHERE_KEYS.join(", ")} (e.g. --where "kernel>=5, scope=stage2.*")`);
  return `${out.join("\n")}\n`;
}

async function defaultAnalyze(): Promise<NonNullable<RewriteCommandDeps["analyze"]>> {
  const mod = await import("../analyze/analyze.js");
  return (graph, input) => mod.analyze(graph, input);
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function loadFor(
  spec: string,
  deps: RewriteCommandDeps,
  input: number[] | undefined,
): Promise<LoadedModel> {
  const ext = extname(spec).toLowerCase();
  if (ext === ".onnx") {
    const bytes = new Uint8Array(await readFile(spec));
    if (deps.importOnnx !== undefined) return deps.importOnnx(bytes, spec);
    const { graph, weights } = (await import("../onnx/index.js")).importOnnx(bytes, { source: spec });
    return { graph, weights };
  }
  if (ext === ".json") return { graph: parseGraph(await readFile(spec, "utf8"), spec), weights: null };
  if (await isDirectory(spec)) return loadModel(spec);
  const zoo = deps.zoo !== undefined ? await deps.zoo() : ((await import("../zoo/index.js")).zoo as never);
  const factory = Object.hasOwn(zoo, spec) ? zoo[spec] : undefined;
  if (factory === undefined) {
    throw new ArgumentError(
      `unknown model ${JSON.stringify(spec)}: not a zoo name (${Object.keys(zoo).join(", ")}), a graph .json, a model folder or an .onnx file`,
    );
  }
  const options =
    input !== undefined && input.length >= 3
      ? {
          inChannels: input[input.length - 3],
          inputSize: [input[input.length - 2], input[input.length - 1]] as [number, number],
        }
      : undefined;
  return factory(options);
}

async function save(
  path: string,
  graph: Graph,
  weights: Weights | null,
  deps: RewriteCommandDeps,
): Promise<string> {
  const ext = extname(path).toLowerCase();
  if (ext === ".onnx") {
    if (weights === null)
      throw new ArgumentError(
        `${JSON.stringify(path)}: ONNX export needs weights (the model was rewritten without)`,
      );
    const bytes =
      deps.exportOnnx !== undefined
        ? await deps.exportOnnx(graph, weights)
        : (await import("../onnx/index.js")).exportOnnx(graph, weights);
    await writeFile(path, bytes);
    return `wrote ${path} (ONNX)`;
  }
  if (ext === ".json") {
    await writeFile(path, serializeGraph(graph));
    return `wrote ${path} (graph only${weights === null ? "" : "; give a folder path to keep the weights"})`;
  }
  if (ext !== "")
    throw new ArgumentError(`-o ${JSON.stringify(path)}: expected out.onnx, out.json or a folder path`);
  if (weights === null)
    throw new ArgumentError(
      `-o ${JSON.stringify(path)}: a model folder needs weights; write a graph .json instead`,
    );
  await saveModel(path, graph, weights);
  return `wrote ${path}/graph.json and ${path}/weights.safetensors`;
}

/** Registers `rules` and `rewrite` on the program. */
export function addRewriteCommands(program: Command, deps: RewriteCommandDeps): void {
  const note = deps.stderr ?? deps.stdout;
  program
    .command("rules")
    .description(
      "the rewrite rules (article section 10) with their carry-over kind, options and selector keys",
    )
    .option(
      "--json",
      "print the rules as JSON (name, family, description, carry, exactness, options, defaultWhere)",
    )
    .action((flags: { json?: boolean }) => {
      if (flags.json) {
        const list = RULES.map(({ run: _run, ...meta }) => meta);
        deps.stdout(`${JSON.stringify(list, null, 2)}\n`);
      } else {
        deps.stdout(formatRules());
      }
    });

  program
    .command("rewrite")
    .description("rewrite a model's convolutions (rules), carry the weights over, and report what changed")
    .argument(
      "<model>",
      "a zoo model name, a graph .json, a model folder (graph.json + weights.safetensors) or an .onnx file",
    )
    .option(
      "--rule <spec>",
      "a rule, with options as name:key=value,key=value (repeatable, applied in order)",
      collect,
      [],
    )
    .option(
      "--where <selector>",
      'which nodes, e.g. "kernel>=5, scope=stage2.*" (one for all rules, or one per --rule)',
      collect,
      [],
    )
    .option("-o, --output <path>", "write the result: out.onnx, out.json (graph only) or a folder")
    .option("--json", "print the report as JSON (format convkit.rewrite-report)")
    .option(
      "--input <CxHxW>",
      "input shape for building zoo models and for the analysis (default: the model's)",
    )
    .option("--samples <N>", "random sample inputs for distillation and error measurement (default 4)")
    .option("--steps <N>", "distillation steps (default 300)")
    .option("--lr <x>", "distillation learning rate (default 0.001)")
    .option("--seed <N>", "seed of new weights, samples and fitting (default 0)")
    .option(
      "--structural",
      "rewrite the graph only: no weights carried over, no errors measured (fast, for large models)",
    )
    .option("--strict", "fail on the first refusal instead of reporting it")
    .addHelpText(
      "after",
      '\nExamples:\n  convkit rules\n  convkit rewrite fmnist-vgg-large --rule stack-small\n  convkit rewrite resnet18 --structural --rule separable --where "stage=3"\n  convkit rewrite model/ --rule group:groups=4 --rule shuffle -o model-grouped/',
    )
    .action(async (model: string, flags: RewriteFlags) => {
      const steps = stepsFromFlags(flags.rule, flags.where);
      const input = optional(flags.input, (t) => parseShape(t, "--input"));
      const loaded = await loadFor(model, deps, input);
      const weights = flags.structural ? null : loaded.weights;
      if (weights === null && !flags.structural)
        note("note: the model has no weights: structural rewrite only (no carry-over, no errors)\n");
      if (weights !== null) {
        if (deps.fastKernels !== undefined) deps.fastKernels();
        else {
          try {
            (await import("../kernels/wasm/index.js")).useWasmKernelsSync();
          } catch {
            // The reference kernels remain: slower, same results.
          }
        }
      }
      const seed = optional(flags.seed, (t) => parseNonNegativeInt(t, "--seed")) ?? 0;
      const result = rewrite(loaded.graph, weights, steps, {
        sampleBatch: optional(flags.samples, (t) => parsePositiveInt(t, "--samples")),
        seed,
        distill: {
          steps: optional(flags.steps, (t) => parsePositiveInt(t, "--steps")),
          lr: optional(flags.lr, (t) => parsePositiveNumber(t, "--lr")),
        },
        strict: flags.strict ?? false,
      });
      const analyze = deps.analyze ?? (await defaultAnalyze());
      const report = buildReport(result, (g) => analyze(g, input));
      deps.stdout(flags.json ? reportToJson(report) : formatReport(report));
      if (flags.output !== undefined)
        note(`${await save(flags.output, result.graph, result.weights, deps)}\n`);
    });
}
