import { readFileSync, writeFileSync } from "node:fs";
import { extname } from "node:path";
import type { Command } from "commander";
import { Tensor } from "../autograd/tensor.js";
import { parsePositiveInt, parseShape } from "../cli/args.js";
import type { CliContext } from "../cli/context.js";
import { CliError, UsageError } from "../cli/errors.js";
import { loadFashionMnist } from "../data/fashion-mnist.js";
import type { Graph, Weights } from "../graph/types.js";
import { Rng } from "../tensor/rng.js";
import { loadTrainableModel } from "../train/cli-model.js";
import { drawDenseBlock, drawInception, drawResidualBlock, drawSqueezeExcite } from "./blocks.js";
import { drawChannelShuffle, drawDepthwiseSeparable, drawGroupConv, drawPointwise } from "./channels.js";
import {
  type BarChartSpec,
  drawBarChart,
  drawLineChart,
  drawParetoChart,
  type LineChartSpec,
  type ParetoChartSpec,
} from "./charts.js";
import { drawDeformableFigures } from "./deformable.js";
import { drawGraph } from "./graph.js";
import { drawAsymmetricConv, drawConvGrid } from "./kernel.js";
import { drawReceptiveField } from "./receptive.js";
import { drawKernelStack, type StackLayer } from "./stack.js";

/**
 * `convkit draw <mode|model> [model] [options] -o file.svg`: every drawing of src/draw from the command line.
 * Only argument handling lives here. The CLI owner registers it with `addDrawCommand(program, ctx)`.
 */

interface DrawFlags {
  output?: string;
  input?: string;
  depth?: string;
  scope?: string;
  kernel?: string;
  stride?: string;
  padding?: string;
  dilation?: string;
  size?: string;
  cell?: string;
  inChannels?: string;
  outChannels?: string;
  channels?: string;
  groups?: string;
  stacks?: string;
  layer?: string;
  unit?: string;
  samples?: string;
  seed: string;
  data?: string;
  image: string;
  scale?: string;
  degrees?: string;
  log?: boolean;
}

/** The modes, with a one-line description each (also the help text). */
export const DRAW_MODES: Readonly<Record<string, string>> = {
  grid: "sampling grid of a kxk conv: --kernel --stride --padding --dilation --size [--in-channels --out-channels --groups --cell r,c]",
  asymmetric: "kxk next to 1xk then kx1: --kernel [--channels --size]",
  stack:
    "receptive field of small vs large kernels: --stacks 3,3,3/7 (layers 3, 3d2 for dilation 2, 3s2 for stride 2) [--channels --size]",
  group: "group conv connectivity: --in-channels --out-channels --groups [--kernel --size]",
  depthwise: "depthwise separable conv: --in-channels --out-channels [--kernel --size]",
  pointwise: "1x1 conv channel mixing: --in-channels --out-channels [--size]",
  shuffle: "channel shuffle, ShuffleNet figure a/b/c: --channels --groups",
  deformable:
    "deformable conv sampling points a-d on a Fashion-MNIST image: [--kernel --dilation --image N --scale --degrees --seed]",
  inception: "<model> --scope S: an Inception module's branches",
  se: "<model> --scope S: squeeze-and-excitation with channel weights from a seeded random input [--input --seed]",
  residual: "<model> --scope S: a residual block with its shortcut",
  dense: "<model> --scope S: a dense block's connections",
  model: "<model>: the whole graph as a layered diagram [--depth K --scope S --input CxHxW]",
  rf: "<model>: theoretical and effective receptive field [--layer V --unit r,c --input CxHxW --samples N --seed]",
  line: "training curves from --data file.json ({title, xLabel, yLabel, series: [{name, points}]}) [--log]",
  pareto: "accuracy against MACs from --data file.json ({points: [{label, x, y}]})",
  bars: "grouped bars from --data file.json ({title, yLabel, categories, series: [{name, values}]}) [--log]",
};

const MODEL_MODES = new Set(["inception", "se", "residual", "dense", "model", "rf"]);

function intOf(text: string | undefined, option: string, fallback?: number): number {
  if (text === undefined) {
    if (fallback === undefined) throw new UsageError(`${option}: required`);
    return fallback;
  }
  return parsePositiveInt(text, option);
}

function nonNegative(text: string, option: string): number {
  if (!/^\s*\d+\s*$/.test(text))
    throw new UsageError(`${option}: expected a non-negative integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** "3" -> 3, "3,5" or "3x5" -> [3, 5]. */
function pairOf(
  text: string | undefined,
  option: string,
  zeroOk = false,
): number | [number, number] | undefined {
  if (text === undefined) return undefined;
  const parts = text
    .split(/[x,]/i)
    .map((p) => (zeroOk ? nonNegative(p, option) : parsePositiveInt(p, option)));
  if (parts.length === 1) return parts[0];
  if (parts.length === 2) return [parts[0], parts[1]];
  throw new UsageError(`${option}: expected N or HxW, got ${JSON.stringify(text)}`);
}

function cellOf(text: string | undefined, option: string): [number, number] | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(/[x,]/i).map((p) => nonNegative(p, option));
  if (parts.length !== 2) throw new UsageError(`${option}: expected ROW,COL, got ${JSON.stringify(text)}`);
  return [parts[0], parts[1]];
}

/** "3,3,3/7" -> [[3, 3, 3], [7]]; a layer "3d2s1" is kernel 3, dilation 2, stride 1. */
function stacksOf(text: string): StackLayer[][] {
  return text.split("/").map((stack) =>
    stack.split(",").map((layer) => {
      const m = /^\s*(\d+)(?:d(\d+))?(?:s(\d+))?\s*$/i.exec(layer);
      if (!m)
        throw new UsageError(`--stacks: expected layers like 3, 3d2 or 3s2, got ${JSON.stringify(layer)}`);
      return { kernelSize: Number(m[1]), dilation: m[2] ? Number(m[2]) : 1, stride: m[3] ? Number(m[3]) : 1 };
    }),
  );
}

function readJson<T>(path: string | undefined, mode: string): T {
  if (path === undefined) throw new UsageError(`draw ${mode}: --data <file.json> is required`);
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch (e) {
    throw new CliError(`--data ${JSON.stringify(path)}: ${(e as Error).message}`);
  }
}

async function loadModel(
  spec: string,
  ctx: CliContext,
  input: number[] | undefined,
  seed: number,
): Promise<{ graph: Graph; weights: Weights }> {
  const zoo = await ctx.zoo();
  if (zoo !== null && Object.hasOwn(zoo, spec)) {
    const options =
      input === undefined
        ? { seed }
        : { seed, inChannels: input[0], inputSize: [input[1], input[2]] as [number, number] };
    const built = zoo[spec](options);
    if (built.weights !== undefined) return { graph: built.graph, weights: built.weights };
  }
  const { graph, weights } = await loadTrainableModel(spec, { zoo, seed });
  return { graph, weights };
}

function inputShapeOf(flags: DrawFlags): number[] | undefined {
  if (flags.input === undefined) return undefined;
  const shape = parseShape(flags.input);
  if (shape.length !== 3) throw new UsageError(`--input: expected CxHxW, got ${JSON.stringify(flags.input)}`);
  return shape;
}

/** Produces the SVG text for one command line. */
export async function drawFromArgs(
  what: string,
  model: string | undefined,
  flags: DrawFlags,
  ctx: CliContext,
): Promise<string> {
  const seed = nonNegative(flags.seed, "--seed");
  const needsModel = (mode: string): string => {
    if (model === undefined)
      throw new UsageError(`draw ${mode}: a <model> argument is required (a zoo name or a graph file)`);
    return model;
  };
  const scopeOf = (mode: string): string => {
    if (flags.scope === undefined)
      throw new UsageError(
        `draw ${mode}: --scope <path> is required (see convkit analyze <model> --depth 2)`,
      );
    return flags.scope;
  };
  if (!Object.hasOwn(DRAW_MODES, what)) {
    // Not a mode: a model to draw whole.
    if (model !== undefined)
      throw new UsageError(
        `draw: unknown mode ${JSON.stringify(what)} (modes: ${Object.keys(DRAW_MODES).join(", ")})`,
      );
    return drawFromArgs("model", what, flags, ctx);
  }
  if (!MODEL_MODES.has(what) && model !== undefined) {
    throw new UsageError(`draw ${what}: takes no <model> argument, got ${JSON.stringify(model)}`);
  }
  switch (what) {
    case "grid":
      return drawConvGrid({
        inputSize: pairOf(flags.size, "--size") ?? 7,
        kernelSize: pairOf(flags.kernel, "--kernel") ?? 3,
        stride: pairOf(flags.stride, "--stride"),
        padding: pairOf(flags.padding, "--padding", true),
        dilation: pairOf(flags.dilation, "--dilation"),
        output: cellOf(flags.cell, "--cell"),
        inChannels: flags.inChannels === undefined ? undefined : intOf(flags.inChannels, "--in-channels"),
        outChannels: flags.outChannels === undefined ? undefined : intOf(flags.outChannels, "--out-channels"),
        groups: flags.groups === undefined ? undefined : intOf(flags.groups, "--groups"),
      });
    case "asymmetric":
      return drawAsymmetricConv({
        kernelSize: intOf(flags.kernel, "--kernel", 3),
        channels: intOf(flags.channels, "--channels", 64),
        size: intOf(flags.size, "--size", 56),
      });
    case "stack":
      return drawKernelStack({
        stacks: stacksOf(flags.stacks ?? "3,3,3/7"),
        channels: intOf(flags.channels, "--channels", 64),
        size: intOf(flags.size, "--size", 56),
      });
    case "group":
      return drawGroupConv({
        inChannels: intOf(flags.inChannels, "--in-channels", 12),
        outChannels: intOf(flags.outChannels, "--out-channels", 6),
        groups: intOf(flags.groups, "--groups", 3),
        kernelSize: intOf(flags.kernel, "--kernel", 5),
        size: intOf(flags.size, "--size", 56),
      });
    case "depthwise":
      return drawDepthwiseSeparable({
        inChannels: intOf(flags.inChannels, "--in-channels", 8),
        outChannels: intOf(flags.outChannels, "--out-channels", 16),
        kernelSize: intOf(flags.kernel, "--kernel", 3),
        size: intOf(flags.size, "--size", 56),
      });
    case "pointwise":
      return drawPointwise({
        inChannels: intOf(flags.inChannels, "--in-channels", 12),
        outChannels: intOf(flags.outChannels, "--out-channels", 6),
        size: intOf(flags.size, "--size", 56),
      });
    case "shuffle":
      return drawChannelShuffle({
        channels: intOf(flags.channels, "--channels", 12),
        groups: intOf(flags.groups, "--groups", 3),
      });
    case "deformable": {
      const test = loadFashionMnist({ embedded: true }).test;
      const index = nonNegative(flags.image, "--image");
      const [, , h, w] = test.shape;
      if (index >= test.shape[0])
        throw new UsageError(`--image: expected an index below ${test.shape[0]}, got ${index}`);
      const k = intOf(flags.kernel, "--kernel", 3);
      const d = intOf(flags.dilation, "--dilation", 2);
      return drawDeformableFigures({
        image: {
          data: Array.from(test.images.subarray(index * h * w, (index + 1) * h * w)),
          height: h,
          width: w,
        },
        kernelSize: k,
        dilation: d,
        padding: (d * (k - 1)) / 2,
        scale: flags.scale === undefined ? undefined : Number(flags.scale),
        degrees: flags.degrees === undefined ? undefined : Number(flags.degrees),
        seed,
      });
    }
    case "model": {
      const spec = needsModel(what);
      const input = inputShapeOf(flags);
      const { graph } = await loadModel(spec, ctx, input, seed);
      return drawGraph(graph, {
        inputShape: input,
        depth: flags.depth === undefined ? undefined : parsePositiveInt(flags.depth, "--depth"),
        scope: flags.scope,
      });
    }
    case "inception":
    case "residual":
    case "dense": {
      const input = inputShapeOf(flags);
      const { graph } = await loadModel(needsModel(what), ctx, input, seed);
      const options = { scope: scopeOf(what), inputShape: input };
      if (what === "inception") return drawInception(graph, options);
      if (what === "residual") return drawResidualBlock(graph, options);
      return drawDenseBlock(graph, options);
    }
    case "se": {
      const input = inputShapeOf(flags);
      const { graph, weights } = await loadModel(needsModel(what), ctx, input, seed);
      const shape = input ?? graph.inputs[0].shape.slice(1).map((d) => (typeof d === "number" ? d : 1));
      const rng = new Rng(seed);
      const x = new Tensor(
        Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, () => rng.normal()),
        [1, ...shape],
      );
      return drawSqueezeExcite(graph, { scope: scopeOf(what), inputShape: shape, weights, input: x });
    }
    case "rf": {
      const input = inputShapeOf(flags);
      const { graph, weights } = await loadModel(needsModel(what), ctx, input, seed);
      return drawReceptiveField(graph, weights, {
        layer: flags.layer,
        unit: cellOf(flags.unit, "--unit"),
        inputShape: input,
        samples: intOf(flags.samples, "--samples", 4),
        seed,
      });
    }
    case "line": {
      const spec = readJson<LineChartSpec>(flags.data, what);
      return drawLineChart({ ...spec, logY: flags.log ?? spec.logY });
    }
    case "pareto":
      return drawParetoChart(readJson<ParetoChartSpec>(flags.data, what));
    case "bars": {
      const spec = readJson<BarChartSpec>(flags.data, what);
      return drawBarChart({ ...spec, log: flags.log ?? spec.log });
    }
    default:
      throw new UsageError(`draw: unknown mode ${JSON.stringify(what)}`);
  }
}

/** Registers `convkit draw` on the program. */
export function addDrawCommand(program: Command, ctx: CliContext): void {
  const modes = Object.entries(DRAW_MODES)
    .map(([name, text]) => `  ${name.padEnd(11)}${text}`)
    .join("\n");
  program
    .command("draw")
    .description("draw a convolution mode, a block, a whole model, a receptive field or a chart as SVG")
    .argument(
      "<what>",
      "a mode (below), or a model to draw whole (zoo name, graph .json, saved model folder)",
    )
    .argument("[model]", "the model, for the modes that draw from one")
    .option("-o, --output <file.svg>", "write the SVG here (default: standard output)")
    .option("--input <CxHxW>", "input shape without batch (default: the model's)")
    .option("--depth <K>", "collapse scopes to K segments (model)")
    .option("--scope <path>", "a block's scope path, e.g. layer2.0 or inception3a")
    .option("--kernel <k>", "kernel size, k or kH,kW")
    .option("--stride <s>", "stride, s or sH,sW")
    .option("--padding <p>", "zero padding, p or pH,pW")
    .option("--dilation <d>", "dilation, d or dH,dW")
    .option("--size <n>", "input size (grid) or output size for MACs (others)")
    .option("--cell <r,c>", "output cell whose window is drawn (grid)")
    .option("--in-channels <n>", "input channels")
    .option("--out-channels <n>", "output channels")
    .option("--channels <n>", "channels")
    .option("--groups <g>", "groups")
    .option("--stacks <spec>", "kernel stacks to compare, e.g. 3,3,3/7 or 3,3d2,3d4/3d2,3d2,3d2")
    .option("--layer <value>", "the value whose unit is studied (rf)")
    .option("--unit <r,c>", "the unit's position (rf)")
    .option("--samples <n>", "random inputs averaged (rf)")
    .option("--seed <n>", "seed of random inputs and weights", "0")
    .option("--data <file.json>", "chart data (line, pareto, bars)")
    .option("--image <index>", "Fashion-MNIST test image (deformable)", "0")
    .option("--scale <f>", "scale factor of panel (c) (deformable)")
    .option("--degrees <a>", "rotation of panel (d) (deformable)")
    .option("--log", "log scale (line: y, bars: values)")
    .addHelpText(
      "after",
      `\nModes:\n${modes}\n\nExamples:\n  convkit draw grid --kernel 3 --dilation 2 --padding 2 --size 9 -o dilated.svg\n  convkit draw shuffle --channels 12 --groups 3 -o shuffle.svg\n  convkit draw resnet18 --depth 2 -o resnet18.svg\n  convkit draw inception googlenet --scope inception3a -o inception.svg\n  convkit draw rf resnet18 --input 3x64x64 --layer layer1.1.relu -o rf.svg\n\nSVG only: PNG output needs a rasteriser that is not a dependency (open the SVG in a browser).`,
    )
    .action(async (what: string, model: string | undefined, flags: DrawFlags) => {
      if (flags.output !== undefined && extname(flags.output).toLowerCase() === ".png") {
        throw new UsageError("--output: PNG is not supported (SVG only); write a .svg file");
      }
      const svg = await drawFromArgs(what, model, flags, ctx);
      if (flags.output === undefined || flags.output === "-") {
        ctx.stdout(svg);
      } else {
        try {
          writeFileSync(flags.output, svg);
        } catch (e) {
          throw new CliError(`cannot write ${JSON.stringify(flags.output)}: ${(e as Error).message}`);
        }
        ctx.stderr(`wrote ${flags.output} (${new TextEncoder().encode(svg).length} bytes)\n`);
      }
    });
}
