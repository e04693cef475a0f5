import type { EngineStatus, JobEvent, Request, RequestMessage, ResponseMessage } from "./worker/protocol.js";

/**
 * The page's side of an engine worker: requests with promises, events streamed to a callback. Each training
 * run gets its own worker (runs side by side); rewrites, gradients and status share one "jobs" worker.
 */

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  onEvent?: (event: JobEvent) => void;
}

export class EngineClient {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private broken: string | null = null;

  constructor(name: string) {
    this.worker = new Worker(new URL("./worker/engine.ts", import.meta.url), { type: "module", name });
    this.worker.onmessage = (e: MessageEvent<ResponseMessage>) => {
      const m = e.data;
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.type === "event") p.onEvent?.(m.event);
      else {
        this.pending.delete(m.id);
        if (m.type === "result") p.resolve(m.result);
        else p.reject(new Error(m.error));
      }
    };
    this.worker.onerror = (e) => {
      this.broken = e.message || "the engine worker failed";
      for (const p of this.pending.values()) p.reject(new Error(this.broken));
      this.pending.clear();
    };
  }

  call<T>(request: Request, onEvent?: (event: JobEvent) => void): Promise<T> {
    if (this.broken) return Promise.reject(new Error(this.broken));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onEvent });
      const message: RequestMessage = { id, request };
      this.worker.postMessage(message);
    });
  }

  /** Asks a running training job to stop after its current step. */
  stop(): Promise<unknown> {
    return this.call({ kind: "stop" });
  }

  terminate(): void {
    this.worker.terminate();
    for (const p of this.pending.values()) p.reject(new Error("stopped"));
    this.pending.clear();
  }
}

/** Cores the page may use, and whether it may share memory with workers (cross-origin isolation). */
export function pageCores(): { cores: number; isolated: boolean } {
  const cores = Math.max(1, Math.floor(navigator.hardwareConcurrency || 1));
  return { cores, isolated: globalThis.crossOriginIsolated === true };
}

let jobs: { client: EngineClient; status: Promise<EngineStatus> } | null = null;

/** The shared worker for rewrites, gradients and status, started with every core as kernel threads. */
export function jobsEngine(): { client: EngineClient; status: Promise<EngineStatus> } {
  if (!jobs) {
    const client = new EngineClient("convkit-jobs");
    const status = client.call<EngineStatus>({ kind: "init", threads: pageCores().cores });
    jobs = { client, status };
  }
  return jobs;
}

/** One line about the engine for the header. */
export function describeStatus(s: EngineStatus): string {
  const kernels =
    s.backend === "reference"
      ? "TypeScript reference kernels (no WebAssembly SIMD here)"
      : `WebAssembly ${s.backend} kernels`;
  const threads =
    s.threads.active > 1
      ? `${s.threads.active} threads`
      : `1 thread${s.threads.reason ? ` (${s.threads.reason})` : ""}`;
  const hint = s.crossOriginIsolated ? "" : " Open the page with convkit serve to use every core.";
  return `Engine: ${kernels}, ${threads}.${hint}`;
}
