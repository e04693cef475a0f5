/**
 * Convolution benchmark: our kernels (TypeScript reference, WebAssembly SIMD and relaxed-SIMD builds) against
 * ONNX Runtime, TensorFlow.js (WASM backend) and PyTorch, one thread each, on the shapes of issue 4, batch 1
 * and 8, forward and backward; and our best build on more threads (default 2). Writes docs/benchmarks.md and
 * docs/benchmarks.json (the page keeps the browser section of `npm run bench:web`, see bench/docs.ts).
 *
 *   npm run bench                      full run (~13 minutes on 2 cores)
 *   npm run bench -- --quick           4 shapes, batch 1, fewer samples -> bench/results/quick.{md,json}
 *   options: --shapes=conv3x3,pointwise --batches=1,8 --reps=7 --threads=2,4 (0: none) --no-torch --no-ref
 *            --out=path/prefix
 */
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, resolve } from "node:path";
import v8 from "node:v8";
import { wasmConvPath } from "../src/kernels/wasm/conv2d.js";
import { detectWasmFeatures } from "../src/kernels/wasm/detect.js";
import type { Conv2dGeometry } from "../src/tensor/conv-geometry.js";
import { Rng } from "../src/tensor/rng.js";
import { writeBenchmarksPage } from "./docs.js";
import type { Engine, Workload } from "./engine.js";
import { referenceEngine, wasmEngine, wasmThreadsEngine } from "./ours.js";
import { measurePeak } from "./peak.js";
import { onnxRuntimeEngine } from "./peers/onnxruntime.js";
import { tfjsWasmEngine } from "./peers/tfjs.js";
import { torchEngine } from "./peers/torch.js";
import { markdown, type Report, type Row } from "./report.js";
import { type BenchShape, type Direction, flopsOf, geometryOf, QUICK_SHAPES, SHAPES } from "./shapes.js";
import type { TimingPlan } from "./timing.js";

interface Args {
  quick: boolean;
  shapes: BenchShape[];
  batches: number[];
  plan: TimingPlan;
  torch: boolean;
  ref: boolean;
  /** Thread counts (> 1) our best build also runs on. */
  threads: number[];
  out: string;
}

function parseArgs(argv: string[]): Args {
  const opt = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const quick = argv.includes("--quick");
  const shapeNames = opt("shapes")?.split(",") ?? (quick ? [...QUICK_SHAPES] : SHAPES.map((s) => s.name));
  const shapes = shapeNames.map((n) => {
    const s = SHAPES.find((x) => x.name === n);
    if (!s) throw new Error(`unknown shape '${n}'; known: ${SHAPES.map((x) => x.name).join(", ")}`);
    return s;
  });
  const batches = (opt("batches") ?? (quick ? "1" : "1,8")).split(",").map(Number);
  const reps = Number(opt("reps") ?? (quick ? 3 : 7));
  return {
    quick,
    shapes,
    batches,
    plan: { reps, minSampleMs: quick ? 15 : 40, slowCallMs: 1500 },
    torch: !argv.includes("--no-torch"),
    ref: !argv.includes("--no-ref"),
    threads: (opt("threads") ?? "2")
      .split(",")
      .map(Number)
      .filter((n) => Number.isInteger(n) && n > 1),
    out: opt("out") ?? (quick ? "bench/results/quick" : "docs/benchmarks"),
  };
}

function randArray(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

function workload(shape: BenchShape, batch: number): Workload {
  const g = geometryOf(shape, batch);
  const rng = new Rng(1234);
  return {
    shape,
    batch,
    g,
    x: randArray(g.n * g.cIn * g.hIn * g.wIn, rng),
    w: randArray(g.cOut * (g.cIn / g.groups) * g.kH * g.kW, rng).map(
      (v) => v / Math.sqrt((g.cIn / g.groups) * g.kH * g.kW),
    ),
    gy: randArray(g.n * g.cOut * g.hOut * g.wOut, rng),
    deform: shape.deformable ? deformInputs(g, shape.deformable.offsetGroups, rng) : undefined,
  };
}

/** Offsets of about a pixel (N(0, 1)) and a mask in [0, 1): samples between pixels, some outside. */
function deformInputs(g: Conv2dGeometry, offsetGroups: number, rng: Rng): Workload["deform"] {
  const planes = g.n * offsetGroups * g.kH * g.kW * g.hOut * g.wOut;
  const mask = new Float32Array(planes);
  for (let i = 0; i < planes; i++) mask[i] = rng.uniform();
  return { g: { ...g, offsetGroups }, offset: randArray(2 * planes, rng), mask };
}

function relErr(a: Float32Array, e: Float32Array): number {
  let sq = 0;
  let worst = 0;
  for (let i = 0; i < e.length; i++) sq += e[i] * e[i];
  const rms = Math.sqrt(sq / Math.max(1, e.length)) || 1;
  for (let i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs(a[i] - e[i]));
  return worst / rms;
}

const log = (s: string) => process.stderr.write(`${s}\n`);

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  // Node 20 has relaxed SIMD behind a V8 flag (default from Node 22); the flag can be set before compiling.
  v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
  const features = detectWasmFeatures();

  const engines: Engine[] = [];
  const absent: { name: string; why: string }[] = [];
  if (args.ref) engines.push(referenceEngine());
  if (features.simd) engines.push(wasmEngine("simd"));
  else absent.push({ name: "ours-wasm-simd", why: "no WebAssembly SIMD in this runtime" });
  if (features.relaxedSimd) engines.push(wasmEngine("relaxed-simd"));
  else absent.push({ name: "ours-wasm-relaxed-simd", why: "no relaxed SIMD in this runtime" });
  const best = features.relaxedSimd ? "relaxed-simd" : features.simd ? "simd" : null;
  for (const n of args.threads) {
    if (!best) break;
    const e = await wasmThreadsEngine(best, n);
    if ("absent" in e) absent.push({ name: `ours-wasm-${best}-${n}t`, why: e.absent });
    else engines.push(e);
  }
  engines.push(await onnxRuntimeEngine());
  engines.push(await tfjsWasmEngine());
  if (args.torch) {
    const t = await torchEngine();
    if ("absent" in t) absent.push({ name: "pytorch", why: t.absent });
    else engines.push(t);
  } else {
    absent.push({ name: "pytorch", why: "skipped (--no-torch)" });
  }
  log(
    `engines: ${engines.map((e) => e.name).join(", ")}${absent.length ? `; absent: ${absent.map((a) => a.name).join(", ")}` : ""}`,
  );

  const rows: Row[] = [];
  const crossCheck: Report["crossCheck"] = [];
  const grew: string[] = [];
  const started = performance.now();
  for (const batch of args.batches) {
    for (const shape of args.shapes) {
      const work = workload(shape, batch);
      if (batch === args.batches[0]) {
        const ort = engines.find((e) => e.name === "onnxruntime");
        const expected = await ort?.forwardOutput?.(work);
        if (expected) {
          for (const e of engines) {
            if (e === ort || !e.forwardOutput || e.name === "ours-ref") continue;
            const output = await e.forwardOutput(work);
            if (output !== null)
              crossCheck.push({ shape: shape.name, engine: e.name, relErr: relErr(output, expected) });
          }
        }
      }
      for (const direction of ["forward", "backward"] as Direction[]) {
        const row: Row = {
          shape: shape.name,
          label: shape.label,
          batch,
          direction,
          flops: flopsOf(work.g, direction),
          path: work.deform
            ? "deform-plan-gemm"
            : direction === "forward"
              ? wasmConvPath(work.g)
              : `${wasmConvPath(work.g, "backwardInput")} + ${wasmConvPath(work.g, "backwardWeight")}`,
          timings: {},
        };
        for (const e of engines) {
          // The reference takes seconds per call: batch 1 only (its cost per image does not change with batch).
          if (e.name === "ours-ref" && batch !== args.batches[0]) {
            row.timings[e.name] = null;
            continue;
          }
          const t = await e.measure(work, direction, args.plan);
          row.timings[e.name] = t;
          if (t?.grew) grew.push(`${e.name} ${shape.name} batch ${batch} ${direction}`);
          if (t)
            log(
              `${shape.name} b${batch} ${direction} ${e.name}: ${t.median.toFixed(3)} ms, ${(row.flops / t.median / 1e6).toFixed(1)} GFLOP/s`,
            );
        }
        rows.push(row);
      }
    }
  }
  log(`measured in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  const peak = await measurePeak();
  log(
    `f32x4 multiply-add ceiling: ${peak.mulAdd.toFixed(1)} GFLOP/s unfused, ${peak.fma?.toFixed(1) ?? "-"} fused`,
  );

  const wasmHighWaterBytes: Record<string, number> = {};
  for (const e of engines) if (e.memoryBytes) wasmHighWaterBytes[e.name] = e.memoryBytes();
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  for (const e of engines) await e.close();

  const cpus = os.cpus();
  const report: Report = {
    date: new Date().toISOString(),
    quick: args.quick,
    argv: process.argv.slice(2),
    machine: {
      cpu: cpus[0]?.model ?? "unknown",
      cores: cpus.length,
      mhz: cpus[0]?.speed ?? 0,
      memoryGiB: os.totalmem() / 2 ** 30,
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      node: process.version,
      v8: process.versions.v8,
      note: `load average at the end ${os
        .loadavg()
        .map((v) => v.toFixed(2))
        .join(" ")} (other processes share the cores: figures are indicative unless the machine was quiet)`,
    },
    plan: args.plan,
    wasmPeak: peak,
    engines: engines.map(({ name, kind, version, note, threads }) => ({
      name,
      kind,
      version,
      note,
      threads,
    })),
    absent,
    rows,
    crossCheck,
    memory: { wasmHighWaterBytes, peakRssBytes, grewInSteadyState: grew },
  };
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(`${args.out}.json`, `${JSON.stringify(report, null, 1)}\n`);
  // The docs page also carries the browser's figures (bench/docs.ts); other outputs are Node's alone.
  if (resolve(args.out) === resolve("docs/benchmarks")) writeBenchmarksPage(process.cwd());
  else writeFileSync(`${args.out}.md`, markdown(report));
  log(`wrote ${args.out}.md and ${args.out}.json`);
}

await main();
