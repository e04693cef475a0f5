import { thousands } from "../../../src/analyze/format.js";
import { drawLineChart } from "../../../src/draw/charts.js";
import { RULES } from "../../../src/rewrite/registry.js";
import { STUDY_BASELINE, ZOO } from "../../../src/zoo/index.js";
import { dataUrl } from "../data.js";
import { EngineClient, pageCores } from "../engine.js";
import type { Cleanup } from "../main.js";
import { drawing, errorText, fill, h, message, numberField, section, selectField, textField } from "../ui.js";
import type { JobEvent, TrainSpec } from "../worker/protocol.js";

/**
 * The Train page: the study baseline and a rewritten variant trained side by side, each in its own Web Worker
 * (kernel threads split between them where the page is cross-origin isolated), on the embedded Fashion-MNIST
 * subset; live loss and accuracy curves and images per second; for a deformable variant, the sampling points it
 * learns, on test images.
 */

interface RunView {
  label: string;
  panel: HTMLElement;
  info: HTMLElement;
  stats: HTMLElement;
  losses: [number, number][];
  tests: [number, number][];
  client: EngineClient | null;
  imagesPerSecond: number;
  lastStep: Extract<JobEvent, { kind: "train-step" }> | null;
}

const FMNIST_MODELS = Object.entries(ZOO)
  .filter(([, e]) => e.inputShape.join() === "1,28,28" && e.numClasses === 10)
  .map(([name, e]) => [name, `${name} — ${e.description}`] as [string, string]);

/** Default selectors per rule on the Fashion-MNIST nets: the deformable layer goes first, on the image itself. */
const PRESET_WHERE: Record<string, string> = { deformable: "name=features.conv1.conv" };

const settings = {
  model: STUDY_BASELINE,
  rule: "deformable",
  where: PRESET_WHERE.deformable,
  carry: "carry",
  batchSize: 32,
  lr: 0.05,
  optimizer: "sgd",
  steps: 300,
  evalEvery: 50,
  seed: 0,
};

function mean(xs: readonly number[]): number {
  return xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
}

export function renderTrain(main: HTMLElement): Cleanup {
  let runs: RunView[] = [];
  const status = h("div", { class: "status-box", "aria-live": "polite" });
  const panels = h("div", { class: "side-by-side runs" });
  const charts = h("div", { class: "side-by-side" });
  const deform = h("div");
  let chartTimer: ReturnType<typeof setTimeout> | null = null;

  const drawCharts = () => {
    chartTimer = null;
    const lossSeries = runs
      .filter((r) => r.losses.length >= 2)
      .map((r) => ({ name: r.label, points: r.losses }));
    const testSeries = runs
      .filter((r) => r.tests.length >= 2)
      .map((r) => ({ name: r.label, points: r.tests.map(([s, a]) => [s, 100 * a] as [number, number]) }));
    fill(
      charts,
      lossSeries.length > 0
        ? drawing(
            drawLineChart({
              title: "Training loss (each batch)",
              xLabel: "step",
              yLabel: "cross-entropy",
              series: lossSeries,
              width: 440,
              height: 240,
            }),
            "loss-chart",
          )
        : null,
      testSeries.length > 0
        ? drawing(
            drawLineChart({
              title: "Test accuracy",
              xLabel: "step",
              yLabel: "accuracy (%)",
              series: testSeries,
              width: 440,
              height: 240,
            }),
            "accuracy-chart",
          )
        : null,
    );
  };
  const scheduleCharts = () => {
    chartTimer ??= setTimeout(drawCharts, 400);
  };

  const newRun = (label: string): RunView => {
    const info = h("div", { class: "run-info" }, message("note", "Starting a worker…"));
    const stats = h("div", { class: "run-stats", "aria-live": "off" });
    const panel = h(
      "section",
      { class: "panel run", "data-run": label, "data-state": "starting" },
      h("h2", null, label),
      info,
      stats,
    );
    return {
      label,
      panel,
      info,
      stats,
      losses: [],
      tests: [],
      client: null,
      imagesPerSecond: 0,
      lastStep: null,
    };
  };

  const showStats = (r: RunView, e: Extract<JobEvent, { kind: "train-step" }> | null, total: number) => {
    if (e === null) {
      if (r.lastStep === null) return;
      e = r.lastStep;
    }
    r.lastStep = e;
    r.panel.dataset.steps = String(e.step);
    r.panel.dataset.losses = JSON.stringify(r.losses.map(([, l]) => Number(l.toPrecision(6))));
    r.imagesPerSecond = e.imagesPerSecond;
    const last = r.losses.slice(-10).map(([, l]) => l);
    const test = r.tests[r.tests.length - 1];
    fill(
      r.stats,
      h(
        "dl",
        { class: "numbers" },
        h(
          "div",
          { class: "number" },
          h("dt", null, "step"),
          h("dd", { "data-k": "step" }, `${e.step} / ${total} (epoch ${e.epoch + 1})`),
        ),
        h(
          "div",
          { class: "number" },
          h("dt", null, "loss (last 10 steps)"),
          h("dd", { "data-k": "loss" }, mean(last).toFixed(4)),
        ),
        h(
          "div",
          { class: "number" },
          h("dt", null, "batch accuracy"),
          h("dd", null, `${(100 * e.accuracy).toFixed(1)}%`),
        ),
        h(
          "div",
          { class: "number" },
          h("dt", null, "test accuracy"),
          h("dd", { "data-k": "test" }, test ? `${(100 * test[1]).toFixed(1)}% at step ${test[0]}` : "–"),
        ),
        h(
          "div",
          { class: "number" },
          h("dt", null, "images / s"),
          h("dd", { "data-k": "ips", "data-value": e.imagesPerSecond }, e.imagesPerSecond.toFixed(1)),
        ),
        h("div", { class: "number" }, h("dt", null, "learning rate"), h("dd", null, e.lr.toPrecision(3))),
      ),
    );
  };

  const start = () => {
    stopAll(true);
    const { cores, isolated } = pageCores();
    const threads = isolated ? Math.max(1, Math.floor(cores / 2)) : 1;
    runs = [newRun("baseline"), newRun("variant")];
    fill(
      panels,
      runs.map((r) => r.panel),
    );
    fill(charts);
    fill(deform);
    const rule = settings.rule;
    const where = settings.where.trim();
    const specFor = (label: string, steps: TrainSpec["steps"]): TrainSpec => ({
      label,
      model: settings.model,
      steps,
      carry: settings.carry === "carry",
      seed: settings.seed,
      batchSize: settings.batchSize,
      lr: settings.lr,
      optimizer: settings.optimizer as "sgd" | "adam",
      epochs: 0,
      maxSteps: settings.steps,
      evalEvery: settings.evalEvery,
      evalImages: 500,
      showImages: [0, 1, 2],
      dataUrl: dataUrl(),
    });
    const specs = [
      specFor("baseline", []),
      specFor("variant", [{ rule, where: where === "" ? undefined : where }]),
    ];
    fill(
      status,
      message(
        "note",
        `Training both in Web Workers, ${threads} kernel thread(s) each${isolated ? "" : " (this page is not cross-origin isolated: one thread; serve it with convkit serve for threads)"}.`,
      ),
    );
    startButton.disabled = true;
    stopButton.disabled = false;
    let finished = 0;
    runs.forEach((r, i) => {
      const client = new EngineClient(`convkit-train-${r.label}`);
      r.client = client;
      let total = specs[i].maxSteps;
      const onEvent = (e: JobEvent) => {
        switch (e.kind) {
          case "log":
            fill(r.info, message("note", e.text));
            break;
          case "train-ready":
            total = e.totalSteps;
            r.panel.dataset.state = "running";
            fill(
              r.info,
              h(
                "p",
                { class: "run-model" },
                h("strong", null, e.graphName),
                ` — ${thousands(e.params)} parameters, ${thousands(e.macs)} MACs per image`,
              ),
              h(
                "p",
                { class: "note" },
                `Starts from ${e.note}; ${e.threads} kernel thread(s); ${e.stepsPerEpoch} steps per epoch.`,
              ),
            );
            break;
          case "train-step":
            r.losses.push([e.step, e.loss]);
            showStats(r, e, total);
            scheduleCharts();
            break;
          case "train-eval":
            r.tests.push([e.step, e.accuracy]);
            r.panel.dataset.testAccuracy = String(e.accuracy);
            showStats(r, null, total);
            scheduleCharts();
            break;
          case "train-deform":
            fill(
              deform,
              section(
                "Learned sampling points (variant)",
                h(
                  "p",
                  { class: "note" },
                  "The deformable layer's taps at the centre of its output on test images: hollow circles are the regular grid, dots where the layer samples now. Offsets start at zero when the weights are carried over.",
                ),
                h(
                  "div",
                  { class: "side-by-side" },
                  e.svgs.map((svg, k) => drawing(svg, `deform-${k}`)),
                ),
              ),
            );
            deform.dataset.step = String(e.step);
            break;
        }
      };
      client
        .call({ kind: "init", threads })
        .then(() =>
          client.call<{ steps: number; stopped: boolean }>({ kind: "train", spec: specs[i] }, onEvent),
        )
        .then((res) => {
          r.panel.dataset.state = "done";
          r.panel.dataset.steps = String(res.steps);
          r.info.append(message("ok", `${res.stopped ? "Stopped" : "Finished"} after ${res.steps} steps.`));
        })
        .catch((err) => {
          r.panel.dataset.state = "error";
          fill(r.info, message("error", errorText(err)));
        })
        .finally(() => {
          drawCharts();
          finished += 1;
          if (finished === runs.length) {
            startButton.disabled = false;
            stopButton.disabled = true;
          }
        });
    });
  };

  const stopAll = (terminate: boolean) => {
    for (const r of runs) {
      if (!r.client) continue;
      if (terminate) r.client.terminate();
      else void r.client.stop().catch(() => {});
    }
  };

  const startButton = h(
    "button",
    { type: "button", class: "button", "data-action": "start", onclick: start },
    "Start training",
  );
  const stopButton = h(
    "button",
    {
      type: "button",
      class: "button secondary",
      "data-action": "stop",
      disabled: true,
      onclick: () => stopAll(false),
    },
    "Stop",
  );

  const whereField = textField({
    label: "Where the rule applies",
    name: "where",
    value: settings.where,
    onChange: (x) => {
      settings.where = x;
    },
  });
  const controls = h(
    "form",
    { class: "controls", "aria-label": "Training settings", onsubmit: (e: Event) => e.preventDefault() },
    h(
      "fieldset",
      { class: "wide-fields" },
      h("legend", null, "Models"),
      selectField({
        label: "Baseline",
        name: "model",
        value: settings.model,
        options: FMNIST_MODELS,
        onChange: (x) => {
          settings.model = x;
        },
      }).root,
      selectField({
        label: "Variant: rewrite rule",
        name: "rule",
        value: settings.rule,
        options: RULES.map((r) => [r.name, `${r.name} — ${r.description}`] as [string, string]),
        onChange: (x) => {
          settings.rule = x;
          settings.where = PRESET_WHERE[x] ?? RULES.find((r) => r.name === x)!.defaultWhere;
          whereField.input.value = settings.where;
        },
      }).root,
      whereField.root,
      selectField({
        label: "Variant starts from",
        name: "carry",
        value: settings.carry,
        options: [
          ["carry", "the baseline's initial weights, carried over"],
          ["fresh", "fresh initial weights (from scratch)"],
        ],
        onChange: (x) => {
          settings.carry = x;
        },
      }).root,
    ),
    h(
      "fieldset",
      null,
      h("legend", null, "Training"),
      numberField({
        label: "Steps",
        name: "steps",
        value: settings.steps,
        min: 1,
        max: 100000,
        onChange: (x) => {
          settings.steps = Math.floor(x);
        },
      }).root,
      numberField({
        label: "Batch size",
        name: "batch",
        value: settings.batchSize,
        min: 1,
        max: 512,
        onChange: (x) => {
          settings.batchSize = Math.floor(x);
        },
      }).root,
      numberField({
        label: "Learning rate",
        name: "lr",
        value: settings.lr,
        min: 0,
        max: 10,
        step: 0.001,
        onChange: (x) => {
          settings.lr = x;
        },
      }).root,
      selectField({
        label: "Optimizer",
        name: "optimizer",
        value: settings.optimizer,
        options: [
          ["sgd", "SGD, momentum 0.9 (the study's)"],
          ["adam", "Adam"],
        ],
        onChange: (x) => {
          settings.optimizer = x;
        },
      }).root,
      numberField({
        label: "Test every N steps",
        name: "eval-every",
        value: settings.evalEvery,
        min: 1,
        max: 10000,
        onChange: (x) => {
          settings.evalEvery = Math.floor(x);
        },
      }).root,
      numberField({
        label: "Seed",
        name: "seed",
        value: settings.seed,
        min: 0,
        max: 2 ** 31,
        onChange: (x) => {
          settings.seed = Math.floor(x);
        },
      }).root,
    ),
    h("div", { class: "buttons" }, startButton, stopButton),
  );

  fill(
    main,
    h("h1", null, "Train"),
    h(
      "p",
      { class: "intro" },
      "The study baseline and one rewritten variant, trained side by side in your browser on the embedded Fashion-MNIST subset (5,000 training images; test accuracy on the first 500 test images). Cosine learning-rate schedule over the steps, no augmentation.",
    ),
    controls,
    status,
    panels,
    charts,
    deform,
  );
  return () => {
    if (chartTimer !== null) clearTimeout(chartTimer);
    stopAll(true);
  };
}
