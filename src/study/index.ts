/** The main job: rewrite a baseline every way the article proposes, train and measure each variant, report. */
export { type ClaimContext, compareAccuracy, evaluateClaims } from "./claims.js";
export { type FigureInput, renderHtml } from "./html.js";
export { costOf, measureLatency, planBudgetRun, probeTrainingSpeed } from "./measure.js";
export {
  carriesWeights,
  MODERN,
  MODERN_STEPS,
  PREREQUISITES,
  parseRuleList,
  planStudy,
  type StudyPlan,
  selectRules,
  studyStep,
} from "./plan.js";
export { createStudyProgress, type StudyProgress, type StudyProgressOptions } from "./progress.js";
export { DEFAULT_BUDGET_MINUTES, hasStudy, runStudy } from "./run.js";
export {
  type ClaimRecord,
  type CostRecord,
  type LatencyRecord,
  type RuleRecord,
  type SiteRecord,
  STUDY_FORMAT,
  STUDY_VERSION,
  type StepRecord,
  type StudyBaseline,
  type StudyData,
  type StudyEvent,
  type StudyOptions,
  type StudyReport,
  type StudyResult,
  type TrainingRecord,
  type VariantKind,
  type VariantPlan,
  type VariantRecord,
  type Verdict,
} from "./types.js";
