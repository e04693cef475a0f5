import { analyze } from "../../src/analyze/analyze.js";
import { thousands } from "../../src/analyze/format.js";
import type { Analysis } from "../../src/analyze/types.js";
import { asymmetricPair } from "../../src/blocks/asymmetric.js";
import { deformableConv } from "../../src/blocks/deformable.js";
import { denseBlock } from "../../src/blocks/dense.js";
import { inceptionModule } from "../../src/blocks/inception.js";
import { basicBlock } from "../../src/blocks/residual.js";
import { depthwiseSeparable } from "../../src/blocks/separable.js";
import { squeezeExcite } from "../../src/blocks/squeeze-excite.js";
import {
  drawDenseBlock,
  drawInception,
  drawResidualBlock,
  drawSqueezeExcite,
} from "../../src/draw/blocks.js";
import {
  drawChannelShuffle,
  drawDepthwiseSeparable,
  drawGroupConv,
  drawPointwise,
  shufflePermutation,
} from "../../src/draw/channels.js";
import {
  drawDeformableSampling,
  type GreyImage,
  randomOffsets,
  rotationOffsets,
  scaleOffsets,
} from "../../src/draw/deformable.js";
import { drawAsymmetricConv, drawConvGrid } from "../../src/draw/kernel.js";
import { drawKernelStack } from "../../src/draw/stack.js";
import { GraphBuilder, type ValueRef } from "../../src/graph/builder.js";
import type { Graph } from "../../src/graph/types.js";
import { convOutSize } from "../../src/tensor/conv-geometry.js";
import { fieldText } from "./text.js";
import type { NumberItem } from "./ui.js";

/**
 * The article's convolution modes as the Modes page shows them: for each, its controls, a graph built from the
 * controls with the library's builder and blocks, the library's drawing, and the live numbers, which are the
 * analyzer's figures for that graph (output shape, parameters, MACs, receptive field). The page holds no
 * arithmetic of its own: every number comes from `analyze`.
 */

export type Values = Record<string, number | string>;

export interface Control {
  name: string;
  label: string;
  /** Number input (default) or a select of options. */
  options?: readonly (readonly [string, string])[];
  min?: number;
  max?: number;
  step?: number;
  hint?: string;
}

export interface ModeView {
  svg: string;
  numbers: NumberItem[];
  /** One or two sentences under the numbers. */
  note?: string;
}

export interface Mode {
  id: string;
  title: string;
  /** Where the article discusses it. */
  section: string;
  intro: string;
  controls: readonly Control[];
  defaults: Values;
  /** The view at frame `frame` of the animation (frame 0 when still). */
  view(v: Values, frame: number, image: GreyImage | null): ModeView;
  /** Animation frames: the kernel sliding over the input (sampling modes only). */
  frames?(v: Values): number;
  /** Needs a Fashion-MNIST test image (`image` in view). */
  usesImage?: boolean;
}

const n = (v: Values, key: string) => Number(v[key]);

/** The analyzer's figures of a graph: output shape, parameters, MACs and FLOPs, receptive field at the output. */
export function graphNumbers(graph: Graph, prefix = "", label = ""): NumberItem[] {
  const a = analyze(graph);
  const out = outputLayer(graph, a);
  const rf = out.receptiveField;
  const p = prefix ? `${prefix}-` : "";
  const l = label ? `${label}: ` : "";
  return [
    {
      key: `${p}output`,
      label: `${l}output shape`,
      text: out.outputShape.join("×"),
      value: out.outputShape.join(","),
    },
    { key: `${p}params`, label: `${l}parameters`, text: thousands(a.totals.params), value: a.totals.params },
    { key: `${p}macs`, label: `${l}MACs`, text: thousands(a.totals.macs), value: a.totals.macs },
    {
      key: `${p}flops`,
      label: `${l}FLOPs (2 × MACs)`,
      text: thousands(a.totals.flops),
      value: a.totals.flops,
    },
    {
      key: `${p}rf`,
      label: `${l}receptive field`,
      text: fieldText(rf),
      value: rf === null ? "" : rf.size.join(","),
    },
  ];
}

function outputLayer(graph: Graph, a: Analysis) {
  const name = graph.outputs[0];
  const i = graph.nodes.findIndex((node) => node.outputs.includes(name));
  return a.layers[i];
}

function ratio(key: string, label: string, a: number, b: number): NumberItem {
  return { key, label, text: `${((100 * a) / b).toFixed(1)}%`, value: a / b };
}

function oneConv(
  name: string,
  input: [number, number, number],
  conv: {
    outChannels: number;
    kernelSize: number | [number, number];
    stride?: number;
    padding?: number | [number, number];
    dilation?: number;
    groups?: number;
    bias?: boolean;
  },
): Graph {
  const b = new GraphBuilder(name);
  const x = b.input("input", input);
  b.output(b.conv2d(x, { name: "conv", ...conv }));
  return b.build().graph;
}

function build(
  name: string,
  input: [number, number, number],
  body: (b: GraphBuilder, x: ValueRef) => ValueRef,
): Graph {
  const b = new GraphBuilder(name);
  const x = b.input("input", input);
  b.output(body(b, x));
  return b.build().graph;
}

/** Output cell (row, col) shown at animation frame `frame` (row-major over the output). */
function cellAt(hOut: number, wOut: number, frame: number): [number, number] {
  const k = ((frame % (hOut * wOut)) + hOut * wOut) % (hOut * wOut);
  return [Math.floor(k / wOut), k % wOut];
}

const samplingControls: Control[] = [
  { name: "size", label: "Input size", min: 3, max: 16 },
  { name: "kernel", label: "Kernel size", min: 1, max: 7 },
  { name: "stride", label: "Stride", min: 1, max: 4 },
  { name: "padding", label: "Padding", min: 0, max: 6 },
  { name: "dilation", label: "Dilation", min: 1, max: 4 },
  { name: "cin", label: "Input channels", min: 1, max: 2048 },
  { name: "cout", label: "Output channels", min: 1, max: 2048 },
];

function samplingOut(v: Values): [number, number] {
  const o = convOutSize(
    n(v, "size"),
    n(v, "kernel"),
    n(v, "stride"),
    n(v, "dilation"),
    n(v, "padding"),
    n(v, "padding"),
  );
  return [o, o];
}

function samplingView(title: (v: Values) => string) {
  return (v: Values, frame: number): ModeView => {
    const graph = oneConv("conv", [n(v, "cin"), n(v, "size"), n(v, "size")], {
      outChannels: n(v, "cout"),
      kernelSize: n(v, "kernel"),
      stride: n(v, "stride"),
      padding: n(v, "padding"),
      dilation: n(v, "dilation"),
    });
    const numbers = graphNumbers(graph);
    const [ho, wo] = samplingOut(v);
    const svg = drawConvGrid({
      inputSize: n(v, "size"),
      kernelSize: n(v, "kernel"),
      stride: n(v, "stride"),
      padding: n(v, "padding"),
      dilation: n(v, "dilation"),
      inChannels: n(v, "cin"),
      outChannels: n(v, "cout"),
      bias: true,
      output: cellAt(ho, wo, frame),
      title: title(v),
    });
    return { svg, numbers };
  };
}

export const MODES: readonly Mode[] = [
  {
    id: "standard",
    title: "Standard convolution",
    section: "§1–2",
    intro:
      "A k×k kernel slides over the zero-padded input with a stride; each output cell is the weighted sum of the cells under the kernel, over all input channels.",
    controls: samplingControls,
    defaults: { size: 7, kernel: 3, stride: 1, padding: 1, dilation: 1, cin: 16, cout: 32 },
    view: samplingView((v) => `conv2d ${v.kernel}×${v.kernel}, stride ${v.stride}, padding ${v.padding}`),
    frames: (v) => samplingOut(v)[0] * samplingOut(v)[1],
  },
  {
    id: "small-kernels",
    title: "Small kernels against a large one",
    section: "§2, §10 kernel",
    intro:
      "Why VGG stacks 3×3 convolutions: (k−1)/2 of them see the same k×k field as one k×k kernel, with fewer parameters and a nonlinearity after each.",
    controls: [
      { name: "kernel", label: "Large kernel size", min: 3, max: 11, step: 2, hint: "odd" },
      { name: "channels", label: "Channels (in = out)", min: 1, max: 1024 },
      { name: "size", label: "Feature map size", min: 4, max: 224 },
    ],
    defaults: { kernel: 7, channels: 64, size: 56 },
    view(v) {
      const k = n(v, "kernel");
      const c = n(v, "channels");
      const s = n(v, "size");
      if (k % 2 === 0)
        throw new Error(`the large kernel must have an odd size to be replaced by 3×3 convs, got ${k}`);
      const depth = Math.max(1, (k - 1) / 2);
      const stack = build("stack", [c, s, s], (b, x) => {
        let y = x;
        for (let i = 0; i < depth; i++) {
          y = b.conv2d(y, { name: `conv${i + 1}`, outChannels: c, kernelSize: 3, padding: 1, bias: false });
          if (i < depth - 1) y = b.relu(y, { name: `relu${i + 1}` });
        }
        return y;
      });
      const large = oneConv("large", [c, s, s], {
        outChannels: c,
        kernelSize: k,
        padding: (k - 1) / 2,
        bias: false,
      });
      const a = graphNumbers(stack, "stack", `${depth} × 3×3`);
      const b = graphNumbers(large, "large", `one ${k}×${k}`);
      const svg = drawKernelStack({ stacks: [new Array<number>(depth).fill(3), [k]], channels: c, size: s });
      return {
        svg,
        numbers: [
          ...a,
          ...b,
          ratio("ratio-params", "stack / large parameters", Number(a[1].value), Number(b[1].value)),
        ],
      };
    },
  },
  {
    id: "dilated",
    title: "Cavity (dilated) convolution",
    section: "§3",
    intro:
      "The same nine weights sample a wider window with holes between the taps: a larger field without more parameters and without the resolution lost to pooling.",
    controls: samplingControls,
    defaults: { size: 9, kernel: 3, stride: 1, padding: 2, dilation: 2, cin: 16, cout: 16 },
    view: samplingView(
      (v) => `dilated conv ${v.kernel}×${v.kernel}, dilation ${v.dilation}, padding ${v.padding}`,
    ),
    frames: (v) => samplingOut(v)[0] * samplingOut(v)[1],
  },
  {
    id: "asymmetric",
    title: "Asymmetric convolution",
    section: "§4",
    intro:
      "A k×k kernel split into 1×k then k×1: the same k×k field, 2k instead of k² weights per channel pair.",
    controls: [
      { name: "kernel", label: "Kernel size k", min: 2, max: 11 },
      { name: "channels", label: "Channels (in = out)", min: 1, max: 1024 },
      { name: "size", label: "Feature map size", min: 1, max: 224 },
    ],
    defaults: { kernel: 3, channels: 64, size: 56 },
    view(v) {
      const k = n(v, "kernel");
      const c = n(v, "channels");
      const s = n(v, "size");
      const pad = Math.floor((k - 1) / 2);
      const square = oneConv("square", [c, s, s], {
        outChannels: c,
        kernelSize: k,
        padding: [pad, pad],
        bias: false,
      });
      const pair = build("pair", [c, s, s], (b, x) =>
        asymmetricPair(b, x, { name: "pair", outChannels: c, kernelSize: k, bn: false, activation: "none" }),
      );
      const a = graphNumbers(pair, "pair", `1×${k} + ${k}×1`);
      const b = graphNumbers(square, "square", `${k}×${k}`);
      return {
        svg: drawAsymmetricConv({ kernelSize: k, channels: c, size: s }),
        numbers: [
          ...a,
          ...b,
          ratio("ratio-macs", "pair / square MACs", Number(a[2].value), Number(b[2].value)),
        ],
      };
    },
  },
  {
    id: "group",
    title: "Packet (group) convolution",
    section: "§5",
    intro:
      "The channels are split into G groups and each kernel sees only its group: (C/G)·k·k weights per kernel, the parameters drop to 1/G. The article's example: 12 → 6 channels in 3 groups.",
    controls: [
      { name: "cin", label: "Input channels", min: 1, max: 1024 },
      { name: "cout", label: "Output channels", min: 1, max: 1024 },
      { name: "groups", label: "Groups", min: 1, max: 1024 },
      { name: "kernel", label: "Kernel size", min: 1, max: 7 },
      { name: "size", label: "Feature map size", min: 1, max: 224 },
    ],
    defaults: { cin: 12, cout: 6, groups: 3, kernel: 5, size: 5 },
    view(v) {
      const k = n(v, "kernel");
      const input: [number, number, number] = [n(v, "cin"), n(v, "size"), n(v, "size")];
      const pad = Math.floor((k - 1) / 2);
      const conv = {
        outChannels: n(v, "cout"),
        kernelSize: k,
        padding: [pad, pad] as [number, number],
        bias: false,
      };
      const grouped = oneConv("grouped", input, { ...conv, groups: n(v, "groups") });
      const dense = oneConv("dense", input, conv);
      const a = graphNumbers(grouped);
      const b = graphNumbers(dense, "dense", "ungrouped");
      return {
        svg: drawGroupConv({
          inChannels: n(v, "cin"),
          outChannels: n(v, "cout"),
          groups: n(v, "groups"),
          kernelSize: k,
          size: n(v, "size"),
        }),
        numbers: [
          ...a,
          b[1],
          b[2],
          ratio("ratio-params", "grouped / ungrouped parameters", Number(a[1].value), Number(b[1].value)),
        ],
      };
    },
  },
  {
    id: "depthwise-separable",
    title: "Depthwise separable convolution",
    section: "§5",
    intro:
      "A k×k depthwise conv (one kernel per channel, groups = channels) followed by a 1×1 conv that mixes the channels.",
    controls: [
      { name: "cin", label: "Input channels", min: 1, max: 1024 },
      { name: "cout", label: "Output channels", min: 1, max: 1024 },
      { name: "kernel", label: "Kernel size", min: 1, max: 7 },
      { name: "size", label: "Feature map size", min: 1, max: 224 },
    ],
    defaults: { cin: 8, cout: 16, kernel: 3, size: 56 },
    view(v) {
      const k = n(v, "kernel");
      const input: [number, number, number] = [n(v, "cin"), n(v, "size"), n(v, "size")];
      const sep = build("separable", input, (b, x) =>
        depthwiseSeparable(b, x, {
          name: "separable",
          outChannels: n(v, "cout"),
          kernelSize: k,
          bn: false,
          activation: "none",
        }),
      );
      const pad = Math.floor((k - 1) / 2);
      const std = oneConv("standard", input, {
        outChannels: n(v, "cout"),
        kernelSize: k,
        padding: [pad, pad],
        bias: false,
      });
      const a = graphNumbers(sep);
      const b = graphNumbers(std, "standard", "standard conv");
      return {
        svg: drawDepthwiseSeparable({
          inChannels: n(v, "cin"),
          outChannels: n(v, "cout"),
          kernelSize: k,
          size: n(v, "size"),
        }),
        numbers: [
          ...a,
          b[1],
          b[2],
          ratio("ratio-macs", "separable / standard MACs", Number(a[2].value), Number(b[2].value)),
        ],
      };
    },
  },
  {
    id: "pointwise",
    title: "1×1 (pointwise) convolution",
    section: "§7, §10 kernel",
    intro:
      "A 1×1 conv mixes all channels at each pixel; as a bottleneck it maps the feature maps to a smaller hidden space before an expensive conv.",
    controls: [
      { name: "cin", label: "Input channels", min: 1, max: 2048 },
      { name: "cout", label: "Output channels", min: 1, max: 2048 },
      { name: "size", label: "Feature map size", min: 1, max: 224 },
    ],
    defaults: { cin: 12, cout: 6, size: 56 },
    view(v) {
      const graph = oneConv("pointwise", [n(v, "cin"), n(v, "size"), n(v, "size")], {
        outChannels: n(v, "cout"),
        kernelSize: 1,
        bias: false,
      });
      return {
        svg: drawPointwise({ inChannels: n(v, "cin"), outChannels: n(v, "cout"), size: n(v, "size") }),
        numbers: graphNumbers(graph),
      };
    },
  },
  {
    id: "shuffle",
    title: "Channel shuffle",
    section: "§6 (ShuffleNet)",
    intro:
      "After a group convolution the channels are reorganised so that the next group convolution's inputs come from every group: information flows between groups, at no cost in parameters.",
    controls: [
      { name: "channels", label: "Channels", min: 1, max: 64 },
      { name: "groups", label: "Shuffle groups", min: 1, max: 64 },
    ],
    defaults: { channels: 12, groups: 3 },
    view(v) {
      const c = n(v, "channels");
      const g = n(v, "groups");
      const graph = build("shuffle", [c, 8, 8], (b, x) => b.channelShuffle(x, g, { name: "shuffle" }));
      const numbers = graphNumbers(graph);
      const perm = shufflePermutation(c, g);
      numbers.push({
        key: "permutation",
        label: "output channel i reads input channel",
        text: perm.join(", "),
        value: perm.join(","),
      });
      return { svg: drawChannelShuffle({ channels: c, groups: g }), numbers };
    },
  },
  {
    id: "inception",
    title: "Several kernel sizes in one layer (Inception)",
    section: "§7, §10 kernel",
    intro:
      "Branches with different kernel sizes on the same feature map, concatenated; 1×1 convs first reduce the channels (GoogLeNet's inception3a by default).",
    controls: [
      { name: "cin", label: "Input channels", min: 1, max: 1024 },
      { name: "size", label: "Feature map size", min: 1, max: 112 },
      { name: "ch1x1", label: "1×1 branch", min: 1, max: 512 },
      { name: "ch3x3red", label: "3×3 reduce", min: 1, max: 512 },
      { name: "ch3x3", label: "3×3 branch", min: 1, max: 512 },
      { name: "ch5x5red", label: "5×5 reduce", min: 1, max: 512 },
      { name: "ch5x5", label: "5×5 branch", min: 1, max: 512 },
      { name: "poolProj", label: "Pool projection", min: 1, max: 512 },
      {
        name: "five",
        label: "Large branch",
        options: [
          ["5x5", "5×5 (paper)"],
          ["3x3", "3×3 (torchvision)"],
          ["factorised", "two 3×3 (Inception v2)"],
        ],
      },
    ],
    defaults: {
      cin: 192,
      size: 28,
      ch1x1: 64,
      ch3x3red: 96,
      ch3x3: 128,
      ch5x5red: 16,
      ch5x5: 32,
      poolProj: 32,
      five: "5x5",
    },
    view(v) {
      const graph = build("inception", [n(v, "cin"), n(v, "size"), n(v, "size")], (b, x) =>
        inceptionModule(b, x, {
          name: "inception",
          ch1x1: n(v, "ch1x1"),
          ch3x3red: n(v, "ch3x3red"),
          ch3x3: n(v, "ch3x3"),
          ch5x5red: n(v, "ch5x5red"),
          ch5x5: n(v, "ch5x5"),
          poolProj: n(v, "poolProj"),
          fiveByFive: v.five as "5x5" | "3x3" | "factorised",
        }),
      );
      return { svg: drawInception(graph, { scope: "inception" }), numbers: graphNumbers(graph) };
    },
  },
  {
    id: "se",
    title: "Feature map weighting (squeeze-and-excitation)",
    section: "§8",
    intro:
      "Each channel gets a learned weight: global average pooling, a bottleneck of C/r channels, a sigmoid, and the feature maps multiplied by their weights.",
    controls: [
      { name: "channels", label: "Channels", min: 1, max: 2048 },
      { name: "reduction", label: "SE reduction r", min: 1, max: 64 },
      { name: "size", label: "Feature map size", min: 1, max: 112 },
    ],
    defaults: { channels: 64, reduction: 16, size: 14 },
    view(v) {
      const graph = build("se", [n(v, "channels"), n(v, "size"), n(v, "size")], (b, x) =>
        squeezeExcite(b, x, { name: "se", reduction: n(v, "reduction") }),
      );
      return { svg: drawSqueezeExcite(graph, { scope: "se" }), numbers: graphNumbers(graph) };
    },
  },
  {
    id: "deformable",
    title: "Deformable convolution",
    section: "§9",
    intro:
      "Each tap of the kernel moves by a learned offset: the regular grid (a) becomes any shape, with scale (c) and rotation (d) as special cases. Here on a Fashion-MNIST test image.",
    controls: [
      { name: "kernel", label: "Kernel size", min: 1, max: 7 },
      { name: "dilation", label: "Dilation", min: 1, max: 4 },
      {
        name: "offsets",
        label: "Deformable offsets",
        options: [
          ["scale", "scale (c)"],
          ["rotation", "rotation (d)"],
          ["random", "random (b)"],
          ["none", "none: the regular grid"],
        ],
      },
      {
        name: "amount",
        label: "Amount",
        min: -360,
        max: 360,
        step: 0.1,
        hint: "× scale, ° rotation, or σ (px) of random offsets",
      },
      { name: "image", label: "Test image", min: 0, max: 999 },
      { name: "cout", label: "Output channels", min: 1, max: 1024 },
    ],
    defaults: { kernel: 3, dilation: 3, offsets: "scale", amount: 1.8, image: 0, cout: 16 },
    usesImage: true,
    view(v, frame, image) {
      const k = n(v, "kernel");
      const d = n(v, "dilation");
      const pad = Math.floor((d * (k - 1)) / 2);
      const spec = { kernelSize: k, dilation: d, padding: pad };
      const kind = String(v.offsets);
      const amount = n(v, "amount");
      const offsets =
        kind === "scale"
          ? scaleOffsets(spec, amount)
          : kind === "rotation"
            ? rotationOffsets(spec, amount)
            : kind === "random"
              ? randomOffsets(spec, Math.abs(amount))
              : new Float32Array(2 * k * k);
      const size = image?.height ?? 28;
      const graph = build("deformable", [1, size, size], (b, x) =>
        deformableConv(b, x, {
          name: "deform",
          outChannels: n(v, "cout"),
          kernelSize: k,
          dilation: d,
          padding: pad,
        }),
      );
      const numbers = graphNumbers(graph);
      if (image === null) return { svg: "", numbers, note: "Loading the test images…" };
      const out = convOutSize(size, k, 1, d, pad, pad);
      // The kernel slides along a coarse grid of the output, 4 cells a frame.
      const steps = Math.ceil(out / 4);
      // Frame 0 is the middle of the image, where the object is.
      const [r, c] = cellAt(steps, steps, frame + Math.floor((steps * steps) / 2));
      const at: [number, number] = [Math.min(out - 1, r * 4 + 2), Math.min(out - 1, c * 4 + 2)];
      const label =
        kind === "scale"
          ? `scale ×${amount}`
          : kind === "rotation"
            ? `rotation ${amount}°`
            : kind === "random"
              ? `random, σ ${Math.abs(amount)}`
              : "no offsets";
      const svg = drawDeformableSampling({
        ...spec,
        image,
        at,
        panels: [
          { label: "(a) regular grid", offsets: new Float32Array(2 * k * k) },
          { label: `deformed: ${label}`, offsets },
        ],
      });
      return {
        svg,
        numbers,
        note: "The offsets conv that predicts the offsets is counted in the parameters and MACs; the bilinear sampling is not (torchvision's convention).",
      };
    },
    frames: (v) => {
      const pad = Math.floor((n(v, "dilation") * (n(v, "kernel") - 1)) / 2);
      const out = convOutSize(28, n(v, "kernel"), 1, n(v, "dilation"), pad, pad);
      return Math.ceil(out / 4) ** 2;
    },
  },
  {
    id: "residual",
    title: "Skip connection (residual block)",
    section: "§10 connection",
    intro:
      "The block's input is added to its output (a 1×1 projection when the shape changes): ResNet's basic block.",
    controls: [
      { name: "cin", label: "Input channels", min: 1, max: 1024 },
      { name: "planes", label: "Output channels", min: 1, max: 1024 },
      { name: "stride", label: "Stride", min: 1, max: 2 },
      { name: "size", label: "Feature map size", min: 1, max: 224 },
    ],
    defaults: { cin: 64, planes: 128, stride: 2, size: 56 },
    view(v) {
      const graph = build("residual", [n(v, "cin"), n(v, "size"), n(v, "size")], (b, x) =>
        basicBlock(b, x, { name: "block", planes: n(v, "planes"), stride: n(v, "stride") }),
      );
      return { svg: drawResidualBlock(graph, { scope: "block" }), numbers: graphNumbers(graph) };
    },
  },
  {
    id: "dense",
    title: "Dense connections (DenseNet)",
    section: "§10 connection",
    intro:
      "Every layer reads the concatenation of the block input and all earlier layers' outputs, and adds growth-rate new channels.",
    controls: [
      { name: "cin", label: "Input channels", min: 1, max: 1024 },
      { name: "layers", label: "Layers", min: 1, max: 12 },
      { name: "growth", label: "Growth rate", min: 1, max: 128 },
      { name: "size", label: "Feature map size", min: 1, max: 112 },
    ],
    defaults: { cin: 64, layers: 4, growth: 32, size: 56 },
    view(v) {
      const graph = build("dense", [n(v, "cin"), n(v, "size"), n(v, "size")], (b, x) =>
        denseBlock(b, x, { name: "dense", numLayers: n(v, "layers"), growthRate: n(v, "growth") }),
      );
      return { svg: drawDenseBlock(graph, { scope: "dense" }), numbers: graphNumbers(graph) };
    },
  },
];
