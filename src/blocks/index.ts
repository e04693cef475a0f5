/** The article's convolution modes as graph builder functions (see each file). */
export { type AsymmetricPairOptions, asymmetricPair } from "./asymmetric.js";
export { type Activation, activate, type BatchNormOptions, Sequential } from "./common.js";
export { type ConvBnActNames, type ConvBnActOptions, convBnAct } from "./conv-bn-act.js";
export { type DeformableConvOptions, deformableConv } from "./deformable.js";
export {
  type DenseBlockOptions,
  type DenseLayerOptions,
  denseBlock,
  denseLayer,
  type TransitionOptions,
  transition,
} from "./dense.js";
export { type DilatedConvOptions, dilatedConv } from "./dilated.js";
export { type GroupedConvOptions, groupedConv } from "./grouped.js";
export { type InceptionOptions, inceptionModule } from "./inception.js";
export { type InvertedResidualOptions, invertedResidual } from "./inverted-residual.js";
export { type PointwiseConvOptions, pointwiseConv } from "./pointwise.js";
export { type BasicBlockOptions, type BottleneckOptions, basicBlock, bottleneck } from "./residual.js";
export { type DepthwiseSeparableOptions, depthwiseSeparable } from "./separable.js";
export {
  type ShuffleV1UnitOptions,
  type ShuffleV2UnitOptions,
  shuffleV1Unit,
  shuffleV2Unit,
} from "./shufflenet.js";
export { type SmallKernelStackOptions, smallKernelStack } from "./small-kernel-stack.js";
export {
  makeDivisible,
  type SqueezeExciteOptions,
  squeezeChannels,
  squeezeExcite,
} from "./squeeze-excite.js";
