import { Sequential } from "../blocks/common.js";
import { convBnAct } from "../blocks/conv-bn-act.js";
import type { ValueRef } from "../graph/builder.js";
import { finishModel, IMAGENET, startModel, type ZooModel, type ZooOptions } from "./common.js";

/**
 * torchvision's AlexNet (the "one weird trick" variant: 64-192-384-256-256 channels, no LRN, no grouping), with
 * its module names: features.0..12, avgpool (adaptive 6x6), classifier.0..6 (dropout 0.5 in training).
 */
export function alexnet(options?: ZooOptions): ZooModel {
  const { b, x, numClasses } = startModel("alexnet", options, IMAGENET, { reference: "torchvision alexnet" });
  const features = b.scope("features", () => {
    const seq = new Sequential();
    const conv = (
      input: ValueRef,
      outChannels: number,
      kernelSize: number,
      stride: number,
      padding: number,
    ) =>
      convBnAct(b, input, { inline: true, names: seq, outChannels, kernelSize, stride, padding, bn: false });
    const pool = (input: ValueRef) => b.maxPool2d(input, { name: seq.next(), kernelSize: 3, stride: 2 });
    let y = pool(conv(x, 64, 11, 4, 2));
    y = pool(conv(y, 192, 5, 1, 2));
    y = conv(y, 384, 3, 1, 1);
    y = conv(y, 256, 3, 1, 1);
    return pool(conv(y, 256, 3, 1, 1));
  });
  const pooled = b.flatten(b.adaptiveAvgPool2d(features, [6, 6], { name: "avgpool" }), 1, -1, {
    name: "flatten",
  });
  const out = b.scope("classifier", () => {
    let y = b.linear(b.dropout(pooled, 0.5, { name: "0" }), { name: "1", outFeatures: 4096 });
    y = b.relu(y, { name: "2" });
    y = b.linear(b.dropout(y, 0.5, { name: "3" }), { name: "4", outFeatures: 4096 });
    y = b.relu(y, { name: "5" });
    return b.linear(y, { name: "6", outFeatures: numClasses });
  });
  return finishModel(b, out);
}
