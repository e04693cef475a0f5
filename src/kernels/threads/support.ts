/**
 * Can this thread run kernels on a pool of workers? It needs shared memory (SharedArrayBuffer, and a shared
 * WebAssembly.Memory), Atomics.wait on the calling thread (the kernels are synchronous, so the caller blocks
 * until its workers finish: allowed in Node's main thread and in any worker, refused on a browser's main
 * thread), and a worker API.
 */
import type * as Os from "node:os";
import { findWorkerHost, nodeBuiltin, type WorkerHost } from "./hosts.js";

export type ThreadSupport = { ok: true; host: WorkerHost } | { ok: false; reason: string };

let cached: ThreadSupport | null = null;

function probe(): ThreadSupport {
  if (typeof SharedArrayBuffer !== "function") {
    return {
      ok: false,
      reason:
        "SharedArrayBuffer is missing (browsers expose it only to cross-origin isolated pages: serve with COOP: same-origin and COEP: require-corp)",
    };
  }
  if (typeof Atomics !== "object" || typeof Atomics.wait !== "function") {
    return { ok: false, reason: "Atomics.wait is missing" };
  }
  if ((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false) {
    return {
      ok: false,
      reason:
        "the page is not cross-origin isolated (COOP/COEP headers), so memory cannot be shared with workers",
    };
  }
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
  } catch {
    return {
      ok: false,
      reason:
        "this thread may not block in Atomics.wait (a browser's main thread): run the engine in a Web Worker to use threads",
    };
  }
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch {
    return { ok: false, reason: "this runtime cannot create a shared WebAssembly.Memory" };
  }
  const host = findWorkerHost();
  if (!host) {
    return {
      ok: false,
      reason: "no worker API (Node needs >= 20.16 for process.getBuiltinModule; browsers need Web Workers)",
    };
  }
  return { ok: true, host };
}

/** Whether threads can run here, and why not (probed once: none of it changes while a program runs). */
export function threadSupport(): ThreadSupport {
  cached ??= probe();
  return cached;
}

/** Cores this program may use: os.availableParallelism() in Node, navigator.hardwareConcurrency in browsers. */
export function availableCores(): number {
  const os = nodeBuiltin<typeof Os>("node:os");
  if (os) {
    if (typeof os.availableParallelism === "function") return Math.max(1, os.availableParallelism());
    return Math.max(1, os.cpus().length);
  }
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  const n = nav?.hardwareConcurrency;
  return typeof n === "number" && n >= 1 ? Math.floor(n) : 1;
}
