/** Export to PyTorch: generated nn.Module source, weights, a DDP trainer, and the way back (see each file). */
export { type ModulePlan, type PlannedModule, planModules } from "./module-plan.js";
export {
  exportPytorch,
  exportPytorchModule,
  type PytorchExport,
  type PytorchExportOptions,
  type PytorchModule,
} from "./pytorch.js";
export {
  loadPytorchStateDict,
  type PytorchStateDictOptions,
  readPytorchStateDict,
  weightsFromStateDict,
} from "./state-dict.js";
export { TRAIN_DDP_PY } from "./train-ddp-py.js";
export { type WritePytorchOptions, writePytorchExport } from "./write.js";
