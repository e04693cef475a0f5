import { convBnAct } from "../blocks/conv-bn-act.js";
import type { GraphBuilder, ValueRef } from "../graph/builder.js";
import { FASHION_MNIST, finishModel, startModel, type ZooModel, type ZooOptions } from "./common.js";

/**
 * The study's default baseline on Fashion-MNIST (1 x 28 x 28, 10 classes): the article's starting point, a plain
 * VGG-style net with large kernels that the study then rewrites mode by mode.
 *
 * features: conv1 = 7x7 conv-BN-ReLU (32) at 28x28, pool1 = 2x2 max pool, conv2 = 5x5 conv-BN-ReLU (64) at 14x14,
 * pool2, conv3 = 5x5 conv-BN-ReLU (128) at 7x7; head: global average pool, flatten, fc.
 * 259,306 parameters, 21.3 M MACs at 28 x 28: small enough to train several epochs on a CPU in minutes.
 */
export function fmnistVggLarge(options?: ZooOptions): ZooModel {
  const { b, x, numClasses } = startModel("fmnist-vgg-large", options, FASHION_MNIST, {
    reference: "convkit study baseline (large kernels, plain connections)",
  });
  const y = b.scope("features", () => {
    let z: ValueRef = convBnAct(b, x, { name: "conv1", outChannels: 32, kernelSize: 7 });
    z = b.maxPool2d(z, { name: "pool1", kernelSize: 2 });
    z = convBnAct(b, z, { name: "conv2", outChannels: 64, kernelSize: 5 });
    z = b.maxPool2d(z, { name: "pool2", kernelSize: 2 });
    return convBnAct(b, z, { name: "conv3", outChannels: 128, kernelSize: 5 });
  });
  return finishModel(b, head(b, y, numClasses));
}

/**
 * A tiny Fashion-MNIST net for tests: conv1 = 3x3 conv-BN-ReLU (8), 2x2 max pool, conv2 = 3x3 conv-BN-ReLU (16),
 * global average pool, fc. 1,442 parameters, 282,400 MACs at 28 x 28.
 */
export function fmnistSmall(options?: ZooOptions): ZooModel {
  const { b, x, numClasses } = startModel("fmnist-small", options, FASHION_MNIST, {
    reference: "convkit test net",
  });
  const y = b.scope("features", () => {
    let z: ValueRef = convBnAct(b, x, { name: "conv1", outChannels: 8, kernelSize: 3 });
    z = b.maxPool2d(z, { name: "pool1", kernelSize: 2 });
    return convBnAct(b, z, { name: "conv2", outChannels: 16, kernelSize: 3 });
  });
  return finishModel(b, head(b, y, numClasses));
}

/** Global average pool, flatten, fc (scope "head"). */
function head(b: GraphBuilder, x: ValueRef, numClasses: number): ValueRef {
  return b.scope("head", () => {
    const pooled = b.flatten(b.adaptiveAvgPool2d(x, 1, { name: "avgpool" }), 1, -1, { name: "flatten" });
    return b.linear(pooled, { name: "fc", outFeatures: numClasses });
  });
}
