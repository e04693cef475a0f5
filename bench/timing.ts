/** Per-call times of one measurement, in milliseconds. */
export interface Timing {
  samples: number[];
  median: number;
  min: number;
  max: number;
  /** Calls averaged inside each sample (short kernels run several times per sample). */
  inner: number;
  /** Set when the engine's memory grew across the measurement (our wasm kernels report it). */
  grew?: boolean;
}

export interface TimingPlan {
  /** Samples taken after warm-up. */
  reps: number;
  /** Each sample runs the kernel enough times to last at least this long. */
  minSampleMs: number;
  /** A kernel slower than this per call is sampled once (the TypeScript reference). */
  slowCallMs: number;
}

export function summarize(samples: number[], inner: number): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { samples, median, min: sorted[0], max: sorted[sorted.length - 1], inner };
}

/** Warm-up call, then `reps` samples of `inner` calls each; returns per-call times. */
export function timeCalls(fn: () => void, plan: TimingPlan): Timing {
  let t = performance.now();
  fn();
  const first = performance.now() - t;
  if (first > plan.slowCallMs) return summarize([first], 1);
  t = performance.now();
  fn();
  const second = performance.now() - t;
  const inner = Math.max(1, Math.ceil(plan.minSampleMs / Math.max(second, 1e-3)));
  const samples: number[] = [];
  for (let r = 0; r < plan.reps; r++) {
    t = performance.now();
    for (let i = 0; i < inner; i++) fn();
    samples.push((performance.now() - t) / inner);
  }
  return summarize(samples, inner);
}

/** timeCalls for asynchronous calls (ONNX Runtime's session.run), awaited one after another. */
export async function timeCallsAsync(fn: () => Promise<unknown>, plan: TimingPlan): Promise<Timing> {
  let t = performance.now();
  await fn();
  const first = performance.now() - t;
  if (first > plan.slowCallMs) return summarize([first], 1);
  t = performance.now();
  await fn();
  const second = performance.now() - t;
  const inner = Math.max(1, Math.ceil(plan.minSampleMs / Math.max(second, 1e-3)));
  const samples: number[] = [];
  for (let r = 0; r < plan.reps; r++) {
    t = performance.now();
    for (let i = 0; i < inner; i++) await fn();
    samples.push((performance.now() - t) / inner);
  }
  return summarize(samples, inner);
}
