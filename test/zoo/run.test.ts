import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/index.js";
import { randn } from "../../src/autograd/factories.js";
import { GraphModel } from "../../src/graph/executor.js";
import { Rng } from "../../src/tensor/rng.js";
import { ZOO } from "../../src/zoo/index.js";
import { forwardBackward } from "../blocks/helpers.js";
import { expectClose } from "../helpers/close.js";

describe("Fashion-MNIST baselines (1 x 28 x 28, 10 classes)", () => {
  it("fmnist-vgg-large: 7x7 and 5x5 conv-BN-ReLU, max pools, global pool + fc; params and MACs by hand; trains", () => {
    const { graph, weights } = ZOO["fmnist-vgg-large"].build();
    // conv k*k*Cin*Cout (no bias) + BN 2*Cout per layer; fc 128*10 + 10
    const layers: [k: number, cIn: number, cOut: number, size: number][] = [
      [7, 1, 32, 28],
      [5, 32, 64, 14],
      [5, 64, 128, 7],
    ];
    const params = layers.reduce((s, [k, i, o]) => s + k * k * i * o + 2 * o, 0) + 128 * 10 + 10;
    const macs = layers.reduce((s, [k, i, o, h]) => s + k * k * i * o * h * h, 0) + 128 * 10;
    const a = analyze(graph).totals;
    expect([a.params, a.macs]).toEqual([params, macs]);
    expect(params).toBe(259_306);
    expect(macs).toBeGreaterThan(20e6);
    expect(macs).toBeLessThan(60e6);
    const kinds = Object.entries(graph.scopes ?? {}).map(([k, v]) => `${k}:${v.kind}`);
    expect(kinds).toEqual([
      "features.conv1:convBnAct",
      "features.conv2:convBnAct",
      "features.conv3:convBnAct",
    ]);
    const { y } = forwardBackward(graph, weights, 2);
    expect(y.shape).toEqual([2, 10]);
  });

  it("fmnist-small: a tiny net for tests; params and MACs by hand; trains", () => {
    const { graph, weights } = ZOO["fmnist-small"].build();
    const a = analyze(graph).totals;
    expect([a.params, a.macs]).toEqual([
      9 * 8 + 2 * 8 + 9 * 8 * 16 + 2 * 16 + 16 * 10 + 10,
      9 * 8 * 28 * 28 + 9 * 8 * 16 * 14 * 14 + 16 * 10,
    ]);
    const { y } = forwardBackward(graph, weights, 3);
    expect(y.shape).toEqual([3, 10]);
  });
});

describe("ImageNet models run on a small input (forward only)", () => {
  for (const [name, size] of [
    ["resnet18", 32],
    ["mobilenet_v2", 32],
    ["shufflenet_v2_x1_0", 32],
    ["googlenet", 32],
  ] as const) {
    it(`${name} at 1 x 3 x ${size} x ${size}`, () => {
      const { graph, weights } = ZOO[name].build({ inputSize: size });
      const y = new GraphModel(graph, weights).forward(randn([1, 3, size, size], { rng: new Rng(1) }));
      expect(y.shape).toEqual([1, 1000]);
      expect(y.data.every(Number.isFinite)).toBe(true);
      expect(y.data.some((v) => v !== 0)).toBe(true);
    });
  }

  it("a fresh deformable ResNet-50 with ResNet-50's weights computes ResNet-50 (zero offsets, mask 1)", () => {
    const plain = ZOO.resnet50.build({ inputSize: 32, seed: 2 });
    const deform = ZOO.deformable_resnet50.build({ inputSize: 32, seed: 5 });
    const model = new GraphModel(deform.graph, deform.weights);
    model.loadWeights(plain.weights, { strict: false });
    const x = randn([1, 3, 32, 32], { rng: new Rng(1) });
    const want = new GraphModel(plain.graph, plain.weights).forward(x);
    expectClose(model.forward(x).data, want.data, { rtol: 1e-5, label: "deformable_resnet50 vs resnet50" });
  });
});
