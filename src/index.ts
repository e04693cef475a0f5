// convkit's public API. Names and option spellings follow PyTorch (camelCase); see README.md.

export * from "./analyze/index.js";
export {
  full,
  ones,
  onesLike,
  type RandomOptions,
  rand,
  randn,
  zeros,
  zerosLike,
} from "./autograd/factories.js";
export { type GradcheckOptions, type GradcheckResult, gradcheck } from "./autograd/gradcheck.js";
export { enableGrad, isGradEnabled, noGrad } from "./autograd/gradmode.js";
export { type BackwardOptions, type GradFn, Tensor, type TensorOptions, tensor } from "./autograd/tensor.js";
export * from "./blocks/index.js";
export { idxDataset } from "./data/idx-dataset.js";
export * from "./draw/index.js";
export { drawUnitField, unitFieldBox } from "./draw/unit-field.js";
export * from "./export/index.js";
export * from "./graph/index.js";
export {
  type NpyArray,
  type NpyDtype,
  npyFromFloat32,
  npyToFloat32,
  parseNpy,
  readNpyFile,
  serializeNpy,
  writeNpyFile,
} from "./io/npy.js";
export {
  parseSafetensors,
  readSafetensorsFile,
  serializeSafetensors,
  writeSafetensorsFile,
} from "./io/safetensors.js";
export {
  getNumThreads,
  type SetNumThreadsOptions,
  setNumThreads,
  type ThreadingStatus,
  ThreadPoolError,
  threadingStatus,
  whenThreadsReady,
} from "./kernels/threads/index.js";
export {
  activeKernelBackend,
  detectWasmFeatures,
  type KernelBackend,
  type UseWasmOptions,
  useReferenceKernels,
  useWasmKernels,
  useWasmKernelsSync,
  type WasmFeatures,
  type WasmVariant,
  wasmMemoryBytes,
} from "./kernels/wasm/index.js";
export * from "./onnx/index.js";
export * from "./ops/index.js";
export {
  type AnalysisLike,
  applyRule,
  buildReport,
  type CarryKind,
  formatReport,
  GraphEdit,
  getRule,
  lowRank,
  parseWhere,
  type Refusal,
  type RewriteOptions,
  type RewriteReport,
  type RewriteResult,
  RULES,
  type Rule,
  type RuleResult,
  type RuleStep,
  reportToJson,
  rewrite,
  ruleNames,
  type Site,
  WHERE_KEYS,
} from "./rewrite/index.js";
export * from "./study/index.js";
export {
  type Conv2dGeometry,
  type Conv2dOptions,
  conv2dGeometry,
  convOutSize,
  type Padding2d,
} from "./tensor/conv-geometry.js";
export { ArgumentError, ConvkitError, DataError, FormatError, ShapeError } from "./tensor/errors.js";
export { defaultRng, manualSeed, Rng } from "./tensor/rng.js";
export { broadcastShapes, numel, type Shape } from "./tensor/shape.js";
export { evaluate, train } from "./train/loop.js";
export { evaluateModel, type StepperOptions, type StepResult, TrainStepper } from "./train/stepper.js";
export * from "./zoo/index.js";
