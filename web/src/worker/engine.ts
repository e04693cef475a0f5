/**
 * The engine worker: WebAssembly kernels (threads where the page is cross-origin isolated), training, rewrites
 * with weights, effective receptive fields and the conv benchmark. One request at a time, except "stop", which
 * a running training job reads between its steps.
 */
import { flopsOf, geometryOf, SHAPES } from "../../../bench/shapes.js";
import { timeCalls } from "../../../bench/timing.js";
import { analyze } from "../../../src/analyze/analyze.js";
import { noGrad } from "../../../src/autograd/gradmode.js";
import { Tensor } from "../../../src/autograd/tensor.js";
import type { Dataset } from "../../../src/data/dataset.js";
import { subsetDataset } from "../../../src/data/dataset.js";
import { DataLoader } from "../../../src/data/loader.js";
import { drawDeformableSampling, offsetsAt } from "../../../src/draw/deformable.js";
import { drawReceptiveField } from "../../../src/draw/receptive.js";
import { GraphModel } from "../../../src/graph/executor.js";
import type { Graph, Node, Weights } from "../../../src/graph/types.js";
import { conv2dKernels } from "../../../src/kernels/conv2d.js";
import { deformConv2dKernels } from "../../../src/kernels/deform.js";
import { setNumThreads, threadingStatus, whenThreadsReady } from "../../../src/kernels/threads/index.js";
import { activeKernelBackend, useWasmKernels } from "../../../src/kernels/wasm/index.js";
import { buildReport } from "../../../src/rewrite/report.js";
import { rewrite } from "../../../src/rewrite/rewrite.js";
import { errorMessage } from "../../../src/tensor/errors.js";
import { Rng } from "../../../src/tensor/rng.js";
import { initialWeights } from "../../../src/train/init-weights.js";
import { TrainStepper } from "../../../src/train/stepper.js";
import { buildZooModel } from "../../../src/zoo/index.js";
import { loadSplit } from "../data.js";
import type {
  BenchRow,
  BenchSpec,
  EngineStatus,
  JobEvent,
  Request,
  RequestMessage,
  ResponseMessage,
  RewriteOutcome,
  RewriteSpec,
  TrainSpec,
} from "./protocol.js";

interface WorkerScope {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<RequestMessage>) => void) | null;
}
const scope = self as unknown as WorkerScope;

let stopRequested = false;
let engine: Promise<string> | null = null;

function post(message: ResponseMessage): void {
  scope.postMessage(message);
}

/** Loads the WebAssembly kernels once; `threads` kernel threads where the page allows them. */
function start(threads: number): Promise<string> {
  engine ??= (async () => {
    setNumThreads(Math.max(1, threads));
    const backend = await useWasmKernels();
    await whenThreadsReady();
    return backend;
  })();
  return engine;
}

function status(): EngineStatus {
  const t = threadingStatus();
  return {
    backend: activeKernelBackend(),
    crossOriginIsolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true,
    threads: { requested: t.requested, active: t.active, supported: t.supported, reason: t.reason },
  };
}

/** Lets the "stop" message in between two steps. */
function yieldTurn(): Promise<void> {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => resolve();
    ch.port2.postMessage(0);
  });
}

function runRewrite(spec: RewriteSpec): RewriteOutcome {
  const result = rewrite(spec.graph, spec.weights, spec.steps, {
    seed: spec.seed ?? 0,
    distill: spec.distillSteps === undefined ? undefined : { steps: spec.distillSteps },
  });
  const report = buildReport(result, (g) => analyze(g));
  return { graph: result.graph, weights: result.weights, report, outputError: result.outputError };
}

function erf(r: Extract<Request, { kind: "erf" }>): string {
  const input = new Tensor(r.input, [1, ...r.shape]);
  return drawReceptiveField(r.graph, r.weights, { layer: r.layer, unit: r.unit, inputs: [input] });
}

/** A one-image batch of `dataset`, normalised as training normalises. */
function oneImage(dataset: Dataset, index: number, stepper: TrainStepper): Tensor {
  const h = stepper.hyperparameters;
  const loader = new DataLoader(subsetDataset(dataset, [index]), {
    batchSize: 1,
    normalize: h.normalize ?? undefined,
  });
  return loader.epochBatches(0).next().value!.images;
}

/**
 * Sampling points of the first deformable layer at the centre of its output, on test images: the regular grid
 * against the learned offsets. The points are drawn on the layer's input: the image itself when the layer reads
 * the graph input, else the channel mean of the feature map it reads.
 */
function deformDrawings(
  model: GraphModel,
  test: Dataset,
  stepper: TrainStepper,
  indices: number[],
): string[] {
  const node = model.graph.nodes.find(
    (n): n is Extract<Node, { op: "deformConv2d" }> => n.op === "deformConv2d",
  );
  if (!node) return [];
  const a = node.attrs;
  const taps = a.kernelSize[0] * a.kernelSize[1];
  const svgs: string[] = [];
  const wasTraining = model.training;
  model.eval();
  try {
    for (const index of indices) {
      const values = noGrad(() => model.runAll(oneImage(test, index, stepper)));
      const offset = values.get(node.inputs[1])!;
      const out = values.get(node.outputs[0])!;
      const at: [number, number] = [Math.floor(out.shape[2] / 2), Math.floor(out.shape[3] / 2)];
      const onImage = node.inputs[0] === model.graph.inputs[0]?.name;
      const [, , h, w] = test.shape;
      let image: { data: Float32Array; height: number; width: number };
      if (onImage) {
        image = {
          data: Float32Array.from(test.images.subarray(index * h * w, (index + 1) * h * w)),
          height: h,
          width: w,
        };
      } else {
        const x = values.get(node.inputs[0])!;
        const [, c, fh, fw] = x.shape;
        const mean = new Float32Array(fh * fw);
        for (let ch = 0; ch < c; ch++)
          for (let k = 0; k < fh * fw; k++) mean[k] += x.data[ch * fh * fw + k] / c;
        image = { data: mean, height: fh, width: fw };
      }
      svgs.push(
        drawDeformableSampling({
          image,
          kernelSize: a.kernelSize,
          stride: a.stride,
          padding: a.padding,
          dilation: a.dilation,
          at,
          panels: [
            { label: "(a) regular grid", offsets: new Float32Array(2 * taps) },
            { label: `(b) learned, step ${stepper.step}`, offsets: offsetsAt(offset, taps, at[0], at[1]) },
          ],
          title: `${node.name} on test image ${index} (${test.classes[test.labels[index]]})${onImage ? "" : ", on its input feature map"}`,
        }),
      );
    }
  } finally {
    model.train(wasTraining);
  }
  return svgs;
}

async function train(id: number, spec: TrainSpec): Promise<unknown> {
  const send = (event: JobEvent) => post({ id, type: "event", event });
  const [trainSet, testSet] = await Promise.all([
    loadSplit(spec.dataUrl, "train"),
    loadSplit(spec.dataUrl, "test"),
  ]);
  const base = buildZooModel(spec.model, { seed: spec.seed });
  let graph: Graph = base.graph;
  let weights: Weights = base.weights;
  let note = "the zoo model with its PyTorch-default initial weights";
  if (spec.steps.length > 0) {
    send({ kind: "log", text: `rewriting ${spec.model}: ${spec.steps.map((s) => s.rule).join(", ")}` });
    const result = rewrite(graph, spec.carry ? weights : null, spec.steps, {
      seed: spec.seed,
      measure: false,
      distill: { steps: 100 },
    });
    graph = result.graph;
    if (spec.carry && result.weights) {
      weights = result.weights;
      note = "the baseline's initial weights carried over by the rewrite";
    } else {
      weights = initialWeights(graph, spec.seed);
      note = "fresh PyTorch-default initial weights (trained from scratch)";
    }
  }
  const model = new GraphModel(graph, weights);
  // epochs 0: as many as the steps need, so that the cosine schedule spans the run.
  const epochs =
    spec.epochs > 0
      ? spec.epochs
      : Math.max(1, Math.ceil(spec.maxSteps / Math.ceil(trainSet.shape[0] / spec.batchSize)));
  const stepper = new TrainStepper(model, {
    train: trainSet,
    epochs,
    batchSize: spec.batchSize,
    lr: spec.lr,
    optimizer: spec.optimizer,
    seed: spec.seed,
  });
  const analysis = analyze(graph);
  const deformable = graph.nodes.some((n) => n.op === "deformConv2d");
  send({
    kind: "train-ready",
    label: spec.label,
    graphName: graph.name,
    params: analysis.totals.params,
    macs: analysis.totals.macs,
    stepsPerEpoch: stepper.stepsPerEpoch,
    totalSteps: Math.min(stepper.totalSteps, spec.maxSteps),
    deformable,
    threads: threadingStatus().active,
    note,
  });
  const evaluate = () => {
    const e = stepper.evaluate(testSet, { limit: spec.evalImages });
    send({ kind: "train-eval", step: stepper.step, loss: e.loss, accuracy: e.accuracy, images: e.count });
    if (deformable && spec.showImages.length > 0) {
      send({
        kind: "train-deform",
        step: stepper.step,
        svgs: deformDrawings(model, testSet, stepper, spec.showImages),
      });
    }
  };
  // Step 0: the starting point of both curves (and the deformable layer's regular grid).
  evaluate();
  let images = 0;
  let ms = 0;
  stopRequested = false;
  while (!stopRequested && stepper.step < spec.maxSteps) {
    const r = stepper.next();
    if (r === null) break;
    images += r.images;
    ms += r.milliseconds;
    send({
      kind: "train-step",
      step: r.step,
      epoch: r.epoch,
      loss: r.loss,
      accuracy: r.accuracy,
      lr: r.lr,
      milliseconds: r.milliseconds,
      imagesPerSecond: ms > 0 ? (1000 * images) / ms : 0,
    });
    if (r.step % spec.evalEvery === 0) evaluate();
    await yieldTurn();
  }
  if (stepper.step % spec.evalEvery !== 0) evaluate();
  return { steps: stepper.step, stopped: stopRequested };
}

function bench(id: number, spec: BenchSpec): Promise<BenchRow[]> {
  return (async () => {
    const rows: BenchRow[] = [];
    const rng = new Rng(0);
    const random = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
    for (const variant of spec.variants) {
      await useWasmKernels({ variant });
      for (const threads of spec.threads) {
        setNumThreads(threads);
        const ready = await whenThreadsReady();
        for (const name of spec.shapes) {
          const shape = SHAPES.find((s) => s.name === name);
          if (!shape) throw new Error(`unknown benchmark shape ${name}`);
          const g = geometryOf(shape, spec.batch);
          const x = random(g.n * g.cIn * g.hIn * g.wIn);
          const w = random(g.cOut * (g.cIn / g.groups) * g.kH * g.kW);
          const y = new Float32Array(g.n * g.cOut * g.hOut * g.wOut);
          const gx = new Float32Array(x.length);
          const gw = new Float32Array(w.length);
          const gy = random(y.length);
          // Deformable shapes: offsets of about a pixel and a mask in [0, 1), all four gradients backward.
          const og = shape.deformable?.offsetGroups ?? 0;
          const dg = { ...g, offsetGroups: og };
          const taps = g.n * og * g.kH * g.kW * g.hOut * g.wOut;
          const offset = random(2 * taps);
          const mask = Float32Array.from({ length: taps }, () => rng.uniform());
          const grads = {
            input: gx,
            offset: new Float32Array(offset.length),
            mask: new Float32Array(taps),
            weight: gw,
          };
          for (const direction of spec.directions) {
            const call = shape.deformable
              ? direction === "forward"
                ? () => deformConv2dKernels.forward(x, offset, mask, w, null, dg, y)
                : () => deformConv2dKernels.backward(x, offset, mask, w, gy, dg, grads)
              : direction === "forward"
                ? () => conv2dKernels.forward(x, w, null, g, y)
                : () => {
                    conv2dKernels.backwardInput(gy, w, g, gx);
                    conv2dKernels.backwardWeight(x, gy, g, gw);
                  };
            const t = timeCalls(call, { reps: spec.reps, minSampleMs: spec.minSampleMs, slowCallMs: 5000 });
            const flops = flopsOf(g, direction);
            const row: BenchRow = {
              shape: shape.name,
              label: shape.label,
              batch: spec.batch,
              direction,
              variant,
              threads: ready.active,
              gflop: flops / 1e9,
              medianMs: t.median,
              minMs: t.min,
              maxMs: t.max,
              gflops: flops / 1e6 / t.median,
            };
            rows.push(row);
            post({ id, type: "event", event: { kind: "bench-row", row } });
            await yieldTurn();
          }
        }
      }
    }
    return rows;
  })();
}

let busy: Promise<unknown> = Promise.resolve();

async function handle(id: number, request: Request): Promise<unknown> {
  switch (request.kind) {
    case "init":
      await start(request.threads);
      return status();
    case "status":
      await start(1);
      return status();
    case "rewrite":
      await start(1);
      return runRewrite(request.spec);
    case "erf":
      await start(1);
      return erf(request);
    case "train":
      await start(1);
      return train(id, request.spec);
    case "bench":
      await start(1);
      return bench(id, request.spec);
    case "stop":
      stopRequested = true;
      return null;
  }
}

scope.onmessage = (e: MessageEvent<RequestMessage>) => {
  const { id, request } = e.data;
  const run = async () => {
    try {
      const result = await handle(id, request);
      post({ id, type: "result", result });
    } catch (err) {
      post({ id, type: "error", error: errorMessage(err) });
    }
  };
  // "stop" must reach a running job, so it does not queue behind it.
  if (request.kind === "stop") void run();
  else busy = busy.then(run);
};
