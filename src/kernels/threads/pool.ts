/**
 * A pool of workers that run the WebAssembly kernels on the calling thread's shared memory. A kernel call
 * is split into tasks (see src/kernels/wasm/conv2d.ts): task 0 runs on the calling thread, the others on
 * workers, and the call returns when all have finished, so the ops stay synchronous. The caller blocks in
 * Atomics.wait, which Node allows on its main thread and browsers only in workers: in a page, run the
 * engine in a Web Worker (support.ts refuses threads on a browser's main thread).
 *
 * Failure modes: a kernel that throws in a worker (a trap) is reported as a ThreadPoolError naming the
 * worker, the kernel and the error, and the pool stays usable; a worker that dies or hangs during a call is
 * caught by a timeout, and a worker that dies between calls by its exit event: either way the pool shuts
 * down, the error says so, and calls run on one thread until setNumThreads is called again.
 */
import { ConvkitError } from "../../tensor/errors.js";
import { PARALLEL_KERNELS, type WasmKernelModule } from "../wasm/module.js";
import { Balance, type ThreadTiming } from "./balance.js";
import type { KernelRunner, SplitCall, Task } from "./call.js";
import type { WorkerHandle, WorkerHost } from "./hosts.js";
import {
  ACCUMULATE,
  CHUNK,
  CHUNKS_DONE,
  CHUNKS_WRITTEN,
  controlBytes,
  DONE,
  ERROR,
  EXITED,
  FAILED,
  GEN,
  HEADER_BYTES,
  KERNEL,
  MAX_ARGS,
  MAX_TEXT,
  NARGS,
  PENDING,
  READY,
  SLOT_ARGS_OFFSET,
  SLOT_BYTES,
  SLOT_F64,
  SLOT_STEP_OFFSET,
  SLOT_TEXT_OFFSET,
  STARTING,
  STATE,
  STATUS,
  STEPS,
  TEXT_LENGTH,
  TIME_END,
  TIME_START,
  TIME_WAITED,
  WRITTEN,
} from "./protocol.js";
import { splitByShares, splitRange } from "./split.js";

export type { KernelRunner, SplitCall, Task } from "./call.js";

/** A worker failed, hung or could not start. */
export class ThreadPoolError extends ConvkitError {}

function call(mod: WasmKernelModule, task: Task): void {
  (mod.exports[task.kernel] as (...a: number[]) => void)(...task.args);
}

/** The one-thread runner: everything in turn on the calling thread. */
export function serialRunner(mod: WasmKernelModule): KernelRunner {
  return {
    threads: () => 1,
    run(tasks) {
      for (const t of tasks) call(mod, t);
    },
    runSplit(c) {
      c.writeShared?.();
      for (let i = 0; i < (c.stepped?.count ?? 0); i++) c.stepped?.write(i);
      c.writeRange?.(0, c.units);
      call(mod, c.task(0, c.units, 0));
      c.readRange?.(0, c.units);
    },
  };
}

export interface ThreadPoolOptions {
  /** Longest a call waits for its workers before giving up on them (default 60 s). */
  timeoutMs?: number;
  /**
   * Learn each call shape's shares from its timings (default true); false splits every call evenly (for
   * measurements that must not depend on what earlier calls timed).
   */
  learnBalance?: boolean;
}

export const DEFAULT_TIMEOUT_MS = 60_000;

/** Chunks a worker's range of a chunked call goes in (see runChunked). */
const CHUNKS_PER_WORKER = 4;

/** The calling thread's timings before its share has run (a call that fails before then learns nothing). */
const NO_TIMING: Omit<ThreadTiming, "units"> = { start: 0, compute: 0, tail: 0 };

/** Loads of the counter before blocking: a worker that finishes within microseconds is met without a sleep. */
const SPINS = 20_000;

interface Slot {
  index: number;
  ints: Int32Array;
  args: Float64Array;
  step: Float64Array;
  text: Uint16Array;
  handle: WorkerHandle;
  /** Set from the host's events (error, exit) when the worker is gone or broken. */
  lost: string | null;
  /** Why the worker could not start (it reported FAILED): the pool runs on without it. */
  startError: string | null;
  exited: boolean;
}

export class ThreadPool implements KernelRunner {
  readonly module: WasmKernelModule;
  readonly workers: number;
  readonly timeoutMs: number;
  private readonly header: Int32Array;
  private readonly slots: Slot[] = [];
  private readonly balance = new Balance();
  private readonly learn: boolean;
  private closed = false;
  private failureText: string | null = null;

  /** Starts `workers` workers (asynchronously: threads() counts those ready; see ready()). */
  constructor(mod: WasmKernelModule, workers: number, host: WorkerHost, options: ThreadPoolOptions = {}) {
    if (!mod.shared) throw new ThreadPoolError("convkit thread pool: the kernels' memory is not shared");
    this.module = mod;
    this.workers = workers;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.learn = options.learnBalance ?? true;
    const control = new SharedArrayBuffer(controlBytes(workers));
    this.header = new Int32Array(control, 0, 16);
    const kernels = [...PARALLEL_KERNELS];
    for (let i = 0; i < workers; i++) {
      const base = HEADER_BYTES + i * SLOT_BYTES;
      const slot: Slot = {
        index: i,
        ints: new Int32Array(control, base, 16),
        args: new Float64Array(control, base + SLOT_ARGS_OFFSET, SLOT_F64),
        step: new Float64Array(control, base + SLOT_STEP_OFFSET, SLOT_F64),
        text: new Uint16Array(control, base + SLOT_TEXT_OFFSET, MAX_TEXT),
        handle: { terminate() {} },
        lost: null,
        startError: null,
        exited: false,
      };
      this.slots.push(slot);
      slot.handle = host.spawn(
        { module: mod.compiled, memory: mod.memory, control, slot: i, kernels },
        {
          error: (message) => {
            slot.lost ??= `worker ${i + 1} failed: ${message}`;
          },
          exit: () => {
            slot.exited = true;
            // A worker that could not start ends there: it is left out (startErrors), not lost.
            const failedToStart = Atomics.load(slot.ints, STATE) === FAILED;
            if (!this.closed && !failedToStart) slot.lost ??= `worker ${i + 1} exited`;
          },
        },
      );
    }
  }

  /** Why the pool stopped (a worker hung or died), or null while it works. */
  get failure(): string | null {
    return this.failureText;
  }

  /** Workers still starting. */
  starting(): number {
    if (this.closed) return 0;
    return this.slots.filter((s) => s.lost === null && Atomics.load(s.ints, STATE) === STARTING).length;
  }

  /** Why workers could not start (each is left out; the pool runs with the others). */
  startErrors(): string[] {
    this.readySlots();
    return this.slots.flatMap((s) => (s.startError ? [`worker ${s.index + 1}: ${s.startError}`] : []));
  }

  private readySlots(): Slot[] {
    if (this.closed) return [];
    const ready: Slot[] = [];
    for (const s of this.slots) {
      const state = Atomics.load(s.ints, STATE);
      if (state === FAILED && s.startError === null) s.startError = this.textOf(s);
      if (s.lost === null && state === READY) ready.push(s);
    }
    return ready;
  }

  threads(): number {
    const ready = this.readySlots();
    // A worker lost between calls (its exit or error event ran on the event loop) stops the pool before
    // any call could wait on it.
    const lost = this.slots.find((s) => s.lost !== null);
    if (lost?.lost && !this.closed) this.fail(`convkit thread pool: ${lost.lost}; the pool is shut down`);
    return this.closed ? 1 : 1 + ready.length;
  }

  /** Resolves with threads() once no worker is starting any more. */
  async ready(): Promise<number> {
    while (this.starting() > 0) await new Promise((r) => setTimeout(r, 2));
    return this.threads();
  }

  /** The first n - 1 ready workers, or an error when fewer are ready. */
  private take(n: number): Slot[] {
    if (n <= 1) return [];
    const ready = this.readySlots();
    if (n - 1 > ready.length) {
      throw new ThreadPoolError(
        `convkit thread pool: a call split into ${n} tasks, but only ${ready.length + 1} threads are ready`,
      );
    }
    return ready.slice(0, n - 1);
  }

  /**
   * Hands a task to a worker, counting it in PENDING (with `steps`: a stepped task, see Stepped; with
   * `chunk`: a chunked one, whose chunks wait for CHUNKS_WRITTEN).
   */
  private post(
    s: Slot,
    t: Task,
    steps?: { count: number; delta: readonly number[]; accumulate: number },
    chunk = 0,
  ): void {
    if (t.args.length > MAX_ARGS) {
      throw new ThreadPoolError(`convkit thread pool: too many arguments for ${t.kernel}`);
    }
    Atomics.add(this.header, PENDING, 1);
    s.ints[KERNEL] = PARALLEL_KERNELS.indexOf(t.kernel);
    s.ints[NARGS] = t.args.length;
    s.ints[STEPS] = steps?.count ?? 0;
    s.ints[ACCUMULATE] = steps?.accumulate ?? -1;
    s.ints[CHUNK] = chunk;
    Atomics.store(s.ints, CHUNKS_WRITTEN, 0);
    Atomics.store(s.ints, CHUNKS_DONE, 0);
    for (let a = 0; a < t.args.length; a++) s.step[a] = steps?.delta[a] ?? 0;
    s.ints[STATUS] = 0;
    s.ints[TEXT_LENGTH] = 0;
    for (let a = 0; a < t.args.length; a++) s.args[a] = t.args[a];
    Atomics.add(s.ints, GEN, 1);
    Atomics.notify(s.ints, GEN);
  }

  run(tasks: readonly Task[]): void {
    if (tasks.length <= 1) {
      for (const t of tasks) call(this.module, t);
      return;
    }
    const used = this.take(tasks.length);
    const posted: Slot[] = [];
    let own: unknown = null;
    try {
      used.forEach((s, i) => {
        this.post(s, tasks[i + 1]);
        posted.push(s);
      });
      call(this.module, tasks[0]);
    } catch (err) {
      own = err;
    }
    this.finish(posted, tasks.slice(1), own);
  }

  runSplit(c: SplitCall): void {
    const t = Math.max(1, Math.min(c.threads, c.units, this.threads()));
    if (t === 1) {
      serialRunner(this.module).runSplit(c);
      return;
    }
    const used = this.take(t);
    const even = !this.learn;
    const ranges = even ? splitRange(c.units, t) : splitByShares(c.units, this.balance.shares(c.key, t));
    const stepped = c.stepped;
    if (c.chunked && !stepped && c.writeRange) {
      this.runChunked(c, used, ranges, even);
      return;
    }
    const t0 = performance.now();
    const tasks: Task[] = [];
    const posted: Slot[] = [];
    let own: unknown = null;
    let ownTiming = NO_TIMING;
    Atomics.store(this.header, WRITTEN, 0);
    try {
      c.writeShared?.();
      // Each worker starts as soon as its inputs are written; the calling thread writes its own last.
      for (let i = 1; i < t; i++) {
        if (!stepped) c.writeRange?.(ranges[i][0], ranges[i][1]);
        const task = (stepped ?? c).task(ranges[i][0], ranges[i][1], i);
        this.post(used[i - 1], task, stepped);
        tasks.push(task);
        posted.push(used[i - 1]);
      }
      if (stepped) {
        // The workers step through the parts as they are written.
        for (let p = 0; p < stepped.count; p++) {
          stepped.write(p);
          Atomics.store(this.header, WRITTEN, p + 1);
          Atomics.notify(this.header, WRITTEN);
        }
      }
      ownTiming = this.runOwnRange(c, ranges[0], t0);
    } catch (err) {
      own = err;
      // Release workers waiting for input parts that will not come (they compute on stale memory, then stop).
      Atomics.store(this.header, WRITTEN, 0x7fffffff);
      Atomics.notify(this.header, WRITTEN);
    }
    this.finish(posted, tasks, own);
    for (let i = 1; i < t; i++) c.readRange?.(ranges[i][0], ranges[i][1]);
    if (!even) this.updateBalance(c.key, used, ranges, t0, ownTiming);
  }

  /**
   * The calling thread's share of a split call: writes its inputs, computes, reads its outputs. Returns its
   * timings in ms after the call began at t0 (for the balance).
   */
  private runOwnRange(
    c: SplitCall,
    range: readonly [number, number],
    t0: number,
  ): Omit<ThreadTiming, "units"> {
    c.writeRange?.(range[0], range[1]);
    const start = performance.now();
    call(this.module, c.task(range[0], range[1], 0));
    const end = performance.now();
    c.readRange?.(range[0], range[1]);
    return { start: start - t0, compute: end - start, tail: performance.now() - end };
  }

  /**
   * Feeds a call's timings to the balance: the calling thread's (`own`, ms after the call began at t0) and
   * the workers', whose clocks are read as ms since the epoch.
   */
  private updateBalance(
    key: string,
    used: Slot[],
    ranges: readonly (readonly [number, number])[],
    t0: number,
    own: Omit<ThreadTiming, "units">,
  ): void {
    const origin = performance.timeOrigin + t0;
    const timings: ThreadTiming[] = [{ units: ranges[0][1] - ranges[0][0], ...own }];
    used.forEach((s, i) => {
      // Time spent waiting for input parts is not compute: count it as a later start.
      const compute = s.args[TIME_END] - s.args[TIME_START] - s.args[TIME_WAITED];
      timings.push({
        units: ranges[i + 1][1] - ranges[i + 1][0],
        start: s.args[TIME_END] - compute - origin,
        compute,
        tail: 0,
      });
    });
    this.balance.update(key, timings);
  }

  /**
   * runSplit for a chunked call (SplitCall.chunked): each worker's range goes in CHUNKS_PER_WORKER chunks.
   * The calling thread writes every worker's first chunk and posts it, then the later chunks round by
   * round (each worker computing meanwhile), then writes, computes and reads its own range, then reads the
   * workers' chunks as each is done; so only a worker's first input chunk and last output chunk are not
   * overlapped with compute.
   */
  private runChunked(c: SplitCall, used: Slot[], ranges: [number, number][], even: boolean): void {
    const t = ranges.length;
    const write = c.writeRange as (u0: number, u1: number) => void;
    const read = (u0: number, u1: number) => c.readRange?.(u0, u1);
    const chunkOf = (i: number) => Math.max(1, Math.ceil((ranges[i][1] - ranges[i][0]) / CHUNKS_PER_WORKER));
    const chunkRange = (i: number, k: number): [number, number] => {
      const a = ranges[i][0] + k * chunkOf(i);
      return [a, Math.min(a + chunkOf(i), ranges[i][1])];
    };
    const chunks = (i: number) => Math.ceil((ranges[i][1] - ranges[i][0]) / chunkOf(i));
    const t0 = performance.now();
    const tasks: Task[] = [];
    const posted: Slot[] = [];
    let own: unknown = null;
    let ownTiming = NO_TIMING;
    try {
      c.writeShared?.();
      const rounds = Math.max(...ranges.slice(1).map((_, j) => chunks(j + 1)));
      for (let k = 0; k < rounds; k++) {
        for (let i = 1; i < t; i++) {
          if (k >= chunks(i)) continue;
          const [a, b] = chunkRange(i, k);
          write(a, b);
          if (k === 0) {
            const task = c.task(ranges[i][0], ranges[i][1], i);
            this.post(used[i - 1], task, undefined, chunkOf(i));
            tasks.push(task);
            posted.push(used[i - 1]);
          }
          Atomics.store(used[i - 1].ints, CHUNKS_WRITTEN, k + 1);
          Atomics.notify(used[i - 1].ints, CHUNKS_WRITTEN);
        }
      }
      ownTiming = this.runOwnRange(c, ranges[0], t0);
      const deadline = performance.now() + this.timeoutMs;
      for (let i = 1; i < t; i++) {
        const ints = used[i - 1].ints;
        for (let k = 0; k < chunks(i); k++) {
          // A worker that stopped (an error) or hangs leaves the rest to finish(), which reports it.
          for (;;) {
            const done = Atomics.load(ints, CHUNKS_DONE);
            if (done > k || Atomics.load(ints, DONE) === Atomics.load(ints, GEN)) break;
            const remaining = deadline - performance.now();
            if (remaining <= 0) break;
            Atomics.wait(ints, CHUNKS_DONE, done, Math.min(remaining, 100));
          }
          if (Atomics.load(ints, CHUNKS_DONE) <= k) break;
          read(...chunkRange(i, k));
        }
      }
    } catch (err) {
      own = err;
      // Release workers waiting for chunks that will not come (they compute on stale memory, then stop).
      for (const s of posted) {
        Atomics.store(s.ints, CHUNKS_WRITTEN, 0x7fffffff);
        Atomics.notify(s.ints, CHUNKS_WRITTEN);
      }
    }
    this.finish(posted, tasks, own);
    if (!even) this.updateBalance(c.key, used, ranges, t0, ownTiming);
  }

  /** Waits for the workers of a call, then reports the calling thread's error or the workers'. */
  private finish(used: Slot[], tasks: readonly Task[], own: unknown): void {
    this.wait(used, tasks);
    if (own !== null) throw own;
    const errors: string[] = [];
    used.forEach((s, i) => {
      if (s.ints[STATUS] === ERROR) {
        errors.push(`worker ${s.index + 1} failed in ${tasks[i].kernel}: ${this.textOf(s)}`);
      }
    });
    if (errors.length) throw new ThreadPoolError(`convkit thread pool: ${errors.join("; ")}`);
  }

  private wait(used: Slot[], tasks: readonly Task[]): void {
    if (used.length === 0) return;
    const h = this.header;
    for (let i = 0; i < SPINS && Atomics.load(h, PENDING) !== 0; i++) {
      // spin: the workers usually finish within microseconds of the calling thread's own task
    }
    const deadline = performance.now() + this.timeoutMs;
    for (;;) {
      const left = Atomics.load(h, PENDING);
      if (left === 0) return;
      const remaining = deadline - performance.now();
      if (remaining <= 0) break;
      Atomics.wait(h, PENDING, left, Math.min(remaining, 100));
    }
    const stuck = used
      .map((s, i) => ({ s, i }))
      .filter(({ s }) => Atomics.load(s.ints, DONE) !== Atomics.load(s.ints, GEN))
      .map(({ s, i }) => `worker ${s.index + 1} (${tasks[i].kernel})`);
    const message =
      `convkit thread pool: ${stuck.join(", ")} did not finish within ${this.timeoutMs} ms ` +
      "(crashed or hung); the pool is shut down and kernels run on one thread until setNumThreads is called again";
    this.fail(message);
    throw new ThreadPoolError(message);
  }

  private textOf(s: Slot): string {
    const n = Math.min(s.ints[TEXT_LENGTH], MAX_TEXT);
    let out = "";
    for (let i = 0; i < n; i++) out += String.fromCharCode(s.text[i]);
    return out || "unknown error";
  }

  private fail(message: string): void {
    this.failureText = message;
    // Workers that never answer will not count themselves out.
    Atomics.store(this.header, PENDING, 0);
    this.close();
  }

  /** Stops the workers (asks each to exit, then terminates it). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.slots) {
      if (Atomics.load(s.ints, STATE) === READY) {
        s.ints[KERNEL] = -1;
        Atomics.add(s.ints, GEN, 1);
        Atomics.notify(s.ints, GEN);
      }
      s.handle.terminate();
    }
  }

  /** Whether every worker has exited (their exit events have run; for tests). */
  allExited(): boolean {
    return this.slots.every((s) => s.exited || Atomics.load(s.ints, STATE) === EXITED);
  }
}
