// The conv kernels' memory plumbing: geometry block, buffer layout per call (shared buffers, then one
// workspace per thread), copies in and out by image, plane or row range, and the thread count per call.
import type { Conv2dGeometry } from "../../tensor/conv-geometry.js";
import type { KernelRunner, Task } from "../threads/call.js";
import type { WasmConvDirection, WasmConvPath } from "./conv-path.js";
import type { WasmKernelModule } from "./module.js";

export interface Sizes {
  x: number;
  w: number;
  out: number;
  /** Floats of the path's workspace per thread (column matrix of one image and group, or planes). */
  work: number;
}

/** Writes the geometry block, then asks the kernels how much workspace the path needs. */
export function prepare(
  mod: WasmKernelModule,
  g: Conv2dGeometry,
  path: WasmConvPath,
  direction: WasmConvDirection = "forward",
): { pg: number; s: Sizes } {
  const pg = writeGeometry(mod, g);
  const e = mod.exports;
  const work =
    path === "depthwise-direct"
      ? e.depthwiseWorkspaceFloats(pg)
      : path === "winograd-f4x4"
        ? direction === "backwardWeight"
          ? e.winogradGradWorkspaceFloats(pg)
          : e.winogradWorkspaceFloats(pg)
        : e.convWorkspaceFloats(pg);
  const cinG = g.cIn / g.groups;
  return {
    pg,
    s: {
      x: g.n * g.cIn * g.hIn * g.wIn,
      w: g.cOut * cinG * g.kH * g.kW,
      out: g.n * g.cOut * g.hOut * g.wOut,
      work,
    },
  };
}

/** Writes the geometry block that assembly/geometry.ts reads (same field order). */
export function writeGeometry(mod: WasmKernelModule, g: Conv2dGeometry): number {
  const fields = [
    g.n,
    g.cIn,
    g.hIn,
    g.wIn,
    g.cOut,
    g.kH,
    g.kW,
    g.strideH,
    g.strideW,
    g.dilationH,
    g.dilationW,
    g.padTop,
    g.padLeft,
    g.padBottom,
    g.padRight,
    g.groups,
    g.hOut,
    g.wOut,
  ];
  mod.i32(mod.geometryPtr, fields.length).set(fields);
  return mod.geometryPtr;
}

/**
 * Below this many direct-conv FLOPs per thread a call is not split further: waking a worker and waiting for
 * it costs tens of microseconds, about what one thread computes in this much work.
 */
export const MIN_FLOPS_PER_THREAD = 2e6;

export function directFlops(g: Conv2dGeometry): number {
  return 2 * g.n * g.cOut * g.hOut * g.wOut * (g.cIn / g.groups) * g.kH * g.kW;
}

/** Threads for a call with `units` divisible pieces of work: no more than the pieces or the work supports. */
export function threadsFor(runner: KernelRunner, units: number, flops: number, minFlops: number): number {
  const byWork = minFlops > 0 ? Math.max(1, Math.floor(flops / minFlops)) : Number.POSITIVE_INFINITY;
  return Math.max(1, Math.min(runner.threads(), units, byWork));
}

/** Per-thread buffers: `work` floats each, and a gemm workspace each (thread 0 uses the module's own). */
export interface ThreadBuffers {
  work: number[];
  ws: number[];
}

/**
 * Lays out the shared buffers (byte sizes) and, after them, `t` per-thread workspaces and gemm workspaces;
 * returns the shared pointers and the per-thread ones.
 */
export function reserveFor(
  mod: WasmKernelModule,
  shared: number[],
  t: number,
  workFloats: number,
): { ptrs: number[]; th: ThreadBuffers } {
  const gemmBytes = mod.exports.gemmWorkspaceBytes();
  const sizes = [...shared];
  for (let i = 0; i < t; i++) sizes.push(workFloats * 4);
  for (let i = 1; i < t; i++) sizes.push(gemmBytes);
  const all = mod.reserve(sizes);
  const ptrs = all.slice(0, shared.length);
  const work = all.slice(shared.length, shared.length + t);
  const ws = [mod.gemmWs, ...all.slice(shared.length + t)];
  return { ptrs, th: { work, ws } };
}

export function task(kernel: Task["kernel"], ...args: number[]): Task {
  return { kernel, args };
}

/** Identifies a call's shape for the pool's learnt balance. */
export function keyOf(direction: string, path: WasmConvPath, g: Conv2dGeometry): string {
  return `${direction}:${path}:${g.n},${g.cIn},${g.hIn},${g.wIn},${g.cOut},${g.kH},${g.kW},${g.strideH},${g.strideW},${g.dilationH},${g.dilationW},${g.padTop},${g.padLeft},${g.padBottom},${g.padRight},${g.groups}`;
}

/** Writes whole images of a batch (n images of `size` floats) into memory at `ptr`, each once per call. */
export function imageWriter(
  mod: WasmKernelModule,
  ptr: number,
  src: Float32Array,
  n: number,
  size: number,
): (first: number, last: number) => void {
  const written = new Uint8Array(n);
  return (first, last) => {
    for (let i = first; i <= last; i++) {
      if (written[i]) continue;
      written[i] = 1;
      mod.write(ptr + i * size * 4, src, i * size, size);
    }
  };
}

/**
 * Reads output rows [r0, r1) (numbered n * h + row) of a batch of `channels` planes h x w at `ptr` into dst:
 * whole images in one copy, partial ones row band by row band.
 */
export function readRows(
  mod: WasmKernelModule,
  ptr: number,
  dst: Float32Array,
  channels: number,
  h: number,
  w: number,
  r0: number,
  r1: number,
): void {
  const plane = h * w;
  for (let n = Math.floor(r0 / h); n * h < r1; n++) {
    const a = Math.max(r0 - n * h, 0);
    const b = Math.min(r1 - n * h, h);
    if (a === 0 && b === h) {
      const off = n * channels * plane;
      mod.read(ptr + off * 4, dst, off, channels * plane);
      continue;
    }
    for (let c = 0; c < channels; c++) {
      const off = (n * channels + c) * plane + a * w;
      mod.read(ptr + off * 4, dst, off, (b - a) * w);
    }
  }
}

/** Reads the outputs of Winograd tile rows [u0, u1) (numbered n * ceil(Hout / 4) + ty) into dst. */
export function readTileRows(
  mod: WasmKernelModule,
  po: number,
  dst: Float32Array,
  g: Conv2dGeometry,
  u0: number,
  u1: number,
): void {
  const perImage = Math.ceil(g.hOut / 4);
  for (let n = Math.floor(u0 / perImage); n * perImage < u1; n++) {
    const a = Math.max(u0 - n * perImage, 0) * 4;
    const z = Math.min(Math.min(u1 - n * perImage, perImage) * 4, g.hOut);
    readRows(mod, po, dst, g.cOut, g.hOut, g.wOut, n * g.hOut + a, n * g.hOut + z);
  }
}
