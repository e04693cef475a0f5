import { convBnAct } from "../blocks/conv-bn-act.js";
import { type InceptionOptions, inceptionModule } from "../blocks/inception.js";
import type { ValueRef } from "../graph/builder.js";
import { finishModel, IMAGENET, startModel, type ZooModel, type ZooOptions } from "./common.js";

type Channels = Pick<InceptionOptions, "ch1x1" | "ch3x3red" | "ch3x3" | "ch5x5red" | "ch5x5" | "poolProj">;

function ch(
  ch1x1: number,
  ch3x3red: number,
  ch3x3: number,
  ch5x5red: number,
  ch5x5: number,
  poolProj: number,
): Channels {
  return { ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, poolProj };
}

/** torchvision's BasicConv2d: conv without bias, BN with eps 0.001, ReLU. */
const BN = { eps: 0.001 };

/**
 * torchvision's GoogLeNet (Szegedy et al. 2015) with `aux_logits=False`, `transform_input=False`: BasicConv2d stem
 * (conv1 7x7/2, conv2 1x1, conv3 3x3), ceil-mode max pools, nine Inception modules whose "5x5" branch is a 3x3
 * (as torchvision builds it), global average pool, dropout 0.2, fc.
 */
export function googlenet(options?: ZooOptions): ZooModel {
  const { b, x, numClasses } = startModel("googlenet", options, IMAGENET, {
    reference: "torchvision googlenet",
  });
  const pool = (input: ValueRef, name: string, kernelSize: number): ValueRef =>
    b.maxPool2d(input, { name, kernelSize, stride: 2, ceilMode: true });
  const inception = (input: ValueRef, name: string, c: Channels): ValueRef =>
    inceptionModule(b, input, { name, ...c, fiveByFive: "3x3", bn: BN });
  let y = convBnAct(b, x, { name: "conv1", outChannels: 64, kernelSize: 7, stride: 2, padding: 3, bn: BN });
  y = pool(y, "maxpool1", 3);
  y = convBnAct(b, y, { name: "conv2", outChannels: 64, kernelSize: 1, bn: BN });
  y = convBnAct(b, y, { name: "conv3", outChannels: 192, kernelSize: 3, padding: 1, bn: BN });
  y = pool(y, "maxpool2", 3);
  y = inception(y, "inception3a", ch(64, 96, 128, 16, 32, 32));
  y = inception(y, "inception3b", ch(128, 128, 192, 32, 96, 64));
  y = pool(y, "maxpool3", 3);
  y = inception(y, "inception4a", ch(192, 96, 208, 16, 48, 64));
  y = inception(y, "inception4b", ch(160, 112, 224, 24, 64, 64));
  y = inception(y, "inception4c", ch(128, 128, 256, 24, 64, 64));
  y = inception(y, "inception4d", ch(112, 144, 288, 32, 64, 64));
  y = inception(y, "inception4e", ch(256, 160, 320, 32, 128, 128));
  y = pool(y, "maxpool4", 2);
  y = inception(y, "inception5a", ch(256, 160, 320, 32, 128, 128));
  y = inception(y, "inception5b", ch(384, 192, 384, 48, 128, 128));
  y = b.flatten(b.adaptiveAvgPool2d(y, 1, { name: "avgpool" }), 1, -1, { name: "flatten" });
  y = b.dropout(y, 0.2, { name: "dropout" });
  return finishModel(b, b.linear(y, { name: "fc", outFeatures: numClasses }));
}
