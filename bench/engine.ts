import type { DeformConv2dGeometry } from "../src/kernels/deform.js";
import type { Conv2dGeometry } from "../src/tensor/conv-geometry.js";
import type { BenchShape, Direction } from "./shapes.js";
import type { Timing, TimingPlan } from "./timing.js";

/** One shape at one batch size, with the data every in-process engine uses. */
export interface Workload {
  shape: BenchShape;
  batch: number;
  g: Conv2dGeometry;
  x: Float32Array;
  w: Float32Array;
  /** Gradient of the output, for backward. */
  gy: Float32Array;
  /** Deformable shapes: offsets [N, 2*og*k*k, Hout, Wout] and mask [N, og*k*k, Hout, Wout]. */
  deform?: { g: DeformConv2dGeometry; offset: Float32Array; mask: Float32Array };
}

export interface EngineInfo {
  name: string;
  /** "ours": this library; "native": compiled C++ peers (the ratio baseline); "js": other JavaScript engines. */
  kind: "ours" | "native" | "js";
  /** Version string for the report. */
  version: string;
  /** Why it is absent or limited, for the report. */
  note?: string;
  /** Threads it computes on (1 when absent). Ratios to native peers use one-thread engines only. */
  threads?: number;
}

export interface Engine extends EngineInfo {
  /** Per-call timing, or null when the engine does not support this direction (noted in the report). */
  measure(work: Workload, direction: Direction, plan: TimingPlan): Promise<Timing | null>;
  /**
   * Forward output in NCHW (for the cross-check between engines), when the engine runs in-process; null
   * when it does not support the workload.
   */
  forwardOutput?(work: Workload): Promise<Float32Array | null>;
  /** Bytes of memory this engine holds for its kernels, when it can tell. */
  memoryBytes?(): number;
  close(): Promise<void>;
}
