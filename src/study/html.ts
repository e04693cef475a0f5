import { drawBarChart, drawLineChart, drawParetoChart, type LineSeries } from "../draw/index.js";
import { esc, formatCount } from "../draw/svg.js";
import type { ClaimRecord, StudyReport, VariantRecord } from "./types.js";

/**
 * `index.html`: the study report as one self-contained page: inline CSS and SVG, no script, no external
 * request, readable offline and without JavaScript. Markup is well-formed XML (every element closed, every
 * attribute quoted, text escaped), so any XML or HTML parser reads it the same way.
 */

/** A drawing to show for a variant (its inline SVG and caption). */
export interface FigureInput {
  svg: string;
  caption: string;
}

const pct = (x: number | null | undefined, digits = 1) => (x == null ? "–" : `${(100 * x).toFixed(digits)}%`);
const int = (n: number) => Math.round(n).toLocaleString("en-US");

function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return m > 0 ? `${m} min ${String(s % 60).padStart(2, "0")} s` : `${s} s`;
}

function ms(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** Makes the ids of one inline SVG unique in the page (several drawings may define the same marker). */
export function scopeIds(svg: string, prefix: string): string {
  const ids = new Set([...svg.matchAll(/(?<![\w-])id="([^"]+)"/g)].map((m) => m[1]));
  if (ids.size === 0) return svg;
  const fix = (id: string) => (ids.has(id) ? `${prefix}-${id}` : id);
  return svg
    .replace(/(?<![\w-])id="([^"]+)"/g, (_m, id: string) => `id="${fix(id)}"`)
    .replace(/url\(#([^)]+)\)/g, (_m, id: string) => `url(#${fix(id)})`)
    .replace(/href="#([^"]+)"/g, (_m, id: string) => `href="#${fix(id)}"`)
    .replace(
      /aria-(labelledby|describedby)="([^"]*)"/g,
      (_m, k: string, list: string) => `aria-${k}="${list.split(/\s+/).map(fix).join(" ")}"`,
    );
}

const CSS = `
*{box-sizing:border-box}
body{margin:0;font-family:"DejaVu Sans",Verdana,Arial,sans-serif;color:#1f1f1f;background:#fff;line-height:1.45;font-size:15px}
main{max-width:1240px;margin:0 auto;padding:24px 28px 64px}
h1{font-size:26px;margin:0 0 6px}
h2{font-size:20px;margin:40px 0 10px;padding-bottom:4px;border-bottom:2px solid #e3e3e3}
h3{font-size:16px;margin:26px 0 6px}
p{margin:6px 0 10px;max-width:980px}
.lede{color:#444;font-size:16px}
nav{margin:14px 0 4px;font-size:14px}
nav a{margin-right:14px;color:#0b5394;text-decoration:none}
a{color:#0b5394}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:3px 16px;margin:12px 0;font-size:14px}
dl.facts dt{color:#5f5f5f}
dl.facts dd{margin:0}
table{border-collapse:collapse;margin:10px 0 6px;font-size:13.5px}
th,td{padding:5px 8px;border-bottom:1px solid #e3e3e3;text-align:left;vertical-align:top}
th{background:#f3f3f3;font-weight:bold;white-space:nowrap}
td.num,th.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
tr.baseline td{background:#f4f8fc;font-weight:bold}
tr.failed td{background:#fdf1ef}
tr.front td:first-child{box-shadow:inset 4px 0 0 #d55e00}
.small{font-size:12.5px;color:#5f5f5f}
.verdict{display:inline-block;padding:2px 8px;border-radius:10px;font-size:12.5px;font-weight:bold;white-space:nowrap}
.v-supported{background:#d9f2e6;color:#0b6b43}
.v-not-supported{background:#fbe0dc;color:#a02a14}
.v-inconclusive{background:#fdf0cf;color:#7a5500}
.v-not-tested{background:#ececec;color:#555}
.pos{color:#0b6b43}
.neg{color:#a02a14}
figure{margin:14px 0 22px;max-width:100%;overflow-x:auto}
figure svg{max-width:100%;height:auto}
figcaption{font-size:13px;color:#444;max-width:900px;margin-top:4px}
.charts{display:flex;flex-wrap:wrap;gap:8px 28px;align-items:flex-start}
.charts figure{flex:1 1 520px}
.charts figure.wide{flex-basis:100%}
td.training{min-width:170px}
.rule{border-left:3px solid #e3e3e3;padding-left:14px;margin:22px 0}
.note{background:#fafafa;border:1px solid #e6e6e6;padding:10px 14px;border-radius:4px;max-width:980px}
code{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:13px;background:#f3f3f3;padding:0 3px;border-radius:3px}
ul{margin:4px 0 10px 0;padding-left:22px}
li{margin:2px 0}
details summary{cursor:pointer;color:#0b5394}
`;

function verdictBadge(v: ClaimRecord["verdict"]): string {
  return `<span class="verdict v-${v.replace(/ /g, "-")}">${esc(v)}</span>`;
}

function variantById(report: StudyReport): Map<string, VariantRecord> {
  return new Map(report.variants.map((v) => [v.id, v]));
}

function trainingText(v: VariantRecord, trainImages: number): string {
  const t = v.training;
  if (t === null) return "–";
  const epochs = t.images / trainImages;
  const ep = Number.isInteger(epochs)
    ? `${epochs} epoch${epochs === 1 ? "" : "s"}`
    : `${epochs.toFixed(2)} epochs`;
  const stop = t.stopped === "budget" ? " (time budget)" : "";
  return `${ep}${stop}<br/><span class="small">${int(t.images)} images · ${duration(t.seconds)} · ${int(t.imagesPerSecond)} img/s</span>`;
}

function deltaCell(v: VariantRecord, byId: Map<string, VariantRecord>): string {
  const ref = v.reference ? byId.get(v.reference) : undefined;
  if (ref === undefined || v.accuracy === null || ref.accuracy === null) return "–";
  const d = 100 * (v.accuracy - ref.accuracy);
  const sigma = 100 * Math.hypot(v.standardError ?? 0, ref.standardError ?? 0);
  const cls = d > 2 * sigma ? "pos" : d < -2 * sigma ? "neg" : "";
  const vs = ref.id === "baseline" ? "" : `<br/><span class="small">vs ${esc(ref.label)}</span>`;
  return `<span class="${cls}">${d >= 0 ? "+" : "−"}${Math.abs(d).toFixed(1)}</span>${vs}`;
}

function comparisonTable(report: StudyReport): string {
  const byId = variantById(report);
  const front = new Set(report.pareto);
  const rows = report.variants.map((v) => {
    const cls = [
      v.kind === "baseline" ? "baseline" : "",
      v.status === "failed" ? "failed" : "",
      front.has(v.id) ? "front" : "",
    ]
      .filter((c) => c !== "")
      .join(" ");
    const c = v.cost;
    const rf = c?.receptiveField
      ? c.receptiveField.size[0] === c.receptiveField.size[1]
        ? `${c.receptiveField.size[0]}`
        : c.receptiveField.size.join("×")
      : "–";
    const how =
      v.kind === "baseline"
        ? "the network as given"
        : v.kind === "finetune"
          ? "fine-tuned from the trained baseline"
          : "trained from scratch";
    const name = `<a href="#v-${esc(v.id)}">${esc(v.label)}</a><br/><span class="small">${esc(how)}</span>`;
    if (v.status === "failed") {
      return `<tr class="${cls}"><td>${name}</td><td colspan="9">failed: ${esc(v.error ?? "unknown error")}</td></tr>`;
    }
    const lat = v.latency;
    const latNote = lat?.sameAs ? `<br/><span class="small">as ${esc(lat.sameAs)}</span>` : "";
    const acc =
      v.accuracy === null
        ? "–"
        : `${pct(v.accuracy)} <span class="small">±${(100 * (v.standardError ?? 0)).toFixed(1)}</span>${v.accuracyAtStart !== null ? `<br/><span class="small">${pct(v.accuracyAtStart)} before training</span>` : ""}`;
    return (
      `<tr class="${cls}"><td>${name}</td>` +
      `<td class="num">${c ? int(c.params) : "–"}</td>` +
      `<td class="num">${c ? formatCount(c.macs) : "–"}</td>` +
      `<td class="num">${c ? formatCount(c.flops) : "–"}</td>` +
      `<td class="num">${rf}</td>` +
      `<td class="num">${lat ? ms(lat.batch1Ms) : "–"}${latNote}</td>` +
      `<td class="num">${lat ? ms(lat.batch64Ms) : "–"}</td>` +
      `<td class="training">${trainingText(v, report.data.train.images)}</td>` +
      `<td class="num">${acc}</td>` +
      `<td class="num">${deltaCell(v, byId)}</td></tr>`
    );
  });
  return (
    `<table><thead><tr><th>variant</th><th class="num">params</th><th class="num">MACs</th><th class="num">FLOPs</th>` +
    `<th class="num">receptive field</th><th class="num">latency b1 (ms)</th><th class="num">latency b64 (ms)</th>` +
    `<th>training</th><th class="num">test accuracy ± s.e.</th><th class="num">Δ (points)</th></tr></thead>` +
    `<tbody>${rows.join("")}</tbody></table>`
  );
}

function claimsTable(claims: readonly ClaimRecord[]): string {
  const rows = claims.map(
    (c) =>
      `<tr><td>${esc(c.section)}</td><td>${esc(c.claim)}</td><td>${esc(c.finding)}</td><td>${verdictBadge(c.verdict)}</td></tr>`,
  );
  return `<table><thead><tr><th>article</th><th>claim</th><th>what this run measured</th><th>verdict</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function figure(svg: string, caption: string, id: string, wide = false): string {
  return `<figure${wide ? ' class="wide"' : ""}>${scopeIds(svg, id)}<figcaption>${esc(caption)}</figcaption></figure>`;
}

/** Short names for charts: the rule, "(ft)" for fine-tuned, "modern" for the combination. */
function shortLabel(v: VariantRecord): string {
  if (v.kind === "baseline") return "baseline";
  if (v.rule === null) return "modern";
  return v.kind === "finetune" ? `${v.rule} (ft)` : v.label;
}

/** The chart group of a variant: its rule's family (kernel, channels, connections; modern with connections). */
function familyOf(report: StudyReport, v: VariantRecord): string {
  if (v.rule === null) return "connections";
  return report.rules.find((r) => r.rule === v.rule)?.family ?? "other";
}

const FAMILIES: readonly [string, string][] = [
  ["kernel", "kernel rewrites"],
  ["channels", "channel rewrites"],
  ["connections", "connections and the modern variant"],
];

function accuracySeries(report: StudyReport, list: readonly VariantRecord[]): LineSeries[] {
  const n = report.data.train.images;
  return list.map((v) => {
    let seen = 0;
    const points = v.training!.history.map((h) => {
      seen += h.images;
      return [seen / n, 100 * (h.testAccuracy ?? Number.NaN)] as [number, number];
    });
    // Fine-tuning starts from a measured accuracy (the rewritten trained baseline, before any step).
    if (v.accuracyAtStart !== null) points.unshift([0, 100 * v.accuracyAtStart]);
    return { name: shortLabel(v), points };
  });
}

/** The smoothed step-level training loss (the per-epoch means where a record has none). */
function lossSeries(report: StudyReport, list: readonly VariantRecord[]): LineSeries[] {
  const n = report.data.train.images;
  return list.map((v) => {
    const curve = v.training!.lossCurve ?? [];
    if (curve.length > 1) return { name: shortLabel(v), points: curve };
    let seen = 0;
    return {
      name: shortLabel(v),
      points: v.training!.history.map((h) => {
        seen += h.images;
        return [seen / n, h.trainLoss] as [number, number];
      }),
    };
  });
}

/** How large an accuracy difference must be to count, in this report's terms. */
function noiseSentence(report: StudyReport): string {
  const se = report.noise.standardErrorPoints;
  return se === null
    ? ""
    : `Accuracy differences under about ${(2 * Math.SQRT2 * se).toFixed(1)} points are within the test-set noise.`;
}

function charts(report: StudyReport): string {
  const done = report.variants.filter((v) => v.status === "done" && v.cost !== null && v.accuracy !== null);
  if (done.length === 0) return "<p>No variant finished: nothing to chart.</p>";
  const parts: string[] = [];
  parts.push(
    figure(
      drawParetoChart({
        title: "Test accuracy against MACs",
        xLabel: "MACs per image (batch 1)",
        yLabel: "test accuracy (%)",
        points: done.map((v) => ({ label: shortLabel(v), x: v.cost!.macs, y: 100 * v.accuracy! })),
        width: 760,
        height: 380,
      }),
      `Each variant at its MACs (analyzer, batch 1) and test accuracy; the highlighted points and the step line are the Pareto front: no other variant is both cheaper and more accurate. Fine-tuned variants (ft) share their from-scratch twin's MACs. ${noiseSentence(report)}`,
      "pareto",
      true,
    ),
  );
  const archs = report.variants.filter(
    (v) => v.status === "done" && v.cost !== null && v.kind !== "finetune",
  );
  if (archs.length > 0) {
    parts.push(
      figure(
        drawBarChart({
          title: "Parameters and MACs per variant",
          yLabel: "count (log scale)",
          categories: archs.map(shortLabel),
          series: [
            { name: "params", values: archs.map((v) => v.cost!.params) },
            { name: "MACs", values: archs.map((v) => v.cost!.macs) },
          ],
          log: true,
        }),
        "Parameters and MACs (batch 1) of each architecture, from the analyzer.",
        "bars",
        true,
      ),
    );
  }
  return `<div class="charts">${parts.join("")}</div>`;
}

function curveCharts(report: StudyReport): string {
  const trained = report.variants.filter((v) => v.status === "done" && v.training !== null);
  const baseline = trained.filter((v) => v.kind === "baseline");
  const xLabel = "epochs (training images seen / training set size)";
  const parts: string[] = [];
  for (const [family, title] of FAMILIES) {
    const scratch = trained.filter((v) => v.kind === "scratch" && familyOf(report, v) === family);
    if (scratch.length === 0) continue;
    const list = [...baseline, ...scratch];
    parts.push(
      figure(
        drawLineChart({
          title: `Test accuracy, ${title} (from scratch)`,
          xLabel,
          yLabel: "test accuracy (%)",
          series: accuracySeries(report, list),
        }),
        "Test accuracy after each epoch (and at a stop by the time budget: a partial epoch), with the baseline for reference.",
        `acc-${family}`,
      ),
    );
    parts.push(
      figure(
        drawLineChart({
          title: `Training loss, ${title}`,
          xLabel,
          yLabel: "cross-entropy (log scale)",
          logY: true,
          series: lossSeries(report, list),
        }),
        "Training loss during training, smoothed over steps (moving average).",
        `loss-${family}`,
      ),
    );
  }
  for (const [family, title] of FAMILIES) {
    const ft = trained.filter((v) => v.kind === "finetune" && familyOf(report, v) === family);
    if (ft.length === 0) continue;
    parts.push(
      figure(
        drawLineChart({
          title: `Fine-tuning from the trained baseline, ${title}`,
          xLabel,
          yLabel: "test accuracy (%)",
          series: accuracySeries(report, ft),
        }),
        "Test accuracy while fine-tuning; the point at 0 is the rewritten trained baseline before any training step.",
        `ft-${family}`,
      ),
    );
  }
  return parts.length > 0 ? `<div class="charts">${parts.join("")}</div>` : "<p>No training history.</p>";
}

/** The rewrite's steps: each site with its cost before and after (and, when weights were carried, how well). */
function siteList(v: VariantRecord): string {
  const carried = v.kind === "finetune";
  const items = v.steps.map((s) => {
    const sites = s.sites
      .map((x) => {
        const notes: string[] = [];
        if (carried) notes.push(x.carry);
        if (x.paramsBefore + x.paramsAfter > 0)
          notes.push(`params ${int(x.paramsBefore)} → ${int(x.paramsAfter)}`);
        if (x.macsBefore + x.macsAfter > 0)
          notes.push(`MACs ${formatCount(x.macsBefore)} → ${formatCount(x.macsAfter)}`);
        if (carried && x.error) notes.push(`output error ${x.error.relL2.toExponential(2)}`);
        const extra = notes.length > 0 ? ` <span class="small">(${esc(notes.join("; "))})</span>` : "";
        return `<li><code>${esc(x.node)}</code>: ${esc(x.detail)}${extra}</li>`;
      })
      .join("");
    const refused = s.refusals.map((r) => `<li class="small">not rewritten: ${esc(r.reason)}</li>`).join("");
    const opts = Object.entries(s.options)
      .map(([k, val]) => `${k}=${Array.isArray(val) ? val.join("/") : String(val)}`)
      .join(", ");
    return `<li><b>${esc(s.rule)}</b>${opts ? ` <span class="small">(${esc(opts)})</span>` : ""}${s.where ? ` <span class="small">where <code>${esc(s.where)}</code></span>` : ""}<ul>${sites}${refused}</ul></li>`;
  });
  return items.length > 0 ? `<ul>${items.join("")}</ul>` : "";
}

function rewritesSection(report: StudyReport, figures: ReadonlyMap<string, FigureInput>): string {
  const out: string[] = [];
  for (const v of report.variants) {
    if (v.kind === "finetune") continue;
    const ft = report.variants.find(
      (x) =>
        x.kind === "finetune" &&
        x.rule === v.rule &&
        v.kind === "scratch" &&
        v.rule !== null &&
        x.steps.length === v.steps.length,
    );
    const rule = v.rule === null ? null : report.rules.find((r) => r.rule === v.rule);
    const head =
      v.kind === "baseline"
        ? `<h3 id="v-baseline">baseline: ${esc(report.baseline.name)}</h3>`
        : `<h3 id="v-${esc(v.id)}">${esc(v.label)}</h3>`;
    const desc = rule ? `<p>${esc(rule.description)}. Carry-over: <b>${esc(rule.carry)}</b>.</p>` : "";
    const note = v.note ? `<p class="small">${esc(v.note)}</p>` : "";
    const init = `<p class="small">Initial weights from scratch: ${esc(v.init)}.${ft ? ` Fine-tuned variant (<a href="#v-${esc(ft.id)}">${esc(ft.label)}</a>): ${esc(ft.init)}${ft.outputError ? `, output error right after the rewrite ${ft.outputError.relL2.toExponential(2)} (relative L2 on training images)` : ""}.` : ""}</p>`;
    const fig = figures.get(v.id);
    const failed =
      v.status === "failed" ? `<p class="neg">This variant failed: ${esc(v.error ?? "")}</p>` : "";
    const ftAnchor = ft ? `<span id="v-${esc(ft.id)}"></span>` : "";
    const carried =
      ft && ft.status === "done"
        ? `<details><summary>How the fine-tuned variant carried the trained weights over</summary>${siteList(ft)}</details>`
        : ft?.status === "failed"
          ? `<p class="neg">The fine-tuned variant failed: ${esc(ft.error ?? "")}</p>`
          : "";
    out.push(
      `<div class="rule">${head}${ftAnchor}${desc}${note}${failed}${init}${siteList(v)}${carried}${fig ? figure(fig.svg, fig.caption, `fig-${v.id}`) : ""}</div>`,
    );
  }
  return out.join("");
}

function notApplied(report: StudyReport): string {
  const rows = report.rules.filter((r) => !r.applies);
  if (rows.length === 0) return "<p>Every rule studied rewrote something on the baseline.</p>";
  const items = rows.map((r) => {
    const reasons = [...new Set([...r.refusals.map((x) => x.reason), ...r.notes])];
    return `<li><b>${esc(r.rule)}</b> (${esc(r.description)}): ${reasons.length > 0 ? esc(reasons.join("; ")) : "nothing to rewrite"}</li>`;
  });
  return `<ul>${items.join("")}</ul>`;
}

/** The whole page. `figures` holds each variant's drawing by id. */
export function renderHtml(report: StudyReport, figures: ReadonlyMap<string, FigureInput>): string {
  const s = report.settings;
  const done = report.variants.filter((v) => v.status === "done").length;
  const failed = report.variants.filter((v) => v.status === "failed");
  const baseline = report.variants.find((v) => v.kind === "baseline");
  const budgetText =
    s.mode === "budget"
      ? `a time budget of ${s.budgetMinutes} minutes for the whole study, shared equally by the training runs (a fine-tuning run gets half a share), each run taking as many epochs as fit`
      : `${s.epochs} epoch${s.epochs === 1 ? "" : "s"} from scratch${s.fineTune ? `, ${s.fineTuneEpochs} for fine-tuning` : ""}`;
  const status =
    report.status === "interrupted"
      ? `<p class="note"><b>Interrupted study.</b> ${report.pending.length} variant(s) still to run (${esc(report.pending.join(", "))}): run the same command with <code>--resume</code> to finish it.</p>`
      : "";
  const se = report.noise.standardErrorPoints;
  const facts = [
    [
      "baseline",
      `${esc(report.baseline.name)}${baseline?.cost ? ` (${int(baseline.cost.params)} parameters, ${formatCount(baseline.cost.macs)} MACs)` : ""}`,
    ],
    [
      "data",
      `${esc(report.data.train.name)}: ${int(report.data.train.images)} training, ${int(report.data.test.images)} test images (${esc(report.data.source)})`,
    ],
    [
      "training",
      `${s.optimizer === "sgd" ? `SGD (momentum ${s.momentum}, ` : `${s.optimizer === "adamw" ? "AdamW" : "Adam"} (`}weight decay ${s.weightDecay}), batch ${s.batchSize}, cosine schedule, lr ${s.lr} from scratch${s.fineTune ? ` and ${s.fineTuneLr} fine-tuning` : ""}, ${budgetText}; seed ${s.seed}${s.augment ? "; random crop and flip" : ""}`,
    ],
    [
      "variants",
      `${done} finished${failed.length > 0 ? `, ${failed.length} failed` : ""}${report.pending.length > 0 ? `, ${report.pending.length} pending` : ""}`,
    ],
    [
      "time",
      `${duration(report.timing.seconds)}${report.timing.sessions > 1 ? ` over ${report.timing.sessions} sessions` : ""}; finished ${esc(report.timing.finishedAt)}`,
    ],
    [
      "machine",
      `${report.machine.cpus} CPU cores, kernels ${esc(report.machine.kernels)}, ${report.machine.threads.active} thread(s); Node ${esc(report.machine.node)}; load average at the start ${report.machine.loadAverage.map((x) => x.toFixed(1)).join(", ")}`,
    ],
  ];
  const failures =
    failed.length === 0
      ? ""
      : `<section id="failures"><h2>Failures</h2><ul>${failed.map((v) => `<li><b>${esc(v.label)}</b>: ${esc(v.error ?? "")}</li>`).join("")}</ul><p>The study went on without them; <code>--resume</code> tries failed variants again.</p></section>`;
  const noise = `With ${int(report.noise.testImages)} test images, a test accuracy p has a standard error of sqrt(p(1−p)/n)${se !== null ? ` (${se.toFixed(1)} points at the baseline's accuracy)` : ""}; the difference of two variants about 1.4 times that. A verdict on accuracy needs a difference beyond two standard errors of the difference (about ${se !== null ? (2 * Math.SQRT2 * se).toFixed(1) : "3.5"} points here), otherwise it is <i>inconclusive</i>; so is any accuracy comparison of runs that trained fewer than 3 complete epochs, whose accuracy has not settled yet. The standard error is the test-set noise only: each variant was trained once, with one seed, and seed-to-seed training noise is of a similar size, so small differences should not be read as effects of the rewrite.`;
  const budgetNote =
    s.mode === "budget"
      ? "<p>Under a time budget every run gets the same wall-clock time, so a cheaper variant sees more training images than an expensive one: accuracies compare architectures at equal training time on this machine, not at equal epochs (the training column shows how many images each saw). Use <code>--epochs N</code> for equal work.</p>"
      : "";
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<title>convkit study: ${esc(report.baseline.name)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<h1>How far does choosing the convolution mode improve ${esc(report.baseline.name)}?</h1>
<p class="lede">The article's rewrites, each applied to one baseline network, trained on Fashion-MNIST under the same budget and seed, and measured: cost by the analyzer, speed in convkit, accuracy on the test set.</p>
<nav><a href="#claims">claims</a><a href="#comparison">comparison</a><a href="#charts">charts</a><a href="#curves">training curves</a><a href="#rewrites">the rewrites</a><a href="#not-applied">not applied</a><a href="#method">method and files</a></nav>
${status}
<dl class="facts">${facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("")}</dl>
<section id="claims"><h2>The article's claims, measured</h2>
<p>${noise}</p>
${claimsTable(report.claims)}
</section>
<section id="comparison"><h2>Comparison</h2>
<p>Parameters, MACs and FLOPs per image (FLOPs = 2 × MACs; conv, deformable conv and linear layers, torchvision's convention) and the receptive field in input pixels come from the analyzer. Latency is the median of several forward passes in convkit (eval mode, no gradients) on this machine; a shared machine makes it noisy. Δ is the test accuracy difference against the baseline (or the variant named), green or red only beyond two standard errors. Rows marked on the left are on the Pareto front.</p>
${comparisonTable(report)}
${budgetNote}
</section>
<section id="charts"><h2>Accuracy against cost</h2>
${charts(report)}
</section>
<section id="curves"><h2>Training curves</h2>
${curveCharts(report)}
</section>
<section id="rewrites"><h2>The rewrites</h2>
<p>Each variant's rewrite, the places it changed (with parameters and MACs before and after) and the places it could not, and a drawing of the mode made from the rewritten layer itself.</p>
${rewritesSection(report, figures)}
</section>
<section id="not-applied"><h2>Rules that did not apply</h2>
${notApplied(report)}
</section>
${failures}
<section id="method"><h2>Method and files</h2>
<ul>
<li>From scratch: the rewritten architecture with fresh PyTorch-default weights from the seed (rules that carry weights over exactly are applied to those fresh weights, so their new parts start as the identity, as their papers do). Fine-tuned: the trained baseline rewritten with its weights carried over (exact, SVD, projection or distillation), then trained at a lower learning rate.</li>
<li>Every run uses the same seed for its data order and the same input normalisation (the training set's mean ${report.settings.normalize.mean.map((x) => x.toFixed(4)).join(", ")} and standard deviation ${report.settings.normalize.std.map((x) => x.toFixed(4)).join(", ")}).</li>
<li>Files: <a href="report.json">report.json</a> (everything on this page as data, format in docs/study.md); each variant's trained model in <code>variants/&lt;id&gt;/model/</code> (graph.json + weights.safetensors, for <code>convkit analyze</code>, <code>convkit train --resume</code>-free fine-tuning or ONNX export) and its drawing in <code>variants/&lt;id&gt;/drawing.svg</code>.</li>
</ul>
</section>
</main>
</body>
</html>
`;
}
