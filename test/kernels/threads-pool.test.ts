import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import type { SplitCall, Task } from "../../src/kernels/threads/call.js";
import type { WorkerHost } from "../../src/kernels/threads/hosts.js";
import { ThreadPool, ThreadPoolError } from "../../src/kernels/threads/pool.js";
import { HEADER_BYTES, READY, SLOT_BYTES, STATE } from "../../src/kernels/threads/protocol.js";
import { threadSupport } from "../../src/kernels/threads/support.js";
import { instantiateSync, type WasmKernelModule } from "../../src/kernels/wasm/module.js";
import { Rng, randArray } from "./wasm-variants.js";

const support = threadSupport();
if (!support.ok) throw new Error(`threads unsupported here: ${support.reason}`);
const host = support.host;

const pools: ThreadPool[] = [];
function pool(mod: WasmKernelModule, workers: number, h: WorkerHost = host, timeoutMs?: number): ThreadPool {
  const p = new ThreadPool(mod, workers, h, { timeoutMs });
  pools.push(p);
  return p;
}
afterEach(() => {
  for (const p of pools.splice(0)) p.close();
});

/**
 * C = A * B (m x k times k x n) computed as `parts` gemm tasks over row blocks of A and C, and the same
 * product on the calling thread alone, for comparison.
 */
function gemmTasks(mod: WasmKernelModule, parts: number, m = 37, n = 45, k = 29) {
  const rng = new Rng(parts);
  const a = randArray(m * k, rng);
  const b = randArray(k * n, rng);
  const ws = mod.exports.gemmWorkspaceBytes();
  const [pa, pb, pc, pd, ...pws] = mod.reserve([
    m * k * 4,
    k * n * 4,
    m * n * 4,
    m * n * 4,
    ...Array(parts).fill(ws),
  ]);
  mod.write(pa, a, 0, a.length);
  mod.write(pb, b, 0, b.length);
  const rows = Math.ceil(m / parts);
  const tasks: Task[] = [];
  for (let i = 0; i < parts; i++) {
    const r0 = Math.min(m, i * rows);
    const r1 = Math.min(m, r0 + rows);
    tasks.push({
      kernel: "gemm",
      args: [0, 0, r1 - r0, n, k, 1, pa + r0 * k * 4, k, pb, n, 0, pc + r0 * n * 4, n, pws[i]],
    });
  }
  mod.exports.gemm(0, 0, m, n, k, 1, pa, k, pb, n, 0, pd, n, pws[0]);
  const result = () => ({ split: mod.f32(pc, m * n).slice(), whole: mod.f32(pd, m * n).slice() });
  return { tasks, result, pa, pb, pc, k, n };
}

/**
 * A chunked split call (SplitCall.chunked) over `planes` planes of h x w floats: batchToSpace with one
 * phase copies source plane u to output plane u, writeRange copies planes in from `src`, readRange out to
 * `dst`; `log` records every range written and read, in order.
 */
function copyCall(mod: WasmKernelModule, planes: number, threads: number, seed: number) {
  const h = 5;
  const w = 7;
  const size = h * w;
  const src = randArray(planes * size, new Rng(seed));
  const dst = new Float32Array(planes * size);
  const [ps, po] = mod.reserve([planes * size * 4, planes * size * 4]);
  const log: string[] = [];
  const call: SplitCall = {
    key: `copy:${planes}`,
    units: planes,
    threads,
    chunked: true,
    writeRange(u0, u1) {
      log.push(`w${u0}-${u1}`);
      mod.write(ps + u0 * size * 4, src, u0 * size, (u1 - u0) * size);
    },
    task: (u0, u1) => ({ kernel: "batchToSpace", args: [ps, planes, h, w, 1, 1, h, w, po, u0, u1] }),
    readRange(u0, u1) {
      log.push(`r${u0}-${u1}`);
      mod.read(po + u0 * size * 4, dst, u0 * size, (u1 - u0) * size);
    },
  };
  return { call, src, dst, log };
}

/** A host whose workers report ready and then never answer (a worker that died after starting). */
const silentHost: WorkerHost = {
  name: "node-worker_threads",
  spawn(init) {
    Atomics.store(new Int32Array(init.control, HEADER_BYTES + init.slot * SLOT_BYTES, 16), STATE, READY);
    return { terminate() {} };
  },
};

describe("ThreadPool", () => {
  const mod = instantiateSync("simd", { shared: true });

  it("refuses an unshared memory", () => {
    expect(() => new ThreadPool(instantiateSync("simd"), 1, host)).toThrow(ThreadPoolError);
  });

  it("starts its workers in the background and runs tasks on them, the first on the calling thread", async () => {
    const p = pool(mod, 3);
    expect(p.threads()).toBeGreaterThanOrEqual(1);
    expect(await p.ready()).toBe(4);
    expect(p.starting()).toBe(0);
    const { tasks, result } = gemmTasks(mod, 4);
    p.run(tasks);
    const { split, whole } = result();
    expect(Array.from(split)).toEqual(Array.from(whole));
    // Fewer tasks than threads, and again (workers go back to waiting between calls).
    for (let r = 0; r < 20; r++) {
      const g = gemmTasks(mod, 1 + (r % 4));
      p.run(g.tasks);
      const out = g.result();
      expect(Array.from(out.split)).toEqual(Array.from(out.whole));
    }
  });

  it("refuses a call split into more tasks than threads ready", async () => {
    const p = pool(mod, 1);
    await p.ready();
    expect(() => p.run(gemmTasks(mod, 3).tasks)).toThrow(/split into 3 tasks, but only 2 threads are ready/);
  });

  it("reports a kernel that traps in a worker, naming the worker and the kernel, and stays usable", async () => {
    const p = pool(mod, 2);
    await p.ready();
    const { tasks } = gemmTasks(mod, 3);
    // Task 2 (worker 2) writes C far outside the memory.
    const bad = tasks.map((t, i) =>
      i === 2 ? { ...t, args: t.args.map((v, j) => (j === 11 ? 0xfff00000 : v)) } : t,
    );
    expect(() => p.run(bad)).toThrow(ThreadPoolError);
    expect(() => p.run(bad)).toThrow(/worker 2 failed in gemm: RuntimeError: memory access out of bounds/);
    expect(p.failure).toBeNull();
    const g = gemmTasks(mod, 3);
    p.run(g.tasks);
    expect(Array.from(g.result().split)).toEqual(Array.from(g.result().whole));
  });

  it("rethrows a trap on the calling thread after its workers have finished", async () => {
    const p = pool(mod, 1);
    await p.ready();
    const { tasks } = gemmTasks(mod, 2);
    const bad = tasks.map((t, i) =>
      i === 0 ? { ...t, args: t.args.map((v, j) => (j === 11 ? 0xfff00000 : v)) } : t,
    );
    expect(() => p.run(bad)).toThrow(/memory access out of bounds/);
    expect(p.threads()).toBe(2);
  });

  it("gives up on a worker that stops answering after the timeout, with a clear error, and shuts down", () => {
    const p = pool(mod, 2, silentHost, 200);
    expect(p.threads()).toBe(3);
    const t0 = performance.now();
    expect(() => p.run(gemmTasks(mod, 3).tasks)).toThrow(
      /worker 1 \(gemm\), worker 2 \(gemm\) did not finish within 200 ms \(crashed or hung\); the pool is shut down/,
    );
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(p.failure).toMatch(/did not finish/);
    expect(p.threads()).toBe(1);
    // One task still runs, on the calling thread.
    const g = gemmTasks(mod, 1);
    p.run(g.tasks);
    expect(Array.from(g.result().split)).toEqual(Array.from(g.result().whole));
  });

  it("stops before a call when a worker has exited since the last one", () => {
    let exit: () => void = () => {};
    const dying: WorkerHost = {
      name: "node-worker_threads",
      spawn(init, events) {
        exit = events.exit;
        return silentHost.spawn(init, events);
      },
    };
    const p = pool(mod, 1, dying);
    expect(p.threads()).toBe(2);
    exit();
    expect(p.threads()).toBe(1);
    expect(p.failure).toMatch(/worker 1 exited; the pool is shut down/);
  });

  it("leaves out a worker that cannot start and runs with the others", async () => {
    const broken: WorkerHost = {
      name: host.name,
      // Worker 1 gets the build for an unshared memory, which refuses to link with the shared one.
      spawn: (init, events) =>
        host.spawn(init.slot === 0 ? { ...init, module: instantiateSync("simd").compiled } : init, events),
    };
    const p = pool(mod, 2, broken);
    expect(await p.ready()).toBe(2);
    expect(p.startErrors()).toHaveLength(1);
    expect(p.startErrors()[0]).toMatch(/^worker 1: .*(LinkError|memory)/);
    const g = gemmTasks(mod, 2);
    p.run(g.tasks);
    expect(Array.from(g.result().split)).toEqual(Array.from(g.result().whole));
  });

  it("runs a chunked call in chunks: each written before it runs, read after, the result whole", async () => {
    const p = pool(mod, 3);
    await p.ready();
    for (const planes of [4, 9, 37]) {
      const c = copyCall(mod, planes, 4, planes);
      p.runSplit(c.call);
      expect(Array.from(c.dst)).toEqual(Array.from(c.src));
      // Every plane written once and read once, each read after its write.
      const covered = (kind: string) => {
        const hits = new Array(planes).fill(0);
        for (const e of c.log.filter((x) => x[0] === kind)) {
          const [a, b] = e.slice(1).split("-").map(Number);
          for (let u = a; u < b; u++) hits[u]++;
        }
        return hits;
      };
      expect(covered("w")).toEqual(new Array(planes).fill(1));
      expect(covered("r")).toEqual(new Array(planes).fill(1));
      // A worker's range of 9 or more planes goes in more than one chunk.
      if (planes === 37) expect(c.log.filter((x) => x[0] === "w").length).toBeGreaterThan(4);
    }
    // Call after call (the shares re-balance, workers finish at every moment of the reading): no chunk
    // is ever left unread.
    for (let r = 0; r < 300; r++) {
      const c = copyCall(mod, 37, 4, 1000 + r);
      p.runSplit(c.call);
      expect(c.dst).toEqual(c.src);
    }
  });

  it("a chunked call whose input write fails releases its workers, reports the error and stays usable", async () => {
    const p = pool(mod, 2);
    await p.ready();
    const c = copyCall(mod, 24, 3, 1);
    const write = c.call.writeRange?.bind(c.call);
    let writes = 0;
    c.call.writeRange = (u0, u1) => {
      if (++writes === 3) throw new Error("source tensor detached");
      write?.(u0, u1);
    };
    const t0 = performance.now();
    expect(() => p.runSplit(c.call)).toThrow(/source tensor detached/);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(p.failure).toBeNull();
    const ok = copyCall(mod, 24, 3, 2);
    p.runSplit(ok.call);
    expect(Array.from(ok.dst)).toEqual(Array.from(ok.src));
  });

  it("reports a kernel that traps in a worker during a chunked call, and stays usable", async () => {
    const p = pool(mod, 2);
    await p.ready();
    const c = copyCall(mod, 24, 3, 3);
    const task = c.call.task.bind(c.call);
    c.call.task = (u0, u1, i) => {
      const t = task(u0, u1, i);
      return i === 2 ? { ...t, args: t.args.map((v, j) => (j === 8 ? 0xfff00000 : v)) } : t;
    };
    expect(() => p.runSplit(c.call)).toThrow(
      /worker 2 failed in batchToSpace: RuntimeError: memory access out of bounds/,
    );
    expect(p.failure).toBeNull();
    const ok = copyCall(mod, 24, 3, 4);
    p.runSplit(ok.call);
    expect(Array.from(ok.dst)).toEqual(Array.from(ok.src));
  });

  it("close() stops every worker", async () => {
    const p = new ThreadPool(mod, 2, host);
    await p.ready();
    p.close();
    p.close();
    const t0 = performance.now();
    while (!p.allExited() && performance.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
    expect(p.allExited()).toBe(true);
    expect(p.threads()).toBe(1);
  });

  it("idle workers do not keep the process alive", () => {
    const dir = mkdtempSync(join(tmpdir(), "convkit-threads-"));
    const src = (p: string) => pathToFileURL(resolve(p)).href;
    const script = join(dir, "exit.mts");
    writeFileSync(
      script,
      [
        `import { useWasmKernelsSync } from "${src("src/kernels/wasm/index.ts")}";`,
        `import { setNumThreads, whenThreadsReady } from "${src("src/kernels/threads/index.ts")}";`,
        `useWasmKernelsSync({ variant: "simd" });`,
        "setNumThreads(3);",
        "const s = await whenThreadsReady();",
        "console.log(JSON.stringify(s));",
      ].join("\n"),
    );
    const r = spawnSync(process.execPath, ["--import", "tsx", script], { encoding: "utf8", timeout: 30_000 });
    expect(r.error, r.stderr).toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ requested: 3, active: 3, reason: null });
  });
});
