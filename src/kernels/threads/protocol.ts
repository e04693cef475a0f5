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
 * A chunked job (CHUNK > 0) runs its unit range, the last two arguments, CHUNK units at a time: chunk s once
 * the slot's own CHUNKS_WRITTEN exceeds s, after which it sets CHUNKS_DONE to s + 1 and notifies it, so that
 * the caller writes a worker's input and reads its output chunk by chunk while the worker computes.
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
/** Units per chunk of a chunked job (0: not chunked). */
export const CHUNK = 9;
/** Chunks of a chunked job whose input the caller has written. */
export const CHUNKS_WRITTEN = 10;
/** Chunks of a chunked job the worker has finished. */
export const CHUNKS_DONE = 11;

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
      const chunk = ints[${CHUNK}];
      const a = new Array(n);
      if (chunk > 0) {
        const u0 = args[n - 2];
        const u1 = args[n - 1];
        for (let i = 0; i < n; i++) a[i] = args[i];
        for (let s = 0; u0 + s * chunk < u1; s++) {
          const t = clock();
          let w;
          while ((w = Atomics.load(ints, ${CHUNKS_WRITTEN})) <= s) Atomics.wait(ints, ${CHUNKS_WRITTEN}, w);
          waited += clock() - t;
          a[n - 2] = u0 + s * chunk;
          a[n - 1] = Math.min(u0 + (s + 1) * chunk, u1);
          fns[kernel](...a);
          Atomics.store(ints, ${CHUNKS_DONE}, s + 1);
          Atomics.notify(ints, ${CHUNKS_DONE});
        }
      }
      for (let s = 0; chunk === 0 && s < steps; s++) {
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
