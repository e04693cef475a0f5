import {
  asymmetricPair,
  basicBlock,
  bottleneck,
  convBnAct,
  deformableConv,
  denseBlock,
  depthwiseSeparable,
  dilatedConv,
  groupedConv,
  inceptionModule,
  invertedResidual,
  pointwiseConv,
  shuffleV1Unit,
  shuffleV2Unit,
  smallKernelStack,
  squeezeExcite,
  transition,
} from "../../src/blocks/index.js";
import { GraphBuilder, type ValueRef } from "../../src/graph/builder.js";
import type { Graph, OpAttrs, Weights } from "../../src/graph/types.js";

/** Graphs for the export tests: one with every block (convolution mode), one with every primitive op. */

/**
 * A model containing every convolution mode of the article, built from the blocks (what the rewriter produces):
 * conv-BN-act, small-kernel stack, asymmetric pair, dilated, grouped, depthwise separable, ShuffleNet v1 and v2
 * units, Inception, squeeze-and-excitation, deformable v1 and v2 (the latter also inside a bottleneck with SE),
 * basic block, dense block + transition, inverted residual, pointwise conv. Input 3 x 64 x 64 (2 x 2 maps at
 * the end, so training-mode batch statistics stay well conditioned), 10 classes.
 */
export function everyModeModel(seed = 0): { graph: Graph; weights: Weights } {
  const b = new GraphBuilder("every_mode", { seed });
  let x: ValueRef = b.input("input", [3, 64, 64]);
  x = convBnAct(b, x, { outChannels: 24, kernelSize: 3, padding: 1 });
  x = smallKernelStack(b, x, { outChannels: 24, n: 2 });
  x = asymmetricPair(b, x, { outChannels: 24, kernelSize: 3 });
  x = dilatedConv(b, x, { outChannels: 24, dilation: 2 });
  x = groupedConv(b, x, { outChannels: 24, groups: 4 });
  x = depthwiseSeparable(b, x, { outChannels: 48, stride: 2 });
  x = shuffleV1Unit(b, x, { outChannels: 48, groups: 3 });
  x = shuffleV1Unit(b, x, { outChannels: 96, groups: 3, stride: 2 });
  x = shuffleV2Unit(b, x, { outChannels: 96 });
  x = shuffleV2Unit(b, x, { outChannels: 96, stride: 2 });
  x = inceptionModule(b, x, {
    ch1x1: 16,
    ch3x3red: 16,
    ch3x3: 24,
    ch5x5red: 8,
    ch5x5: 8,
    poolProj: 16,
    fiveByFive: "factorised",
  });
  x = squeezeExcite(b, x, { reduction: 4 });
  x = deformableConv(b, x, { outChannels: 64 });
  x = deformableConv(b, x, { outChannels: 64, modulated: true, offsetGroups: 2 });
  x = basicBlock(b, x, { planes: 64 });
  x = bottleneck(b, x, { planes: 16, stride: 2, se: true, deformable: { modulated: true } });
  x = denseBlock(b, x, { numLayers: 2, growthRate: 8 });
  x = transition(b, x, { outChannels: 40 });
  x = invertedResidual(b, x, { outChannels: 40, expandRatio: 2 });
  x = shuffleV2Unit(b, pointwiseConv(b, x, { outChannels: 32 }), { outChannels: 32 });
  x = b.flatten(b.adaptiveAvgPool2d(x, 1, { name: "avgpool" }), 1, -1, { name: "flatten" });
  b.output(b.linear(x, { name: "fc", outFeatures: 10 }));
  return b.build();
}

/**
 * Every primitive op of the graph (src/graph/types.ts OP_NAMES), with the attributes PyTorch spells differently:
 * asymmetric conv/deformable/pool padding, ceil mode, count_include_pad false, divisor_override, dilated pooling,
 * batch norm with momentum null / no affine / no running statistics, linear on the last axis of a 4-d tensor,
 * reshape with 0, a 1-piece split. And the naming cases: numeric and keyword module names ("lambda.0"), parameters
 * that are not `<layer>.weight` (raw), a layer tied in two places, a weight shared by convs with different
 * strides, a scope that uses a parameter from outside, a scope split in two runs, two inputs and two outputs.
 * `dropout` sets the dropout probability (0 for training-mode comparisons, where torch draws its own masks).
 */
export function everyOpGraph(dropout = 0.3): { graph: Graph; weights: Weights } {
  const b = new GraphBuilder("every_op", { seed: 3 });
  const image = b.input("image", [4, 10, 11]);
  const extra = b.input("extra", [6]);

  // Stem: asymmetric padding at stride 2 (what 'same' gives), BN with a cumulative average, leaky ReLU.
  let y = b.scope(
    "stem",
    () => {
      const c = b.conv2d(image, {
        name: "conv",
        outChannels: 6,
        kernelSize: 3,
        stride: 2,
        padding: [0, 1, 1, 0],
        bias: false,
      });
      return b.leakyRelu(b.batchNorm2d(c, { name: "bn", momentum: null, eps: 1e-3 }), 0.2);
    },
    { kind: "stem" },
  ); // [6, 5, 5]

  // A keyword scope with numeric layers: self["lambda"][0].
  y = b.scope("lambda", () => {
    const c = b.conv2d(y, { name: "0", outChannels: 6, kernelSize: 3, padding: 1, groups: 2 });
    return b.hardSwish(b.batchNorm2d(c, { name: "1", affine: false, momentum: 0.3 }), { name: "2" });
  });

  // Deformable conv as a leaf torchvision DeformConv2d: offsets with 2 offset groups, a mask, asymmetric padding.
  const pad = [1, 0, 1, 2] as [number, number, number, number];
  const offset = b.conv2d(y, { name: "offset", outChannels: 36, kernelSize: 3, padding: pad });
  const mask = b.sigmoid(b.conv2d(y, { name: "mask_logits", outChannels: 18, kernelSize: 3, padding: pad }));
  let z = b.deformConv2d(y, offset, { name: "dcn", outChannels: 8, kernelSize: 3, padding: pad, mask }); // [8, 5, 6]
  z = b.batchNorm2d(z, { name: "bn_free", trackRunningStats: false });

  // A tied layer called twice (same attributes): one nn.Conv2d module.
  const tiedAttrs: OpAttrs["conv2d"] = {
    inChannels: 8,
    outChannels: 8,
    kernelSize: [1, 1],
    stride: [1, 1],
    padding: [0, 0, 0, 0],
    dilation: [1, 1],
    groups: 1,
    bias: true,
  };
  const t1 = b.conv2d(z, { name: "tied", outChannels: 8, kernelSize: 1 });
  const t2 = b.node("conv2d", [b.relu6(t1)], tiedAttrs, {
    name: "tied_again",
    params: { weight: { name: "tied.weight" }, bias: { name: "tied.bias" } },
  })[0];
  // A weight shared by convs with different strides: raw parameters, F.conv2d.
  const s1 = b.conv2d(t2, { name: "shared", outChannels: 8, kernelSize: 3, padding: 1, dilation: 1 });
  const sharedStride2: OpAttrs["conv2d"] = {
    ...tiedAttrs,
    kernelSize: [3, 3],
    stride: [2, 2],
    padding: [1, 1, 1, 1],
  };
  const s2 = b.node("conv2d", [s1], sharedStride2, {
    name: "shared_s2",
    params: { weight: { name: "shared.weight" }, bias: { name: "shared.bias" } },
  })[0]; // [8, 3, 3]

  // A scope that uses the tied layer (outside it): its nodes run in the root's forward.
  const u = b.scope("borrows", () => {
    const t3 = b.node("conv2d", [s1], tiedAttrs, {
      name: "tied_third",
      params: { weight: { name: "tied.weight" }, bias: { name: "tied.bias" } },
    })[0];
    return b.silu(t3);
  }); // [8, 5, 6]

  // Pools with PyTorch's less common options.
  const p1 = b.maxPool2d(u, {
    name: "max_asym",
    kernelSize: 3,
    stride: 2,
    padding: [1, 0, 0, 1],
    ceilMode: true,
  });
  const p2 = b.maxPool2d(u, {
    name: "max_dil",
    kernelSize: 2,
    stride: 1,
    dilation: 2,
    padding: 1,
    ceilMode: true,
  });
  const p3 = b.avgPool2d(u, {
    name: "avg_asym",
    kernelSize: 3,
    stride: 2,
    padding: [0, 1, 1, 1],
    ceilMode: true,
    countIncludePad: false,
  });
  const p4 = b.avgPool2d(u, { name: "avg_div", kernelSize: 2, stride: 2, padding: 1, divisorOverride: 3 });
  const p5 = b.avgPool2d(u, {
    name: "avg_asym_inc",
    kernelSize: 2,
    stride: 2,
    padding: [1, 0, 0, 1],
    ceilMode: true,
  });
  const pooled = b.concat(
    [
      b.adaptiveAvgPool2d(p1, [3, 2]),
      b.adaptiveMaxPool2d(p2, [3, 2]),
      b.adaptiveAvgPool2d(p3, [3, 2]),
      b.adaptiveMaxPool2d(p4, [3, 2]),
      b.adaptiveAvgPool2d(p5, [3, 2]),
      b.adaptiveAvgPool2d(s2, [3, 2]),
    ],
    1,
    { name: "pooled" },
  ); // [48, 3, 2]

  // Shape ops, element-wise ops and reductions.
  const shuffled = b.channelShuffle(pooled, 3);
  const [a, bb, c] = b.split(shuffled, [12, 12, 24], 1, { name: "three" });
  const [whole] = b.split(c, [24], 1, { name: "one_piece" });
  let e = b.add(b.sub(a, bb), b.mul(a, b.tanh(bb)));
  e = b.div(e, b.add(b.sigmoid(a), b.hardSigmoid(bb)));
  const [w1, w2] = b.split(b.relu(whole), 12, 1, { name: "halves" });
  const catW = b.concat([e, b.identity(w1), w2], 3, { name: "cat_w" }); // [12, 3, 6]
  const r = b.reshape(catW, [0, 4, -1], { name: "reshape" }); // [N, 4, 54]
  const t = b.transpose(b.permute(r, [0, 2, 1]), 1, 2); // [N, 4, 54]
  const lin = b.linear(t, { name: "per_row", outFeatures: 5 }); // [N, 4, 5]
  const flat = b.flatten(b.reshape(lin, [0, 2, 2, 5]), 1, 2); // [N, 4, 5]

  // Parameters with names that are not "<layer>.weight": raw, F.linear on them.
  const ctx = b.node(
    "linear",
    [extra],
    { inFeatures: 6, outFeatures: 5, bias: true },
    {
      name: "proj",
      params: { weight: { name: "proj_weight" }, bias: { name: "proj.b" } },
    },
  )[0]; // [N, 5]
  const biased = b.add(flat, b.reshape(ctx, [0, 1, 5]));
  const scale = b.constant(Float32Array.of(0.5), [], { name: "scale" });
  const offsets = b.constant(
    Float32Array.from({ length: 5 }, (_, i) => i / 10),
    [1, 1, 5],
    { name: "offsets" },
  );
  const scaled = b.scope("post", () => b.mul(biased, scale, { name: "scaled" }));
  const g = b.dropout(b.add(scaled, offsets), dropout, { name: "drop" });
  const total = b.sum(g, [], true, { name: "total" }); // [1, 1, 1]
  const centred = b.sub(g, b.div(total, b.mean(g, [1, 2], true, { name: "avg" })));
  const logits = b.logSoftmax(b.mean(centred, [1], false, { name: "rows" }), 1, { name: "logits" });
  const probs = b.softmax(b.flatten(g), 1, { name: "probs" });
  b.output(logits, probs);
  const built = b.build();
  // A scope in two runs (not contiguous): move the dropout node into "post".
  const node = built.graph.nodes.find((n) => n.name === "drop")!;
  node.scope = "post";
  return built;
}
