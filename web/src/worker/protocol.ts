import type { Graph, Weights } from "../../../src/graph/types.js";
import type { RewriteReport } from "../../../src/rewrite/report.js";
import type { RuleStep } from "../../../src/rewrite/rewrite.js";
import type { ErrorStats } from "../../../src/rewrite/types.js";

/**
 * Messages between the page and its engine workers. The engine (WebAssembly kernels, their thread pool,
 * training, rewrites with weights, gradients, benchmarks) runs in Web Workers: the page stays responsive, and
 * the thread pool may block in Atomics.wait, which browsers allow only off the main thread.
 */

export interface EngineStatus {
  backend: string;
  crossOriginIsolated: boolean;
  threads: { requested: number; active: number; supported: boolean; reason: string | null };
}

export interface TrainSpec {
  /** Label shown in the page ("baseline", "variant"). */
  label: string;
  /** Zoo model to start from. */
  model: string;
  /** Rewrite steps applied to it (none for the baseline). */
  steps: RuleStep[];
  /** Variant weights: carried over from the baseline's initial weights (true) or freshly initialised. */
  carry: boolean;
  seed: number;
  batchSize: number;
  lr: number;
  optimizer: "sgd" | "adam";
  /** Epochs of the learning-rate schedule; 0: as many as `maxSteps` needs. */
  epochs: number;
  /** Stop after this many steps (the schedule still spans `epochs`). */
  maxSteps: number;
  /** Evaluate on the first `evalImages` test images every `evalEvery` steps (and at the end). */
  evalEvery: number;
  evalImages: number;
  /** Test images on which a deformable layer's sampling points are drawn. */
  showImages: number[];
  /** Absolute URL of the folder holding the Fashion-MNIST IDX files. */
  dataUrl: string;
}

export interface RewriteSpec {
  graph: Graph;
  weights: Weights | null;
  steps: RuleStep[];
  /** Adam steps of distillation where a rule fits its new layers (default: the rewriter's 300). */
  distillSteps?: number;
  seed?: number;
}

export interface RewriteOutcome {
  graph: Graph;
  weights: Weights | null;
  report: RewriteReport;
  outputError: ErrorStats | null;
}

export type Request =
  | { kind: "init"; threads: number }
  | { kind: "status" }
  | { kind: "rewrite"; spec: RewriteSpec }
  | {
      kind: "erf";
      graph: Graph;
      weights: Weights;
      layer: string;
      unit: [number, number];
      /** One input [C, H, W] (row-major). */
      input: Float32Array;
      shape: [number, number, number];
    }
  | { kind: "train"; spec: TrainSpec }
  | { kind: "stop" }
  | { kind: "bench"; spec: BenchSpec };

export interface BenchSpec {
  shapes: string[];
  batch: number;
  directions: ("forward" | "backward")[];
  variants: ("relaxed-simd" | "simd")[];
  /** Thread counts to measure at (each clamped to what the page can run). */
  threads: number[];
  reps: number;
  minSampleMs: number;
}

export interface BenchRow {
  shape: string;
  label: string;
  batch: number;
  direction: "forward" | "backward";
  variant: string;
  threads: number;
  gflop: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  gflops: number;
}

/** Events a long job streams before its result. */
export type JobEvent =
  | { kind: "log"; text: string }
  | {
      kind: "train-ready";
      label: string;
      graphName: string;
      params: number;
      macs: number;
      stepsPerEpoch: number;
      totalSteps: number;
      deformable: boolean;
      threads: number;
      note: string;
    }
  | {
      kind: "train-step";
      step: number;
      epoch: number;
      loss: number;
      accuracy: number;
      lr: number;
      milliseconds: number;
      imagesPerSecond: number;
    }
  | { kind: "train-eval"; step: number; loss: number; accuracy: number; images: number }
  | { kind: "train-deform"; step: number; svgs: string[] }
  | { kind: "bench-row"; row: BenchRow };

/** page -> worker */
export interface RequestMessage {
  id: number;
  request: Request;
}

/** worker -> page */
export type ResponseMessage =
  | { id: number; type: "event"; event: JobEvent }
  | { id: number; type: "result"; result: unknown }
  | { id: number; type: "error"; error: string };
