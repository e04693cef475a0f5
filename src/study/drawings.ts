import type { Analysis } from "../analyze/types.js";
import { noGrad } from "../autograd/gradmode.js";
import type { Tensor } from "../autograd/tensor.js";
import {
  drawAsymmetricConv,
  drawChannelShuffle,
  drawConvGrid,
  drawDeformableSampling,
  drawDepthwiseSeparable,
  drawGraph,
  drawGroupConv,
  drawInception,
  drawKernelStack,
  drawPointwise,
  drawResidualBlock,
  drawSqueezeExcite,
  offsetsAt,
} from "../draw/index.js";
import { GraphModel } from "../graph/executor.js";
import type { Graph, Node, Weights } from "../graph/types.js";
import type { SiteRecord, StepRecord } from "./types.js";

/**
 * The drawing of each rewrite, made from the variant itself: the mode drawing of src/draw for the rule, with
 * the parameters of the actual rewritten layer (kernel sizes, channels, groups, the map size) and, where the
 * drawing shows learned values (squeeze-and-excitation gates, deformable offsets), the trained weights on a
 * real test image.
 */

export interface RewriteDrawing {
  svg: string;
  caption: string;
}

export interface DrawContext {
  /** The variant's graph and trained weights. */
  graph: Graph;
  weights: Weights;
  analysis: Analysis;
  /** The baseline's graph and analysis (the replaced layers' sizes). */
  baseline: Graph;
  baselineAnalysis: Analysis;
  /** The step of the rule being drawn. */
  step: StepRecord;
  /** One normalised test image [1, C, H, W], and its class name. */
  input: Tensor;
  inputClass: string;
}

type ConvNode = Extract<Node, { op: "conv2d" | "deformConv2d" }>;

function isConv(n: Node | undefined): n is ConvNode {
  return n !== undefined && (n.op === "conv2d" || n.op === "deformConv2d");
}

function outputHw(a: Analysis, name: string): [number, number] {
  const s = a.layers.find((l) => l.name === name)?.outputShape ?? [];
  return [s[2] ?? 1, s[3] ?? 1];
}

function nodeByName(g: Graph, name: string): Node | undefined {
  return g.nodes.find((n) => n.name === name);
}

/** Most channels the shuffle drawing shows (more is an unreadable band of lines). */
const MAX_SHUFFLE_CHANNELS = 24;

function scopesOf(g: Graph, kind: string): string[] {
  return Object.entries(g.scopes ?? {})
    .filter(([, info]) => info.kind === kind)
    .map(([path]) => path);
}

function firstScope(g: Graph, kind: string): string | undefined {
  return scopesOf(g, kind)[0];
}

function lastScope(g: Graph, kind: string): string | undefined {
  return scopesOf(g, kind).at(-1);
}

/** The scope of `kind` that holds the site's new nodes. */
function scopeOfSite(g: Graph, kind: string, site: SiteRecord | undefined): string | undefined {
  if (site === undefined) return undefined;
  const scopes = new Set(site.newNodes.map((n) => nodeByName(g, n)?.scope ?? ""));
  return scopesOf(g, kind).find((p) => [...scopes].some((s) => s === p || s.startsWith(`${p}.`)));
}

const k = (p: readonly number[]) => (p[0] === p[1] ? `${p[0]}×${p[0]}` : `${p[0]}×${p[1]}`);

/** The first site of the step that replaced a conv, preferring ones with more than one input channel. */
function pickSite(step: StepRecord): SiteRecord | undefined {
  const convs = step.sites.filter((s) => s.conv !== null);
  return convs.find((s) => s.conv!.inChannels > 1) ?? convs[0] ?? step.sites[0];
}

function where(s: SiteRecord, ctx: DrawContext): string {
  const c = s.conv;
  const [h, w] = outputHw(
    ctx.baselineAnalysis,
    s.oldNodes.find((n) => isConv(nodeByName(ctx.baseline, n))) ?? s.node,
  );
  return c === null
    ? s.node
    : `${s.node} (${k(c.kernelSize)}, ${c.inChannels}→${c.outChannels} channels, ${h}×${w} output)`;
}

/** The drawing for `rule`, or null when the variant has nothing of it to draw. */
export function drawRewrite(rule: string, ctx: DrawContext): RewriteDrawing | null {
  const { graph, analysis } = ctx;
  const site = pickSite(ctx.step);
  switch (rule) {
    case "stack-small": {
      if (site?.conv == null) return null;
      const convs = site.newNodes.map((n) => nodeByName(graph, n)).filter(isConv);
      const [h] = outputHw(ctx.baselineAnalysis, site.oldNodes[0]);
      return {
        svg: drawKernelStack({
          stacks: [
            convs.map((c) => ({ kernelSize: c.attrs.kernelSize[0], dilation: c.attrs.dilation[0] })),
            [site.conv.kernelSize[0]],
          ],
          channels: site.conv.outChannels,
          size: h,
        }),
        caption: `${where(site, ctx)} became ${convs.length} stacked ${convs.map((c) => k(c.attrs.kernelSize)).join(" + ")} convs: the same receptive field (counts at ${site.conv.outChannels} channels in and out).`,
      };
    }
    case "asymmetric": {
      if (site?.conv == null) return null;
      const [h] = outputHw(ctx.baselineAnalysis, site.oldNodes[0]);
      return {
        svg: drawAsymmetricConv({
          kernelSize: site.conv.kernelSize[0],
          channels: site.conv.outChannels,
          size: h,
        }),
        caption: `${where(site, ctx)} split into 1×${site.conv.kernelSize[1]} then ${site.conv.kernelSize[0]}×1.`,
      };
    }
    case "multi-size": {
      const scope = scopeOfSite(graph, "inception", site) ?? firstScope(graph, "inception");
      if (scope === undefined) return null;
      return {
        svg: drawInception(graph, { scope, analysis, title: `Inception-style ${scope}` }),
        caption: `${site ? where(site, ctx) : scope} as Inception-style branches of several kernel sizes, concatenated to the old output channels.`,
      };
    }
    case "deformable": {
      const node = graph.nodes.find((n) => n.op === "deformConv2d");
      if (node === undefined || node.op !== "deformConv2d") return null;
      const values = noGrad(() => new GraphModel(graph, ctx.weights).eval().runAll(ctx.input));
      const x = values.get(node.inputs[0])!;
      const offset = values.get(node.inputs[1])!;
      const [, c, h, w] = x.shape;
      const mean = new Float32Array(h * w);
      for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) mean[p] += x.data[ch * h * w + p] / c;
      const [oh, ow] = [offset.shape[2], offset.shape[3]];
      const at: [number, number] = [oh >> 1, ow >> 1];
      const a = node.attrs;
      const taps = a.kernelSize[0] * a.kernelSize[1];
      const learned = offsetsAt(offset, taps, at[0], at[1]);
      const spec = { kernelSize: a.kernelSize, stride: a.stride, padding: a.padding, dilation: a.dilation };
      let largest = 0;
      for (let t = 0; t < taps; t++)
        largest = Math.max(largest, Math.hypot(learned[2 * t], learned[2 * t + 1]));
      return {
        svg: drawDeformableSampling({
          ...spec,
          image: { data: mean, height: h, width: w },
          at,
          panels: [
            { label: "(a) regular grid", offsets: new Float32Array(2 * taps) },
            { label: "(b) learned offsets", offsets: learned },
          ],
          title: `Deformable ${k(a.kernelSize)} conv ${node.name}: sampling points at output (${at[0]}, ${at[1]})`,
        }),
        caption: `${node.name} after training, on its ${h}×${w} input for the first test image (a ${ctx.inputClass}; mean over ${c} channels): the regular grid and where the learned offsets move the taps (largest offset ${largest.toFixed(2)} px).`,
      };
    }
    case "dilate": {
      const node = graph.nodes.find(
        (n): n is Extract<Node, { op: "conv2d" }> =>
          n.op === "conv2d" && (n.attrs.dilation[0] > 1 || n.attrs.dilation[1] > 1),
      );
      if (node === undefined) return null;
      const producer = graph.nodes.find((n) => n.outputs.includes(node.inputs[0]));
      const [h] = producer ? outputHw(analysis, producer.name) : [analysis.inputs[0].shape[2]];
      const a = node.attrs;
      return {
        svg: drawConvGrid({
          inputSize: h,
          kernelSize: a.kernelSize,
          stride: a.stride,
          padding: a.padding,
          dilation: a.dilation,
          inChannels: a.inChannels,
          outChannels: a.outChannels,
          groups: a.groups,
          title: `${node.name}: ${k(a.kernelSize)} conv, dilation ${a.dilation[0]}, on a ${h}×${h} map`,
        }),
        caption: `With the stride removed earlier, ${node.name} keeps its receptive field on the denser ${h}×${h} map by spacing its taps ${a.dilation[0]} apart (cavity convolution).`,
      };
    }
    case "bottleneck": {
      if (site?.conv == null) return null;
      const reduce = site.newNodes
        .map((n) => nodeByName(graph, n))
        .filter(isConv)
        .find((c) => c.attrs.kernelSize[0] * c.attrs.kernelSize[1] === 1);
      if (reduce === undefined) return null;
      const [h] = outputHw(analysis, reduce.name);
      return {
        svg: drawPointwise({
          inChannels: reduce.attrs.inChannels,
          outChannels: reduce.attrs.outChannels,
          size: h,
        }),
        caption: `The 1×1 reduction in front of ${where(site, ctx)}: ${reduce.attrs.inChannels} → ${reduce.attrs.outChannels} channels, so the ${k(site.conv.kernelSize)} conv reads ${reduce.attrs.outChannels} instead of ${reduce.attrs.inChannels}.`,
      };
    }
    case "separable": {
      if (site?.conv == null) return null;
      const [h] = outputHw(ctx.baselineAnalysis, site.oldNodes[0]);
      return {
        svg: drawDepthwiseSeparable({
          inChannels: site.conv.inChannels,
          outChannels: site.conv.outChannels,
          kernelSize: site.conv.kernelSize[0],
          size: h,
        }),
        caption: `${where(site, ctx)} as a depthwise ${k(site.conv.kernelSize)} conv and a pointwise 1×1 conv.`,
      };
    }
    case "group": {
      if (site?.conv == null) return null;
      const groups = Number(ctx.step.options.groups ?? 2);
      const [h] = outputHw(ctx.baselineAnalysis, site.oldNodes[0]);
      return {
        svg: drawGroupConv({
          inChannels: site.conv.inChannels,
          outChannels: site.conv.outChannels,
          groups,
          kernelSize: site.conv.kernelSize,
          size: h,
        }),
        caption: `${where(site, ctx)} in ${groups} groups.`,
      };
    }
    case "shuffle": {
      const node = graph.nodes.find((n) => n.op === "channelShuffle");
      if (node === undefined || node.op !== "channelShuffle") return null;
      const channels = analysis.layers.find((l) => l.name === node.name)?.outputShape[1] ?? 0;
      const g = node.attrs.groups;
      // Past a few dozen channels the permutation is a grey band: draw the same groups with fewer channels.
      const shown =
        channels <= MAX_SHUFFLE_CHANNELS ? channels : g * Math.max(2, Math.floor(MAX_SHUFFLE_CHANNELS / g));
      const fewer =
        shown < channels
          ? ` (drawn with ${shown} channels in the same ${g} groups for legibility; the layer has ${channels})`
          : "";
      return {
        svg: drawChannelShuffle({ channels: shown, groups: g }),
        caption: `${node.name}: ${channels} channels shuffled across ${g} groups, so the next grouped conv reads every group${fewer}.`,
      };
    }
    case "se": {
      // The deepest block: its gates have the most channels and differ most after training.
      const scope = lastScope(graph, "squeezeExcite");
      if (scope === undefined) return null;
      return {
        svg: drawSqueezeExcite(graph, { scope, analysis, weights: ctx.weights, input: ctx.input }),
        caption: `${scope} after training, with the channel weights its gate gives the first test image (a ${ctx.inputClass}).`,
      };
    }
    case "residual": {
      const scope = firstScope(graph, "residual");
      if (scope === undefined) return null;
      // The residual scope holds the skip and the join; its parent also holds the convs it goes around.
      const parent = scope.includes(".") ? scope.slice(0, scope.lastIndexOf(".")) : "";
      const svg =
        parent !== ""
          ? drawGraph(graph, {
              scope: parent,
              analysis,
              title: `${parent} with the skip connection (${scope})`,
            })
          : drawResidualBlock(graph, { scope, analysis });
      return {
        svg,
        caption: `${parent || scope}: the skip connection added around two conv units, joined by the addition.`,
      };
    }
    case "dense": {
      const concat = ctx.step.sites
        .flatMap((s) => s.newNodes)
        .map((n) => nodeByName(graph, n))
        .find((n) => n?.op === "concat");
      if (concat === undefined) return null;
      const scope = concat.scope;
      return {
        svg: drawGraph(graph, { scope, analysis, title: `${graph.name} · ${scope}: dense connections` }),
        caption: `${scope}: each conv reads the concatenation of its input and the earlier feature maps of the same size.`,
      };
    }
    default:
      return null;
  }
}

/** A whole model (the baseline, the modern variant), its blocks collapsed to `depth` scope levels. */
export function drawModel(graph: Graph, analysis: Analysis, title: string, depth?: number): RewriteDrawing {
  return { svg: drawGraph(graph, { analysis, title, depth }), caption: title };
}
