import { type Pool2dGeometry, type PoolKernels, poolKernels } from "../pool.js";
import {
  adaptiveAvgPool2dBackwardRef,
  adaptiveAvgPool2dForwardRef,
  adaptiveMaxPool2dForwardRef,
  avgPool2dBackwardRef,
  avgPool2dForwardRef,
  maxPool2dBackwardRef,
  maxPool2dForwardRef,
} from "../ref/pool.js";
import type { WasmKernelModule } from "./module.js";

/** The pooling functions exported by assembly/pool.ts (pointers are byte offsets into memory). */
interface PoolExports {
  maxPoolForward(g: number, x: number, out: number, argmax: number, p0: number, p1: number): void;
  maxPoolBackward(
    gradOut: number,
    argmax: number,
    inPlane: number,
    outPlane: number,
    gradX: number,
    p0: number,
    p1: number,
  ): void;
  avgPoolForward(g: number, divisorOverride: number, x: number, out: number, p0: number, p1: number): void;
  avgPoolBackward(
    g: number,
    divisorOverride: number,
    gradOut: number,
    gradX: number,
    p0: number,
    p1: number,
  ): void;
  adaptiveAvgPoolForward(
    hIn: number,
    wIn: number,
    hOut: number,
    wOut: number,
    x: number,
    out: number,
    p0: number,
    p1: number,
  ): void;
  adaptiveAvgPoolBackward(
    hIn: number,
    wIn: number,
    hOut: number,
    wOut: number,
    gradOut: number,
    gradX: number,
    p0: number,
    p1: number,
  ): void;
  adaptiveMaxPoolForward(
    hIn: number,
    wIn: number,
    hOut: number,
    wOut: number,
    x: number,
    out: number,
    argmax: number,
    p0: number,
    p1: number,
  ): void;
}

/** Bytes of the pool geometry block: 15 i32 fields (assembly/pool.ts P_*), rounded up. */
const GEOMETRY_BYTES = 64;

/** Writes the geometry block in assembly/pool.ts's field order. */
function writeGeometry(
  mod: WasmKernelModule,
  ptr: number,
  g: Pool2dGeometry,
  countIncludePad: boolean,
): void {
  const f = mod.i32(ptr, 15);
  f[0] = g.hIn;
  f[1] = g.wIn;
  f[2] = g.kH;
  f[3] = g.kW;
  f[4] = g.strideH;
  f[5] = g.strideW;
  f[6] = g.dilationH;
  f[7] = g.dilationW;
  f[8] = g.padTop;
  f[9] = g.padLeft;
  f[10] = g.padBottom;
  f[11] = g.padRight;
  f[12] = g.hOut;
  f[13] = g.wOut;
  f[14] = countIncludePad ? 1 : 0;
}

/**
 * The PoolKernels seam entries backed by assembly/pool.ts: operands are copied into the module's memory (laid
 * out by `reserve`: the geometry block first, then the buffers), every plane is pooled in one call, and the
 * results are copied back. Results equal the reference's bit for bit, argmax indices included.
 */
export function makeWasmPool(mod: WasmKernelModule): PoolKernels {
  const k = mod.exports as unknown as PoolExports;
  return {
    maxPool2dForward(x, g, out, argmax) {
      const planes = g.n * g.c;
      const inLen = planes * g.hIn * g.wIn;
      const outLen = planes * g.hOut * g.wOut;
      if (outLen === 0) return;
      const [pg, px, po, pa] = mod.reserve([GEOMETRY_BYTES, inLen * 4, outLen * 4, outLen * 4]);
      writeGeometry(mod, pg, g, false);
      mod.write(px, x, 0, inLen);
      k.maxPoolForward(pg, px, po, pa, 0, planes);
      mod.read(po, out, 0, outLen);
      argmax.set(mod.i32(pa, outLen));
    },
    maxPoolBackward(gradOut, argmax, planes, inPlane, outPlane, gradX) {
      const inLen = planes * inPlane;
      const outLen = planes * outPlane;
      if (inLen === 0) return;
      const [pgx, pgo, pa] = mod.reserve([inLen * 4, outLen * 4, outLen * 4]);
      mod.write(pgo, gradOut, 0, outLen);
      mod.i32(pa, outLen).set(argmax.subarray(0, outLen));
      k.maxPoolBackward(pgo, pa, inPlane, outPlane, pgx, 0, planes);
      mod.read(pgx, gradX, 0, inLen);
    },
    avgPool2dForward(x, g, d, out) {
      const planes = g.n * g.c;
      const inLen = planes * g.hIn * g.wIn;
      const outLen = planes * g.hOut * g.wOut;
      if (outLen === 0) return;
      const [pg, px, po] = mod.reserve([GEOMETRY_BYTES, inLen * 4, outLen * 4]);
      writeGeometry(mod, pg, g, d.countIncludePad);
      mod.write(px, x, 0, inLen);
      k.avgPoolForward(pg, d.divisorOverride ?? 0, px, po, 0, planes);
      mod.read(po, out, 0, outLen);
    },
    avgPool2dBackward(gradOut, g, d, gradX) {
      const planes = g.n * g.c;
      const inLen = planes * g.hIn * g.wIn;
      const outLen = planes * g.hOut * g.wOut;
      if (inLen === 0) return;
      const [pg, pgx, pgo] = mod.reserve([GEOMETRY_BYTES, inLen * 4, outLen * 4]);
      writeGeometry(mod, pg, g, d.countIncludePad);
      mod.write(pgo, gradOut, 0, outLen);
      k.avgPoolBackward(pg, d.divisorOverride ?? 0, pgo, pgx, 0, planes);
      mod.read(pgx, gradX, 0, inLen);
    },
    adaptiveAvgPool2dForward(x, g, out) {
      const planes = g.n * g.c;
      const inLen = planes * g.hIn * g.wIn;
      const outLen = planes * g.hOut * g.wOut;
      if (outLen === 0) return;
      const [px, po] = mod.reserve([inLen * 4, outLen * 4]);
      mod.write(px, x, 0, inLen);
      k.adaptiveAvgPoolForward(g.hIn, g.wIn, g.hOut, g.wOut, px, po, 0, planes);
      mod.read(po, out, 0, outLen);
    },
    adaptiveAvgPool2dBackward(gradOut, g, gradX) {
      const planes = g.n * g.c;
      const inLen = planes * g.hIn * g.wIn;
      const outLen = planes * g.hOut * g.wOut;
      if (inLen === 0) return;
      const [pgx, pgo] = mod.reserve([inLen * 4, outLen * 4]);
      mod.write(pgo, gradOut, 0, outLen);
      k.adaptiveAvgPoolBackward(g.hIn, g.wIn, g.hOut, g.wOut, pgo, pgx, 0, planes);
      mod.read(pgx, gradX, 0, inLen);
    },
    adaptiveMaxPool2dForward(x, g, out, argmax) {
      const planes = g.n * g.c;
      const inLen = planes * g.hIn * g.wIn;
      const outLen = planes * g.hOut * g.wOut;
      if (outLen === 0) return;
      const [px, po, pa] = mod.reserve([inLen * 4, outLen * 4, outLen * 4]);
      mod.write(px, x, 0, inLen);
      k.adaptiveMaxPoolForward(g.hIn, g.wIn, g.hOut, g.wOut, px, po, pa, 0, planes);
      mod.read(po, out, 0, outLen);
      argmax.set(mod.i32(pa, outLen));
    },
  };
}

/** Points the pooling seam at the WebAssembly kernels of `mod`. */
export function installWasmPool(mod: WasmKernelModule): void {
  Object.assign(poolKernels, makeWasmPool(mod));
}

/** Points the pooling seam back at the reference loops. */
export function restoreReferencePool(): void {
  poolKernels.maxPool2dForward = maxPool2dForwardRef;
  poolKernels.maxPoolBackward = maxPool2dBackwardRef;
  poolKernels.avgPool2dForward = avgPool2dForwardRef;
  poolKernels.avgPool2dBackward = avgPool2dBackwardRef;
  poolKernels.adaptiveAvgPool2dForward = adaptiveAvgPool2dForwardRef;
  poolKernels.adaptiveAvgPool2dBackward = adaptiveAvgPool2dBackwardRef;
  poolKernels.adaptiveMaxPool2dForward = adaptiveMaxPool2dForwardRef;
}
