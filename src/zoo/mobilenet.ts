import { Sequential } from "../blocks/common.js";
import { convBnAct } from "../blocks/conv-bn-act.js";
import { invertedResidual } from "../blocks/inverted-residual.js";
import { depthwiseSeparable } from "../blocks/separable.js";
import { finishModel, IMAGENET, startModel, type ZooModel, type ZooOptions } from "./common.js";

/** MobileNet v1 body (Howard et al. 2017, Table 1): [output channels, stride] of the 13 separable blocks. */
const V1: [number, number][] = [
  [64, 1],
  [128, 2],
  [128, 1],
  [256, 2],
  [256, 1],
  [512, 2],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [1024, 2],
  [1024, 1],
];

/**
 * MobileNet v1, 1.0x, 224 (Howard et al. 2017; not in torchvision): 3x3/2 conv-BN-ReLU (32), 13 depthwise
 * separable blocks, global average pool, fc. Names features.0.{conv,bn}, features.N.{depthwise,pointwise}.{conv,bn},
 * fc. 4,231,976 parameters, 568.7 M MACs (the paper's 4.2 M and 569 M).
 */
export function mobilenet_v1(options?: ZooOptions): ZooModel {
  const { b, x, numClasses } = startModel("mobilenet_v1", options, IMAGENET, {
    reference: "Howard et al. 2017",
  });
  let y = b.scope("features", () => {
    let z = convBnAct(b, x, { name: "0", outChannels: 32, kernelSize: 3, stride: 2 });
    V1.forEach(([outChannels, stride], i) => {
      z = depthwiseSeparable(b, z, { name: String(i + 1), outChannels, stride });
    });
    return z;
  });
  y = b.flatten(b.adaptiveAvgPool2d(y, 1, { name: "avgpool" }), 1, -1, { name: "flatten" });
  return finishModel(b, b.linear(y, { name: "fc", outFeatures: numClasses }));
}

/** torchvision's inverted residual settings: expansion t, channels c, repeats n, first stride s. */
const V2: [number, number, number, number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/**
 * torchvision's MobileNet v2 (width 1.0, Sandler et al. 2018): features.0 (3x3/2 conv-BN-ReLU6, 32),
 * features.1..17 inverted residuals, features.18 (1x1 conv-BN-ReLU6, 1280), global average pool,
 * classifier (dropout 0.2, fc).
 */
export function mobilenet_v2(options?: ZooOptions): ZooModel {
  const { b, x, numClasses } = startModel("mobilenet_v2", options, IMAGENET, {
    reference: "torchvision mobilenet_v2",
  });
  let y = b.scope("features", () => {
    const seq = new Sequential();
    const unit = () => ({ name: seq.next(), names: new Sequential(), activation: "relu6" as const });
    let z = convBnAct(b, x, { ...unit(), outChannels: 32, kernelSize: 3, stride: 2 });
    for (const [t, c, n, s] of V2) {
      for (let i = 0; i < n; i++) {
        z = invertedResidual(b, z, {
          name: seq.next(),
          outChannels: c,
          stride: i === 0 ? s : 1,
          expandRatio: t,
        });
      }
    }
    return convBnAct(b, z, { ...unit(), outChannels: 1280, kernelSize: 1 });
  });
  y = b.flatten(b.adaptiveAvgPool2d(y, 1, { name: "avgpool" }), 1, -1, { name: "flatten" });
  const out = b.scope("classifier", () =>
    b.linear(b.dropout(y, 0.2, { name: "0" }), { name: "1", outFeatures: numClasses }),
  );
  return finishModel(b, out);
}
