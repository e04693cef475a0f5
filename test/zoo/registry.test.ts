import { describe, expect, it } from "vitest";
import { ArgumentError } from "../../src/tensor/errors.js";
import { buildZooModel, lenet5, ZOO, zoo, zooNames } from "../../src/zoo/index.js";

const SMALL = [
  "lenet5",
  "mobilenet_v1",
  "shufflenet_v1_g3",
  "shufflenet_v2_x1_0",
  "fmnist-vgg-large",
  "fmnist-small",
];

describe("zoo registry", () => {
  it("lists every model of the issue", () => {
    expect([...zooNames].sort()).toEqual(
      [
        "lenet5",
        "alexnet",
        "vgg11",
        "vgg16",
        "resnet18",
        "resnet50",
        "resnext50_32x4d",
        "mobilenet_v1",
        "mobilenet_v2",
        "shufflenet_v1_g3",
        "shufflenet_v2_x1_0",
        "googlenet",
        "se_resnet50",
        "densenet121",
        "deformable_resnet50",
        "fmnist-vgg-large",
        "fmnist-small",
      ].sort(),
    );
    for (const name of zooNames) expect(zoo[name]).toBe(ZOO[name].build);
    expect(buildZooModel("fmnist-small").graph.name).toBe("fmnist-small");
    expect(() => buildZooModel("resnet19")).toThrow(
      /zoo: name: expected one of lenet5, alexnet, .*, got "resnet19"/,
    );
  });

  for (const name of SMALL) {
    it(`${name}: defaults as registered; options change classes, channels, size; seed makes weights repeatable`, () => {
      const entry = ZOO[name];
      const { graph, weights } = entry.build();
      expect(graph.name).toBe(name);
      expect(graph.inputs).toEqual([{ name: "input", shape: ["N", ...entry.inputShape] }]);
      expect(graph.meta).toMatchObject({ model: name, numClasses: entry.numClasses });
      const size = name.startsWith("fmnist") || name === "lenet5" ? 36 : 96;
      const other = entry.build({ numClasses: 7, inChannels: 2, inputSize: size, seed: 3 });
      expect(other.graph.inputs[0].shape).toEqual(["N", 2, size, size]);
      const last = other.graph.nodes.at(-1)!;
      expect(last.op === "linear" && last.attrs.outFeatures).toBe(7);
      const again = entry.build({ numClasses: 7, inChannels: 2, inputSize: size, seed: 3 });
      const first = [...other.weights.keys()][0];
      expect(again.weights.get(first)).toEqual(other.weights.get(first));
      const reseeded = entry.build({ numClasses: 7, inChannels: 2, inputSize: size, seed: 4 });
      expect(reseeded.weights.get(first)).not.toEqual(other.weights.get(first));
      expect(weights.size).toBe(other.weights.size);
    });
  }

  it("rejects bad options with an ArgumentError naming the model and option", () => {
    expect(() => lenet5({ numClasses: 0 })).toThrow(ArgumentError);
    expect(() => lenet5({ numClasses: 0 })).toThrow(/lenet5: numClasses: expected a positive integer, got 0/);
    expect(() => lenet5({ inputSize: [32, 2.5] })).toThrow(/lenet5: inputSize/);
  });

  it("records block kinds in graph.scopes (e.g. ResNet-18: 8 basic blocks in 4 stages)", () => {
    const { graph } = ZOO.resnet18.build({ inputSize: 32 });
    const kinds = Object.values(graph.scopes ?? {}).map((s) => s.kind);
    expect(kinds.filter((k) => k === "basicBlock")).toHaveLength(8);
    expect(kinds.filter((k) => k === "stage")).toHaveLength(4);
    expect(graph.scopes?.["layer2.0.downsample"]?.kind).toBe("convBnAct");
  });
});
