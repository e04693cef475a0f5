import { convBnAct } from "../blocks/conv-bn-act.js";
import { type BottleneckOptions, basicBlock, bottleneck } from "../blocks/residual.js";
import type { ValueRef } from "../graph/builder.js";
import type { Json } from "../graph/types.js";
import { finishModel, IMAGENET, startModel, type ZooModel, type ZooOptions } from "./common.js";

interface ResNetSpec {
  block: "basic" | "bottleneck";
  /** Blocks per stage (layer1..layer4). */
  layers: [number, number, number, number];
  groups?: number;
  widthPerGroup?: number;
  /** SE in every bottleneck. */
  se?: boolean;
  /** Stages (1-4, i.e. layer1..layer4) whose bottlenecks get a deformable (DCNv2) 3x3 conv. */
  deformableLayers?: number[];
  reference: string;
}

/**
 * torchvision's ResNet (He et al. 2016, v1.5: stride on the 3x3 conv) with its names: conv1, bn1, relu, maxpool,
 * layer1..layer4 (blocks "0", "1", ...), avgpool, fc. The variants only change the block options.
 */
function resnet(name: string, spec: ResNetSpec, options?: ZooOptions): ZooModel {
  const { b, x, numClasses } = startModel(name, options, IMAGENET, { reference: spec.reference });
  let y = convBnAct(b, x, {
    inline: true,
    names: { conv: "conv1", bn: "bn1", act: "relu" },
    outChannels: 64,
    kernelSize: 7,
    stride: 2,
    padding: 3,
  });
  y = b.maxPool2d(y, { name: "maxpool", kernelSize: 3, stride: 2, padding: 1 });
  [64, 128, 256, 512].forEach((planes, i) => {
    const stage: Record<string, Json> = { planes, blocks: spec.layers[i] };
    y = b.scope(
      `layer${i + 1}`,
      () => {
        let z: ValueRef = y;
        for (let j = 0; j < spec.layers[i]; j++) {
          const stride = i > 0 && j === 0 ? 2 : 1;
          if (spec.block === "basic") {
            z = basicBlock(b, z, { name: String(j), planes, stride });
          } else {
            const o: BottleneckOptions = {
              name: String(j),
              planes,
              stride,
              groups: spec.groups,
              widthPerGroup: spec.widthPerGroup,
              se: spec.se,
              deformable: spec.deformableLayers?.includes(i + 1) ?? false,
            };
            z = bottleneck(b, z, o);
          }
        }
        return z;
      },
      { kind: "stage", meta: stage },
    );
  });
  y = b.flatten(b.adaptiveAvgPool2d(y, 1, { name: "avgpool" }), 1, -1, { name: "flatten" });
  return finishModel(b, b.linear(y, { name: "fc", outFeatures: numClasses }));
}

export const resnet18 = (options?: ZooOptions): ZooModel =>
  resnet("resnet18", { block: "basic", layers: [2, 2, 2, 2], reference: "torchvision resnet18" }, options);

export const resnet50 = (options?: ZooOptions): ZooModel =>
  resnet(
    "resnet50",
    { block: "bottleneck", layers: [3, 4, 6, 3], reference: "torchvision resnet50" },
    options,
  );

/** ResNeXt-50 32x4d (Xie et al. 2017): cardinality 32, 4 channels per group at planes 64. */
export const resnext50_32x4d = (options?: ZooOptions): ZooModel =>
  resnet(
    "resnext50_32x4d",
    {
      block: "bottleneck",
      layers: [3, 4, 6, 3],
      groups: 32,
      widthPerGroup: 4,
      reference: "torchvision resnext50_32x4d",
    },
    options,
  );

/**
 * SE-ResNet-50 (Hu et al. 2018): torchvision's ResNet-50 with squeeze-and-excitation (reduction 16, 1x1 convs
 * "se_module.fc1/fc2") after each bottleneck's bn3, before the addition. 28,088,024 parameters.
 */
export const se_resnet50 = (options?: ZooOptions): ZooModel =>
  resnet(
    "se_resnet50",
    {
      block: "bottleneck",
      layers: [3, 4, 6, 3],
      se: true,
      reference: "Hu et al. 2018 on torchvision resnet50",
    },
    options,
  );

/**
 * Deformable ResNet-50 (Deformable ConvNets v2, Zhu et al. 2019): the 3x3 conv of every bottleneck in stages 3-5
 * (torchvision's layer2..layer4) is a modulated deformable conv with a zero-initialised offset/mask conv, so the
 * fresh model computes exactly ResNet-50 and torchvision's resnet50 weights load into it unchanged.
 */
export const deformable_resnet50 = (options?: ZooOptions): ZooModel =>
  resnet(
    "deformable_resnet50",
    {
      block: "bottleneck",
      layers: [3, 4, 6, 3],
      deformableLayers: [2, 3, 4],
      reference: "Zhu et al. 2019 (DCNv2) on torchvision resnet50",
    },
    options,
  );
