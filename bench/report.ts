import type { EngineInfo } from "./engine.js";
import type { Direction } from "./shapes.js";
import type { Timing } from "./timing.js";

export interface Row {
  shape: string;
  label: string;
  batch: number;
  direction: Direction;
  /** Direct-conv FLOPs (2 x MACs; backward counts input and weight gradients: twice forward). */
  flops: number;
  /** Our wasm path for this geometry. */
  path: string;
  /** Per engine name: per-call timing, or null when not measured (reason in the engine note). */
  timings: Record<string, Timing | null>;
}

export interface Report {
  date: string;
  quick: boolean;
  /** The options the command ran with (absent in reports written before it was recorded: none). */
  argv?: readonly string[];
  machine: {
    cpu: string;
    cores: number;
    mhz: number;
    memoryGiB: number;
    os: string;
    node: string;
    v8: string;
    note: string;
  };
  plan: { reps: number; minSampleMs: number; slowCallMs: number };
  /** bench/peak.ts: GFLOP/s of a register-only f32x4 multiply-add loop on one core (the wasm ceiling). */
  wasmPeak: { mulAdd: number; fma: number | null };
  engines: EngineInfo[];
  absent: { name: string; why: string }[];
  rows: Row[];
  /** Max error of our forward against ONNX Runtime's, relative to the output's RMS, per shape (batch 1). */
  crossCheck: { shape: string; engine: string; relErr: number }[];
  memory: { wasmHighWaterBytes: Record<string, number>; peakRssBytes: number; grewInSteadyState: string[] };
}

export const gflops = (flops: number, t: Timing | null): number | null =>
  t ? flops / (t.median * 1e6) : null;

/** Best of our engines and best native peer (ONNX Runtime, PyTorch) in one row, by median time. */
export function ratios(row: Row, engines: EngineInfo[]) {
  const best = (kind: EngineInfo["kind"]) => {
    let name: string | null = null;
    let t = Number.POSITIVE_INFINITY;
    for (const e of engines) {
      const m = row.timings[e.name];
      if (e.kind === kind && m && m.median < t && e.name !== "ours-ref" && (e.threads ?? 1) === 1) {
        t = m.median;
        name = e.name;
      }
    }
    return name ? { name, t } : null;
  };
  const ours = best("ours");
  const native = best("native");
  const tfjs = row.timings["tfjs-wasm"];
  return {
    ours,
    native,
    vsNative: ours && native ? native.t / ours.t : null,
    vsTfjs: ours && tfjs ? tfjs.median / ours.t : null,
  };
}

/** A multi-thread engine's one-thread twin: same build, one thread ("ours-wasm-relaxed-simd-2t" -> "...-simd"). */
function oneThreadTwin(e: EngineInfo): string {
  return e.name.replace(/-\d+t$/, "");
}

/** Speed-up of each multi-thread engine over its one-thread twin in a row (null when either is missing). */
export function threadSpeedups(
  row: Row,
  engines: EngineInfo[],
): { engine: EngineInfo; speedup: number | null }[] {
  return engines
    .filter((e) => (e.threads ?? 1) > 1)
    .map((e) => {
      const many = row.timings[e.name];
      const one = row.timings[oneThreadTwin(e)];
      return { engine: e, speedup: many && one ? one.median / many.median : null };
    });
}

const f1 = (v: number | null) => (v === null ? "—" : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const f2 = (v: number | null) => (v === null ? "—" : v.toFixed(2));
const ms = (t: Timing | null) =>
  t
    ? `${t.median.toPrecision(3)} [${t.min.toPrecision(3)}–${t.max.toPrecision(3)}]${t.samples.length === 1 ? " (1 call)" : ""}`
    : "—";

interface Target {
  goal: string;
  shapes: string[];
  direction: Direction;
  min: number;
  against: "native" | "tfjs" | "pytorch" | "onnxruntime";
}

const TARGETS: Target[] = [
  {
    goal: "3x3 stride-1 forward (Winograd) >= 0.8x best native, direct-conv FLOPs",
    shapes: ["conv3x3"],
    direction: "forward",
    min: 0.8,
    against: "native",
  },
  {
    goal: "dense forward >= 0.5x best native",
    shapes: ["conv3x3", "conv5x5", "dilated3x3", "pointwise", "stem7x7"],
    direction: "forward",
    min: 0.5,
    against: "native",
  },
  {
    goal: "grouped forward >= 0.5x best native",
    shapes: ["grouped3x3"],
    direction: "forward",
    min: 0.5,
    against: "native",
  },
  {
    goal: "grouped forward >= 3x TensorFlow.js",
    shapes: ["grouped3x3"],
    direction: "forward",
    min: 3,
    against: "tfjs",
  },
  {
    goal: "depthwise forward >= 1.0x best native",
    shapes: ["depthwise3x3"],
    direction: "forward",
    min: 1,
    against: "native",
  },
  {
    goal: "backward (input + weight) >= 0.4x PyTorch",
    shapes: ["conv3x3", "grouped3x3", "depthwise3x3"],
    direction: "backward",
    min: 0.4,
    against: "pytorch",
  },
  {
    goal: "deformable v2 forward >= 1.0x ONNX Runtime (DeformConv)",
    shapes: ["deformable3x3"],
    direction: "forward",
    min: 1,
    against: "onnxruntime",
  },
  {
    goal: "deformable v2 backward >= 10x torchvision",
    shapes: ["deformable3x3"],
    direction: "backward",
    min: 10,
    against: "pytorch",
  },
];

function targetLines(r: Report): string[] {
  const out: string[] = [];
  for (const row of r.rows.filter((x) => x.batch === 8)) {
    for (const { engine, speedup } of threadSpeedups(row, r.engines)) {
      if (engine.threads !== 2) continue;
      const verdict =
        speedup === null
          ? "not measured"
          : speedup >= 1.7
            ? "met"
            : `not met (gap ${(1.7 / speedup).toFixed(2)}x)`;
      out.push(
        `| 2 threads >= 1.7x one thread (${row.direction}) | ${row.shape} | ${row.batch} | ${f2(speedup)} | ${verdict} |`,
      );
    }
  }
  for (const t of TARGETS) {
    for (const row of r.rows.filter((x) => t.shapes.includes(x.shape) && x.direction === t.direction)) {
      const q = ratios(row, r.engines);
      let v: number | null = null;
      if (t.against === "native") v = q.vsNative;
      if (t.against === "tfjs") v = q.vsTfjs;
      if (t.against === "pytorch" && q.ours && row.timings.pytorch) v = row.timings.pytorch.median / q.ours.t;
      if (t.against === "onnxruntime" && q.ours && row.timings.onnxruntime)
        v = row.timings.onnxruntime.median / q.ours.t;
      const verdict =
        v === null ? "not measured" : v >= t.min ? "met" : `not met (gap ${(t.min / v).toFixed(2)}x)`;
      out.push(`| ${t.goal} | ${row.shape} | ${row.batch} | ${f2(v)} | ${verdict} |`);
    }
  }
  return out;
}

export function markdown(r: Report): string {
  const names = r.engines.map((e) => e.name);
  const lines: string[] = [];
  lines.push("# Convolution benchmarks");
  lines.push("");
  lines.push(
    `Generated by \`npm run bench${r.argv?.length ? ` -- ${r.argv.join(" ")}` : r.quick ? " -- --quick" : ""}\` on ${r.date}. Do not edit: rerun the command. ` +
      "Float32, NCHW (TensorFlow.js: NHWC), one thread per engine (ours also on N threads: the engines named -Nt), no bias.",
  );
  lines.push("");
  lines.push("## Machine");
  lines.push("");
  const m = r.machine;
  lines.push(
    `- CPU: ${m.cpu}, ${m.cores} logical cores reported by os.cpus()${m.mhz ? ` (${m.mhz} MHz nominal)` : ""}`,
  );
  lines.push(`- Memory: ${m.memoryGiB.toFixed(1)} GiB; OS: ${m.os}`);
  lines.push(`- Node ${m.node}, V8 ${m.v8}`);
  lines.push(`- ${m.note}`);
  lines.push(
    `- WebAssembly f32x4 ceiling on one core (bench/peak.ts, multiply-adds from registers only): ` +
      `${r.wasmPeak.mulAdd.toFixed(1)} GFLOP/s multiply + add, ${r.wasmPeak.fma === null ? "no relaxed SIMD" : `${r.wasmPeak.fma.toFixed(1)} GFLOP/s relaxed FMA`}. ` +
      "Native engines use 256/512-bit vectors and are not bound by it; a ratio above ceiling / native speed needs fewer multiplications (Winograd).",
  );
  lines.push("");
  lines.push("## Engines");
  lines.push("");
  lines.push("| engine | kind | version | note |");
  lines.push("|---|---|---|---|");
  for (const e of r.engines) lines.push(`| ${e.name} | ${e.kind} | ${e.version} | ${e.note ?? ""} |`);
  for (const a of r.absent) lines.push(`| ${a.name} | absent | — | ${a.why} |`);
  lines.push("");
  lines.push(
    `Method: per shape, batch and direction, every engine in the order above: one warm-up call, one call to size ` +
      `the inner loop (a sample lasts >= ${r.plan.minSampleMs} ms), then ${r.plan.reps} samples; the tables give the ` +
      `median (and min/max) per call. Calls slower than ${r.plan.slowCallMs} ms are sampled once. GFLOP/s count ` +
      "2 x the multiply-adds of the direct convolution (for every engine, whatever its algorithm); backward means " +
      "input gradient + weight gradient (twice the forward FLOPs). Ratios: our best one-thread variant's speed over " +
      "the best native peer's (ONNX Runtime, PyTorch) in the same row; > 1 means we are faster. Thread speed-up: " +
      "an N-thread engine's speed over the same build on one thread (its twin without -Nt; the N-thread build " +
      "runs on a shared memory).",
  );
  lines.push("");
  lines.push("## GFLOP/s (median)");
  lines.push("");
  const multi = r.engines.filter((e) => (e.threads ?? 1) > 1);
  const speedupHeads = multi.map((e) => ` ${e.threads} threads / 1 |`).join("");
  lines.push(
    `| shape | batch | direction | GFLOP | ${names.join(" | ")} | ours / best native | ours / tfjs |${speedupHeads}`,
  );
  lines.push(
    `|---|---|---|---|${names.map(() => "---|").join("")}---|---|${multi.map(() => "---|").join("")}`,
  );
  for (const row of r.rows) {
    const q = ratios(row, r.engines);
    const cells = names.map((n) => f1(gflops(row.flops, row.timings[n] ?? null)));
    const sp = threadSpeedups(row, r.engines)
      .map((x) => ` ${f2(x.speedup)} |`)
      .join("");
    lines.push(
      `| ${row.shape} | ${row.batch} | ${row.direction} | ${(row.flops / 1e9).toFixed(3)} | ${cells.join(" | ")} | ${f2(q.vsNative)} | ${f2(q.vsTfjs)} |${sp}`,
    );
  }
  lines.push("");
  lines.push("## Milliseconds per call: median [min–max]");
  lines.push("");
  lines.push(`| shape | batch | direction | our path | ${names.join(" | ")} |`);
  lines.push(`|---|---|---|---|${names.map(() => "---|").join("")}`);
  for (const row of r.rows) {
    lines.push(
      `| ${row.shape} | ${row.batch} | ${row.direction} | ${row.path} | ${names.map((n) => ms(row.timings[n] ?? null)).join(" | ")} |`,
    );
  }
  lines.push("");
  lines.push("Shapes:");
  lines.push("");
  for (const s of [...new Map(r.rows.map((row) => [row.shape, row.label])).entries()])
    lines.push(`- ${s[0]}: ${s[1]}`);
  lines.push("");
  lines.push("## Targets of issue 4 (this run)");
  lines.push("");
  lines.push("| goal | shape | batch | ratio | verdict |");
  lines.push("|---|---|---|---|---|");
  lines.push(...targetLines(r));
  lines.push("");
  if (!multi.length) {
    lines.push("Not covered by this run: more than one thread (run without --threads=0).");
    lines.push("");
  }
  lines.push("## Memory");
  lines.push("");
  for (const [name, bytes] of Object.entries(r.memory.wasmHighWaterBytes)) {
    lines.push(
      `- ${name}: WebAssembly memory high-water mark ${(bytes / 2 ** 20).toFixed(1)} MiB (inputs, outputs and workspaces of the largest call)`,
    );
  }
  lines.push(
    `- Process peak RSS after the batch-8 runs (all engines in one process): ${(r.memory.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
  );
  lines.push(
    `- Memory grown during timed calls (after warm-up): ${r.memory.grewInSteadyState.length ? r.memory.grewInSteadyState.join(", ") : "never"}`,
  );
  lines.push("");
  lines.push("## Cross-check");
  lines.push("");
  lines.push("Max |ours - ONNX Runtime| / RMS(ONNX Runtime output), forward, batch 1:");
  lines.push("");
  for (const c of r.crossCheck) lines.push(`- ${c.shape}, ${c.engine}: ${c.relErr.toExponential(2)}`);
  lines.push("");
  return lines.join("\n");
}
