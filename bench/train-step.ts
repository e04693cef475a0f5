/**
 * Training-step benchmark of the study baseline `fmnist-vgg-large` (batch 64, 1x28x28): times one SGD step
 * (zeroGrad, forward in training mode, cross-entropy, backward, optimizer step) on the reference TypeScript
 * kernels and on the WebAssembly kernels, and shows where the time goes.
 *
 *   npx tsx bench/train-step.ts [--steps 12] [--warmup 3] [--ref-steps 2] [--rounds 2] [--backends ref,wasm]
 *                               [--batch 64] [--no-breakdown] [--cpu-prof] [--top 25] [--json out.json]
 *
 * The machine's cores are shared, so each round runs every backend back to back (same conditions) and the
 * rounds repeat; compare medians, and look at min/max for noise. Timing runs have no instrumentation at all;
 * the breakdown runs separate steps with the seams and backward closures wrapped in timers (a few
 * performance.now() calls per op, well under 1% of a step), and the optional CPU profile uses V8's sampling
 * profiler through node:inspector (per-function self time, wasm and builtins charged to the TypeScript
 * function that called them, garbage collection on its own line).
 */
import { Session } from "node:inspector/promises";
import { PerformanceObserver } from "node:perf_hooks";
import type { GradFn, Tensor } from "../src/autograd/tensor.js";
import { tensor } from "../src/autograd/tensor.js";
import { GraphModel } from "../src/graph/executor.js";
import type { Node } from "../src/graph/types.js";
import { batchNormKernels } from "../src/kernels/batchnorm.js";
import { conv2dKernels } from "../src/kernels/conv2d.js";
import { gemmKernels } from "../src/kernels/gemm.js";
import { poolKernels } from "../src/kernels/pool.js";
import { activeKernelBackend, useReferenceKernels, useWasmKernelsSync } from "../src/kernels/wasm/index.js";
import { crossEntropy } from "../src/ops/loss.js";
import { Rng } from "../src/tensor/rng.js";
import { SGD } from "../src/train/sgd.js";
import { fmnistVggLarge } from "../src/zoo/fmnist.js";
import { summarize, type Timing } from "./timing.js";

type Backend = "ref" | "wasm";

interface Args {
  steps: number;
  warmup: number;
  refSteps: number;
  rounds: number;
  backends: Backend[];
  batch: number;
  breakdown: boolean;
  cpuProf: boolean;
  top: number;
  json: string | null;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    steps: 12,
    warmup: 3,
    refSteps: 2,
    rounds: 2,
    backends: ["ref", "wasm"],
    batch: 64,
    breakdown: true,
    cpuProf: false,
    top: 25,
    json: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`train-step: ${flag} needs a value`);
      return v;
    };
    const int = () => {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 0) throw new Error(`train-step: ${flag} needs a non-negative integer`);
      return v;
    };
    if (flag === "--steps") a.steps = Math.max(1, int());
    else if (flag === "--warmup") a.warmup = int();
    else if (flag === "--ref-steps") a.refSteps = Math.max(1, int());
    else if (flag === "--rounds") a.rounds = Math.max(1, int());
    else if (flag === "--batch") a.batch = Math.max(2, int());
    else if (flag === "--top") a.top = int();
    else if (flag === "--no-breakdown") a.breakdown = false;
    else if (flag === "--cpu-prof") a.cpuProf = true;
    else if (flag === "--json") a.json = value();
    else if (flag === "--backends") {
      const list = value().split(",");
      for (const b of list)
        if (b !== "ref" && b !== "wasm") throw new Error(`train-step: unknown backend ${b}`);
      a.backends = list as Backend[];
    } else throw new Error(`train-step: unknown argument ${flag}`);
  }
  return a;
}

function selectBackend(b: Backend): string {
  if (b === "ref") return useReferenceKernels();
  const got = useWasmKernelsSync();
  if (got === "reference") throw new Error("train-step: this runtime has no WebAssembly SIMD");
  return got;
}

/** A model, an optimizer and one fixed batch: every step trains on the same seeded data. */
interface Trainer {
  model: GraphModel;
  opt: SGD;
  images: Tensor;
  labels: Int32Array;
}

function makeTrainer(batch: number): Trainer {
  const { graph, weights } = fmnistVggLarge({ seed: 0 });
  const model = new GraphModel(graph, weights).train();
  const opt = new SGD([...model.parameters().values()], { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  const rng = new Rng(1);
  const x = new Float32Array(batch * 28 * 28);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  const labels = new Int32Array(batch);
  for (let i = 0; i < batch; i++) labels[i] = Math.floor(rng.uniform() * 10);
  return { model, opt, images: tensor(x, [batch, 1, 28, 28]), labels };
}

interface Phases {
  zeroGrad: number;
  forward: number;
  loss: number;
  backward: number;
  step: number;
}

/** One training step; with `onGraph`, the loss tensor is handed over before backward (to wrap closures). */
function trainStep(t: Trainer, phases?: Phases, onGraph?: (loss: Tensor) => void): number {
  let t0 = performance.now();
  t.opt.zeroGrad();
  let t1 = performance.now();
  if (phases) phases.zeroGrad += t1 - t0;
  t0 = t1;
  const logits = t.model.forward(t.images, { training: true });
  t1 = performance.now();
  if (phases) phases.forward += t1 - t0;
  t0 = t1;
  const loss = crossEntropy(logits, t.labels);
  t1 = performance.now();
  if (phases) phases.loss += t1 - t0;
  onGraph?.(loss);
  t0 = performance.now();
  loss.backward();
  t1 = performance.now();
  if (phases) phases.backward += t1 - t0;
  t0 = t1;
  t.opt.step();
  t1 = performance.now();
  if (phases) phases.step += t1 - t0;
  return loss.item();
}

interface StepTimes {
  /** Wall-clock milliseconds per step. */
  timing: Timing;
  /** CPU milliseconds per step (user + system, all threads of the process): less sensitive to other load. */
  cpu: Timing;
  losses: number[];
}

function timeSteps(t: Trainer, warmup: number, steps: number): StepTimes {
  const losses: number[] = [];
  for (let i = 0; i < warmup; i++) losses.push(trainStep(t));
  const samples: number[] = [];
  const cpuSamples: number[] = [];
  for (let i = 0; i < steps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    losses.push(trainStep(t));
    samples.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuSamples.push((c.user + c.system) / 1000);
  }
  return { timing: summarize(samples, 1), cpu: summarize(cpuSamples, 1), losses };
}

// ---------------------------------------------------------------------------------------------------------
// Instrumentation (breakdown runs only)

/** Exclusive milliseconds and calls per label; nested timers subtract their time from the enclosing one. */
class Clock {
  readonly ms = new Map<string, number>();
  readonly calls = new Map<string, number>();
  private readonly stack: { label: string; start: number; child: number }[] = [];

  run<T>(label: string, f: () => T): T {
    const frame = { label, start: performance.now(), child: 0 };
    this.stack.push(frame);
    try {
      return f();
    } finally {
      this.stack.pop();
      const total = performance.now() - frame.start;
      this.ms.set(label, (this.ms.get(label) ?? 0) + total - frame.child);
      this.calls.set(label, (this.calls.get(label) ?? 0) + 1);
      const parent = this.stack[this.stack.length - 1];
      if (parent) parent.child += total;
    }
  }
}

// biome-ignore lint/suspicious/noExplicitAny: wrappers forward any seam entry's arguments unchanged.
type AnyFn = (...args: any[]) => unknown;

/** Replaces every function of a seam object by a timed wrapper; returns the undo. */
function wrapSeam(clock: Clock, prefix: string, seam: object): () => void {
  const obj = seam as Record<string, AnyFn>;
  const saved = { ...obj };
  for (const [name, fn] of Object.entries(saved)) {
    if (typeof fn !== "function") continue;
    obj[name] = (...args: unknown[]) => clock.run(`kernel ${prefix}.${name}`, () => fn(...args));
  }
  return () => Object.assign(obj, saved);
}

/** Wraps GraphModel's per-node dispatch (a private method, patched on the prototype for the run). */
function wrapNodes(clock: Clock): () => void {
  const proto = GraphModel.prototype as unknown as Record<string, AnyFn>;
  const original = proto.runNode;
  proto.runNode = function (this: unknown, node: Node, ...rest: unknown[]) {
    return clock.run(`fwd ${node.op}`, () => original.call(this, node, ...rest));
  };
  return () => {
    proto.runNode = original;
  };
}

/** Wraps every backward closure reachable from `root` (by op name). */
function wrapBackward(clock: Clock, root: Tensor): void {
  const seen = new Set<GradFn>();
  const stack: Tensor[] = [root];
  while (stack.length > 0) {
    const t = stack.pop()!;
    const fn = t.gradFn;
    if (fn === null || seen.has(fn)) continue;
    seen.add(fn);
    const bw = fn.backward;
    if (bw !== null) {
      fn.backward = (g, needs) => clock.run(`bwd ${fn.name}`, () => bw(g, needs));
    }
    for (const x of fn.inputs) stack.push(x);
  }
}

interface Breakdown {
  steps: number;
  phases: Phases;
  rows: { label: string; ms: number; calls: number }[];
  gcMs: number;
  gcCount: number;
}

async function breakdown(t: Trainer, steps: number): Promise<Breakdown> {
  const clock = new Clock();
  const undo = [
    wrapSeam(clock, "conv2d", conv2dKernels),
    wrapSeam(clock, "gemm", gemmKernels),
    wrapSeam(clock, "batchNorm", batchNormKernels),
    wrapSeam(clock, "pool", poolKernels),
    wrapNodes(clock),
  ];
  const phases: Phases = { zeroGrad: 0, forward: 0, loss: 0, backward: 0, step: 0 };
  let gcMs = 0;
  let gcCount = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMs += e.duration;
      gcCount++;
    }
  });
  obs.observe({ entryTypes: ["gc"] });
  try {
    trainStep(t); // warm the wrappers
    await new Promise((r) => setImmediate(r));
    gcMs = 0;
    gcCount = 0;
    clock.ms.clear();
    clock.calls.clear();
    for (let i = 0; i < steps; i++) trainStep(t, phases, (loss) => wrapBackward(clock, loss));
    await new Promise((r) => setImmediate(r));
  } finally {
    obs.disconnect();
    for (const u of undo) u();
  }
  const rows = [...clock.ms].map(([label, ms]) => ({ label, ms, calls: clock.calls.get(label) ?? 0 }));
  return { steps, phases, rows, gcMs, gcCount };
}

function printBreakdown(name: string, b: Breakdown): void {
  const per = (ms: number) => ms / b.steps;
  const total = per(b.phases.zeroGrad + b.phases.forward + b.phases.loss + b.phases.backward + b.phases.step);
  const pct = (ms: number) => `${((100 * ms) / total).toFixed(1).padStart(5)}%`;
  const line = (label: string, ms: number, calls?: number) =>
    console.log(
      `  ${label.padEnd(38)} ${ms.toFixed(2).padStart(8)} ms ${pct(ms)}${calls === undefined ? "" : `  ${String(calls).padStart(4)} calls/step`}`,
    );
  console.log(`\n${name}: breakdown per step (${b.steps} instrumented steps, exclusive times)`);
  console.log(`  step total ${total.toFixed(2)} ms`);
  const rows = [...b.rows].sort((x, y) => y.ms - x.ms);
  console.log("  -- kernels (seam entries) and ops (the op's own code, kernels excluded) --");
  for (const r of rows) line(r.label, per(r.ms), Math.round(r.calls / b.steps));
  // Every timer runs inside forward or backward: what those phases took beyond them is the executor's
  // and the autograd engine's own work (graph walk, topological sort, gradient accumulation and copies).
  const timed = b.rows.reduce((s, r) => s + r.ms, 0);
  const kernels = b.rows.filter((r) => r.label.startsWith("kernel ")).reduce((s, r) => s + r.ms, 0);
  console.log("  -- outside the timed ops --");
  line("executor + autograd engine", per(b.phases.forward + b.phases.backward - timed));
  line("crossEntropy forward", per(b.phases.loss));
  line("optimizer.step (SGD)", per(b.phases.step));
  line("zeroGrad", per(b.phases.zeroGrad));
  console.log("  -- summary --");
  line("all kernels (seams)", per(kernels));
  line("all TypeScript outside the seams", total - per(kernels));
  line("garbage collection (inside the above)", per(b.gcMs), Math.round(b.gcCount / b.steps));
}

// ---------------------------------------------------------------------------------------------------------
// CPU profile (optional)

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time per TypeScript function; wasm, builtins and natives are charged to their nearest src/ caller. */
async function cpuProfile(t: Trainer, steps: number, top: number, name: string): Promise<void> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 200 });
  await session.post("Profiler.start");
  for (let i = 0; i < steps; i++) trainStep(t);
  const { profile } = (await session.post("Profiler.stop")) as unknown as { profile: CpuProfile };
  session.disconnect();

  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const srcOf = (n: ProfileNode) => {
    const i = n.callFrame.url.indexOf("/src/");
    return i < 0 ? null : n.callFrame.url.slice(i + 1);
  };
  const labelCache = new Map<number, string>();
  const labelOf = (id: number): string => {
    const cached = labelCache.get(id);
    if (cached !== undefined) return cached;
    const n = byId.get(id)!;
    const fname = n.callFrame.functionName;
    let label: string;
    if (fname === "(garbage collector)") label = "(garbage collector)";
    else if (fname === "(idle)" || fname === "(program)" || fname === "(root)") label = fname;
    else {
      const url = n.callFrame.url;
      const own = srcOf(n);
      const kind = url.startsWith("wasm://") ? "wasm" : own === null ? "native" : null;
      // Walk up to the nearest function in src/ (or bench/).
      let cur: number | undefined = id;
      let found: string | null = null;
      while (cur !== undefined) {
        const c = byId.get(cur)!;
        const file = srcOf(c);
        if (file !== null) {
          found = `${file}:${c.callFrame.functionName || "(anonymous)"}`;
          break;
        }
        cur = parent.get(cur);
      }
      label = found === null ? `(${kind ?? "other"}) ${fname || url}` : kind ? `${found} [${kind}]` : found;
    }
    labelCache.set(id, label);
    return label;
  };
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] / 1000;
    const label = labelOf(profile.samples[i]);
    self.set(label, (self.get(label) ?? 0) + dt);
    total += dt;
  }
  console.log(`\n${name}: CPU profile, self time per function over ${steps} steps (top ${top})`);
  const sorted = [...self].sort((a, b) => b[1] - a[1]);
  for (const [label, ms] of sorted.slice(0, top)) {
    console.log(
      `  ${((100 * ms) / total).toFixed(1).padStart(5)}% ${(ms / steps).toFixed(2).padStart(8)} ms/step  ${label}`,
    );
  }
  // By file: a coarser view (which family of code the time is in).
  const byFile = new Map<string, number>();
  for (const [label, ms] of self) {
    const file = label.startsWith("(") ? label.replace(/\) .*/, ")") : label.split(":")[0];
    const tag = label.endsWith("[wasm]") ? " [wasm]" : "";
    byFile.set(file + tag, (byFile.get(file + tag) ?? 0) + ms);
  }
  console.log(`${name}: by file`);
  for (const [file, ms] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(
      `  ${((100 * ms) / total).toFixed(1).padStart(5)}% ${(ms / steps).toFixed(2).padStart(8)} ms/step  ${file}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------

function fmtTiming(t: Timing, batch: number): string {
  const ips = (ms: number) => ((1000 * batch) / ms).toFixed(0);
  return `median ${t.median.toFixed(1)} ms (min ${t.min.toFixed(1)}, max ${t.max.toFixed(1)}, n=${t.samples.length})  ${ips(t.median)} images/s (best ${ips(t.min)})`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  console.log(
    `fmnist-vgg-large training step, batch ${args.batch}, node ${process.version}, backends ${args.backends.join(",")}`,
  );
  const results: Record<string, ({ round: number } & StepTimes)[]> = {};
  const trainers = new Map<Backend, Trainer>();
  for (const b of args.backends) trainers.set(b, makeTrainer(args.batch));
  for (let round = 1; round <= args.rounds; round++) {
    for (const b of args.backends) {
      const variant = selectBackend(b);
      const t = trainers.get(b)!;
      const steps = b === "ref" ? args.refSteps : args.steps;
      const warmup = b === "ref" ? Math.min(args.warmup, 1) : args.warmup;
      const r = timeSteps(t, warmup, steps);
      const list = results[b] ?? [];
      list.push({ round, ...r });
      results[b] = list;
      console.log(
        `round ${round} ${b.padEnd(4)} (${variant}): wall ${fmtTiming(r.timing, args.batch)}; cpu median ${r.cpu.median.toFixed(1)} ms (min ${r.cpu.min.toFixed(1)})`,
      );
    }
  }
  console.log("summary (all rounds pooled):");
  for (const b of args.backends) {
    const wall = summarize(
      results[b].flatMap((r) => r.timing.samples),
      1,
    );
    const cpu = summarize(
      results[b].flatMap((r) => r.cpu.samples),
      1,
    );
    const ips = (ms: number) => ((1000 * args.batch) / ms).toFixed(0);
    console.log(
      `  ${b.padEnd(4)} wall median ${wall.median.toFixed(1)} ms = ${ips(wall.median)} images/s (best ${ips(wall.min)}); cpu median ${cpu.median.toFixed(1)} ms = ${ips(cpu.median)} images per CPU-second (best ${ips(cpu.min)})`,
    );
  }
  // Same model, same data, same seed: the first losses of each backend should agree to float rounding.
  if (results.ref && results.wasm) {
    const a = results.ref[0].losses;
    const w = results.wasm[0].losses;
    const n = Math.min(a.length, w.length);
    const diffs = Array.from(
      { length: n },
      (_, i) => Math.abs(a[i] - w[i]) / Math.max(Math.abs(a[i]), 1e-12),
    );
    console.log(
      `loss agreement ref vs wasm over the first ${n} steps: max relative difference ${Math.max(...diffs).toExponential(2)}`,
    );
  }
  if (args.breakdown) {
    for (const b of args.backends) {
      selectBackend(b);
      const steps =
        b === "ref" ? Math.max(1, Math.min(args.refSteps, 2)) : Math.max(3, Math.min(args.steps, 8));
      printBreakdown(`${b} (${activeKernelBackend()})`, await breakdown(trainers.get(b)!, steps));
    }
  }
  if (args.cpuProf) {
    for (const b of args.backends) {
      selectBackend(b);
      const steps = b === "ref" ? Math.max(1, Math.min(args.refSteps, 2)) : Math.max(4, args.steps);
      await cpuProfile(trainers.get(b)!, steps, args.top, `${b} (${activeKernelBackend()})`);
    }
  }
  if (args.json) {
    const { writeFileSync } = await import("node:fs");
    writeFileSync(args.json, `${JSON.stringify({ args, results }, null, 1)}\n`);
  }
  useReferenceKernels();
}

await main();
