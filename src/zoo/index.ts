import { ArgumentError, describe } from "../tensor/errors.js";
import { alexnet } from "./alexnet.js";
import type { ZooFactory, ZooModel, ZooOptions } from "./common.js";
import { densenet121 } from "./densenet.js";
import { fmnistSmall, fmnistVggLarge } from "./fmnist.js";
import { googlenet } from "./googlenet.js";
import { lenet5 } from "./lenet.js";
import { mobilenet_v1, mobilenet_v2 } from "./mobilenet.js";
import { deformable_resnet50, resnet18, resnet50, resnext50_32x4d, se_resnet50 } from "./resnet.js";
import { shufflenet_v1_g3, shufflenet_v2_x1_0 } from "./shufflenet.js";
import { vgg11, vgg16 } from "./vgg.js";

export {
  FASHION_MNIST,
  IMAGENET,
  type ZooDefaults,
  type ZooFactory,
  type ZooModel,
  type ZooOptions,
} from "./common.js";

/** What the registry says about each model. */
export interface ZooEntry {
  /** Builds the model: `{graph, weights}`. */
  build: ZooFactory;
  description: string;
  /** The torchvision constructor whose parameter names, counts and MACs the model reproduces, if any. */
  torchvision?: string;
  /** Default input [C, H, W] and classes. */
  inputShape: [number, number, number];
  numClasses: number;
}

const imagenet = { inputShape: [3, 224, 224] as [number, number, number], numClasses: 1000 };
const fmnist = { inputShape: [1, 28, 28] as [number, number, number], numClasses: 10 };

/** Every zoo model with its description, in a stable order. */
export const ZOO: Readonly<Record<string, ZooEntry>> = {
  lenet5: {
    build: lenet5,
    description: "LeNet-5 (LeCun et al. 1998)",
    inputShape: [1, 32, 32],
    numClasses: 10,
  },
  alexnet: { build: alexnet, description: "AlexNet (torchvision)", torchvision: "alexnet", ...imagenet },
  vgg11: { build: vgg11, description: "VGG-11 without BN (torchvision)", torchvision: "vgg11", ...imagenet },
  vgg16: { build: vgg16, description: "VGG-16 without BN (torchvision)", torchvision: "vgg16", ...imagenet },
  resnet18: { build: resnet18, description: "ResNet-18 (torchvision)", torchvision: "resnet18", ...imagenet },
  resnet50: { build: resnet50, description: "ResNet-50 (torchvision)", torchvision: "resnet50", ...imagenet },
  resnext50_32x4d: {
    build: resnext50_32x4d,
    description: "ResNeXt-50 32x4d (torchvision)",
    torchvision: "resnext50_32x4d",
    ...imagenet,
  },
  mobilenet_v1: { build: mobilenet_v1, description: "MobileNet v1 1.0x (Howard et al. 2017)", ...imagenet },
  mobilenet_v2: {
    build: mobilenet_v2,
    description: "MobileNet v2 (torchvision)",
    torchvision: "mobilenet_v2",
    ...imagenet,
  },
  shufflenet_v1_g3: {
    build: shufflenet_v1_g3,
    description: "ShuffleNet v1 g=3 1.0x (Zhang et al. 2017)",
    ...imagenet,
  },
  shufflenet_v2_x1_0: {
    build: shufflenet_v2_x1_0,
    description: "ShuffleNet v2 x1.0 (torchvision)",
    torchvision: "shufflenet_v2_x1_0",
    ...imagenet,
  },
  googlenet: {
    build: googlenet,
    description: "GoogLeNet without aux classifiers (torchvision)",
    torchvision: "googlenet",
    ...imagenet,
  },
  se_resnet50: { build: se_resnet50, description: "SE-ResNet-50 (Hu et al. 2018)", ...imagenet },
  densenet121: {
    build: densenet121,
    description: "DenseNet-121 (torchvision)",
    torchvision: "densenet121",
    ...imagenet,
  },
  deformable_resnet50: {
    build: deformable_resnet50,
    description: "ResNet-50 with DCNv2 3x3 convs in stages 3-5 (Zhu et al. 2019)",
    ...imagenet,
  },
  "fmnist-vgg-large": {
    build: fmnistVggLarge,
    description: "Study baseline: VGG-style, large kernels, BN (Fashion-MNIST)",
    ...fmnist,
  },
  "fmnist-small": { build: fmnistSmall, description: "Tiny test net (Fashion-MNIST)", ...fmnist },
};

/** The zoo registry: model name -> `(options) => {graph, weights}`. */
export const zoo: Readonly<Record<string, ZooFactory>> = Object.fromEntries(
  Object.entries(ZOO).map(([name, entry]) => [name, entry.build]),
);

/** Names of the zoo models, in registry order. */
export const zooNames: readonly string[] = Object.keys(ZOO);

/** Builds a zoo model by name; an unknown name is an ArgumentError listing the known ones. */
export function buildZooModel(name: string, options?: ZooOptions): ZooModel {
  const entry = Object.hasOwn(ZOO, name) ? ZOO[name] : undefined;
  if (entry === undefined)
    throw new ArgumentError(describe("zoo", "name", `one of ${zooNames.join(", ")}`, name));
  return entry.build(options);
}

export {
  alexnet,
  deformable_resnet50,
  densenet121,
  fmnistSmall,
  fmnistVggLarge,
  googlenet,
  lenet5,
  mobilenet_v1,
  mobilenet_v2,
  resnet18,
  resnet50,
  resnext50_32x4d,
  se_resnet50,
  shufflenet_v1_g3,
  shufflenet_v2_x1_0,
  vgg11,
  vgg16,
};

/** The study's default baseline (the article's starting point: large kernels, plain connections). */
export const STUDY_BASELINE = "fmnist-vgg-large";
