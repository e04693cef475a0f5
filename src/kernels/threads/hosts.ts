/**
 * Where workers come from: Node's worker_threads, or Web Workers in a browser (or Deno, Bun). The worker's
 * code (protocol.ts) is the same text in both; each host only adds the line that hands it its WorkerInit.
 * Node's module is reached through process.getBuiltinModule (Node >= 20.16) rather than an import, so this
 * file loads unchanged in a browser bundle.
 */
import type * as WorkerThreads from "node:worker_threads";
import { errorMessage } from "../../tensor/errors.js";
import { WORKER_SOURCE, type WorkerInit } from "./protocol.js";

/** A started worker, as the pool sees it. */
export interface WorkerHandle {
  terminate(): void;
}

/** Callbacks of a worker's life that the host reports (while the calling thread's event loop runs). */
export interface WorkerEvents {
  /** The worker threw outside a job (its start failed) or its host reported an error. */
  error(message: string): void;
  /** The worker is gone. */
  exit(): void;
}

export interface WorkerHost {
  name: "node-worker_threads" | "web-worker";
  spawn(init: WorkerInit, events: WorkerEvents): WorkerHandle;
}

interface NodeProcessLike {
  getBuiltinModule?: (id: string) => unknown;
}

/** A Node built-in module, or null outside Node (and in Node < 20.16, which lacks getBuiltinModule). */
export function nodeBuiltin<T>(id: string): T | null {
  const proc = (globalThis as { process?: NodeProcessLike }).process;
  if (!proc || typeof proc.getBuiltinModule !== "function") return null;
  try {
    return (proc.getBuiltinModule(id) as T | undefined) ?? null;
  } catch {
    return null;
  }
}

function nodeHost(wt: typeof WorkerThreads): WorkerHost {
  const source = `${WORKER_SOURCE}\nconvkitWorker(require("node:worker_threads").workerData);\n`;
  return {
    name: "node-worker_threads",
    spawn(init, events) {
      const worker = new wt.Worker(source, { eval: true, workerData: init });
      // Idle workers must not keep the process alive: a script that never shuts the pool down still exits.
      worker.unref();
      worker.on("error", (err: unknown) => events.error(errorMessage(err)));
      worker.on("exit", () => events.exit());
      return {
        terminate() {
          void worker.terminate();
        },
      };
    },
  };
}

interface WebWorkerLike {
  postMessage(message: unknown): void;
  terminate(): void;
  onerror: ((ev: { message?: string }) => void) | null;
}
type WebWorkerConstructor = new (url: string) => WebWorkerLike;

function webHost(Ctor: WebWorkerConstructor): WorkerHost {
  const source = `${WORKER_SOURCE}\nself.onmessage = (e) => { self.onmessage = null; convkitWorker(e.data); };\n`;
  let url: string | null = null;
  return {
    name: "web-worker",
    spawn(init, events) {
      url ??= URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
      const worker = new Ctor(url);
      worker.onerror = (ev) => events.error(ev.message ?? "worker error");
      worker.postMessage(init);
      return {
        terminate() {
          worker.terminate();
          events.exit();
        },
      };
    },
  };
}

/** The worker API of this runtime, or null when it has none. */
export function findWorkerHost(): WorkerHost | null {
  const wt = nodeBuiltin<typeof WorkerThreads>("node:worker_threads");
  if (wt) return nodeHost(wt);
  const Ctor = (globalThis as { Worker?: WebWorkerConstructor }).Worker;
  if (
    typeof Ctor === "function" &&
    typeof URL?.createObjectURL === "function" &&
    typeof Blob === "function"
  ) {
    return webHost(Ctor);
  }
  return null;
}
