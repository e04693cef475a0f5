import type { Graph } from "../graph/types.js";
import { inferShapes } from "../graph/validate.js";
import {
  applyRule,
  getRule,
  parseRuleSpec,
  parseWhere,
  RULES,
  type RuleResult,
  type RuleStep,
} from "../rewrite/index.js";
import { ArgumentError, errorMessage } from "../tensor/errors.js";
import type { RuleRecord, VariantPlan } from "./types.js";

/**
 * Planning a study: which variants to train. Each rule is tried on the baseline structurally (no weights,
 * milliseconds); a rule that rewrites something gives a from-scratch variant and, when its carry-over is exact
 * or approximate, a fine-tuned one. A rule with nothing to rewrite on the baseline is tried after its natural
 * prerequisite (a channel shuffle needs grouped convs; skip and dense connections need two convs at one
 * resolution, which the small-kernel stack makes); if it still does not apply, the report lists its reasons.
 */

/** The pseudo-rule naming the combined variant in a rule list. */
export const MODERN = "modern";

/**
 * The combined "modern" variant: VGG's small kernels, ResNet's skips, MobileNet's depthwise separable convs,
 * ShuffleNet's grouped pointwise convs with a channel shuffle, and squeeze-and-excitation, in an order in
 * which each step finds what it rewrites (a step that finds nothing on a given baseline is left out).
 */
export const MODERN_STEPS: readonly RuleStep[] = Object.freeze([
  { rule: "stack-small" },
  { rule: "residual" },
  { rule: "separable", where: "cin>=2" },
  { rule: "group", options: { groups: 2 }, where: "name=*pointwise" },
  { rule: "shuffle", where: "name=*pointwise" },
  { rule: "se", where: "name=*pointwise" },
]);

/** Rules applied first when a rule alone has nothing to rewrite on the baseline. */
export const PREREQUISITES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  shuffle: ["group"],
  residual: ["stack-small"],
  dense: ["stack-small"],
});

/** Carry-over kinds that make fine-tuning from the trained baseline meaningful. */
export function carriesWeights(carry: string): boolean {
  return carry === "exact" || carry.startsWith("approximate");
}

/** Splits a `--rules` list: commas separate rules, except inside a rule's options ("group:groups=4,se"). */
export function parseRuleList(text: string): string[] {
  const names = [...RULES.map((r) => r.name), MODERN].map((n) => n.replace(/[-]/g, "\\-"));
  const split = new RegExp(`\\s*[,\\s]\\s*(?=(?:${names.join("|")})(?::|,|\\s|$))`);
  return text
    .trim()
    .split(split)
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/**
 * The study's step for one rule: the rule's defaults, except that the costly rules act where their papers put
 * them: a deformable conv replaces the last conv only (DCN deforms the late stages; its sampling is slow on a
 * CPU), and dilation keeps the resolution of the last strided layer only (DeepLab's output stride 16).
 */
export function studyStep(graph: Graph, spec: string): RuleStep {
  const { rule: name, options } = parseRuleSpec(spec);
  const rule = getRule(name);
  if (name === "deformable" || name === "dilate") {
    const shapes = inferShapes(graph);
    const selector = parseWhere(rule.defaultWhere);
    const last = graph.nodes.filter((n) => rule.ops.includes(n.op) && selector.matches(n, { shapes })).at(-1);
    if (last !== undefined) return { rule: name, options, where: `name=${last.name}` };
  }
  return { rule: name, options };
}

/** Applies steps structurally (no weights), returning every step's result; throws what a rule throws. */
export function applyStructural(graph: Graph, steps: readonly RuleStep[]): RuleResult[] {
  const results: RuleResult[] = [];
  let g = graph;
  for (const step of steps) {
    const r = applyRule(g, null, step, { measure: false });
    results.push(r);
    g = r.graph;
  }
  return results;
}

export interface StudyPlan {
  variants: VariantPlan[];
  rules: RuleRecord[];
  /** The modern variant's steps after dropping those that found nothing (empty when it is not planned). */
  modern: RuleStep[];
  /** Modern steps left out, with why. */
  modernSkipped: string[];
}

/** Resolves the rule list: "all" is every rule plus the modern variant. */
export function selectRules(rules: "all" | readonly string[] | undefined): {
  specs: string[];
  modern: boolean;
} {
  if (rules === undefined || rules === "all") return { specs: RULES.map((r) => r.name), modern: true };
  const specs: string[] = [];
  let modern = false;
  for (const spec of rules) {
    if (spec === MODERN) modern = true;
    else if (spec === "all") {
      specs.push(...RULES.map((r) => r.name));
      modern = true;
    } else {
      getRule(parseRuleSpec(spec).rule); // unknown names fail here, before anything runs
      specs.push(spec);
    }
  }
  const names = specs.map((s) => parseRuleSpec(s).rule);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new ArgumentError(`study: rule "${twice}" is listed twice`);
  if (specs.length === 0 && !modern) throw new ArgumentError("study: the rule list is empty");
  return { specs, modern };
}

/** Plans the variants for `graph` (see the module comment). */
export function planStudy(
  graph: Graph,
  rules: "all" | readonly string[] | undefined,
  options: { fineTune: boolean },
): StudyPlan {
  const { specs, modern } = selectRules(rules);
  const variants: VariantPlan[] = [
    {
      id: "baseline",
      label: "baseline",
      kind: "baseline",
      rule: null,
      steps: [],
      reference: null,
      weight: 1,
    },
  ];
  const records: RuleRecord[] = [];
  const stepsOf = new Map<string, RuleStep>();
  for (const spec of specs) stepsOf.set(parseRuleSpec(spec).rule, studyStep(graph, spec));
  for (const spec of specs) {
    const name = parseRuleSpec(spec).rule;
    const rule = getRule(name);
    const step = stepsOf.get(name)!;
    const record: RuleRecord = {
      rule: name,
      family: rule.family,
      description: rule.description,
      carry: rule.carry,
      step,
      applies: false,
      after: [],
      sites: 0,
      refusals: [],
      notes: [],
      variants: [],
    };
    records.push(record);
    let alone: RuleResult | null = null;
    try {
      alone = applyStructural(graph, [step])[0];
    } catch (e) {
      record.refusals.push({ node: "", reason: errorMessage(e) });
    }
    if (alone !== null) {
      record.refusals.push(...alone.refusals);
      record.notes.push(...alone.notes);
      record.sites = alone.sites.length;
    }
    if (record.sites > 0) {
      record.applies = true;
      variants.push({
        id: name,
        label: name,
        kind: "scratch",
        rule: name,
        steps: [step],
        reference: "baseline",
        weight: 1,
      });
      record.variants.push(name);
      if (options.fineTune && carriesWeights(rule.carry)) {
        variants.push({
          id: `${name}-ft`,
          label: `${name} (fine-tuned)`,
          kind: "finetune",
          rule: name,
          steps: [step],
          reference: "baseline",
          weight: 0.5,
        });
        record.variants.push(`${name}-ft`);
      }
      continue;
    }
    const before = PREREQUISITES[name];
    if (before === undefined) continue;
    const prereqSteps = before.map((r) => stepsOf.get(r) ?? studyStep(graph, r));
    try {
      const results = applyStructural(graph, [...prereqSteps, step]);
      const mine = results[results.length - 1];
      const prereqOk = results.slice(0, -1).every((r) => r.sites.length > 0);
      if (prereqOk && mine.sites.length > 0) {
        record.applies = true;
        record.after = [...before];
        record.sites = mine.sites.length;
        record.notes.push(
          `applied after ${before.join(" + ")}: on the baseline alone it has nothing to rewrite`,
        );
        const reference =
          before.length === 1 && specs.some((s) => parseRuleSpec(s).rule === before[0])
            ? before[0]
            : "baseline";
        variants.push({
          id: name,
          label: `${before.join(" + ")} + ${name}`,
          kind: "scratch",
          rule: name,
          steps: [...prereqSteps, step],
          reference,
          weight: 1,
          note: `${name} has nothing to rewrite on the baseline alone; measured after ${before.join(" + ")} and compared with ${reference}`,
        });
        record.variants.push(name);
      } else {
        const why = [
          ...results.flatMap((r) => r.refusals.map((x) => x.reason)),
          ...results.flatMap((r) => r.notes),
        ];
        record.notes.push(
          `after ${before.join(" + ")}: ${why.length > 0 ? [...new Set(why)].join("; ") : "still nothing to rewrite"}`,
        );
      }
    } catch (e) {
      record.notes.push(`after ${before.join(" + ")}: ${errorMessage(e)}`);
    }
  }

  const modernSteps: RuleStep[] = [];
  const modernSkipped: string[] = [];
  if (modern) {
    let g = graph;
    for (const step of MODERN_STEPS) {
      try {
        const r = applyRule(g, null, step, { measure: false });
        if (r.sites.length === 0) {
          modernSkipped.push(`${step.rule}: nothing to rewrite`);
          continue;
        }
        modernSteps.push(step);
        g = r.graph;
      } catch (e) {
        modernSkipped.push(`${step.rule}: ${errorMessage(e)}`);
      }
    }
    if (modernSteps.length > 0) {
      variants.push({
        id: MODERN,
        label: `modern (${modernSteps.map((s) => s.rule).join(" + ")})`,
        kind: "scratch",
        rule: null,
        steps: modernSteps,
        reference: "baseline",
        weight: 1,
        note: modernSkipped.length > 0 ? `left out: ${modernSkipped.join("; ")}` : undefined,
      });
    }
  }
  return { variants, rules: records, modern: modernSteps, modernSkipped };
}
