import { analyze } from "../../../src/analyze/analyze.js";
import { thousands } from "../../../src/analyze/format.js";
import { drawGraph } from "../../../src/draw/graph.js";
import { serializeGraph, weightsToSafetensors } from "../../../src/graph/serialize.js";
import type { Graph, Weights } from "../../../src/graph/types.js";
import { exportOnnx } from "../../../src/onnx/export.js";
import { getRule, RULES } from "../../../src/rewrite/registry.js";
import { type Cost, formatReport, type RewriteReport } from "../../../src/rewrite/report.js";
import type { RuleStep } from "../../../src/rewrite/rewrite.js";
import type { OptionSpec, Rule } from "../../../src/rewrite/types.js";
import { WHERE_KEYS } from "../../../src/rewrite/where.js";
import { initialWeights } from "../../../src/train/init-weights.js";
import { jobsEngine } from "../engine.js";
import type { Cleanup } from "../main.js";
import { currentModel, modelByKey, modelChoices, setCurrentModel } from "../state.js";
import {
  checkField,
  download,
  drawing,
  errorText,
  fill,
  h,
  message,
  numberList,
  scrollFrame,
  section,
  selectField,
  simpleTable,
  textField,
} from "../ui.js";
import type { RewriteOutcome } from "../worker/protocol.js";

/**
 * The Rewrite page (article §10): pick rules and where they apply; the rewriter runs in the engine worker
 * (carrying the weights over and measuring the output error, or structurally for big models); before/after
 * numbers per site and in total, both diagrams, and downloads of the rewritten model as ONNX, graph JSON and
 * safetensors weights.
 */

interface RuleChoice {
  on: boolean;
  where: string;
  options: Record<string, string | number | boolean>;
}

const choices = new Map<string, RuleChoice>();

function choiceOf(rule: Rule): RuleChoice {
  let c = choices.get(rule.name);
  if (!c) {
    c = { on: false, where: rule.defaultWhere, options: {} };
    choices.set(rule.name, c);
  }
  return c;
}

function optionControl(rule: Rule, key: string, spec: OptionSpec, c: RuleChoice): HTMLElement {
  const name = `${rule.name}-${key}`;
  const label = `${key}: ${spec.description}`;
  const given = c.options[key];
  switch (spec.type) {
    case "boolean":
      return checkField({
        label,
        name,
        checked: (given ?? spec.default) === true,
        onChange: (x) => {
          c.options[key] = x;
        },
      }).root;
    case "enum":
      return selectField({
        label,
        name,
        value: String(given ?? spec.default),
        options: (spec.values ?? []).map((v) => [v, v] as [string, string]),
        onChange: (x) => {
          c.options[key] = x;
        },
      }).root;
    default: {
      // Numbers and lists as text, so that "auto" (null) and "1,3,5" can be typed; the rewriter validates them.
      const value =
        given ??
        (spec.default === null
          ? "auto"
          : Array.isArray(spec.default)
            ? spec.default.join(",")
            : String(spec.default));
      return textField({
        label,
        name,
        value: String(value),
        onChange: (x) => {
          c.options[key] = x.trim();
        },
      }).root;
    }
  }
}

function costItems(prefix: string, label: string, c: Cost) {
  return [
    { key: `${prefix}-params`, label: `${label} parameters`, text: thousands(c.params), value: c.params },
    { key: `${prefix}-macs`, label: `${label} MACs`, text: thousands(c.macs), value: c.macs },
    {
      key: `${prefix}-rf`,
      label: `${label} receptive field`,
      text: c.receptiveField ? c.receptiveField.join("×") : "–",
      value: c.receptiveField ? c.receptiveField.join(",") : "",
    },
  ];
}

function pct(x: number): string {
  return Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : "–";
}

function err(x: { relL2: number } | null): string {
  return x === null ? "–" : x.relL2 === 0 ? "0" : x.relL2.toExponential(2);
}

export function renderRewrite(main: HTMLElement): Cleanup {
  let model = currentModel();
  let alive = true;
  let carry = analyze(model.graph).totals.macs < 100e6;
  const results = h("div");
  const status = h("div", { class: "status-box", "aria-live": "polite" });
  const rules = h("div", { class: "rules" });
  const carryBox = h("div");

  const renderCarry = () =>
    fill(
      carryBox,
      checkField({
        label:
          "Carry the weights over and measure the error (runs the model on sample inputs; rules that fit new layers distil them: slower on big models)",
        name: "carry",
        checked: carry,
        onChange: (x) => {
          carry = x;
        },
      }).root,
    );

  const renderRules = () => {
    fill(
      rules,
      RULES.map((rule) => {
        const c = choiceOf(rule);
        const details = h(
          "div",
          { class: "rule-options", hidden: !c.on },
          textField({
            label: "Where (selector)",
            name: `${rule.name}-where`,
            value: c.where,
            placeholder: rule.defaultWhere,
            onChange: (x) => {
              c.where = x;
            },
          }).root,
          Object.entries(rule.options).map(([key, spec]) => optionControl(rule, key, spec, c)),
        );
        const box = checkField({
          label: `${rule.name} (${rule.family}; carry-over ${rule.carry})`,
          name: `rule-${rule.name}`,
          checked: c.on,
          onChange: (x) => {
            c.on = x;
            details.hidden = !x;
          },
        });
        return h(
          "div",
          { class: "rule", "data-rule": rule.name },
          box.root,
          h("p", { class: "hint" }, rule.description),
          details,
        );
      }),
    );
  };

  const steps = (): RuleStep[] =>
    RULES.filter((r) => choiceOf(r).on).map((r) => {
      const c = choiceOf(r);
      const where = c.where.trim();
      return {
        rule: r.name,
        options: { ...c.options },
        where: where === "" || where === r.defaultWhere ? undefined : where,
      };
    });

  const run = async () => {
    const chosen = steps();
    if (chosen.length === 0) {
      fill(status, message("error", "Pick at least one rule."));
      return;
    }
    const distils = carry && chosen.some((s) => getRule(s.rule).carry === "approximate: distillation");
    fill(
      status,
      message(
        "note",
        `Rewriting ${model.graph.name} with ${chosen.map((s) => s.rule).join(" → ")}…${distils ? " Fitting the new layers by distillation takes a while (up to a minute or two)." : ""}`,
      ),
    );
    fill(results);
    button.disabled = true;
    const t0 = performance.now();
    try {
      const outcome = await jobsEngine().client.call<RewriteOutcome>({
        kind: "rewrite",
        spec: { graph: model.graph, weights: carry ? model.weights : null, steps: chosen },
      });
      if (!alive) return;
      fill(status, message("ok", `Rewritten in ${((performance.now() - t0) / 1000).toFixed(1)} s.`));
      showResult(model.graph, outcome);
    } catch (e) {
      fill(status, message("error", errorText(e)));
    } finally {
      button.disabled = false;
    }
  };

  const showResult = (before: Graph, outcome: RewriteOutcome) => {
    const r: RewriteReport = outcome.report;
    // A structural rewrite has no weights: fresh ones are drawn when a download asks for them.
    let drawn: Weights | null = outcome.weights;
    const weights = (): Weights => {
      drawn ??= initialWeights(outcome.graph, 0);
      return drawn;
    };
    const fresh = outcome.weights === null;
    const stepTables = r.steps.map((s) =>
      h(
        "div",
        { class: "step", "data-step": s.rule },
        h(
          "h3",
          null,
          `${s.rule} — where ${s.where || "(every node it applies to)"}; ${s.sites.length} site(s)`,
        ),
        s.sites.length > 0
          ? simpleTable(
              `Sites rewritten by ${s.rule}`,
              [
                "Node",
                "Carry-over",
                "Params before → after",
                "MACs before → after",
                "RF before → after",
                "Error (rel. L2)",
                "Detail",
              ],
              s.sites.map((site) => [
                site.node,
                site.carry,
                `${thousands(site.before.params)} → ${thousands(site.after.params)}`,
                `${thousands(site.before.macs)} → ${thousands(site.after.macs)}`,
                `${site.before.receptiveField?.join("×") ?? "–"} → ${site.after.receptiveField?.join("×") ?? "–"}`,
                err(site.error),
                site.detail,
              ]),
              `sites-${s.rule}`,
            )
          : null,
        s.refusals.length > 0
          ? h(
              "ul",
              { class: "refusals" },
              s.refusals.map((x) => h("li", null, `refused ${x.node}: ${x.reason}`)),
            )
          : null,
        s.notes.length > 0
          ? h(
              "ul",
              { class: "notes" },
              s.notes.map((x) => h("li", null, x)),
            )
          : null,
      ),
    );
    const base = `${outcome.graph.name}`.replace(/[^A-Za-z0-9_.-]+/g, "_");
    const downloads = h(
      "div",
      { class: "buttons" },
      h(
        "button",
        {
          type: "button",
          class: "button",
          "data-action": "download-onnx",
          onclick: () => {
            try {
              download(
                `${base}.onnx`,
                exportOnnx(outcome.graph, weights(), { docString: "rewritten by convkit" }),
                "application/octet-stream",
              );
            } catch (e) {
              fill(status, message("error", errorText(e)));
            }
          },
        },
        "Download ONNX",
      ),
      h(
        "button",
        {
          type: "button",
          class: "button secondary",
          "data-action": "download-graph",
          onclick: () => download(`${base}.graph.json`, serializeGraph(outcome.graph), "application/json"),
        },
        "Download graph JSON",
      ),
      h(
        "button",
        {
          type: "button",
          class: "button secondary",
          "data-action": "download-weights",
          onclick: () =>
            download(
              `${base}.safetensors`,
              weightsToSafetensors(outcome.graph, weights()),
              "application/octet-stream",
            ),
        },
        "Download weights (safetensors)",
      ),
    );
    const diagramOf = (g: Graph) => {
      const n = g.nodes.length;
      return drawGraph(g, { depth: n <= 40 ? undefined : n <= 200 ? 2 : 1 });
    };
    fill(
      results,
      section(
        "Before and after",
        numberList(
          [
            ...costItems("before", "before:", r.before),
            ...costItems("after", "after:", r.after),
            {
              key: "ratio-params",
              label: "parameters after / before",
              text: pct(r.ratio.params),
              value: r.ratio.params,
            },
            { key: "ratio-macs", label: "MACs after / before", text: pct(r.ratio.macs), value: r.ratio.macs },
            {
              key: "output-error",
              label: "output error (relative L2, sample inputs)",
              text: r.outputError
                ? r.outputError.relL2.toExponential(2)
                : "not measured (structural rewrite)",
              value: r.outputError ? r.outputError.relL2 : "",
            },
          ],
          "Rewrite totals",
        ),
        stepTables,
        h(
          "details",
          null,
          h("summary", null, "The rewriter's text report"),
          h("pre", { class: "report-text" }, formatReport(r)),
        ),
      ),
      section(
        "Download the rewritten model",
        h(
          "p",
          { class: "note" },
          fresh
            ? "Structural rewrite: the downloads carry freshly initialised weights (PyTorch's defaults), ready to train."
            : "The weights were carried over by the rules (see each site's carry-over and error).",
        ),
        downloads,
      ),
      section(
        "Diagrams",
        h(
          "div",
          { class: "side-by-side" },
          h("div", null, h("h3", null, "Before"), scrollFrame(drawing(diagramOf(before), "before"))),
          h("div", null, h("h3", null, "After"), scrollFrame(drawing(diagramOf(outcome.graph), "after"))),
        ),
      ),
    );
    results.dataset.done = "true";
    results.scrollIntoView({ block: "start" });
  };

  const button = h(
    "button",
    { type: "button", class: "button", "data-action": "rewrite", onclick: () => void run() },
    "Rewrite",
  );
  const pick = selectField({
    label: "Model",
    name: "model",
    value: model.key,
    options: modelChoices(),
    onChange: (key) => {
      model = modelByKey(key);
      setCurrentModel(model);
      carry = analyze(model.graph).totals.macs < 100e6;
      renderCarry();
      fill(results);
      fill(status);
    },
  }).root;

  renderRules();
  renderCarry();
  fill(
    main,
    h("h1", null, "Rewrite"),
    h(
      "p",
      { class: "intro" },
      "The article's network rewriting ideas (§10) as rules on a real model. Tick rules (they apply in the order listed: kernel, channels, connections), narrow where they apply with a selector such as ",
      h("code", null, "kernel>=5, stage=2"),
      ", and rewrite.",
    ),
    h("div", { class: "controls-row" }, pick),
    section("Rules", rules),
    h("div", { class: "action-bar" }, carryBox, h("div", { class: "buttons" }, button), status),
    results,
    h(
      "p",
      { class: "note" },
      `Selector keys: ${WHERE_KEYS.join(", ")}; clauses joined by commas (see docs/rewrite.md).`,
    ),
  );
  return () => {
    alive = false;
  };
}
