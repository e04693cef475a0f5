// Entry point of the WebAssembly kernels: pointer-and-size functions over the imported memory.
// The JavaScript loader (src/kernels/wasm/) owns the memory layout; nothing here allocates.
export { batchNormBackward, batchNormForward, batchNormStats } from "./batchnorm";
export {
  convBackwardInputGemm,
  convBackwardWeightGemm,
  convBackwardWeightGemmParts,
  convForwardGemm,
  convWorkspaceFloats,
} from "./conv";
export {
  deformBackward,
  deformColumnFloats,
  deformForward,
  deformForwardColumnFloats,
  deformPlanFloats,
  deformSumFloats,
  deformSumImages,
} from "./deform";
export {
  depthwiseBackwardInput,
  depthwiseBackwardWeight,
  depthwiseForward,
  depthwiseWorkspaceFloats,
} from "./depthwise";
export { gemm, gemmWorkspaceBytes } from "./gemm";
export {
  adaptiveAvgPoolBackward,
  adaptiveAvgPoolForward,
  adaptiveMaxPoolForward,
  avgPoolBackward,
  avgPoolForward,
  maxPoolBackward,
  maxPoolForward,
} from "./pool";
export { batchToSpace, shiftStack, spaceToBatch } from "./spacebatch";
export { sumImages } from "./sum";
export {
  convForwardWinograd,
  winogradTransformWeights,
  winogradWeightFloats,
  winogradWorkspaceFloats,
} from "./winograd";
export {
  convBackwardWeightWinograd,
  convBackwardWeightWinogradImages,
  winogradGradWorkspaceFloats,
} from "./winograd-grad";

/** First byte past the module's static data: the loader's arena starts above it. */
export function heapBase(): usize {
  return __heap_base;
}
