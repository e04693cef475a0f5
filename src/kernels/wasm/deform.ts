import type { DeformConv2dGeometry, DeformConv2dGrads, DeformConv2dKernels } from "../deform.js";
import type { KernelRunner } from "../threads/call.js";
import { serialRunner } from "../threads/pool.js";
import {
  directFlops,
  MIN_FLOPS_PER_THREAD,
  reserveFor,
  task,
  threadsFor,
  writeGeometry,
} from "./conv-memory.js";
import type { WasmKernelModule } from "./module.js";

/** Index of the offset-group field, after the conv geometry block's 18 (assembly/deform.ts G_OG). */
const G_OG = 18;

export interface WasmDeformOptions {
  /** A call is split across no more threads than it has this many FLOPs per thread (tests set 0). */
  minFlopsPerThread?: number;
}

function writeDeformGeometry(mod: WasmKernelModule, g: DeformConv2dGeometry): number {
  const pg = writeGeometry(mod, g);
  mod.i32(pg + 4 * G_OG, 1)[0] = g.offsetGroups;
  return pg;
}

/**
 * Copies images [n0, n1) of the input into memory as planes of H*W floats at a stride of H*W + 1, each
 * followed by its zero slot (assembly/deform.ts explains why).
 */
function writePlanes(
  mod: WasmKernelModule,
  ptr: number,
  input: Float32Array,
  g: DeformConv2dGeometry,
  n0: number,
  n1: number,
): void {
  const plane = g.hIn * g.wIn;
  const first = n0 * g.cIn;
  const count = (n1 - n0) * g.cIn;
  const view = mod.f32(ptr + first * (plane + 1) * 4, count * (plane + 1));
  for (let i = 0; i < count; i++) {
    view.set(input.subarray((first + i) * plane, (first + i + 1) * plane), i * (plane + 1));
    view[i * (plane + 1) + plane] = 0;
  }
}

/** Copies images [n0, n1) of strided planes (stride H*W + 1) out of memory into a contiguous NCHW buffer. */
function readPlanes(
  mod: WasmKernelModule,
  ptr: number,
  dst: Float32Array,
  g: DeformConv2dGeometry,
  n0: number,
  n1: number,
): void {
  const plane = g.hIn * g.wIn;
  const first = n0 * g.cIn;
  const count = (n1 - n0) * g.cIn;
  const view = mod.f32(ptr + first * (plane + 1) * 4, count * (plane + 1));
  for (let i = 0; i < count; i++)
    dst.set(view.subarray(i * (plane + 1), i * (plane + 1) + plane), (first + i) * plane);
}

/** Floats rounded up to 64 bytes, so that every scratch array starts aligned. */
const aligned = (floats: number) => Math.ceil(floats / 16) * 16;

/** Byte offsets of consecutive scratch arrays of the given float sizes inside one per-thread region. */
function carve(base: number, floats: readonly number[]): number[] {
  const at: number[] = [];
  let p = base;
  for (const f of floats) {
    at.push(p);
    p += aligned(f) * 4;
  }
  return at;
}

/**
 * The deformable-convolution seam backed by assembly/deform.ts: the same sampling plan + column matrix +
 * GEMM algorithm as the TypeScript path (src/kernels/deform-columns.ts), with sampling, scattering and GEMM
 * all inside WebAssembly memory. Calls split by image across the runner's threads (each with its own plan
 * and column scratch); weight gradients are computed per image and added up in image order, so every
 * result is bit-identical whatever the split. Memory per call is laid out by the module's arena (reused).
 */
export function makeWasmDeform(
  mod: WasmKernelModule,
  options: WasmDeformOptions = {},
  runner: KernelRunner = serialRunner(mod),
): DeformConv2dKernels {
  const e = mod.exports;
  const minFlops = options.minFlopsPerThread ?? MIN_FLOPS_PER_THREAD;
  const keyOf = (direction: string, g: DeformConv2dGeometry) => `deform:${direction}:${JSON.stringify(g)}`;

  return {
    forward(input, offset, mask, weight, bias, g, out) {
      if (out.length === 0) return;
      const pg = writeDeformGeometry(mod, g);
      const planFloats = aligned(e.deformPlanFloats(pg));
      const columnFloats = aligned(e.deformForwardColumnFloats(pg));
      const t = threadsFor(runner, g.n, directFlops(g), minFlops);
      const { ptrs, th } = reserveFor(
        mod,
        [
          g.n * g.cIn * (g.hIn * g.wIn + 1) * 4,
          offset.length * 4,
          (mask?.length ?? 0) * 4,
          weight.length * 4,
          (bias?.length ?? 0) * 4,
          out.length * 4,
        ],
        t,
        2 * planFloats + columnFloats,
      );
      const [px, po, pm, pw, pb, pout] = ptrs;
      const offsetPer = offset.length / g.n;
      const maskPer = (mask?.length ?? 0) / g.n;
      const outPer = out.length / g.n;
      runner.runSplit({
        key: keyOf("forward", g),
        units: g.n,
        threads: t,
        writeShared() {
          mod.write(pw, weight, 0, weight.length);
          if (bias) mod.write(pb, bias, 0, bias.length);
        },
        writeRange(n0, n1) {
          writePlanes(mod, px, input, g, n0, n1);
          mod.write(po + n0 * offsetPer * 4, offset, n0 * offsetPer, (n1 - n0) * offsetPer);
          if (mask) mod.write(pm + n0 * maskPer * 4, mask, n0 * maskPer, (n1 - n0) * maskPer);
        },
        task(n0, n1, i) {
          const [idx, wt, col] = carve(th.work[i], [planFloats, planFloats, columnFloats]);
          return task(
            "deformForward",
            ...[pg, px, po, mask ? pm : 0, pw, pb, bias ? 1 : 0, pout],
            ...[idx, wt, col, th.ws[i], n0, n1],
          );
        },
        readRange(n0, n1) {
          mod.read(pout + n0 * outPer * 4, out, n0 * outPer, (n1 - n0) * outPer);
        },
      });
    },

    backward(input, offset, mask, weight, gradOut, g, grads: DeformConv2dGrads) {
      const gradMask = mask === null ? null : grads.mask;
      // Without a mask there is no mask gradient; a buffer given for it is still overwritten (with zeros).
      if (mask === null) grads.mask?.fill(0);
      if (g.n === 0) {
        grads.input?.fill(0);
        grads.offset?.fill(0);
        grads.weight?.fill(0);
        return;
      }
      const withSums = grads.offset !== null || gradMask !== null;
      const pg = writeDeformGeometry(mod, g);
      const planFloats = aligned(e.deformPlanFloats(pg));
      const sumFloats = withSums ? aligned(e.deformSumFloats(pg)) : 0;
      const columnFloats = aligned(e.deformColumnFloats(pg));
      const scratch = [
        planFloats,
        planFloats,
        withSums ? 3 * planFloats : 0,
        grads.weight ? columnFloats : 0,
        columnFloats,
        sumFloats,
        sumFloats,
        sumFloats,
      ];
      const xFloats = g.n * g.cIn * (g.hIn * g.wIn + 1);
      const t = threadsFor(runner, g.n, 2 * directFlops(g), minFlops);
      const { ptrs, th } = reserveFor(
        mod,
        [
          xFloats * 4,
          offset.length * 4,
          (mask?.length ?? 0) * 4,
          weight.length * 4,
          gradOut.length * 4,
          grads.input ? xFloats * 4 : 0,
          grads.offset ? offset.length * 4 : 0,
          gradMask ? gradMask.length * 4 : 0,
          grads.weight ? g.n * weight.length * 4 : 0,
          grads.weight ? weight.length * 4 : 0,
        ],
        t,
        scratch.reduce((a, b) => a + aligned(b), 0),
      );
      const [px, po, pm, pw, pgo, pgx, pgoff, pgm, pgwImages, pgw] = ptrs;
      const offsetPer = offset.length / g.n;
      const maskPer = (mask?.length ?? 0) / g.n;
      const outPer = gradOut.length / g.n;
      runner.runSplit({
        key: keyOf("backward", g),
        units: g.n,
        threads: t,
        writeShared() {
          mod.write(pw, weight, 0, weight.length);
        },
        writeRange(n0, n1) {
          writePlanes(mod, px, input, g, n0, n1);
          mod.write(po + n0 * offsetPer * 4, offset, n0 * offsetPer, (n1 - n0) * offsetPer);
          if (mask) mod.write(pm + n0 * maskPer * 4, mask, n0 * maskPer, (n1 - n0) * maskPer);
          mod.write(pgo + n0 * outPer * 4, gradOut, n0 * outPer, (n1 - n0) * outPer);
        },
        task(n0, n1, i) {
          // dx and dm follow dy (the kernel derives them): 19 arguments, within the pool's 20.
          const [idx, wt, slopes, col, gradCol, dy] = carve(th.work[i], scratch);
          return task(
            "deformBackward",
            ...[pg, px, po, mask ? pm : 0, pw, pgo],
            ...[
              grads.input ? pgx : 0,
              grads.offset ? pgoff : 0,
              gradMask ? pgm : 0,
              grads.weight ? pgwImages : 0,
            ],
            ...[idx, wt, slopes, col, gradCol, dy, th.ws[i], n0, n1],
          );
        },
        readRange(n0, n1) {
          if (grads.input) readPlanes(mod, pgx, grads.input, g, n0, n1);
          if (grads.offset)
            mod.read(pgoff + n0 * offsetPer * 4, grads.offset, n0 * offsetPer, (n1 - n0) * offsetPer);
          if (gradMask) mod.read(pgm + n0 * maskPer * 4, gradMask, n0 * maskPer, (n1 - n0) * maskPer);
        },
      });
      if (grads.weight) {
        e.deformSumImages(pgw, pgwImages, g.n, weight.length);
        mod.read(pgw, grads.weight, 0, weight.length);
      }
    },
  };
}
