import { existsSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { analyze } from "../analyze/analyze.js";
import type { Tensor } from "../autograd/tensor.js";
import { type Dataset, subsetDataset } from "../data/dataset.js";
import { loadFashionMnist } from "../data/fashion-mnist.js";
import { channelStats, DataLoader, type Normalize } from "../data/loader.js";
import { paretoFront } from "../draw/index.js";
import { GraphModel } from "../graph/executor.js";
import { loadModel, saveModel } from "../graph/serialize.js";
import type { Graph, Json, Weights } from "../graph/types.js";
import { writeFileAtomic } from "../io/atomic.js";
import { convkitVersion } from "../io/version.js";
import { setNumThreads, threadingStatus } from "../kernels/threads/index.js";
import { chooseKernels } from "../kernels/wasm/index.js";
import { ArgumentError, errorMessage } from "../tensor/errors.js";
import { hasCheckpoint } from "../train/checkpoint.js";
import { initialWeights } from "../train/init-weights.js";
import { evaluate, train } from "../train/loop.js";
import { OPTIMIZERS } from "../train/loop-config.js";
import { buildZooModel, STUDY_BASELINE } from "../zoo/index.js";
import { type BuiltModel, buildCarriedOver, buildFromScratch } from "./build.js";
import { evaluateClaims } from "./claims.js";
import { drawModel, drawRewrite } from "./drawings.js";
import { type FigureInput, renderHtml } from "./html.js";
import { costOf, measureLatency, planBudgetRun, probeTrainingSpeed } from "./measure.js";
import { applyStructural, planStudy, type StudyPlan } from "./plan.js";
import { hasState, loadState, newState, type StudyState, saveState, toJson } from "./state.js";
import {
  STUDY_FORMAT,
  STUDY_VERSION,
  type StudyEvent,
  type StudyOptions,
  type StudyReport,
  type StudyResult,
  type VariantPlan,
  type VariantRecord,
} from "./types.js";

/**
 * `runStudy`: the main job. Plans the variants (src/study/plan.ts), then for each one in turn builds its initial
 * model (src/study/build.ts), trains it with the shared settings and seed (src/train/loop.ts, with checkpoints),
 * saves it, measures it (src/study/measure.ts) and draws its rewrite (src/study/drawings.ts); finally checks the
 * article's claims (src/study/claims.ts) and writes report.json and index.html (src/study/html.ts).
 *
 * Robustness: the study's state is saved after every variant, so `resume` skips finished variants and resumes
 * the one in progress from its checkpoint; a variant that throws is recorded as failed and the study goes on;
 * an abort signal stops the run in progress after its current step (checkpoint saved) and writes the report
 * so far.
 */

/** Default whole-study time budget when no epochs are given: about 9-10 minutes on a busy 2-core machine. */
export const DEFAULT_BUDGET_MINUTES = 9;

class Interrupted extends Error {}

function positiveInt(value: number | undefined, name: string, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1)
    throw new ArgumentError(`study: ${name}: expected a positive integer, got ${v}`);
  return v;
}

function positiveNumber(value: number | undefined, name: string, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0)
    throw new ArgumentError(`study: ${name}: expected a positive number, got ${v}`);
  return v;
}

/** Normalised images [n, C, H, W] of `dataset` starting at `from` (samples for rewrites and drawings). */
function imagesOf(dataset: Dataset, from: number, n: number, normalize: Normalize): Tensor {
  const count = Math.max(1, Math.min(n, dataset.shape[0] - from));
  const sub = subsetDataset(
    dataset,
    Array.from({ length: count }, (_, i) => Math.min(from + i, dataset.shape[0] - 1)),
    `${dataset.name}[samples]`,
  );
  const loader = new DataLoader(sub, { batchSize: count, normalize });
  for (const batch of loader.epochBatches(0)) return batch.images;
  throw new ArgumentError(`study: ${dataset.name} has no images`);
}

function standardError(p: number, n: number): number {
  return n > 0 ? Math.sqrt((p * (1 - p)) / n) : Number.NaN;
}

interface Resolved {
  name: string;
  graph: Graph;
  weights: Weights;
}

function resolveBaseline(baseline: StudyOptions["baseline"], seed: number): Resolved {
  if (baseline === undefined || typeof baseline === "string") {
    const name = baseline ?? STUDY_BASELINE;
    const m = buildZooModel(name, { seed });
    return { name, graph: m.graph, weights: m.weights };
  }
  return {
    name: baseline.name ?? baseline.graph.name,
    graph: baseline.graph,
    weights: baseline.weights ?? initialWeights(baseline.graph, seed),
  };
}

/** Runs the study described by `options`; see the module comment and docs/study.md. */
export async function runStudy(options: StudyOptions): Promise<StudyResult> {
  const sessionStart = performance.now();
  const outDir = resolve(options.outDir);
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new ArgumentError(`study: seed: expected a non-negative integer, got ${seed}`);
  if (options.epochs !== undefined && options.budgetMinutes !== undefined)
    throw new ArgumentError("study: give epochs or budgetMinutes, not both");
  const mode: "epochs" | "budget" = options.epochs !== undefined ? "epochs" : "budget";
  const epochs = mode === "epochs" ? positiveInt(options.epochs, "epochs", 1) : null;
  const budgetMinutes =
    mode === "budget" ? positiveNumber(options.budgetMinutes, "budgetMinutes", DEFAULT_BUDGET_MINUTES) : null;
  const budgetTotal = budgetMinutes === null ? null : budgetMinutes * 60;
  const fineTune = options.fineTune ?? true;
  const fineTuneEpochs =
    epochs === null
      ? null
      : positiveInt(options.fineTuneEpochs, "fineTuneEpochs", Math.max(1, Math.ceil(epochs / 2)));
  // Short runs (a time budget: about an epoch each) use AdamW, whose first epoch is far steadier than SGD's at
  // a learning rate its per-epoch schedule never gets to lower; fixed epochs use the classic SGD recipe, the
  // one checked against PyTorch (docs/training.md, docs/study.md).
  const optimizer = options.optimizer ?? (mode === "budget" ? "adamw" : "sgd");
  if (!(OPTIMIZERS as readonly string[]).includes(optimizer))
    throw new ArgumentError(`study: optimizer: expected one of ${OPTIMIZERS.join(", ")}, got ${optimizer}`);
  const batchSize = positiveInt(options.batchSize, "batchSize", mode === "budget" ? 32 : 64);
  const lr = positiveNumber(options.lr, "lr", optimizer === "sgd" ? 0.05 : 0.002);
  const fineTuneLr = positiveNumber(options.fineTuneLr, "fineTuneLr", lr / 5);
  const momentum = optimizer === "sgd" ? 0.9 : null;
  const weightDecay = options.weightDecay ?? (optimizer === "sgd" ? 5e-4 : optimizer === "adamw" ? 0.01 : 0);
  if (!(weightDecay >= 0))
    throw new ArgumentError(`study: weightDecay: expected a number >= 0, got ${weightDecay}`);
  const distillSteps = positiveInt(options.distillSteps, "distillSteps", 100);
  const checkpointEvery = positiveInt(options.checkpointEvery, "checkpointEvery", 25);
  const latencyRuns = {
    batch1: positiveInt(options.latencyRuns?.batch1, "latencyRuns.batch1", 9),
    batch64: positiveInt(options.latencyRuns?.batch64, "latencyRuns.batch64", 5),
  };
  const augment = options.augment ?? false;
  const emit = (e: StudyEvent) => options.onEvent?.(e);

  // Kernels and threads first: everything below runs on them.
  const kernels: string = chooseKernels(options.kernels ?? "auto");
  if (options.threads !== undefined) setNumThreads(positiveInt(options.threads, "threads", 1));

  const base = resolveBaseline(options.baseline, seed);
  const data = options.data ?? { ...loadFashionMnist({ embedded: true }), source: "embedded" };
  const image = data.train.shape.slice(1);
  const baseCost = costOf(base.graph, image); // a baseline that does not take these images fails here
  const normalize = channelStats(data.train);
  const plan: StudyPlan = planStudy(base.graph, options.rules, { fineTune });
  const nTrain = data.train.shape[0];
  const nTest = data.test.shape[0];

  const ruleSpecs = plan.rules.map((r) => JSON.stringify(r.step));
  const fingerprint: Record<string, string> = {
    baseline: JSON.stringify([base.name, base.graph.nodes.length, baseCost.params, baseCost.macs]),
    variants: JSON.stringify(plan.variants.map((v) => [v.id, v.steps])),
    mode: JSON.stringify({ epochs, fineTuneEpochs, budgetMinutes }),
    training: JSON.stringify({
      optimizer,
      batchSize,
      lr,
      fineTuneLr,
      weightDecay,
      augment,
      distillSteps,
      seed,
      fineTune,
    }),
    data: JSON.stringify([data.train.name, nTrain, data.test.name, nTest]),
  };
  await mkdir(outDir, { recursive: true });
  let state: StudyState;
  if (hasState(outDir)) {
    if (!options.resume) {
      throw new ArgumentError(
        `study: ${outDir} already holds a study: resume it (--resume) or write to another folder (-o DIR)`,
      );
    }
    state = loadState(outDir, fingerprint);
  } else {
    state = newState(fingerprint);
  }
  state.sessions++;
  const elapsedBefore = state.elapsedSeconds;
  const elapsed = () => elapsedBefore + (performance.now() - sessionStart) / 1000;
  const persist = async () => {
    state.elapsedSeconds = elapsed();
    await saveState(outDir, state);
  };
  await persist();

  const samples = imagesOf(data.train, 0, 4, normalize);
  const fitSamples = imagesOf(data.train, 4, 16, normalize);
  const drawInput = imagesOf(data.test, 0, 1, normalize);
  const drawClass = data.test.classes[data.test.labels[0]] ?? "";
  const baselineAnalysis = analyze(base.graph, [...image]);

  // Planned MACs of every variant (structural), for the ETA of fixed-epoch studies.
  const plannedMacs = new Map<string, number>();
  for (const v of plan.variants) {
    try {
      const g = v.steps.length === 0 ? base.graph : applyStructural(base.graph, v.steps).at(-1)!.graph;
      plannedMacs.set(v.id, costOf(g, image).macs);
    } catch {
      plannedMacs.set(v.id, baseCost.macs);
    }
  }
  const runs = plan.variants;
  emit({
    kind: "plan",
    runs: runs.map((v) => ({ id: v.id, label: v.label, kind: v.kind })),
    mode,
    budgetSeconds: budgetTotal,
  });

  let trainedBaseline: Weights | null = null;
  const figures = new Map<string, FigureInput>();
  const reasonsNotPlanned = new Map<string, string>();
  for (const r of plan.rules) {
    if (!r.applies) {
      const why = [...new Set([...r.refusals.map((x) => x.reason), ...r.notes])].slice(0, 2).join("; ");
      reasonsNotPlanned.set(r.rule, `${r.rule} does not apply to ${base.name}${why ? ` (${why})` : ""}`);
    }
  }

  // Budget mode: the seconds of one unit of weight (a from-scratch run), the same for every run of the study; a
  // few seconds are kept for the report.
  const shareUnit =
    budgetTotal === null ? null : (budgetTotal - 5) / runs.reduce((sum, r) => sum + r.weight, 0);
  /** Training images per second of each architecture: probed, or measured by a finished run. */
  const speedOf = (v: VariantPlan): number | undefined => {
    const key = JSON.stringify(v.steps);
    if (state.probes[key] !== undefined) return state.probes[key];
    const done = Object.values(state.records).find(
      (r) =>
        r.status === "done" &&
        JSON.stringify(r.steps.map((s) => s.rule)) === JSON.stringify(v.steps.map((s) => s.rule)) &&
        r.training,
    );
    return done?.training?.imagesPerSecond;
  };
  const baselineSpeed = () => speedOf(runs[0]) ?? 100;
  const etaFrom = (index: number, currentLeft: number): number => {
    if (budgetTotal !== null && shareUnit !== null) {
      // Each run left takes about its share (it may stop early when its epochs are done).
      const later = runs.slice(index + 1).filter((r) => state.records[r.id]?.status !== "done");
      return currentLeft + later.reduce((sum, r) => sum + shareUnit * r.weight, 0);
    }
    let s = currentLeft;
    for (let j = index + 1; j < runs.length; j++) {
      const v = runs[j];
      if (state.records[v.id]?.status === "done") continue;
      const e = v.kind === "finetune" ? fineTuneEpochs! : epochs!;
      const ips =
        speedOf(v) ??
        Math.min(8, baseCost.macs / Math.max(1, plannedMacs.get(v.id) ?? baseCost.macs)) * baselineSpeed();
      s += (e * (nTrain + nTest / 3)) / ips + 3;
    }
    return s;
  };

  const variantDir = (id: string) => join(outDir, "variants", id);

  const runVariant = async (v: VariantPlan, index: number): Promise<VariantRecord> => {
    const variantStart = elapsed();
    options.beforeVariant?.(v.id);
    const dir = variantDir(v.id);
    const checkpointDir = join(dir, "checkpoint");
    const resuming = state.running?.id === v.id && hasCheckpoint(checkpointDir);
    if (!resuming) await rm(checkpointDir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });

    emit({ kind: "phase", id: v.id, text: "building the model" });
    let built: BuiltModel;
    if (v.kind === "baseline") {
      built = {
        graph: base.graph,
        weights: base.weights,
        init: `the baseline's own initialisation (seed ${seed})`,
        steps: [],
        outputError: null,
      };
    } else if (v.kind === "scratch") {
      built = buildFromScratch(base.graph, base.weights, v.steps, seed);
    } else {
      if (state.records.baseline?.status !== "done")
        throw new Error("fine-tuning needs the trained baseline, which did not finish");
      trainedBaseline ??= (await loadModel(join(variantDir("baseline"), "model"))).weights;
      emit({ kind: "phase", id: v.id, text: "carrying the trained weights over" });
      built = buildCarriedOver(base.graph, trainedBaseline, v.steps, {
        samples,
        fitSamples,
        distillSteps,
        seed,
      });
    }
    const cost = costOf(built.graph, image);
    const model = new GraphModel(built.graph, built.weights);
    const accuracyAtStart = v.kind === "finetune" ? evaluate(model, data.test, { normalize }).accuracy : null;

    // The run's plan: kept from the session that started it, else made now.
    const twin = v.kind === "finetune" ? state.records[v.rule ?? ""] : undefined;
    const reuseLatency =
      twin?.status === "done" &&
      twin.latency !== null &&
      JSON.stringify(twin.steps.map((s) => s.rule)) === JSON.stringify(v.steps.map((s) => s.rule));
    let runEpochs: number;
    let runBudget: number | null = null;
    if (state.running?.id === v.id) {
      runEpochs = state.running.epochs;
      runBudget = state.running.budgetSeconds;
    } else if (budgetTotal === null) {
      runEpochs = v.kind === "finetune" ? fineTuneEpochs! : epochs!;
    } else {
      const key = JSON.stringify(v.steps);
      if (state.probes[key] === undefined) {
        emit({ kind: "phase", id: v.id, text: "probing the training speed" });
        state.probes[key] = probeTrainingSpeed(built.graph, built.weights, data.train, {
          batchSize,
          normalize,
        });
      }
      // The probe times forward and backward passes only: scale it by how fast earlier runs really trained.
      const ratios = state.speedRatios;
      const calibration = ratios.length === 0 ? 0.8 : [...ratios].sort((a, b) => a - b)[ratios.length >> 1];
      const ips = state.probes[key] * Math.min(1, calibration);
      const latencyImages = reuseLatency ? 0 : latencyRuns.batch1 + 1 + 64 * (latencyRuns.batch64 + 1);
      const p = planBudgetRun({
        shareSeconds: (shareUnit ?? 0) * v.weight,
        overheadSeconds: elapsed() - variantStart + latencyImages / (3 * ips) + 1.5,
        imagesPerSecond: ips,
        trainImages: nTrain,
        testImages: nTest,
      });
      runEpochs = p.epochs;
      runBudget = p.budgetSeconds;
    }
    state.running = { id: v.id, epochs: runEpochs, budgetSeconds: runBudget };
    await persist();

    const runStart = elapsed();
    emit({
      kind: "variant-start",
      index,
      total: runs.length,
      id: v.id,
      label: v.label,
      epochs: runEpochs,
      budgetSeconds: runBudget,
      resumed: resuming,
      elapsedSeconds: runStart,
      etaSeconds: etaFrom(
        index,
        runBudget ?? (runEpochs * (nTrain + nTest / 3)) / (speedOf(v) ?? baselineSpeed()),
      ),
    });
    // A smoothed training-loss curve sampled about 25 times an epoch: budget runs last about an epoch, and the
    // per-epoch history alone would be a single point.
    const lossCurve: [number, number][] = [];
    let ema = Number.NaN;
    const result = await train(model, {
      train: data.train,
      test: data.test,
      epochs: runEpochs,
      batchSize,
      optimizer,
      lr: v.kind === "finetune" ? fineTuneLr : lr,
      momentum: momentum ?? undefined,
      weightDecay,
      schedule: "cosine",
      augment,
      normalize,
      seed,
      checkpointDir,
      checkpointEvery,
      resume: resuming,
      budgetSeconds: runBudget ?? undefined,
      signal: options.signal,
      onProgress: (event) => {
        if (event.kind === "step" && Number.isFinite(event.batchLoss)) {
          ema = Number.isNaN(ema) ? event.batchLoss : 0.9 * ema + 0.1 * event.batchLoss;
          const every = Math.max(1, Math.floor(event.stepsPerEpoch / 25));
          if (event.step % every === 0 || event.step === event.stepsPerEpoch)
            lossCurve.push([event.epoch - 1 + event.step / event.stepsPerEpoch, ema]);
        }
        emit({
          kind: "train",
          id: v.id,
          index,
          total: runs.length,
          event,
          etaSeconds: etaFrom(
            index,
            event.kind === "step" && Number.isFinite(event.etaSeconds) ? event.etaSeconds : 0,
          ),
        });
      },
    });
    if (result.stopped === "aborted") throw new Interrupted();

    emit({ kind: "phase", id: v.id, text: "saving and measuring" });
    const meta: Record<string, Json> = {
      ...(built.graph.meta ?? {}),
      normalize: { mean: [...normalize.mean], std: [...normalize.std] },
    };
    const trainedGraph: Graph = { ...built.graph, meta };
    const weights = model.weights();
    await saveModel(join(dir, "model"), trainedGraph, weights);
    if (v.kind === "baseline") trainedBaseline = weights;
    const latency =
      reuseLatency && twin?.latency
        ? { ...twin.latency, sameAs: twin.id }
        : measureLatency(model, image, latencyRuns);

    let drawing: string | null = null;
    if (v.kind !== "finetune") {
      try {
        const analysis = analyze(built.graph, [...image]);
        const fig =
          v.kind === "baseline" || v.rule === null
            ? v.kind === "baseline"
              ? drawModel(built.graph, analysis, `${base.name}: the baseline`, 2)
              : drawModel(built.graph, analysis, `${v.label}, blocks collapsed`, 3)
            : drawRewrite(v.rule, {
                graph: built.graph,
                weights,
                analysis,
                baseline: base.graph,
                baselineAnalysis,
                step:
                  [...built.steps].reverse().find((s) => s.rule === v.rule) ??
                  built.steps[built.steps.length - 1],
                input: drawInput,
                inputClass: drawClass,
              });
        if (fig !== null) {
          await writeFileAtomic(join(dir, "drawing.svg"), fig.svg);
          await writeFileAtomic(join(dir, "drawing.json"), toJson({ caption: fig.caption }));
          drawing = `variants/${v.id}/drawing.svg`;
          figures.set(v.id, fig);
        }
      } catch (e) {
        emit({ kind: "phase", id: v.id, text: `no drawing: ${errorMessage(e)}` });
      }
    }

    const f = result.final;
    const accuracy = f.testAccuracy;
    const images = result.history.reduce((s, h) => s + h.images, 0);
    const record: VariantRecord = {
      id: v.id,
      label: v.label,
      kind: v.kind,
      rule: v.rule,
      reference: v.reference,
      note: v.note,
      status: "done",
      init: built.init,
      steps: built.steps,
      outputError: built.outputError,
      cost,
      latency,
      training: {
        epochsPlanned: runEpochs,
        epochs: result.epochs,
        steps: result.steps,
        images,
        seconds: result.seconds,
        imagesPerSecond: trainingSpeed(result.history),
        stopped: result.stopped,
        lr: v.kind === "finetune" ? fineTuneLr : lr,
        budgetSeconds: runBudget,
        resumedFrom: result.resumedFrom,
        history: result.history,
        lossCurve,
      },
      accuracy,
      standardError: accuracy === null ? null : standardError(accuracy, nTest),
      testLoss: f.testLoss,
      accuracyAtStart,
      model: `variants/${v.id}/model`,
      drawing,
      finishedAt: new Date().toISOString(),
    };
    const probed = state.probes[JSON.stringify(v.steps)];
    if (probed !== undefined && record.training!.imagesPerSecond > 0 && result.resumedFrom === null)
      state.speedRatios.push(record.training!.imagesPerSecond / probed);
    await rm(checkpointDir, { recursive: true, force: true });
    return record;
  };

  let interrupted = false;
  for (let i = 0; i < runs.length; i++) {
    const v = runs[i];
    const previous = state.records[v.id];
    if (previous?.status === "done") {
      emit({ kind: "variant-done", index: i, total: runs.length, record: previous, skipped: true });
      continue;
    }
    if (options.signal?.aborted) {
      interrupted = true;
      emit({ kind: "interrupted", id: null });
      break;
    }
    let record: VariantRecord;
    try {
      record = await runVariant(v, i);
    } catch (e) {
      if (e instanceof Interrupted) {
        interrupted = true;
        await persist();
        emit({ kind: "interrupted", id: v.id });
        break;
      }
      record = failedRecord(v, errorMessage(e));
      emit({ kind: "variant-failed", index: i, total: runs.length, id: v.id, error: record.error! });
    }
    state.records[v.id] = record;
    state.running = null;
    await persist();
    if (record.status === "done")
      emit({ kind: "variant-done", index: i, total: runs.length, record, skipped: false });
  }

  // Drawings of variants finished in earlier sessions come from their files.
  for (const v of runs) {
    const r = state.records[v.id];
    if (r?.status !== "done" || r.drawing === null || figures.has(v.id)) continue;
    try {
      const svg = await readFile(join(outDir, r.drawing), "utf8");
      const meta = JSON.parse(await readFile(join(variantDir(v.id), "drawing.json"), "utf8")) as {
        caption?: string;
      };
      figures.set(v.id, { svg, caption: meta.caption ?? "" });
    } catch {
      // A missing drawing leaves the section without a figure.
    }
  }

  const report = buildReport({
    state,
    plan,
    base: { name: base.name, cost: baseCost },
    data,
    interrupted,
    settings: {
      mode,
      epochs,
      fineTuneEpochs,
      budgetMinutes,
      fineTune,
      seed,
      batchSize,
      optimizer,
      momentum,
      weightDecay,
      schedule: "cosine",
      lr,
      fineTuneLr,
      augment,
      distillSteps,
      normalize: { mean: [...normalize.mean], std: [...normalize.std] },
      rules: ruleSpecs,
    },
    kernels,
    seconds: elapsed(),
    reasons: reasonsNotPlanned,
  });
  const reportJson = join(outDir, "report.json");
  const indexHtml = join(outDir, "index.html");
  await writeFileAtomic(reportJson, toJson(report, 1));
  await writeFileAtomic(indexHtml, renderHtml(report, figures));
  state.elapsedSeconds = elapsed();
  await saveState(outDir, state);
  if (!interrupted) emit({ kind: "done", seconds: report.timing.seconds, reportDir: outDir });
  return { report, reportJson, indexHtml, interrupted };
}

/** Training images per second over a run: images over the training-step seconds of its epochs. */
function trainingSpeed(history: readonly { images: number; imagesPerSecond: number }[]): number {
  let images = 0;
  let seconds = 0;
  for (const h of history) {
    if (h.imagesPerSecond > 0) {
      images += h.images;
      seconds += h.images / h.imagesPerSecond;
    }
  }
  return seconds > 0 ? images / seconds : 0;
}

function failedRecord(v: VariantPlan, error: string): VariantRecord {
  return {
    id: v.id,
    label: v.label,
    kind: v.kind,
    rule: v.rule,
    reference: v.reference,
    note: v.note,
    status: "failed",
    error,
    init: "",
    steps: [],
    outputError: null,
    cost: null,
    latency: null,
    training: null,
    accuracy: null,
    standardError: null,
    testLoss: null,
    accuracyAtStart: null,
    model: null,
    drawing: null,
    finishedAt: new Date().toISOString(),
  };
}

function buildReport(input: {
  state: StudyState;
  plan: StudyPlan;
  base: { name: string; cost: ReturnType<typeof costOf> };
  data: NonNullable<StudyOptions["data"]>;
  interrupted: boolean;
  settings: StudyReport["settings"];
  kernels: string;
  seconds: number;
  reasons: Map<string, string>;
}): StudyReport {
  const { state, plan, data } = input;
  const variants = plan.variants
    .map((v) => state.records[v.id])
    .filter((r): r is VariantRecord => r !== undefined);
  const pending = plan.variants.filter((v) => state.records[v.id] === undefined).map((v) => v.id);
  const byId = new Map(variants.map((v) => [v.id, v]));
  const done = variants.filter((v) => v.status === "done" && v.cost !== null && v.accuracy !== null);
  const front = paretoFront(done.map((v) => ({ label: v.id, x: v.cost!.macs, y: v.accuracy! })));
  const baseline = byId.get("baseline");
  const nTest = data.test.shape[0];
  const threads = threadingStatus();
  const rules = plan.rules.map((r) => ({ ...r }));
  return {
    format: STUDY_FORMAT,
    version: STUDY_VERSION,
    convkit: convkitVersion(),
    status: input.interrupted || pending.length > 0 ? "interrupted" : "complete",
    baseline: { name: input.base.name, graph: "variants/baseline/model/graph.json" },
    data: {
      source: data.source ?? "given",
      dir: data.dir ?? null,
      train: { name: data.train.name, images: data.train.shape[0] },
      test: { name: data.test.name, images: nTest },
    },
    settings: input.settings,
    machine: {
      node: process.versions.node,
      platform: `${process.platform} ${process.arch}`,
      cpus: cpus().length,
      kernels: input.kernels,
      threads: { requested: threads.requested, active: threads.active, reason: threads.reason },
      loadAverage: loadavg(),
    },
    timing: {
      startedAt: state.startedAt,
      finishedAt: new Date().toISOString(),
      seconds: input.seconds,
      sessions: state.sessions,
    },
    noise: {
      testImages: nTest,
      standardErrorPoints: baseline?.accuracy != null ? 100 * standardError(baseline.accuracy, nTest) : null,
      note: "standard error of a test accuracy p on n images: sqrt(p(1-p)/n); of a difference of two: sqrt(se1^2 + se2^2); one training seed per variant, so seed-to-seed noise is not included",
    },
    rules,
    variants,
    pending,
    pareto: front.map((i) => done[i].id),
    claims: evaluateClaims({ variants: byId, budget: input.settings.mode === "budget" }, input.reasons),
  };
}

/** True when `dir` holds a study that `resume` could continue. */
export function hasStudy(dir: string): boolean {
  return existsSync(join(resolve(dir), "study-state.json"));
}
