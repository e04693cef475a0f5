import { convBnAct } from "../blocks/conv-bn-act.js";
import { finishModel, startModel, type ZooModel, type ZooOptions } from "./common.js";

/**
 * LeNet-5 (LeCun et al. 1998) on 1 x 32 x 32: conv 6@5x5 - tanh - 2x2 avg pool - conv 16@5x5 - tanh - avg pool -
 * fc 120 - tanh - fc 84 - tanh - fc. 61,706 parameters and 416,520 MACs at 32 x 32 with 10 classes. (The original's
 * partial C3 connections and trainable subsampling are left out, as usual.) At 28 x 28 the fc1 input is 16*4*4.
 */
export function lenet5(options?: ZooOptions): ZooModel {
  const { b, x, numClasses } = startModel(
    "lenet5",
    options,
    { numClasses: 10, inChannels: 1, inputSize: 32 },
    {
      reference: "LeCun et al. 1998",
    },
  );
  const conv = (input: typeof x, i: number, outChannels: number) =>
    convBnAct(b, input, {
      inline: true,
      names: { conv: `conv${i}`, act: `tanh${i}` },
      outChannels,
      kernelSize: 5,
      padding: 0,
      bn: false,
      activation: "tanh",
    });
  let y = b.avgPool2d(conv(x, 1, 6), { name: "pool1", kernelSize: 2 });
  y = b.avgPool2d(conv(y, 2, 16), { name: "pool2", kernelSize: 2 });
  y = b.flatten(y, 1, -1, { name: "flatten" });
  y = b.tanh(b.linear(y, { name: "fc1", outFeatures: 120 }), { name: "tanh3" });
  y = b.tanh(b.linear(y, { name: "fc2", outFeatures: 84 }), { name: "tanh4" });
  return finishModel(b, b.linear(y, { name: "fc3", outFeatures: numClasses }));
}
