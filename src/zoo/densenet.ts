import { convBnAct } from "../blocks/conv-bn-act.js";
import { denseBlock, transition } from "../blocks/dense.js";
import { finishModel, IMAGENET, startModel, type ZooModel, type ZooOptions } from "./common.js";

/**
 * torchvision's DenseNet-121 (Huang et al. 2017; growth 32, bn_size 4, blocks 6/12/24/16, 64 initial features):
 * features.{conv0, norm0, relu0, pool0}, denseblock1..4 with transition1..3 (halving the channels), norm5, then
 * ReLU, global average pool and `classifier`.
 */
export function densenet121(options?: ZooOptions): ZooModel {
  const { b, x, numClasses } = startModel("densenet121", options, IMAGENET, {
    reference: "torchvision densenet121",
  });
  const growthRate = 32;
  let y = b.scope("features", () => {
    let z = convBnAct(b, x, {
      inline: true,
      names: { conv: "conv0", bn: "norm0", act: "relu0" },
      outChannels: 64,
      kernelSize: 7,
      stride: 2,
      padding: 3,
    });
    z = b.maxPool2d(z, { name: "pool0", kernelSize: 3, stride: 2, padding: 1 });
    [6, 12, 24, 16].forEach((numLayers, i) => {
      z = denseBlock(b, z, { name: `denseblock${i + 1}`, numLayers, growthRate, bnSize: 4 });
      if (i < 3)
        z = transition(b, z, { name: `transition${i + 1}`, outChannels: Math.floor(b.channels(z) / 2) });
    });
    return b.batchNorm2d(z, { name: "norm5" });
  });
  y = b.relu(y, { name: "relu" });
  y = b.flatten(b.adaptiveAvgPool2d(y, 1, { name: "avgpool" }), 1, -1, { name: "flatten" });
  return finishModel(b, b.linear(y, { name: "classifier", outFeatures: numClasses }));
}
