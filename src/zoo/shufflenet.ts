import { Sequential } from "../blocks/common.js";
import { convBnAct } from "../blocks/conv-bn-act.js";
import { shuffleV1Unit, shuffleV2Unit } from "../blocks/shufflenet.js";
import type { ValueRef } from "../graph/builder.js";
import { finishModel, IMAGENET, startModel, type ZooModel, type ZooOptions } from "./common.js";

/**
 * ShuffleNet v1, g = 3, 1.0x (Zhang et al. 2017, Table 1; not in torchvision): 3x3/2 conv-BN-ReLU (24), 3x3/2 max
 * pool, stages 2-4 of 4/8/4 units with 240/480/960 channels (first unit stride 2; the very first unit's first 1x1
 * conv is not grouped), global average pool, fc. Names conv1.{conv,bn}, stageS.N.*, fc. 137.5 M MACs (paper: 137 M).
 */
export function shufflenet_v1_g3(options?: ZooOptions): ZooModel {
  const { b, x, numClasses } = startModel("shufflenet_v1_g3", options, IMAGENET, {
    reference: "Zhang et al. 2017, g=3, 1.0x",
  });
  let y = convBnAct(b, x, { name: "conv1", outChannels: 24, kernelSize: 3, stride: 2 });
  y = b.maxPool2d(y, { name: "maxpool", kernelSize: 3, stride: 2, padding: 1 });
  [240, 480, 960].forEach((outChannels, i) => {
    const repeats = [4, 8, 4][i];
    y = b.scope(
      `stage${i + 2}`,
      () => {
        let z: ValueRef = y;
        for (let j = 0; j < repeats; j++) {
          z = shuffleV1Unit(b, z, {
            name: String(j),
            outChannels,
            groups: 3,
            stride: j === 0 ? 2 : 1,
            firstGroupConv: !(i === 0 && j === 0),
          });
        }
        return z;
      },
      { kind: "stage", meta: { outChannels, blocks: repeats } },
    );
  });
  y = b.flatten(b.adaptiveAvgPool2d(y, 1, { name: "avgpool" }), 1, -1, { name: "flatten" });
  return finishModel(b, b.linear(y, { name: "fc", outFeatures: numClasses }));
}

/**
 * torchvision's ShuffleNet v2 x1.0 (Ma et al. 2018): conv1 (3x3/2 conv-BN-ReLU, 24), max pool, stage2..4 of
 * 4/8/4 units with 116/232/464 channels, conv5 (1x1 conv-BN-ReLU, 1024), mean over H and W, fc.
 */
export function shufflenet_v2_x1_0(options?: ZooOptions): ZooModel {
  const { b, x, numClasses } = startModel("shufflenet_v2_x1_0", options, IMAGENET, {
    reference: "torchvision shufflenet_v2_x1_0",
  });
  let y = convBnAct(b, x, {
    name: "conv1",
    names: new Sequential(),
    outChannels: 24,
    kernelSize: 3,
    stride: 2,
  });
  y = b.maxPool2d(y, { name: "maxpool", kernelSize: 3, stride: 2, padding: 1 });
  [116, 232, 464].forEach((outChannels, i) => {
    const repeats = [4, 8, 4][i];
    y = b.scope(
      `stage${i + 2}`,
      () => {
        let z: ValueRef = y;
        for (let j = 0; j < repeats; j++) {
          z = shuffleV2Unit(b, z, { name: String(j), outChannels, stride: j === 0 ? 2 : 1 });
        }
        return z;
      },
      { kind: "stage", meta: { outChannels, blocks: repeats } },
    );
  });
  y = convBnAct(b, y, { name: "conv5", names: new Sequential(), outChannels: 1024, kernelSize: 1 });
  y = b.mean(y, [2, 3], false, { name: "mean" });
  return finishModel(b, b.linear(y, { name: "fc", outFeatures: numClasses }));
}
