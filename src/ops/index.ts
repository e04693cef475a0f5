// The differentiable functional ops, one module per family. Kernel helpers stay internal.
export { hardSigmoid, hardSwish, leakyRelu, relu, relu6, sigmoid, silu, tanh } from "./activation.js";
export { type BatchNorm2dOptions, batchNorm2d } from "./batchnorm.js";
export { conv2d } from "./conv.js";
export { type DeformConv2dOptions, deformConv2d } from "./deform.js";
export {
  type DeformableConv2dInit,
  type DeformableConv2dOptions,
  type DeformableConv2dParams,
  deformableConv2d,
  initDeformableConv2d,
} from "./deform-layer.js";
export { type DropoutOptions, dropout } from "./dropout.js";
export { add, div, exp, log, mul, neg, type Operand, pow, sqrt, sub } from "./elementwise.js";
export { linear } from "./linear.js";
export {
  type CrossEntropyOptions,
  crossEntropy,
  type Labels,
  logSoftmax,
  type NllLossOptions,
  nllLoss,
  type Reduction,
  softmax,
} from "./loss.js";
export {
  type AdaptiveSize,
  type AvgPool2dOptions,
  adaptiveAvgPool2d,
  adaptiveMaxPool2d,
  avgPool2d,
  type MaxPool2dOptions,
  maxPool2d,
  type PoolPadding,
  poolOutputSize,
} from "./pool.js";
export { mean, sum } from "./reduce.js";
export { concat, flatten, narrow, permute, reshape, split, transpose } from "./shape.js";
export { channelShuffle } from "./shuffle.js";
