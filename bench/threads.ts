/**
 * Thread scaling of our kernels, measured so that it means something on a shared machine too: besides wall
 * time, the time each thread spent on a CPU (Linux /proc/self/task/<tid>/schedstat, nanoseconds). On a busy
 * machine the scheduler gives the process a share of the cores whatever its thread count, so wall times do
 * not show scaling; the busiest thread's on-CPU time per call is what the call would take on idle cores
 * (an upper bound: it includes the thread's own waiting on its peers only as spinning).
 *
 *   npx tsx bench/threads.ts [--threads=2] [--shapes=conv3x3,...] [--batches=1,8] [--calls=10] [--even]
 *   (--even: equal ranges instead of the balance the pool learns from each call's timings)
 *
 * Prints a markdown table; Linux only (elsewhere the CPU columns are empty).
 */
import { readdirSync, readFileSync } from "node:fs";
import v8 from "node:v8";
import type { Conv2dKernels } from "../src/kernels/conv2d.js";
import { ThreadPool } from "../src/kernels/threads/pool.js";
import { threadSupport } from "../src/kernels/threads/support.js";
import { makeWasmConv2d } from "../src/kernels/wasm/conv2d.js";
import { bestVariant, instantiateSync } from "../src/kernels/wasm/module.js";
import { Rng } from "../src/tensor/rng.js";
import { type BenchShape, type Direction, flopsOf, geometryOf, SHAPES } from "./shapes.js";

/**
 * Per thread id of this process: nanoseconds on a CPU and nanoseconds runnable but waiting for one (empty
 * where /proc is missing).
 */
function threadCpu(): Map<number, [number, number]> {
  const out = new Map<number, [number, number]>();
  try {
    for (const tid of readdirSync("/proc/self/task")) {
      try {
        const fields = readFileSync(`/proc/self/task/${tid}/schedstat`, "utf8").trim().split(/\s+/);
        out.set(Number(tid), [Number(fields[0]), Number(fields[1])]);
      } catch {
        // the thread ended
      }
    }
  } catch {
    // not Linux
  }
  return out;
}

interface Sample {
  wallMs: number;
  /** On-CPU ms per call of the calling thread and of the busiest other thread. */
  mainCpuMs: number | null;
  otherCpuMs: number | null;
  /** Ms per call the calling and busiest threads spent runnable but waiting for a CPU (others' load). */
  queuedMs: number | null;
}

function measure(call: () => void, calls: number): Sample {
  call();
  call();
  const before = threadCpu();
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) call();
  const wallMs = (performance.now() - t0) / calls;
  const after = threadCpu();
  if (after.size === 0) return { wallMs, mainCpuMs: null, otherCpuMs: null, queuedMs: null };
  let main = 0;
  let mainQueued = 0;
  let other = 0;
  let otherQueued = 0;
  for (const [tid, [ns, wait]] of after) {
    const [ns0, wait0] = before.get(tid) ?? [0, 0];
    const d = (ns - ns0) / 1e6 / calls;
    const q = (wait - wait0) / 1e6 / calls;
    if (tid === process.pid) {
      main = d;
      mainQueued = q;
    } else if (d > other) {
      other = d;
      otherQueued = q;
    }
  }
  return { wallMs, mainCpuMs: main, otherCpuMs: other, queuedMs: mainQueued + otherQueued };
}

function randArray(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

async function main(): Promise<void> {
  v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
  const argv = process.argv.slice(2);
  const opt = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const threads = Number(opt("threads") ?? 2);
  const calls = Number(opt("calls") ?? 10);
  const batches = (opt("batches") ?? "1,8").split(",").map(Number);
  const names = opt("shapes")?.split(",") ?? SHAPES.map((s) => s.name);
  const shapes = names.map((n) => SHAPES.find((s) => s.name === n) as BenchShape);
  const support = threadSupport();
  const variant = bestVariant();
  if (!support.ok || !variant) throw new Error(support.ok ? "no WebAssembly SIMD" : support.reason);
  const mod = instantiateSync(variant, { shared: true });
  const learnBalance = !argv.includes("--even");
  const pool = new ThreadPool(mod, threads - 1, support.host, { learnBalance });
  if ((await pool.ready()) !== threads) throw new Error(`only ${pool.threads()} threads started`);
  const one = makeWasmConv2d(instantiateSync(variant));
  const many = makeWasmConv2d(mod, {}, pool);
  const f = (v: number | null) => (v === null ? "—" : v.toFixed(2));
  console.log(
    `${variant}, ${threads} threads (${learnBalance ? "learnt" : "equal"} shares), ${calls} calls per cell; ms per call.`,
  );
  console.log("");
  console.log(
    `| shape | batch | direction | 1T wall | 1T on-CPU | ${threads}T wall | ${threads}T on-CPU: caller / busiest worker | ${threads}T runnable but waiting for a CPU: caller + busiest worker | speed-up, wall | speed-up, on-CPU (1T on-CPU / busiest ${threads}T thread) |`,
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  for (const batch of batches) {
    for (const shape of shapes) {
      const g = geometryOf(shape, batch);
      const rng = new Rng(1);
      const x = randArray(g.n * g.cIn * g.hIn * g.wIn, rng);
      const w = randArray(g.cOut * (g.cIn / g.groups) * g.kH * g.kW, rng);
      const gy = randArray(g.n * g.cOut * g.hOut * g.wOut, rng);
      const y = new Float32Array(gy.length);
      const gx = new Float32Array(x.length);
      const gw = new Float32Array(w.length);
      for (const direction of ["forward", "backward"] as Direction[]) {
        const run = (k: Conv2dKernels) =>
          direction === "forward"
            ? () => k.forward(x, w, null, g, y)
            : () => {
                k.backwardInput(gy, w, g, gx);
                k.backwardWeight(x, gy, g, gw);
              };
        const n = Math.max(2, Math.round(calls * Math.min(1, 2e9 / flopsOf(g, direction))));
        const a = measure(run(one), n);
        const b = measure(run(many), n);
        const busiest = b.mainCpuMs === null ? null : Math.max(b.mainCpuMs, b.otherCpuMs ?? 0);
        console.log(
          `| ${shape.name} | ${batch} | ${direction} | ${f(a.wallMs)} | ${f(a.mainCpuMs)} | ${f(b.wallMs)} | ${f(b.mainCpuMs)} / ${f(b.otherCpuMs)} | ${f(b.queuedMs)} | ${f(a.wallMs / b.wallMs)} | ${a.mainCpuMs !== null && busiest ? f(a.mainCpuMs / busiest) : "—"} |`,
        );
      }
    }
  }
  pool.close();
}

await main();
