/** The analyzer: shapes, parameters, MACs/FLOPs, activation memory and receptive fields of a Graph. */
export { analyze } from "./analyze.js";
export {
  compact,
  type FormatOptions,
  formatAnalysis,
  formatBytes,
  formatField,
  thousands,
} from "./format.js";
export { analysisToJson, parseAnalysis } from "./json.js";
export { countedOps, MAC_RULES, TORCHVISION_OPS } from "./macs.js";
export { collapseByScope, groupKey, type ScopeGroup } from "./scopes.js";
export {
  ANALYSIS_FORMAT,
  ANALYSIS_VERSION,
  type Analysis,
  type AnalysisTotals,
  type AnalyzeOptions,
  type InputShapes,
  type LayerAnalysis,
  type MacConvention,
  type ModelReceptiveField,
  type ReceptiveField,
} from "./types.js";
