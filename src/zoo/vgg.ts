import { Sequential } from "../blocks/common.js";
import { smallKernelStack } from "../blocks/small-kernel-stack.js";
import { finishModel, IMAGENET, startModel, type ZooModel, type ZooOptions } from "./common.js";

/** Convs per stage (torchvision's configurations "A" and "D"); channels 64, 128, 256, 512, 512. */
const STAGES: Record<"vgg11" | "vgg16", number[]> = { vgg11: [1, 1, 2, 2, 2], vgg16: [2, 2, 3, 3, 3] };
const WIDTHS = [64, 128, 256, 512, 512];

/**
 * torchvision's VGG without batch norm (Simonyan & Zisserman 2015): each stage a stack of 3x3 convs (the
 * small-kernel-stack block, built inline so the names are torchvision's features.N) then 2x2 max pool; adaptive
 * 7x7 average pool; classifier 4096-4096-classes with ReLU and dropout 0.5.
 */
function vgg(name: "vgg11" | "vgg16", options?: ZooOptions): ZooModel {
  const { b, x, numClasses } = startModel(name, options, IMAGENET, { reference: `torchvision ${name}` });
  const features = b.scope("features", () => {
    const seq = new Sequential();
    let y = x;
    STAGES[name].forEach((n, i) => {
      y = smallKernelStack(b, y, { n, outChannels: WIDTHS[i], bn: false, inline: true, names: seq });
      y = b.maxPool2d(y, { name: seq.next(), kernelSize: 2, stride: 2 });
    });
    return y;
  });
  const pooled = b.flatten(b.adaptiveAvgPool2d(features, [7, 7], { name: "avgpool" }), 1, -1, {
    name: "flatten",
  });
  const out = b.scope("classifier", () => {
    let y = b.relu(b.linear(pooled, { name: "0", outFeatures: 4096 }), { name: "1" });
    y = b.relu(b.linear(b.dropout(y, 0.5, { name: "2" }), { name: "3", outFeatures: 4096 }), { name: "4" });
    return b.linear(b.dropout(y, 0.5, { name: "5" }), { name: "6", outFeatures: numClasses });
  });
  return finishModel(b, out);
}

export const vgg11 = (options?: ZooOptions): ZooModel => vgg("vgg11", options);
export const vgg16 = (options?: ZooOptions): ZooModel => vgg("vgg16", options);
