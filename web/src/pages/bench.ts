import { QUICK_SHAPES, SHAPES } from "../../../bench/shapes.js";
import { detectWasmFeatures } from "../../../src/kernels/wasm/detect.js";
import { EngineClient, pageCores } from "../engine.js";
import type { Cleanup } from "../main.js";
import {
  checkField,
  errorText,
  fill,
  h,
  hashParam,
  message,
  numberField,
  section,
  simpleTable,
} from "../ui.js";
import type { BenchRow, BenchSpec, JobEvent } from "../worker/protocol.js";

/**
 * The Benchmark page: GFLOP/s of the conv kernels in this browser (the shapes of `npm run bench`, through the
 * same kernel seam the ops call), per WebAssembly variant and thread count, in a Web Worker. `#/bench?auto=1`
 * starts at once (`quick=1`: the quick shapes; `shapes=a,b`: those; `reps`, `sample`, `batch`: the timing plan);
 * `npm run bench:web` opens it headless and writes
 * docs/benchmarks-web.md from `window.convkitBench`.
 */

export interface BenchEnvironment {
  userAgent: string;
  cores: number;
  crossOriginIsolated: boolean;
  relaxedSimd: boolean;
  simd: boolean;
}

export interface BenchResult {
  done: boolean;
  error: string | null;
  environment: BenchEnvironment;
  spec: BenchSpec;
  rows: BenchRow[];
}

declare global {
  interface Window {
    convkitBench?: BenchResult;
  }
}

export function renderBench(main: HTMLElement): Cleanup {
  const { cores, isolated } = pageCores();
  const features = detectWasmFeatures();
  const quick = hashParam("quick") === "1";
  const listed = hashParam("shapes")
    ?.split(",")
    .filter((n) => SHAPES.some((s) => s.name === n));
  const chosen = new Set<string>(
    listed && listed.length > 0 ? listed : quick ? QUICK_SHAPES : SHAPES.map((s) => s.name),
  );
  const variants: ("relaxed-simd" | "simd")[] = features.relaxedSimd
    ? ["relaxed-simd", "simd"]
    : features.simd
      ? ["simd"]
      : [];
  const spec: BenchSpec = {
    shapes: [],
    batch: Number(hashParam("batch") ?? 1),
    directions: ["forward", "backward"],
    variants,
    threads: isolated && cores > 1 ? [1, cores] : [1],
    reps: Number(hashParam("reps") ?? 5),
    minSampleMs: Number(hashParam("sample") ?? 40),
  };
  let client: EngineClient | null = null;
  const status = h("div", { class: "status-box", "aria-live": "polite" });
  const table = h("div");
  const rows: BenchRow[] = [];

  const environment: BenchEnvironment = {
    userAgent: navigator.userAgent,
    cores,
    crossOriginIsolated: isolated,
    relaxedSimd: features.relaxedSimd,
    simd: features.simd,
  };

  const renderRows = () => {
    fill(
      table,
      section(
        "GFLOP/s (median)",
        simpleTable(
          "Conv kernels in this browser: GFLOP/s counts 2 × the multiply-adds of the direct convolution; backward = input + weight gradients",
          ["Shape", "Batch", "Direction", "Variant", "Threads", "GFLOP", "ms (median)", "GFLOP/s"],
          rows.map((r) => [
            r.label,
            String(r.batch),
            r.direction,
            r.variant,
            String(r.threads),
            r.gflop.toFixed(3),
            r.medianMs.toFixed(2),
            r.gflops.toFixed(1),
          ]),
          "bench",
        ),
      ),
    );
  };

  const run = async () => {
    spec.shapes = SHAPES.map((s) => s.name).filter((n) => chosen.has(n));
    rows.length = 0;
    window.convkitBench = { done: false, error: null, environment, spec: { ...spec }, rows };
    if (spec.variants.length === 0) {
      const error = "this browser has no WebAssembly SIMD: only the TypeScript reference kernels would run";
      window.convkitBench.done = true;
      window.convkitBench.error = error;
      fill(status, message("error", error));
      return;
    }
    button.disabled = true;
    fill(
      status,
      message(
        "note",
        `Measuring ${spec.shapes.length} shapes × ${spec.directions.length} directions × ${spec.variants.length} variant(s) × thread counts ${spec.threads.join(", ")}…`,
      ),
    );
    client?.terminate();
    client = new EngineClient("convkit-bench");
    try {
      await client.call({ kind: "init", threads: 1 });
      await client.call<BenchRow[]>({ kind: "bench", spec }, (e: JobEvent) => {
        if (e.kind !== "bench-row") return;
        rows.push(e.row);
        renderRows();
      });
      fill(status, message("ok", `Done: ${rows.length} measurements.`));
    } catch (e) {
      window.convkitBench.error = errorText(e);
      fill(status, message("error", errorText(e)));
    } finally {
      window.convkitBench.done = true;
      button.disabled = false;
    }
  };

  const button = h(
    "button",
    { type: "button", class: "button", "data-action": "run-bench", onclick: () => void run() },
    "Run the benchmark",
  );
  fill(
    main,
    h("h1", null, "Benchmark"),
    h(
      "p",
      { class: "intro" },
      `The convolution kernels' speed in this browser: the layer shapes of convkit's Node benchmark, through the kernel seam the ops use, in a Web Worker. ${isolated ? `Cross-origin isolated: measured on 1 and ${cores} threads.` : "Not cross-origin isolated: one thread only (serve with convkit serve for threads)."} WebAssembly: ${features.relaxedSimd ? "relaxed SIMD (FMA) and SIMD" : features.simd ? "SIMD" : "no SIMD"}.`,
    ),
    h(
      "form",
      { class: "controls", "aria-label": "Benchmark settings", onsubmit: (e: Event) => e.preventDefault() },
      h(
        "fieldset",
        null,
        h("legend", null, "Shapes"),
        SHAPES.map(
          (s) =>
            checkField({
              label: `${s.name}: ${s.label}`,
              name: `shape-${s.name}`,
              checked: chosen.has(s.name),
              onChange: (x) => {
                if (x) chosen.add(s.name);
                else chosen.delete(s.name);
              },
            }).root,
        ),
      ),
      h(
        "fieldset",
        null,
        h("legend", null, "Settings"),
        numberField({
          label: "Batch",
          name: "batch",
          value: spec.batch,
          min: 1,
          max: 64,
          onChange: (x) => {
            spec.batch = Math.floor(x);
          },
        }).root,
        numberField({
          label: "Samples per measurement",
          name: "reps",
          value: spec.reps,
          min: 1,
          max: 50,
          onChange: (x) => {
            spec.reps = Math.floor(x);
          },
        }).root,
      ),
      h("div", { class: "buttons" }, button),
    ),
    status,
    table,
  );
  if (hashParam("auto") === "1") void run();
  return () => client?.terminate();
}
