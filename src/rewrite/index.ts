/**
 * The rewriter (article section 10): rules that change a network's convolution modes as Graph -> Graph
 * transforms, carrying the trained weights over, with a before/after report.
 */

export { distillRegion } from "./distill.js";
export { type LowRank, lowRank, symmetricEigen } from "./linalg.js";
export {
  compareValues,
  errorStats,
  extractRegion,
  makeSamples,
  regionBetween,
  type SampleInputs,
} from "./measure.js";
export { parseRuleSpec, resolveOptions } from "./options.js";
export { getRule, RULES, ruleNames } from "./registry.js";
export {
  type AnalysisLike,
  type Analyzer,
  buildReport,
  type Cost,
  formatReport,
  REPORT_FORMAT,
  REPORT_VERSION,
  type RewriteReport,
  reportToJson,
  type SiteReport,
  type StepReport,
  stepReport,
} from "./report.js";
export { applyRule, type RewriteOptions, type RewriteResult, type RuleStep, rewrite } from "./rewrite.js";
export { type AddOptions, GraphEdit, type ParamData } from "./surgery.js";
export type {
  CarryKind,
  DistillSettings,
  ErrorStats,
  MeasuredSite,
  OptionSchema,
  OptionSpec,
  OptionValue,
  Refusal,
  Rule,
  RuleContext,
  RuleOptions,
  RuleResult,
  RuleRun,
  SampleData,
  Site,
} from "./types.js";
export { type ConvUnit, unitOf } from "./units.js";
export {
  globToRegExp,
  parseWhere,
  type Selector,
  type SelectorContext,
  stageOf,
  WHERE_KEYS,
} from "./where.js";
