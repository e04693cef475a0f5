/**
 * Drawings as standalone SVG strings (no DOM: they run in Node and in the browser): every convolution mode from
 * a real layer configuration, blocks and whole models from a Graph, receptive fields, and report charts.
 */
export {
  type BlockDrawOptions,
  drawDenseBlock,
  drawInception,
  drawResidualBlock,
  drawSqueezeExcite,
  type SqueezeExciteDrawOptions,
} from "./blocks.js";
export {
  type ChannelShuffleSpec,
  type DepthwiseSeparableSpec,
  drawChannelShuffle,
  drawDepthwiseSeparable,
  drawGroupConv,
  drawPointwise,
  type GroupConvSpec,
  type PointwiseSpec,
  shufflePermutation,
} from "./channels.js";
export {
  type BarChartSpec,
  type BarSeries,
  drawBarChart,
  drawLineChart,
  drawParetoChart,
  type LineChartSpec,
  type LineSeries,
  logTicks,
  niceTicks,
  type ParetoChartSpec,
  paretoFront,
  type ScatterPoint,
} from "./charts.js";
export {
  type DeformFiguresSpec,
  type DeformPanel,
  type DeformSamplingSpec,
  drawDeformableFigures,
  drawDeformableSampling,
  type GreyImage,
  layerOffsets,
  offsetsAt,
  randomOffsets,
  rotationOffsets,
  type SamplePoint,
  samplePoints,
  scaleOffsets,
} from "./deformable.js";
export { type StackField, stackField, type Tap, type WindowSpec, windowTaps } from "./geometry.js";
export { type DrawGraphOptions, drawGraph } from "./graph.js";
export { type GraphView, type GraphViewOptions, graphView, type Unit, type UnitEdge } from "./graph-view.js";
export { type AsymmetricSpec, type ConvGridSpec, drawAsymmetricConv, drawConvGrid } from "./kernel.js";
export {
  drawReceptiveField,
  type EffectiveReceptiveField,
  type ErfOptions,
  effectiveReceptiveField,
  massInside,
  massRadius,
  type ReceptiveFieldDrawOptions,
} from "./receptive.js";
export { drawKernelStack, type KernelStackSpec, type StackLayer } from "./stack.js";
