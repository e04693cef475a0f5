import type { ParallelKernel } from "../wasm/module.js";

/** One piece of a kernel call: an exported function of the kernels and its arguments (numbers). */
export interface Task {
  kernel: ParallelKernel;
  args: readonly number[];
}

/**
 * A kernel call over `units` independent pieces of work (rows, planes, channels), described so that a
 * runner can split it into contiguous ranges, one per thread, and overlap the calling thread's copies with
 * the workers' compute: inputs a range needs are written just before its worker starts, outputs read as
 * soon as its range is done. The range a thread gets must not change any element's result (see
 * assembly/conv.ts), so that any split gives the one-thread answer.
 */
export interface SplitCall {
  /** The call's shape and direction: calls with the same key reuse the balance learnt from earlier ones. */
  key: string;
  units: number;
  /** Threads to use (<= the runner's threads() and <= units). */
  threads: number;
  /** Writes what every range reads (weights), first. */
  writeShared?(): void;
  /** Writes the inputs units [u0, u1) read, before that range starts (ranges come in dispatch order). */
  writeRange?(u0: number, u1: number): void;
  /** The task that computes units [u0, u1) on thread `thread` (its workspace). */
  task(u0: number, u1: number, thread: number): Task;
  /** Reads the outputs of units [u0, u1), once that range is done. */
  readRange?(u0: number, u1: number): void;
  /**
   * True when the task's last two arguments are its unit range and writeRange / readRange take any
   * sub-range: the runner may then hand a worker its range in chunks, writing the next chunk's input and
   * reading the last chunk's output while the worker computes, instead of before it starts and after it ends.
   */
  chunked?: boolean;
  /**
   * For calls whose every range reads the whole input (a weight gradient split by channel): the input is
   * written in parts (images), and the workers start at once and step through the parts as they arrive
   * instead of waiting for all of them (see Stepped). The calling thread writes every part, then runs its
   * own range with `task` as one call.
   */
  stepped?: Stepped;
}

/**
 * A task run in `count` steps, step s once input part s is written: step s has the arguments of
 * `task(u0, u1, thread)` plus s times `delta` (one increment per argument), with argument `accumulate` set
 * to 1 after step 0. The steps together must compute what `SplitCall.task` computes in one call.
 */
export interface Stepped {
  count: number;
  /** Writes input part s. */
  write(step: number): void;
  task(u0: number, u1: number, thread: number): Task;
  delta: readonly number[];
  accumulate: number;
}

/** Runs kernel calls, on the calling thread alone or split across workers. */
export interface KernelRunner {
  /** How many threads a call may be split into now (1 + workers ready). */
  threads(): number;
  /** Runs tasks[0] on the calling thread and the others on workers; returns when all have finished. */
  run(tasks: readonly Task[]): void;
  /** Runs a split call (see SplitCall); returns when its outputs are read. */
  runSplit(call: SplitCall): void;
}
