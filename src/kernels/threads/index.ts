/**
 * The process-wide thread setting for the kernels the seams dispatch to: setNumThreads(n) / getNumThreads(),
 * default the cores available; 1 means no workers. The WebAssembly backend (src/kernels/wasm/index.ts)
 * attaches its module here and gets a KernelRunner that uses the pool while it works and one thread
 * otherwise; threadingStatus() says how many threads calls use now, and why fewer than asked when they do.
 */
import { ArgumentError, describe } from "../../tensor/errors.js";
import type { WasmKernelModule } from "../wasm/module.js";
import type { KernelRunner } from "./call.js";
import { DEFAULT_TIMEOUT_MS, serialRunner, ThreadPool } from "./pool.js";
import { availableCores, threadSupport } from "./support.js";

export type { KernelRunner, SplitCall, Task } from "./call.js";
export { serialRunner, ThreadPool, ThreadPoolError, type ThreadPoolOptions } from "./pool.js";
export { splitByShares, splitRange } from "./split.js";
export { availableCores, type ThreadSupport, threadSupport } from "./support.js";

export interface ThreadingStatus {
  /** The setting: setNumThreads' argument, or by default the cores available. */
  requested: number;
  /** Threads a large kernel call runs on now: the calling thread + the workers ready. */
  active: number;
  /** Workers still starting (calls run on the others meanwhile; see whenThreadsReady). */
  starting: number;
  /** Whether this runtime can run kernels on threads at all. */
  supported: boolean;
  /** Why `active` is below `requested`, or null when it is not. */
  reason: string | null;
}

export interface SetNumThreadsOptions {
  /** Longest a kernel call waits for its workers before reporting them hung or crashed (default 60 000). */
  timeoutMs?: number;
}

let requested: number | null = null;
let timeoutMs = DEFAULT_TIMEOUT_MS;
let attached: WasmKernelModule | null = null;
let pool: ThreadPool | null = null;
let failure: string | null = null;

/**
 * Sets how many threads the kernels use: the calling thread plus n - 1 workers (n = 1: no workers). Workers
 * start in the background; calls use those ready (await whenThreadsReady() to wait for all). Where threads
 * are not supported (see threadingStatus().reason) the setting is kept and calls run on one thread.
 */
export function setNumThreads(n: number, options: SetNumThreadsOptions = {}): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new ArgumentError(describe("setNumThreads", "n", "an integer >= 1", n));
  }
  const t = options.timeoutMs ?? timeoutMs;
  if (!(t > 0)) throw new ArgumentError(describe("setNumThreads", "timeoutMs", "a positive number", t));
  requested = n;
  timeoutMs = t;
  failure = null;
  restart();
}

/** The thread setting (default: the cores available, os.availableParallelism or navigator.hardwareConcurrency). */
export function getNumThreads(): number {
  requested ??= availableCores();
  return requested;
}

function restart(): void {
  pool?.close();
  pool = null;
  const support = threadSupport();
  const workers = getNumThreads() - 1;
  if (!attached?.shared || !support.ok || workers <= 0) return;
  pool = new ThreadPool(attached, workers, support.host, { timeoutMs });
}

/** Drops a pool that has failed, keeping its reason for threadingStatus. */
function check(p: ThreadPool): ThreadPool | null {
  if (p.failure === null) return p;
  failure = p.failure;
  if (pool === p) pool = null;
  return null;
}

/**
 * The runner for kernels on `mod` (the module the seams use): the pool while it works, else one thread.
 * Starts the pool for `mod` when the setting asks for workers.
 */
export function attachThreads(mod: WasmKernelModule): KernelRunner {
  if (attached !== mod) {
    attached = mod;
    failure = null;
    restart();
  }
  const serial = serialRunner(mod);
  const current = () => (attached === mod && pool ? check(pool) : null);
  return {
    threads() {
      const p = current();
      if (!p) return 1;
      const t = p.threads();
      return check(p) ? t : 1;
    },
    run(tasks) {
      const p = current();
      if (!p || tasks.length === 1) {
        serial.run(tasks);
        return;
      }
      try {
        p.run(tasks);
      } finally {
        check(p);
      }
    },
    runSplit(c) {
      const p = current();
      if (!p || c.threads <= 1) {
        serial.runSplit(c);
        return;
      }
      try {
        p.runSplit(c);
      } finally {
        check(p);
      }
    },
  };
}

/** Stops the workers (the seams went back to the reference kernels). */
export function detachThreads(): void {
  attached = null;
  pool?.close();
  pool = null;
}

/** How many threads kernel calls use now, and why fewer than asked when they do. */
export function threadingStatus(): ThreadingStatus {
  const n = getNumThreads();
  const support = threadSupport();
  const p = pool ? check(pool) : null;
  const active = p ? p.threads() : 1;
  const starting = p ? p.starting() : 0;
  let reason: string | null = null;
  if (active < n) {
    if (!support.ok) reason = support.reason;
    else if (!attached)
      reason =
        "the WebAssembly kernels are not in use (useWasmKernels): the reference kernels run on one thread";
    else if (!attached.shared) reason = "the WebAssembly kernels were loaded on an unshared memory";
    else if (failure) reason = failure;
    else if (starting > 0) reason = `${starting} worker(s) still starting (await whenThreadsReady())`;
    else if (p?.startErrors().length) reason = `workers could not start: ${p.startErrors().join("; ")}`;
  }
  return { requested: n, active, starting, supported: support.ok, reason };
}

/** Resolves once the workers have started (or failed to), with the status then. */
export async function whenThreadsReady(): Promise<ThreadingStatus> {
  if (pool) await pool.ready();
  return threadingStatus();
}
