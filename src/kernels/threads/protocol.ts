/**
 * The control block the calling thread and the workers share (a SharedArrayBuffer of its own, apart from
 * the kernels' memory so that growing that memory never moves it), and the worker's code.
 *
 * Layout: a 64-byte header (int32 PENDING: workers still running the current job; int32 WRITTEN: parts of a
 * stepped job's input written so far), then one 960-byte slot per worker: 16 int32 fields (below), 24
 * float64 (arguments, then the time the job waited for input and its start and end times, which the pool
 * uses to balance the next call), 24 float64 per-step increments of the arguments, and 256 UTF-16 code
 * units of error text. Each part starts on a 64-byte boundary, so no two workers write the same cache line.
 *
 * A job: the caller writes the kernel index and arguments into a worker's slot, adds 1 to PENDING, bumps the
 * slot's GEN and notifies it; the worker runs the kernel, writes STATUS (and error text), then subtracts 1
 * from PENDING and notifies the caller when it reaches 0. Kernel index -1 asks the worker to exit.
 * A stepped job (STEPS > 0) runs the kernel STEPS times, step s with the arguments plus s times their
 * increments (and the ACCUMULATE argument set to 1 after step 0), each once WRITTEN exceeds s: the caller
 * writes the input part by part (images) while the workers already compute.
 */

export const HEADER_BYTES = 64;
export const SLOT_BYTES = 960;
export const SLOT_ARGS_OFFSET = 64;
export const SLOT_STEP_OFFSET = 256;
export const SLOT_TEXT_OFFSET = 448;
/** Float64 values per slot area: arguments, then the job's waits, start and end (ms since the epoch). */
export const SLOT_F64 = 24;
export const MAX_ARGS = 20;
export const TIME_WAITED = 21;
export const TIME_START = 22;
export const TIME_END = 23;
export const MAX_TEXT = 256;

/** int32 indices in the header: workers still running the current job; input parts written so far. */
export const PENDING = 0;
export const WRITTEN = 1;

/** int32 field indices in a slot. */
export const GEN = 0;
export const STATE = 1;
export const KERNEL = 2;
export const NARGS = 3;
export const STATUS = 4;
export const TEXT_LENGTH = 5;
/** GEN of the last job this worker finished (tells a stuck worker from a finished one). */
export const DONE = 6;
/** Steps of a stepped job (0: a plain job, run once without waiting for input parts). */
export const STEPS = 7;
/** Index of the argument set to 1 after a stepped job's first step (-1: none). */
export const ACCUMULATE = 8;

/** Values of STATE. */
export const STARTING = 0;
export const READY = 1;
export const FAILED = 2;
export const EXITED = 3;

/** Values of STATUS. */
export const OK = 0;
export const ERROR = 1;

export function controlBytes(workers: number): number {
  return HEADER_BYTES + workers * SLOT_BYTES;
}

/** What a worker receives: how it reaches the kernels and its own slot. */
export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  slot: number;
  /** Export names, indexed by the slot's KERNEL field. */
  kernels: readonly string[];
}

/**
 * The worker's code, plain JavaScript with no imports and nothing but WebAssembly and Atomics, so the same
 * text runs in a Node worker_thread and in a Web Worker (each host adds a line that hands it its WorkerInit:
 * see hosts.ts). It blocks in Atomics.wait between jobs, which workers may do in every environment.
 */
export const WORKER_SOURCE = `
"use strict";
function convkitWorker(init) {
  const base = ${HEADER_BYTES} + init.slot * ${SLOT_BYTES};
  const ints = new Int32Array(init.control, base, 16);
  const args = new Float64Array(init.control, base + ${SLOT_ARGS_OFFSET}, ${SLOT_F64});
  const step = new Float64Array(init.control, base + ${SLOT_STEP_OFFSET}, ${SLOT_F64});
  const clock = () => performance.timeOrigin + performance.now();
  const text = new Uint16Array(init.control, base + ${SLOT_TEXT_OFFSET}, ${MAX_TEXT});
  const header = new Int32Array(init.control, 0, 2);
  const report = (err) => {
    const s = String(err && err.stack ? err.stack : err).slice(0, ${MAX_TEXT});
    for (let i = 0; i < s.length; i++) text[i] = s.charCodeAt(i);
    ints[${TEXT_LENGTH}] = s.length;
  };
  let fns;
  try {
    const instance = new WebAssembly.Instance(init.module, {
      env: {
        memory: init.memory,
        abort: () => {
          throw new Error("convkit wasm kernels: abort");
        },
      },
    });
    fns = init.kernels.map((name) => instance.exports[name]);
  } catch (err) {
    report(err);
    Atomics.store(ints, ${STATE}, ${FAILED});
    Atomics.notify(ints, ${STATE});
    return;
  }
  Atomics.store(ints, ${STATE}, ${READY});
  Atomics.notify(ints, ${STATE});
  let seen = Atomics.load(ints, ${GEN});
  for (;;) {
    Atomics.wait(ints, ${GEN}, seen);
    const gen = Atomics.load(ints, ${GEN});
    if (gen === seen) continue;
    seen = gen;
    const kernel = ints[${KERNEL}];
    if (kernel < 0) break;
    let status = ${OK};
    let waited = 0;
    args[${TIME_START}] = clock();
    try {
      const n = ints[${NARGS}];
      const gated = ints[${STEPS}] > 0;
      const steps = gated ? ints[${STEPS}] : 1;
      const acc = ints[${ACCUMULATE}];
      const a = new Array(n);
      for (let s = 0; s < steps; s++) {
        if (gated) {
          const t = clock();
          let w;
          while ((w = Atomics.load(header, ${WRITTEN})) <= s) Atomics.wait(header, ${WRITTEN}, w);
          waited += clock() - t;
        }
        for (let i = 0; i < n; i++) a[i] = args[i] + s * step[i];
        if (s > 0 && acc >= 0) a[acc] = 1;
        fns[kernel](...a);
      }
    } catch (err) {
      report(err);
      status = ${ERROR};
    }
    args[${TIME_END}] = clock();
    args[${TIME_WAITED}] = waited;
    ints[${STATUS}] = status;
    Atomics.store(ints, ${DONE}, gen);
    if (Atomics.sub(header, ${PENDING}, 1) === 1) Atomics.notify(header, ${PENDING});
  }
  Atomics.store(ints, ${STATE}, ${EXITED});
  Atomics.notify(ints, ${STATE});
}
`;
