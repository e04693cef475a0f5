import { createRequire } from "node:module";
import { setThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import * as tf from "@tensorflow/tfjs-core";
import type { Engine, Workload } from "../engine.js";
import type { Direction } from "../shapes.js";
import { type TimingPlan, timeCalls } from "../timing.js";

const require = createRequire(import.meta.url);

interface Prepared {
  key: string;
  x: tf.Tensor4D;
  /** One HWIO filter per group (a single one when groups is 1); [kH, kW, Cin, multiplier] for depthwise. */
  filters: tf.Tensor4D[];
  depthwise: boolean;
}

/** NCHW -> NHWC. */
function toNhwc(data: Float32Array, n: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h * w; i++) out[(b * h * w + i) * c + ch] = data[(b * c + ch) * h * w + i];
  return out;
}

/** NHWC -> NCHW. */
function toNchw(data: Float32Array, n: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h * w; i++) out[(b * c + ch) * h * w + i] = data[(b * h * w + i) * c + ch];
  return out;
}

/**
 * TensorFlow.js with its WebAssembly backend (XNNPACK), one thread, NHWC as tfjs requires. Grouped conv has no
 * tfjs op: split + one conv2d per group + concat, as a tfjs user would write it. Depthwise uses
 * depthwiseConv2d. Inputs stay in the backend between calls; the output is not read back.
 */
export async function tfjsWasmEngine(): Promise<Engine> {
  setThreadsCount(1);
  await tf.setBackend("wasm");
  await tf.ready();
  const version = `tfjs-core ${require("@tensorflow/tfjs-core/package.json").version}, tfjs-backend-wasm ${require("@tensorflow/tfjs-backend-wasm/package.json").version}`;
  let prepared: Prepared | null = null;

  function release(): void {
    if (!prepared) return;
    prepared.x.dispose();
    for (const f of prepared.filters) f.dispose();
    prepared = null;
  }

  function prepare(work: Workload): Prepared {
    const key = `${work.shape.name}/${work.batch}`;
    if (prepared?.key === key) return prepared;
    release();
    const s = work.shape;
    const x = tf.tensor4d(toNhwc(work.x, work.batch, s.cIn, s.h, s.w), [work.batch, s.h, s.w, s.cIn]);
    const cinG = s.cIn / s.groups;
    const coutG = s.cOut / s.groups;
    const depthwise = s.groups > 1 && cinG === 1;
    // OIHW -> HWIO (for depthwise: [kH, kW, Cin, multiplier], output channel c * multiplier + m as in PyTorch).
    const filterOf = (o0: number, oCount: number, iCount: number): tf.Tensor4D => {
      const f = new Float32Array(s.k * s.k * iCount * oCount);
      for (let o = 0; o < oCount; o++)
        for (let i = 0; i < iCount; i++)
          for (let t = 0; t < s.k * s.k; t++)
            f[(t * iCount + i) * oCount + o] = work.w[((o0 + o) * iCount + i) * s.k * s.k + t];
      return tf.tensor4d(f, [s.k, s.k, iCount, oCount]);
    };
    let filters: tf.Tensor4D[];
    if (depthwise) {
      const mult = coutG;
      const f = new Float32Array(s.k * s.k * s.cIn * mult);
      for (let c = 0; c < s.cIn; c++)
        for (let m = 0; m < mult; m++)
          for (let t = 0; t < s.k * s.k; t++)
            f[(t * s.cIn + c) * mult + m] = work.w[(c * mult + m) * s.k * s.k + t];
      filters = [tf.tensor4d(f, [s.k, s.k, s.cIn, mult])];
    } else {
      filters = Array.from({ length: s.groups }, (_, gi) => filterOf(gi * coutG, coutG, cinG));
    }
    prepared = { key, x, filters, depthwise };
    return prepared;
  }

  function forward(p: Prepared, work: Workload): tf.Tensor4D {
    const s = work.shape;
    const pad: [[number, number], [number, number], [number, number], [number, number]] = [
      [0, 0],
      [s.padding, s.padding],
      [s.padding, s.padding],
      [0, 0],
    ];
    return tf.tidy(() => {
      if (p.depthwise) return tf.depthwiseConv2d(p.x, p.filters[0], s.stride, pad, "NHWC", s.dilation);
      if (p.filters.length === 1) return tf.conv2d(p.x, p.filters[0], s.stride, pad, "NHWC", s.dilation);
      const parts = tf.split(p.x, s.groups, 3);
      return tf.concat(
        parts.map((part, gi) =>
          tf.conv2d(part as tf.Tensor4D, p.filters[gi], s.stride, pad, "NHWC", s.dilation),
        ),
        3,
      );
    });
  }

  return {
    name: "tfjs-wasm",
    kind: "js",
    version,
    note: "forward only; grouped conv as split + conv2d per group + concat (tfjs has no groups argument); no deformable conv",
    async measure(work: Workload, direction: Direction, plan: TimingPlan) {
      if (direction !== "forward" || work.deform) return null;
      const p = prepare(work);
      return timeCalls(() => forward(p, work).dispose(), plan);
    },
    async forwardOutput(work: Workload) {
      if (work.deform) return null;
      const p = prepare(work);
      const y = forward(p, work);
      const data = y.dataSync() as Float32Array;
      y.dispose();
      return toNchw(data, work.batch, work.g.cOut, work.g.hOut, work.g.wOut);
    },
    async close() {
      release();
    },
  };
}
