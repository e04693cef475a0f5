import type { Conv2dKernels } from "../src/kernels/conv2d.js";
import { type DeformConv2dKernels, deformConv2dRefKernels } from "../src/kernels/deform.js";
import {
  conv2dBackwardInputRef,
  conv2dBackwardWeightRef,
  conv2dForwardRef,
} from "../src/kernels/ref/conv2d.js";
import { ThreadPool } from "../src/kernels/threads/pool.js";
import { threadSupport } from "../src/kernels/threads/support.js";
import { makeWasmConv2d, wasmConvPath } from "../src/kernels/wasm/conv2d.js";
import { makeWasmDeform } from "../src/kernels/wasm/deform.js";
import { instantiateSync, type WasmVariant } from "../src/kernels/wasm/module.js";
import type { Engine, Workload } from "./engine.js";
import type { Direction } from "./shapes.js";
import { type TimingPlan, timeCalls } from "./timing.js";

/** Our kernels through the Conv2dKernels interface, exactly as the ops call them (copies in and out included). */
function kernelEngine(
  name: string,
  version: string,
  kernels: Conv2dKernels,
  /** Deformable kernels, or null when this engine has none (its deformable rows stay empty). */
  deform: DeformConv2dKernels | null,
  note: string,
  memoryBytes?: () => number,
  threads = 1,
  close: () => void = () => {},
): Engine {
  let buffers: {
    key: string;
    y: Float32Array;
    gx: Float32Array;
    gw: Float32Array;
    gOffset: Float32Array;
    gMask: Float32Array;
  } | null = null;
  const buffersFor = (work: Workload) => {
    const key = `${work.shape.name}/${work.batch}`;
    if (buffers?.key !== key) {
      buffers = {
        key,
        y: new Float32Array(work.gy.length),
        gx: new Float32Array(work.x.length),
        gw: new Float32Array(work.w.length),
        gOffset: new Float32Array(work.deform?.offset.length ?? 0),
        gMask: new Float32Array(work.deform?.mask.length ?? 0),
      };
    }
    return buffers;
  };
  /** The call to time: conv2d, or deformConv2d (all four gradients) for deformable workloads. */
  const callFor = (work: Workload, direction: Direction): (() => void) | null => {
    const b = buffersFor(work);
    const { x, w, gy, g } = work;
    const d = work.deform;
    if (d) {
      if (!deform) return null;
      const grads = { input: b.gx, offset: b.gOffset, mask: b.gMask, weight: b.gw };
      return direction === "forward"
        ? () => deform.forward(x, d.offset, d.mask, w, null, d.g, b.y)
        : () => deform.backward(x, d.offset, d.mask, w, gy, d.g, grads);
    }
    return direction === "forward"
      ? () => kernels.forward(x, w, null, g, b.y)
      : () => {
          kernels.backwardInput(gy, w, g, b.gx);
          kernels.backwardWeight(x, gy, g, b.gw);
        };
  };
  return {
    name,
    kind: "ours",
    version,
    note,
    threads,
    async measure(work: Workload, direction: Direction, plan: TimingPlan) {
      const call = callFor(work, direction);
      if (call === null) return null;
      if (!memoryBytes) return timeCalls(call, plan);
      // Steady state: after one call at this shape, further calls must not grow the WebAssembly memory.
      call();
      const before = memoryBytes();
      const timing = timeCalls(call, plan);
      if (memoryBytes() !== before) timing.grew = true;
      return timing;
    },
    async forwardOutput(work: Workload) {
      const y = new Float32Array(work.gy.length);
      const d = work.deform;
      if (!d) kernels.forward(work.x, work.w, null, work.g, y);
      else if (deform) deform.forward(work.x, d.offset, d.mask, work.w, null, d.g, y);
      else return null;
      return y;
    },
    memoryBytes,
    async close() {
      buffers = null;
      close();
    },
  };
}

export function referenceEngine(): Engine {
  return kernelEngine(
    "ours-ref",
    "TypeScript reference loops (float64 sums)",
    {
      forward: conv2dForwardRef,
      backwardInput: conv2dBackwardInputRef,
      backwardWeight: conv2dBackwardWeightRef,
    },
    deformConv2dRefKernels,
    "the oracle, plain loops; sampled once per call when a call exceeds the slow-call limit",
  );
}

export function wasmEngine(variant: WasmVariant): Engine {
  const mod = instantiateSync(variant);
  return kernelEngine(
    `ours-wasm-${variant}`,
    `AssemblyScript ${variant === "relaxed-simd" ? "f32x4 + relaxed-SIMD FMA" : "f32x4 SIMD"}`,
    makeWasmConv2d(mod),
    makeWasmDeform(mod),
    "1 thread; packed GEMM (6x8 f32x4 tile), im2col per image and group, Winograd F(4x4,3x3) forward and input gradient for 3x3 stride 1 (its 36 GEMMs on pre-packed transforms) and F(3x3,4x4) for its weight gradient (>= 8 channels per group; 5x5-9x9 as 3x3 blocks and dilated 3x3 through space-to-batch: >= 32), direct depthwise; deformable: bilinear sampling plan shared by an offset group's channels + column matrix + GEMM, all in WebAssembly; inputs copied into WebAssembly memory and results out on every call",
    () => mod.memoryBytes,
  );
}

export { wasmConvPath };

/**
 * The same kernels on `threads` threads: the build on a shared memory and a pool of threads - 1 workers
 * (the calling thread takes a share too). Null, with the reason, where the runtime has no threads.
 */
export async function wasmThreadsEngine(
  variant: WasmVariant,
  threads: number,
): Promise<Engine | { absent: string }> {
  const support = threadSupport();
  if (!support.ok) return { absent: support.reason };
  const mod = instantiateSync(variant, { shared: true });
  const pool = new ThreadPool(mod, threads - 1, support.host);
  const ready = await pool.ready();
  if (ready < threads) {
    pool.close();
    return { absent: `only ${ready} of ${threads} threads started: ${pool.startErrors().join("; ")}` };
  }
  return kernelEngine(
    `ours-wasm-${variant}-${threads}t`,
    `AssemblyScript ${variant === "relaxed-simd" ? "f32x4 + relaxed-SIMD FMA" : "f32x4 SIMD"}, shared memory`,
    makeWasmConv2d(mod, {}, pool),
    makeWasmDeform(mod, {}, pool),
    `${threads} threads (calling thread + ${threads - 1} worker${threads > 2 ? "s" : ""}): forward split by output rows (Winograd: tile rows; depthwise: planes), input gradient by input planes, weight gradient by image for Winograd 3x3 (each image into its own buffer, summed in image order), otherwise by input channel (by fixed parts of rows when there are fewer than 8), every result bit-identical to one thread; the calling thread hands each worker its share in chunks, copying the next chunk's inputs in and finished chunks' outputs out while the workers compute, and the split is balanced from earlier calls' timings; deformable conv split by image (batch 1 stays on one thread)`,
    () => mod.memoryBytes,
    threads,
    () => pool.close(),
  );
}
