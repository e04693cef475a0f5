import { existsSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import type { Command } from "commander";
import { noGrad } from "../autograd/gradmode.js";
import { Tensor } from "../autograd/tensor.js";
import { GraphModel } from "../graph/executor.js";
import type { Graph, ValueInfo } from "../graph/types.js";
import { type NpyArray, npyFromFloat32, npyToFloat32, readNpyFile, writeNpyFile } from "../io/npy.js";
import { Rng } from "../tensor/rng.js";
import { parseDims, parseNonNegativeInt, parsePositiveInt } from "./args.js";
import type { CliContext } from "./context.js";
import { CliError, UsageError } from "./errors.js";
import { KERNEL_CHOICES, parseKernelChoice, selectKernels } from "./kernels.js";
import { asCliError, loadRunnableModel } from "./load-model.js";
import {
  formatNumber,
  formatTopClasses,
  isClassifierOutput,
  type TensorStats,
  type TopClass,
  tensorStats,
  topClasses,
} from "./summary.js";

/**
 * `convkit run <model>`: one forward pass in eval mode (no gradients), on arrays from .npy files or on a
 * seeded random normal input shaped like the model's declared input. Prints each output's shape and
 * statistics (top-5 classes for a classifier), or the same as JSON; writes the outputs as .npy when asked.
 * Only argument handling and printing live here: the work is the loader and GraphModel.
 */

interface RunFlags {
  input: string[];
  output?: string;
  seed: string;
  batch?: string;
  dims?: string;
  weights?: string;
  kernels: string;
  top: string;
  json?: boolean;
}

/** How many samples of a batch get their top classes printed. */
const SAMPLES_SHOWN = 4;

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function addRunCommand(program: Command, ctx: CliContext): void {
  program
    .command("run")
    .description(
      "run a model once in eval mode on .npy input (or a seeded random one) and summarise the output",
    )
    .argument("<model>", "a zoo model name, a graph .json file, a saved model folder, or an .onnx file")
    .option(
      "--input <[NAME=]FILE>",
      "input array (.npy, any numeric dtype, converted to float32); NAME= picks the input of a multi-input model; repeatable",
      collect,
      [],
    )
    .option("--output <FILE>", "write the output as .npy (several outputs: FILE-<output name>.npy)")
    .option("--seed <S>", "seed of the random input (and of fresh weights for a graph without any)", "0")
    .option("--batch <N>", "batch size of the random input (default 1)")
    .option(
      "--dims <NAME=SIZE,...>",
      "sizes of symbolic input dimensions, e.g. H=224,W=224 (default: from the --input array)",
    )
    .option("--weights <FILE>", "weights (safetensors) replacing the model's own")
    .option("--kernels <WHICH>", `${KERNEL_CHOICES.join(", ")} (auto: WebAssembly when available)`, "auto")
    .option("--top <K>", "classes listed per sample for a classifier output", "5")
    .option("--json", "print the summary as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  convkit run resnet18 --seed 1\n  convkit run model.onnx --input x.npy --output y.npy\n  convkit run model.onnx --dims H=224,W=224 --batch 2\n\nInputs are fed as they are (no normalisation). Exit codes: 0 ok, 1 the model or an input could not be\nloaded or run, 2 bad command line.",
    )
    .action(async (spec: string, flags: RunFlags) => {
      const seed = parseNonNegativeInt(flags.seed, "--seed");
      const batch = flags.batch !== undefined ? parsePositiveInt(flags.batch, "--batch") : undefined;
      const dims = flags.dims !== undefined ? parseDims(flags.dims) : {};
      const kernels = parseKernelChoice(flags.kernels);
      const top = parsePositiveInt(flags.top, "--top");
      if (batch !== undefined && flags.input.length > 0) {
        throw new UsageError(
          "--batch sizes the random input only: the --input array's first axis is the batch",
        );
      }
      if (flags.output !== undefined && extname(flags.output).toLowerCase() !== ".npy") {
        throw new UsageError(`--output: expected a .npy file name, got ${JSON.stringify(flags.output)}`);
      }
      const given = await readInputs(flags.input);
      const positional = given.find((g) => g.name === null);

      const model = await loadRunnableModel(spec, {
        zoo: await ctx.zoo(),
        inputShape: positional?.array.shape,
        dims,
        weightsPath: flags.weights,
        seed,
      });
      const { graph } = model;
      const rng = new Rng(seed);
      const inputs = bindInputs(graph, given, { batch, dims, rng });
      const backend = selectKernels(kernels);

      let outputs: Record<string, Tensor>;
      const started = performance.now();
      try {
        const executor = new GraphModel(graph, model.weights).eval();
        // fromEntries: an input named "__proto__" is an own key (assigning it would set the prototype).
        const feed = Object.fromEntries(inputs.map((i) => [i.name, i.tensor]));
        outputs = noGrad(() => executor.forwardOutputs(feed));
      } catch (e) {
        throw asCliError(e);
      }
      const seconds = (performance.now() - started) / 1000;

      const labels = classLabels(graph);
      const summaries = graph.outputs.map((name) => {
        const t = outputs[name];
        const summary: OutputSummary = { name, shape: [...t.shape], stats: tensorStats(t.data) };
        if (isClassifierOutput(t.shape)) {
          const [n, k] = t.shape;
          summary.top = [];
          for (let s = 0; s < n; s++)
            summary.top.push(topClasses(t.data.subarray(s * k, (s + 1) * k), top, labels));
        }
        return summary;
      });
      const written: string[] = [];
      if (flags.output !== undefined) {
        for (const [i, name] of graph.outputs.entries()) {
          const path = graph.outputs.length === 1 ? flags.output : outputPath(flags.output, name, i);
          try {
            await writeNpyFile(path, npyFromFloat32(outputs[name].data, outputs[name].shape));
          } catch (e) {
            throw new CliError(`--output: cannot write ${JSON.stringify(path)}: ${(e as Error).message}`);
          }
          written.push(path);
        }
      }

      const info = {
        model: graph.name,
        source: model.kind,
        weights: model.weightsFrom,
        kernels: backend,
        inputs: inputs.map((i) => ({ name: i.name, shape: [...i.tensor.shape], from: i.from })),
        outputs: summaries,
        seconds,
        written,
      };
      if (flags.json) {
        ctx.stdout(
          `${JSON.stringify(info, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 1)}\n`,
        );
        return;
      }
      ctx.stdout(formatRun(info));
    });
}

interface GivenInput {
  /** The input's name (NAME=FILE), or null for a plain FILE. */
  name: string | null;
  path: string;
  array: NpyArray;
}

/** Reads every --input file first: an input's shape may size the model (ONNX symbolic dims, zoo input). */
async function readInputs(specs: readonly string[]): Promise<GivenInput[]> {
  const given: GivenInput[] = [];
  for (const text of specs) {
    // NAME=FILE, unless the whole text is itself an existing file.
    const m = /^([^=/\\]+)=(.+)$/.exec(text);
    const named = m !== null && !existsSync(text);
    const name = named ? m[1] : null;
    const path = named ? m[2] : text;
    if (extname(path).toLowerCase() !== ".npy") {
      throw new UsageError(`--input: expected a .npy file, got ${JSON.stringify(path)}`);
    }
    let array: NpyArray;
    try {
      array = await readNpyFile(path);
    } catch (e) {
      throw asCliError(e);
    }
    given.push({ name, path, array });
  }
  const unnamed = given.filter((g) => g.name === null).length;
  if (unnamed > 1)
    throw new UsageError("--input: several files without NAME=: name the model inputs they feed");
  return given;
}

interface BoundInput {
  name: string;
  tensor: Tensor;
  from: string;
}

/** One tensor per graph input: from its .npy file (checked against the declared shape) or random normal. */
function bindInputs(
  graph: Graph,
  given: readonly GivenInput[],
  options: { batch: number | undefined; dims: Readonly<Record<string, number>>; rng: Rng },
): BoundInput[] {
  const names = graph.inputs.map((i) => i.name);
  for (const g of given) {
    if (g.name !== null && !names.includes(g.name)) {
      throw new UsageError(
        `--input ${g.name}=...: the model has no input ${JSON.stringify(g.name)} (inputs: ${names.join(", ")})`,
      );
    }
  }
  const positional = given.find((g) => g.name === null);
  if (positional !== undefined && names.length > 1) {
    throw new UsageError(
      `--input: the model has ${names.length} inputs (${names.join(", ")}): give each as NAME=FILE`,
    );
  }
  return graph.inputs.map((info) => {
    const g = given.find((x) => x.name === info.name) ?? positional;
    if (g !== undefined) return { name: info.name, tensor: fromArray(info, g), from: g.path };
    const shape = randomShape(info, options);
    const data = new Float32Array(shape.reduce((p, d) => p * d, 1));
    for (let i = 0; i < data.length; i++) data[i] = options.rng.normal();
    return { name: info.name, tensor: new Tensor(data, shape), from: "random normal" };
  });
}

function shapeText(dims: readonly (number | string)[]): string {
  return `[${dims.join(", ")}]`;
}

function fromArray(info: ValueInfo, g: GivenInput): Tensor {
  let shape = g.array.shape;
  // A single sample without its batch axis: [C, H, W] for ["N", C, H, W] (or a fixed batch of 1).
  if (shape.length === info.shape.length - 1 && (typeof info.shape[0] === "string" || info.shape[0] === 1))
    shape = [1, ...shape];
  const fits =
    shape.length === info.shape.length &&
    info.shape.every((d, i) => (typeof d === "number" ? d === shape[i] : shape[i] >= 1));
  if (!fits) {
    throw new CliError(
      `${g.path}: shape ${shapeText(g.array.shape)} does not fit input "${info.name}" of the model, ${shapeText(info.shape)}`,
    );
  }
  return new Tensor(Float32Array.from(npyToFloat32(g.array)), shape);
}

function randomShape(
  info: ValueInfo,
  options: { batch: number | undefined; dims: Readonly<Record<string, number>> },
): number[] {
  return info.shape.map((d, axis) => {
    if (typeof d === "number") {
      if (axis === 0 && options.batch !== undefined && options.batch !== d) {
        throw new CliError(
          `--batch ${options.batch}: input "${info.name}" of the model has a fixed batch, ${shapeText(info.shape)}`,
        );
      }
      return d;
    }
    if (Object.hasOwn(options.dims, d)) return options.dims[d];
    if (axis === 0) return options.batch ?? 1;
    throw new UsageError(
      `input "${info.name}" ${shapeText(info.shape)}: dimension "${d}" needs a size for a random input: add --dims ${d}=<size> (or --input)`,
    );
  });
}

/** FILE.npy -> FILE-<name>.npy for graphs with several outputs (the name made safe for a file name). */
function outputPath(path: string, name: string, index: number): string {
  const safe = name.replace(/[^\w.-]+/g, "_") || `output${index}`;
  return join(dirname(path), `${basename(path, extname(path))}-${safe}.npy`);
}

/** Class names from graph.meta.classes when the model carries them. */
function classLabels(graph: Graph): string[] | undefined {
  const classes = (graph.meta as Record<string, unknown> | undefined)?.classes;
  return Array.isArray(classes) && classes.every((c) => typeof c === "string")
    ? (classes as string[])
    : undefined;
}

interface OutputSummary {
  name: string;
  shape: number[];
  stats: TensorStats;
  /** Per sample, for a classifier's [N, K] output. */
  top?: TopClass[][];
}

interface RunInfo {
  model: string;
  source: string;
  weights: string;
  kernels: string;
  inputs: { name: string; shape: number[]; from: string }[];
  outputs: OutputSummary[];
  seconds: number;
  written: string[];
}

function formatRun(info: RunInfo): string {
  const lines = [`model ${info.model} (${info.source}; weights: ${info.weights}; kernels: ${info.kernels})`];
  for (const i of info.inputs) lines.push(`input  ${i.name}: ${shapeText(i.shape)} (${i.from})`);
  for (const o of info.outputs) {
    const s = o.stats;
    const bad = s.nonFinite > 0 ? `, ${s.nonFinite} NaN/inf` : "";
    lines.push(
      `output ${o.name}: ${shapeText(o.shape)}  min ${formatNumber(s.min)}  max ${formatNumber(s.max)}  mean ${formatNumber(s.mean)}  std ${formatNumber(s.std)}${bad}`,
    );
    if (o.top !== undefined) {
      const shown = o.top.slice(0, SAMPLES_SHOWN);
      shown.forEach((tops, n) => {
        lines.push(`  sample ${n}: top-${tops.length}: ${formatTopClasses(tops)}`);
      });
      if (o.top.length > shown.length)
        lines.push(`  (${o.top.length - shown.length} more samples not shown)`);
    }
  }
  lines.push(`forward pass: ${(info.seconds * 1000).toFixed(1)} ms`);
  for (const path of info.written) lines.push(`wrote ${path}`);
  return `${lines.join("\n")}\n`;
}
