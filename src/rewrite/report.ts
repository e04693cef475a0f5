import type { Graph, Json } from "../graph/types.js";
import { getRule } from "./registry.js";
import type { RewriteResult } from "./rewrite.js";
import type { CarryKind, ErrorStats, RuleOptions, RuleResult } from "./types.js";

/**
 * The before/after report of a rewrite: per rewritten node and in total, parameters, MACs, FLOPs, receptive field
 * and output error, as a table (`formatReport`) and as JSON (`reportToJson`, format "convkit.rewrite-report").
 *
 * The numbers come from the analyzer, which the caller passes in (`Analyzer`): the rewriter depends only on the
 * Graph, not on the analyzer module (DESIGN.md layering), so `buildReport(result, (g) => analyze(g, input))`.
 */

export const REPORT_FORMAT = "convkit.rewrite-report";
export const REPORT_VERSION = 1;

/** What the report needs from an analysis (the analyzer's `Analysis` has all of it). */
export interface AnalysisLike {
  totals: { params: number; macs: number; flops: number };
  receptiveField: { size: [number, number] } | null;
  layers: readonly {
    name: string;
    params: number;
    macs: number;
    receptiveField: { size: [number, number] } | null;
  }[];
}

/** Analyses a graph (at the input size the caller chose). */
export type Analyzer = (graph: Graph) => AnalysisLike;

/** Cost of a set of nodes or of a whole model. */
export interface Cost {
  params: number;
  macs: number;
  flops: number;
  /** Receptive field [h, w] at the site's output (per site) or the model's (totals); null where undefined. */
  receptiveField: [number, number] | null;
}

export interface SiteReport {
  node: string;
  carry: CarryKind;
  detail: string;
  before: Cost;
  after: Cost;
  /** after / before (NaN where before is 0). */
  ratio: { params: number; macs: number };
  error: ErrorStats | null;
  weightError: number | null;
  fitError: number | null;
}

export interface StepReport {
  rule: string;
  carry: CarryKind;
  options: RuleOptions;
  where: string;
  sites: SiteReport[];
  refusals: { node: string; reason: string }[];
  notes: string[];
  before: Cost;
  after: Cost;
  ratio: { params: number; macs: number };
  /** Whole-model output error of this step (null without weights). */
  outputError: ErrorStats | null;
}

export interface RewriteReport {
  format: typeof REPORT_FORMAT;
  version: typeof REPORT_VERSION;
  model: string;
  steps: StepReport[];
  before: Cost;
  after: Cost;
  ratio: { params: number; macs: number };
  /** Whole-model output error of the final graph against the original. */
  outputError: ErrorStats | null;
}

function totals(a: AnalysisLike): Cost {
  return {
    params: a.totals.params,
    macs: a.totals.macs,
    flops: a.totals.flops,
    receptiveField: a.receptiveField === null ? null : [...a.receptiveField.size],
  };
}

function ratio(before: Cost, after: Cost): { params: number; macs: number } {
  return { params: after.params / before.params, macs: after.macs / before.macs };
}

/** Cost of some nodes of an analysed graph; the receptive field is the one at the node producing `value`. */
function costOf(graph: Graph, analysis: AnalysisLike, nodes: readonly string[], value: string): Cost {
  const wanted = new Set(nodes);
  let params = 0;
  let macs = 0;
  for (const layer of analysis.layers) {
    if (!wanted.has(layer.name)) continue;
    params += layer.params;
    macs += layer.macs;
  }
  const producer = graph.nodes.find((n) => n.outputs.includes(value));
  const layer = producer === undefined ? undefined : analysis.layers.find((l) => l.name === producer.name);
  const rf = layer?.receptiveField ?? null;
  return { params, macs, flops: 2 * macs, receptiveField: rf === null ? null : [...rf.size] };
}

/** The report of one rule's result. */
export function stepReport(result: RuleResult, analyze: Analyzer): StepReport {
  const before = analyze(result.before);
  const after = analyze(result.graph);
  const sites = result.sites.map((s): SiteReport => {
    const b = costOf(result.before, before, s.oldNodes.length > 0 ? s.oldNodes : [], s.compare.old);
    const a = costOf(result.graph, after, s.newNodes, s.compare.new);
    return {
      node: s.node,
      carry: s.carry,
      detail: s.detail,
      before: b,
      after: a,
      ratio: ratio(b, a),
      error: s.error,
      weightError: s.weightError ?? null,
      fitError: s.fitError ?? null,
    };
  });
  const tb = totals(before);
  const ta = totals(after);
  return {
    rule: result.rule,
    carry: getRule(result.rule).carry,
    options: result.options,
    where: result.where,
    sites,
    refusals: result.refusals,
    notes: result.notes,
    before: tb,
    after: ta,
    ratio: ratio(tb, ta),
    outputError: result.outputError,
  };
}

/** The report of a rewrite (one rule's result, or a pipeline's). */
export function buildReport(result: RewriteResult | RuleResult, analyze: Analyzer): RewriteReport {
  const steps = "steps" in result ? result.steps : [result];
  const reports = steps.map((s) => stepReport(s, analyze));
  const before = reports[0].before;
  const after = reports[reports.length - 1].after;
  const source = "steps" in result ? result.source : result.before;
  return {
    format: REPORT_FORMAT,
    version: REPORT_VERSION,
    model: source.name,
    steps: reports,
    before,
    after,
    ratio: ratio(before, after),
    outputError: result.outputError,
  };
}

/** The report as JSON text (NaN and infinities written as null). */
export function reportToJson(report: RewriteReport): string {
  return `${JSON.stringify(report, (_, v: Json | number) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2)}\n`;
}

// ---------------------------------------------------------------- table

function thousands(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** 21,300,000 -> "21.3M". */
function compact(n: number): string {
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (abs >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (abs >= 1e4) return `${(n / 1e3).toFixed(1)}K`;
  return thousands(n);
}

function times(r: number): string {
  return Number.isFinite(r) ? `${r.toFixed(3)}x` : "-";
}

function rf(c: Cost): string {
  if (c.receptiveField === null) return "-";
  const [h, w] = c.receptiveField;
  return h === w ? `${h}` : `${h}x${w}`;
}

function err(e: ErrorStats | null): string {
  if (e === null) return "-";
  const f = (x: number): string => (x === 0 ? "0" : x < 1e-3 ? x.toExponential(1) : x.toFixed(4));
  return `${f(e.relL2)} / ${f(e.maxRel)}`;
}

function optionsText(options: RuleOptions): string {
  const parts = Object.entries(options).map(
    ([k, v]) => `${k}=${v === null ? "auto" : Array.isArray(v) ? v.join("/") : v}`,
  );
  return parts.length > 0 ? parts.join(", ") : "no options";
}

function table(rows: string[][], right: boolean[]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** The report as text: per step a table of sites and a total line, then refusals and notes. */
export function formatReport(report: RewriteReport): string {
  const out: string[] = [];
  for (const step of report.steps) {
    out.push(
      `rule ${step.rule} (${optionsText(step.options)}) where "${step.where}" — carry-over: ${step.carry}`,
    );
    const rows = [
      [
        "node",
        "params before",
        "after",
        "ratio",
        "MACs before",
        "after",
        "ratio",
        "RF",
        "error relL2 / max",
        "carry",
        "detail",
      ],
    ];
    for (const s of step.sites) {
      rows.push([
        s.node,
        thousands(s.before.params),
        thousands(s.after.params),
        times(s.ratio.params),
        compact(s.before.macs),
        compact(s.after.macs),
        times(s.ratio.macs),
        `${rf(s.before)}->${rf(s.after)}`,
        err(s.error),
        s.carry,
        s.detail,
      ]);
    }
    rows.push([
      "model total",
      thousands(step.before.params),
      thousands(step.after.params),
      times(step.ratio.params),
      compact(step.before.macs),
      compact(step.after.macs),
      times(step.ratio.macs),
      `${rf(step.before)}->${rf(step.after)}`,
      err(step.outputError),
      "",
      `FLOPs ${compact(step.before.flops)} -> ${compact(step.after.flops)}`,
    ]);
    out.push(table(rows, [false, true, true, true, true, true, true, false, false, false, false]));
    for (const r of step.refusals) out.push(`  refused: ${r.reason}`);
    for (const n of step.notes) out.push(`  note: ${n}`);
    out.push("");
  }
  if (report.steps.length > 1) {
    out.push(
      `all ${report.steps.length} rules: params ${thousands(report.before.params)} -> ${thousands(report.after.params)} (${times(report.ratio.params)}), MACs ${compact(report.before.macs)} -> ${compact(report.after.macs)} (${times(report.ratio.macs)}), RF ${rf(report.before)} -> ${rf(report.after)}, output error ${err(report.outputError)}`,
    );
  }
  out.push(
    "MACs: conv and linear multiply-adds at the analysed input (FLOPs = 2 x MACs); errors: relative L2 / max-abs on sample data, per site alone on the old network's activations.",
  );
  return `${out.join("\n")}\n`;
}
