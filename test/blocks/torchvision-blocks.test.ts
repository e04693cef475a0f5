import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { tensor } from "../../src/autograd/tensor.js";
import { Sequential } from "../../src/blocks/common.js";
import { convBnAct } from "../../src/blocks/conv-bn-act.js";
import { deformableConv } from "../../src/blocks/deformable.js";
import { denseBlock, transition } from "../../src/blocks/dense.js";
import { inceptionModule } from "../../src/blocks/inception.js";
import { invertedResidual } from "../../src/blocks/inverted-residual.js";
import { basicBlock, bottleneck } from "../../src/blocks/residual.js";
import { depthwiseSeparable } from "../../src/blocks/separable.js";
import { shuffleV1Unit, shuffleV2Unit } from "../../src/blocks/shufflenet.js";
import { squeezeExcite } from "../../src/blocks/squeeze-excite.js";
import type { GraphBuilder, ValueRef } from "../../src/graph/builder.js";
import { GraphModel } from "../../src/graph/executor.js";
import type { Weights } from "../../src/graph/types.js";
import { expectClose } from "../helpers/close.js";
import { buildBlock } from "./helpers.js";

/**
 * Each block against the torchvision module it reproduces (or, for ShuffleNet v1, MobileNet v1's separable block
 * and the deformable layer, the PyTorch mirror in tools/torchvision_figures.py): the fixture holds the module's
 * state_dict with random weights, an input and the eval-mode output (float64 reference). Our block, built in scope
 * "blk", must have exactly the keys "blk." + torchvision's keys with the same shapes, and the same output.
 */

type Entry = [number[], number[]];
interface Golden {
  module: string;
  state: Record<string, Entry>;
  input: Entry;
  output: Entry;
}

const FIXTURE = new URL("../fixtures/torchvision-figures.json", import.meta.url);
const BLOCKS: Record<string, Golden> = JSON.parse(readFileSync(FIXTURE, "utf8")).blocks;

type Build = (b: GraphBuilder, x: ValueRef) => ValueRef;

const CASES: Record<string, Build> = {
  conv_norm_activation: (b, x) =>
    convBnAct(b, x, { name: "blk", names: new Sequential(), outChannels: 4, kernelSize: 3, stride: 2 }),
  shufflenet_v2_unit_s1: (b, x) => shuffleV2Unit(b, x, { name: "blk", outChannels: 8 }),
  shufflenet_v2_unit_s2: (b, x) => shuffleV2Unit(b, x, { name: "blk", outChannels: 8, stride: 2 }),
  shufflenet_v1_unit_s1: (b, x) => shuffleV1Unit(b, x, { name: "blk", outChannels: 12, groups: 3 }),
  shufflenet_v1_unit_s2: (b, x) =>
    shuffleV1Unit(b, x, { name: "blk", outChannels: 24, groups: 3, stride: 2, firstGroupConv: false }),
  mobilenet_v2_unit_t6: (b, x) => invertedResidual(b, x, { name: "blk", outChannels: 4, expandRatio: 6 }),
  mobilenet_v2_unit_t1: (b, x) =>
    invertedResidual(b, x, { name: "blk", outChannels: 4, stride: 2, expandRatio: 1 }),
  basic_block: (b, x) => basicBlock(b, x, { name: "blk", planes: 6, stride: 2 }),
  bottleneck_resnext: (b, x) =>
    bottleneck(b, x, { name: "blk", planes: 2, stride: 2, groups: 2, widthPerGroup: 64 }),
  inception: (b, x) =>
    inceptionModule(b, x, {
      name: "blk",
      ch1x1: 4,
      ch3x3red: 3,
      ch3x3: 5,
      ch5x5red: 2,
      ch5x5: 3,
      poolProj: 2,
      fiveByFive: "3x3",
      bn: { eps: 0.001 },
    }),
  dense_block: (b, x) => denseBlock(b, x, { name: "blk", numLayers: 2, growthRate: 3, bnSize: 2 }),
  transition: (b, x) => transition(b, x, { name: "blk", outChannels: 6 }),
  squeeze_excitation: (b, x) => squeezeExcite(b, x, { name: "blk", squeezeChannels: 4 }),
  depthwise_separable: (b, x) => depthwiseSeparable(b, x, { name: "blk", outChannels: 6, stride: 2 }),
  deformable_v1: (b, x) => deformableConv(b, x, { name: "blk", outChannels: 4 }),
  deformable_v2: (b, x) => deformableConv(b, x, { name: "blk", outChannels: 4, modulated: true }),
};

describe("blocks against torchvision's modules (state_dict names and eval-mode output)", () => {
  it("covers every golden in the fixture", () => {
    expect(Object.keys(CASES).sort()).toEqual(Object.keys(BLOCKS).sort());
  });

  for (const [name, build] of Object.entries(CASES)) {
    it(`${name} (${BLOCKS[name]?.module})`, () => {
      const golden = BLOCKS[name];
      const [inShape, inData] = golden.input;
      const { graph } = buildBlock(inShape.slice(1), build);
      const ours = Object.fromEntries(Object.entries(graph.params).map(([k, v]) => [k, v.shape]));
      const theirs = Object.fromEntries(
        Object.entries(golden.state).map(([k, [shape]]) => [`blk.${k}`, shape]),
      );
      expect(ours, `${name}: parameter names and shapes`).toEqual(theirs);
      const weights: Weights = new Map();
      for (const [k, [, data]] of Object.entries(golden.state))
        weights.set(`blk.${k}`, Float32Array.from(data));
      const y = new GraphModel(graph, weights).eval().forward(tensor(inData, inShape));
      const [outShape, outData] = golden.output;
      expect(y.shape, `${name}: output shape`).toEqual(outShape);
      expectClose(y.data, outData, { rtol: 1e-5, label: name });
    });
  }
});
