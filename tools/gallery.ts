/**
 * Generates docs/gallery.md and docs/gallery/*.svg: every drawing of src/draw, each from a real configuration
 * (a layer's parameters, a zoo model, a block built with src/blocks, a short seeded training run), with a
 * one-line caption in the article's terms.
 *
 *   npx tsx tools/gallery.ts            (about a minute: it trains five tiny Fashion-MNIST variants and one
 *                                        deformable layer with the WebAssembly kernels; deterministic)
 *
 * Same code, same data, same seeds -> the same bytes, so the committed gallery only changes when a drawing
 * does.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { analyze } from "../src/analyze/analyze.js";
import { noGrad } from "../src/autograd/gradmode.js";
import { Tensor } from "../src/autograd/tensor.js";
import { convBnAct, depthwiseSeparable, groupedConv, squeezeExcite } from "../src/blocks/index.js";
import { subsetDataset } from "../src/data/dataset.js";
import { loadFashionMnist } from "../src/data/fashion-mnist.js";
import {
  drawAsymmetricConv,
  drawBarChart,
  drawChannelShuffle,
  drawConvGrid,
  drawDeformableFigures,
  drawDenseBlock,
  drawDepthwiseSeparable,
  drawGraph,
  drawGroupConv,
  drawInception,
  drawKernelStack,
  drawLineChart,
  drawParetoChart,
  drawPointwise,
  drawReceptiveField,
  drawResidualBlock,
  drawSqueezeExcite,
  layerOffsets,
  offsetsAt,
} from "../src/draw/index.js";
import { formatCount } from "../src/draw/svg.js";
import { GraphBuilder, type ValueRef } from "../src/graph/builder.js";
import { GraphModel } from "../src/graph/executor.js";
import type { Graph, Weights } from "../src/graph/types.js";
import { useWasmKernelsSync } from "../src/kernels/wasm/index.js";
import { conv2d, deformableConv2d, initDeformableConv2d, mean, mul, sub } from "../src/ops/index.js";
import { Rng } from "../src/tensor/rng.js";
import { Adam } from "../src/train/adam.js";
import { train } from "../src/train/loop.js";
import { densenet121, googlenet, resnet18 } from "../src/zoo/index.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT_DIR = join(ROOT, "docs", "gallery");
const PAGE = join(ROOT, "docs", "gallery.md");

interface Entry {
  file: string;
  caption: string;
  svg: string;
}
interface Section {
  title: string;
  intro: string;
  entries: Entry[];
}

const sections: Section[] = [];
function section(title: string, intro: string): Section {
  const s = { title, intro, entries: [] };
  sections.push(s);
  return s;
}
function add(s: Section, file: string, caption: string, svg: string): void {
  s.entries.push({ file, caption, svg });
  process.stderr.write(`  ${file} (${svg.length} bytes)\n`);
}

// ------------------------------------------------------------------ data and small trained models

const fm = loadFashionMnist({ embedded: true });
const trainSet = subsetDataset(
  fm.train,
  Array.from({ length: 3000 }, (_, i) => i),
  "fashion-mnist-subset/train[0:3000]",
);
const testSet = subsetDataset(
  fm.test,
  Array.from({ length: 1000 }, (_, i) => i),
  "fashion-mnist-subset/test[0:1000]",
);
const [, , H, W] = fm.test.shape;
function testImage(index: number): Float32Array {
  return Float32Array.from(fm.test.images.subarray(index * H * W, (index + 1) * H * W), (v) => v / 255);
}

/** The study's five tiny variants: the same two-stage net with the article's rewrites of the second conv. */
const VARIANTS: Record<string, string> = {
  "plain 3×3": "conv 3×3 (16) → pool → conv 3×3 (32)",
  "large 5×5": "conv 5×5 (16) → pool → conv 5×5 (32)",
  "+ SE": "plain 3×3 with squeeze-and-excitation (r = 4) after conv 2",
  "depthwise separable": "conv 2 as 3×3 depthwise + 1×1 pointwise",
  "group 4 + shuffle": "conv 2 as a 4-group 3×3 conv, then channel shuffle and a 4-group 1×1 conv",
};

function buildVariant(name: string): { graph: Graph; weights: Weights } {
  const b = new GraphBuilder(name.replace(/[^a-z0-9]+/gi, "_"), { seed: 0 });
  const x = b.input("input", [1, 28, 28]);
  const k = name === "large 5×5" ? 5 : 3;
  const y = b.scope("features", () => {
    let z: ValueRef = convBnAct(b, x, { name: "conv1", outChannels: 16, kernelSize: k });
    z = b.maxPool2d(z, { name: "pool1", kernelSize: 2 });
    if (name === "depthwise separable") {
      z = depthwiseSeparable(b, z, { name: "conv2", outChannels: 32 });
    } else if (name === "group 4 + shuffle") {
      z = groupedConv(b, z, { name: "conv2", outChannels: 32, groups: 4 });
      z = b.channelShuffle(z, 4, { name: "shuffle" });
      z = groupedConv(b, z, { name: "conv3", outChannels: 32, groups: 4, kernelSize: 1 });
    } else {
      z = convBnAct(b, z, { name: "conv2", outChannels: 32, kernelSize: k });
    }
    if (name === "+ SE") z = squeezeExcite(b, z, { name: "se", reduction: 4 });
    return z;
  });
  const out = b.scope("head", () => {
    const pooled = b.flatten(b.adaptiveAvgPool2d(y, 1, { name: "avgpool" }), 1, -1, { name: "flatten" });
    return b.linear(pooled, { name: "fc", outFeatures: 10 });
  });
  b.output(out);
  return b.build();
}

interface Trained {
  name: string;
  graph: Graph;
  model: GraphModel;
  params: number;
  macs: number;
  curve: [number, number][];
  loss: [number, number][];
  accuracy: number;
  /** The input normalisation the training loop used (the training set's statistics). */
  normalize: { mean: readonly number[]; std: readonly number[] } | null;
}

async function trainVariants(): Promise<Trained[]> {
  const out: Trained[] = [];
  for (const name of Object.keys(VARIANTS)) {
    const { graph, weights } = buildVariant(name);
    const model = new GraphModel(graph, weights);
    const result = await train(model, {
      train: trainSet,
      test: testSet,
      epochs: 5,
      batchSize: 32,
      optimizer: "sgd",
      lr: 0.05,
      seed: 0,
    });
    const a = analyze(graph);
    out.push({
      name,
      graph,
      model,
      params: a.totals.params,
      macs: a.totals.macs,
      curve: result.history.map((h) => [h.epoch, 100 * (h.testAccuracy ?? Number.NaN)]),
      loss: result.history.map((h) => [h.epoch, h.trainLoss]),
      accuracy: 100 * (result.final.testAccuracy ?? Number.NaN),
      normalize: result.hyperparameters.normalize,
    });
    process.stderr.write(`  trained ${name}: ${out[out.length - 1].accuracy.toFixed(1)}%\n`);
  }
  return out;
}

/**
 * A 3×3 deformable layer whose offset branch is trained (Adam, 300 steps) to make it compute a 3×3 conv with
 * dilation 1×3 and the same weights: the offsets it learns are read from the trained layer.
 */
function trainDeformable(): { offsets: Float32Array; loss: number } {
  const n = 16;
  const x = new Tensor(
    Float32Array.from(fm.train.images.subarray(0, n * H * W), (v) => v / 255),
    [n, 1, H, W],
  );
  const p = initDeformableConv2d({
    inChannels: 1,
    outChannels: 8,
    kernelSize: 3,
    padding: 1,
    bias: false,
    rng: new Rng(1),
  });
  p.weight.requiresGrad = false;
  const target = noGrad(() => conv2d(x, p.weight, null, { padding: [1, 3], dilation: [1, 3] }));
  const opt = new Adam([p.offsetWeight, p.offsetBias], { lr: 0.03 });
  let last = Number.NaN;
  for (let step = 0; step < 300; step++) {
    opt.zeroGrad();
    const d = sub(deformableConv2d(x, p, { padding: 1 }), target);
    const loss = mean(mul(d, d));
    loss.backward();
    opt.step();
    last = loss.item();
  }
  const offsets = offsetsAt(layerOffsets(x.detach(), p, { padding: 1 }), 9, 14, 12, 0, 3);
  return { offsets, loss: last };
}

// ------------------------------------------------------------------ the drawings

async function main(): Promise<void> {
  useWasmKernelsSync();
  process.stderr.write("gallery: training the variants...\n");
  const variants = await trainVariants();
  const learned = trainDeformable();

  const kernels = section(
    "Kernel size: small against large (article §2, §10 kernel)",
    "Why VGG stacks 3×3 convolutions instead of one large kernel: the same range of perception with fewer parameters, less computation and more nonlinearities.",
  );
  add(
    kernels,
    "stack-3x3x3-vs-7x7.svg",
    "Three stacked 3×3 convs see the same 7×7 range of perception as one 7×7 conv, with 27·C² instead of 49·C² weights and three nonlinearities instead of one; the numbers under the input count the paths to each pixel (the centre matters most).",
    drawKernelStack({ stacks: [[3, 3, 3], [7]] }),
  );
  add(
    kernels,
    "stack-3x3x2-vs-5x5.svg",
    "Two 3×3 convs replace one 5×5: range of perception 5, 18·C² against 25·C² weights.",
    drawKernelStack({ stacks: [[3, 3], [5]] }),
  );

  const dilated = section(
    "Cavity (dilated) convolution (article §3)",
    "A fixed-size kernel that sees a larger area: the taps spread out, the holes between them are skipped, no parameters are added and no resolution is lost to pooling.",
  );
  add(
    dilated,
    "grid-3x3-plain.svg",
    "A standard 3×3 convolution, stride 1, padding 1: nine neighbouring cells per output, the output keeps the input size.",
    drawConvGrid({ inputSize: 7, kernelSize: 3, padding: 1, inChannels: 64, outChannels: 64 }),
  );
  add(
    dilated,
    "grid-3x3-dilation2.svg",
    "Cavity convolution: the same nine weights with dilation 2 sample a 5×5 window with 16 holes; padding 2 keeps the size.",
    drawConvGrid({ inputSize: 9, kernelSize: 3, padding: 2, dilation: 2, inChannels: 64, outChannels: 64 }),
  );
  add(
    dilated,
    "grid-3x3-stride2.svg",
    "Stride 2 (down-sampling by convolution): the window starts every second cell, the 7×7 input gives a 4×4 output.",
    drawConvGrid({
      inputSize: 7,
      kernelSize: 3,
      stride: 2,
      padding: 1,
      output: [1, 2],
      inChannels: 64,
      outChannels: 128,
    }),
  );
  add(
    dilated,
    "stack-dilated.svg",
    "Stacked cavity convolutions: dilations 1, 2, 4 multiply the range of perception to 15 with every pixel covered; three convs of dilation 2 reach 13 but see only every second pixel (the gridding effect).",
    drawKernelStack({
      stacks: [
        [
          { kernelSize: 3, dilation: 1 },
          { kernelSize: 3, dilation: 2 },
          { kernelSize: 3, dilation: 4 },
        ],
        [
          { kernelSize: 3, dilation: 2 },
          { kernelSize: 3, dilation: 2 },
          { kernelSize: 3, dilation: 2 },
        ],
      ],
    }),
  );

  const asym = section(
    "Asymmetric convolution (article §4)",
    "A square kernel split into a 1×k and a k×1 kernel: the same range of perception, less computation.",
  );
  add(
    asym,
    "asymmetric-3x3.svg",
    "A 3×3 conv against 1×3 then 3×1: both see 3×3, the pair needs 6·C² weights instead of 9·C² (two thirds of the MACs).",
    drawAsymmetricConv({ kernelSize: 3 }),
  );
  add(
    asym,
    "asymmetric-7x7.svg",
    "For 7×7 the saving grows: 14·C² instead of 49·C² weights, about 29% of the MACs.",
    drawAsymmetricConv({ kernelSize: 7 }),
  );

  const channels = section(
    "Packet (group) convolution and depth-separable convolution (article §5)",
    "Convolution inside groups of channels: each kernel sees only its group, the parameters drop to 1/G.",
  );
  add(
    channels,
    "group-12-6-g3.svg",
    "The article's example: 12 input and 6 output feature maps in 3 groups, kernels 4×5×5: 600 weights instead of 1,800 (1/G).",
    drawGroupConv({ inChannels: 12, outChannels: 6, groups: 3, kernelSize: 5 }),
  );
  add(
    channels,
    "depthwise-separable-8-16.svg",
    "Depth-separable convolution: one 3×3 kernel per channel (groups = channels), then a 1×1 conv mixes the channels; 200 weights instead of 1,152.",
    drawDepthwiseSeparable({ inChannels: 8, outChannels: 16, kernelSize: 3 }),
  );
  add(
    channels,
    "pointwise-12-6.svg",
    "A 1×1 (pointwise) convolution mixes all channels at each pixel; as a bottleneck it maps the feature maps to a smaller hidden space (article §7, §10 'add 1×1 convolution').",
    drawPointwise({ inChannels: 12, outChannels: 6 }),
  );

  const shuffle = section(
    "Channel shuffle (article §6, ShuffleNet)",
    "After a group convolution the feature maps are reorganised so the next group convolution's inputs come from every group.",
  );
  add(
    shuffle,
    "shuffle-12-g3.svg",
    "Figures a/b/c: stacked group convs keep the groups apart (a); feeding GConv2 from all groups (b) is what a channel shuffle does (c), the permutation drawn where channelShuffle really sends each channel.",
    drawChannelShuffle({ channels: 12, groups: 3 }),
  );
  add(
    shuffle,
    "shuffle-16-g4.svg",
    "The same with 16 channels in 4 groups: 'disturb evenly'.",
    drawChannelShuffle({ channels: 16, groups: 4 }),
  );

  const inception = section(
    "Several kernel sizes in one layer: Inception (article §7, §10 multi-size kernels)",
    "Branches with different kernels on the same feature map, concatenated; 1×1 convolutions first map to a smaller hidden space.",
  );
  const g = googlenet();
  add(
    inception,
    "inception3a.svg",
    "GoogLeNet's inception3a (torchvision): 1×1, 1×1→3×3, 1×1→3×3 (torchvision's '5×5' branch) and pool→1×1 branches give 64 + 128 + 32 + 32 = 256 channels.",
    drawInception(g.graph, { scope: "inception3a" }),
  );

  const se = section(
    "Feature map weighting: squeeze-and-excitation (article §8)",
    "The importance of each channel is learned: global pooling, a bottleneck, a sigmoid, and the channels multiplied by their weights.",
  );
  const seVariant = variants.find((v) => v.name === "+ SE")!;
  const seInput = new Tensor(testImage(0), [1, 1, H, W]);
  add(
    se,
    "se-trained.svg",
    `The SE block of the '+ SE' variant after 5 epochs on Fashion-MNIST, with the channel weights it gives the first test image (a ${fm.test.classes[fm.test.labels[0]]}): some feature maps are kept, others suppressed.`,
    drawSqueezeExcite(seVariant.graph, {
      scope: "features.se",
      weights: seVariant.model.weights(),
      input: normalised(seVariant, seInput),
      title: "Squeeze-and-excitation in a trained net: 32 channels, squeeze to 8",
    }),
  );

  const deform = section(
    "Deformable convolution (article §9, §10 kernel)",
    "The kernel's sampling points move by learned offsets: the regular grid (a), learned offsets (b), and the special cases scale (c) and rotation (d).",
  );
  const image = { data: testImage(3), height: H, width: W };
  add(
    deform,
    "deformable-abcd.svg",
    `Figures a-d on a Fashion-MNIST image: (b) are the offsets a 3×3 deformable layer learned when trained to imitate a 3×3 conv with dilation 1×3 (final loss ${learned.loss.toExponential(1)}): it stretched its grid sideways; (c) scale ×1.8 and (d) rotation by 30° are offsets the same layer could learn.`,
    drawDeformableFigures({ image, kernelSize: 3, padding: 1, at: [14, 12], learned: learned.offsets }),
  );

  const connection = section(
    "Connections: skip and dense (article §10 connection)",
    "Adding the input to a block's output (ResNet) or concatenating every earlier feature map (DenseNet).",
  );
  const r18 = resnet18();
  add(
    connection,
    "residual-layer2.0.svg",
    "A ResNet-18 basic block with a 1×1 projection shortcut (stride 2, 64 → 128 channels) beside the two 3×3 convs, joined by the addition.",
    drawResidualBlock(r18.graph, { scope: "layer2.0" }),
  );
  add(
    connection,
    "residual-layer1.0.svg",
    "An identity shortcut: the block's input is added unchanged.",
    drawResidualBlock(r18.graph, { scope: "layer1.0" }),
  );
  const d121 = densenet121();
  add(
    connection,
    "dense-denseblock1.svg",
    "DenseNet-121's first dense block: each of its 6 layers reads the block input and every earlier layer's output (64 + 32·(l−1) channels) and adds 32 new ones.",
    drawDenseBlock(d121.graph, { scope: "features.denseblock1" }),
  );

  const models = section(
    "Whole models",
    "Any Graph as a layered diagram; scopes collapse to blocks, each box with its output shape, parameters and MACs (torchvision's convention).",
  );
  const r18a = analyze(r18.graph).totals;
  add(
    models,
    "resnet18.svg",
    `ResNet-18 at 3×224×224 with its basic blocks collapsed: ${formatCount(r18a.params)} parameters, ${formatCount(r18a.macs)} MACs (torchvision's convention and figures).`,
    drawGraph(r18.graph, { depth: 2 }),
  );
  add(
    models,
    "variant-group-shuffle.svg",
    "The 'group 4 + shuffle' variant of the study, every node expanded.",
    drawGraph(variants.find((v) => v.name === "group 4 + shuffle")!.graph, {
      title: "group 4 + shuffle variant (Fashion-MNIST)",
    }),
  );

  const rf = section(
    "Range of perception: theoretical and effective receptive field",
    "The theoretical field counts every input pixel a unit could see; the effective field (Luo et al. 2016), the gradient of the unit with respect to the input, shows how much each pixel actually matters.",
  );
  const r64 = resnet18({ inputSize: 64 });
  const fieldOf = (graph: Graph, layer: string) => {
    const a = analyze(graph);
    const f = a.layers.find((l) => l.name === layer)?.receptiveField;
    return f ? `${f.size[0]}×${f.size[1]}` : "?";
  };
  add(
    rf,
    "rf-resnet18-layer1.svg",
    `ResNet-18 (random init) at 64×64, a unit of layer1.1: theoretical field ${fieldOf(r64.graph, "layer1.1.relu")}, but the gradient concentrates near the centre, roughly Gaussian.`,
    drawReceptiveField(r64.graph, r64.weights, { layer: "layer1.1.relu", samples: 4 }),
  );
  add(
    rf,
    "rf-resnet18-layer2.svg",
    `Deeper, layer2.1: the theoretical field (${fieldOf(r64.graph, "layer2.1.relu")}) exceeds the 64×64 input, the effective one still covers a small part of it.`,
    drawReceptiveField(r64.graph, r64.weights, { layer: "layer2.1.relu", samples: 4 }),
  );
  const plain = variants.find((v) => v.name === "plain 3×3")!;
  add(
    rf,
    "rf-trained-plain.svg",
    `The trained 'plain 3×3' variant on four real test images: a unit of the last conv sees a ${fieldOf(plain.graph, "features.conv2.relu")} field of the 28×28 input, and after training not evenly.`,
    drawReceptiveField(plain.graph, plain.model.weights(), {
      layer: "features.conv2.relu",
      inputs: [0, 1, 2, 3].map((i) => normalised(plain, new Tensor(testImage(i), [1, 1, H, W]))),
    }),
  );

  const charts = section(
    "Charts for reports",
    "Five variants of one small net, each trained 5 epochs on 3,000 Fashion-MNIST images (seed 0, SGD, cosine schedule) and tested on 1,000.",
  );
  add(
    charts,
    "chart-training-curves.svg",
    "Test accuracy per epoch of the five variants.",
    drawLineChart({
      title: "Test accuracy during training (Fashion-MNIST subset)",
      xLabel: "epoch",
      yLabel: "test accuracy (%)",
      series: variants.map((v) => ({ name: v.name, points: v.curve })),
    }),
  );
  add(
    charts,
    "chart-training-loss.svg",
    "Training loss per epoch (log scale).",
    drawLineChart({
      title: "Training loss",
      xLabel: "epoch",
      yLabel: "cross-entropy",
      logY: true,
      series: variants.map((v) => ({ name: v.name, points: v.loss })),
    }),
  );
  add(
    charts,
    "chart-pareto.svg",
    "Accuracy against MACs: the Pareto front holds the variants no other beats on both cost and accuracy.",
    drawParetoChart({
      title: "Test accuracy against MACs (5 epochs)",
      points: variants.map((v) => ({ label: v.name, x: v.macs, y: v.accuracy })),
      logX: false,
    }),
  );
  add(
    charts,
    "chart-params-macs.svg",
    "Parameters and MACs per variant on a log scale (analyzer, batch 1, 1×28×28).",
    drawBarChart({
      title: "Parameters and MACs per variant",
      yLabel: "count (log scale)",
      categories: variants.map((v) => v.name),
      series: [
        { name: "params", values: variants.map((v) => v.params) },
        { name: "MACs", values: variants.map((v) => v.macs) },
      ],
      log: true,
    }),
  );

  writeGallery();
}

/** The input as the trained model saw it: the training loop normalised with the training set's statistics. */
function normalised(variant: Trained, x: Tensor): Tensor {
  const norm = variant.normalize;
  if (norm === null) return x;
  return new Tensor(
    Float32Array.from(x.data, (v) => (v - norm.mean[0]) / norm.std[0]),
    x.shape,
  );
}

function writeGallery(): void {
  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR, { recursive: true });
  const lines = [
    "# Gallery",
    "",
    "Every drawing of `src/draw`, generated by `npx tsx tools/gallery.ts` from real configurations: layer parameters, zoo models, blocks from `src/blocks`, and short seeded training runs on the embedded Fashion-MNIST subset. The same command with `convkit draw` draws any other configuration or model.",
    "",
  ];
  for (const s of sections) {
    lines.push(`## ${s.title}`, "", s.intro, "");
    for (const e of s.entries) {
      writeFileSync(join(OUT_DIR, e.file), e.svg);
      lines.push(`![${e.caption.replace(/[[\]]/g, "")}](gallery/${e.file})`, "", `*${e.caption}*`, "");
    }
  }
  writeFileSync(PAGE, `${lines.join("\n").trimEnd()}\n`);
  const count = readdirSync(OUT_DIR).length;
  process.stderr.write(`gallery: wrote ${count} drawings to docs/gallery/ and docs/gallery.md\n`);
}

await main();
