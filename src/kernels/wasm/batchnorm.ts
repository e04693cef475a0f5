import { type BatchNormKernels, batchNormKernels } from "../batchnorm.js";
import { batchNormBackwardRef, batchNormForwardRef, batchNormStatsRef } from "../ref/batchnorm.js";
import type { WasmKernelModule } from "./module.js";

/** The batch-norm functions exported by assembly/batchnorm.ts (pointers are byte offsets into memory). */
interface BatchNormExports {
  batchNormStats(
    x: number,
    n: number,
    c: number,
    hw: number,
    mean: number,
    varBiased: number,
    c0: number,
    c1: number,
  ): void;
  batchNormForward(
    x: number,
    n: number,
    c: number,
    hw: number,
    mean: number,
    invstd: number,
    weight: number,
    bias: number,
    flags: number,
    out: number,
    c0: number,
    c1: number,
  ): void;
  batchNormBackward(
    g: number,
    x: number,
    n: number,
    c: number,
    hw: number,
    mean: number,
    invstd: number,
    weight: number,
    flags: number,
    gradX: number,
    gradWeight: number,
    gradBias: number,
    c0: number,
    c1: number,
  ): void;
}

// Flags of batchNormForward / batchNormBackward (assembly/batchnorm.ts).
const HAS_WEIGHT = 1;
const HAS_BIAS = 2;
const TRAINING = 4;
const NEED_X = 8;
const NEED_WEIGHT = 16;
const NEED_BIAS = 32;

function f64View(mod: WasmKernelModule, ptr: number, length: number): Float64Array {
  return new Float64Array(mod.memory.buffer, ptr, length);
}

/**
 * The BatchNormKernels seam entries backed by assembly/batchnorm.ts: each call copies its operands into the
 * module's memory (laid out by `reserve`, so nothing is allocated in steady state), runs the kernel over all
 * channels and copies the results back. Same contracts and, element for element, the same float64
 * arithmetic as the reference (statistics differ only in summation order).
 */
export function makeWasmBatchNorm(mod: WasmKernelModule): BatchNormKernels {
  const k = mod.exports as unknown as BatchNormExports;

  const stats: BatchNormKernels["stats"] = (x, d, mean, varBiased) => {
    const len = d.n * d.c * d.hw;
    if (d.c === 0) return;
    const [px, pm, pv] = mod.reserve([len * 4, d.c * 8, d.c * 8]);
    mod.write(px, x, 0, len);
    k.batchNormStats(px, d.n, d.c, d.hw, pm, pv, 0, d.c);
    mean.set(f64View(mod, pm, d.c));
    varBiased.set(f64View(mod, pv, d.c));
  };

  const forward: BatchNormKernels["forward"] = (x, d, mean, invstd, weight, bias, out) => {
    const len = d.n * d.c * d.hw;
    if (len === 0) return;
    const [px, po, pm, ps, pw, pb] = mod.reserve([len * 4, len * 4, d.c * 8, d.c * 8, d.c * 4, d.c * 4]);
    mod.write(px, x, 0, len);
    f64View(mod, pm, d.c).set(mean.subarray(0, d.c));
    f64View(mod, ps, d.c).set(invstd.subarray(0, d.c));
    let flags = 0;
    if (weight !== null) {
      mod.write(pw, weight, 0, d.c);
      flags |= HAS_WEIGHT;
    }
    if (bias !== null) {
      mod.write(pb, bias, 0, d.c);
      flags |= HAS_BIAS;
    }
    k.batchNormForward(px, d.n, d.c, d.hw, pm, ps, pw, pb, flags, po, 0, d.c);
    mod.read(po, out, 0, len);
  };

  const backward: BatchNormKernels["backward"] = (
    gradOut,
    x,
    d,
    mean,
    invstd,
    weight,
    training,
    gradX,
    gradWeight,
    gradBias,
  ) => {
    const len = d.n * d.c * d.hw;
    if (d.c === 0) return;
    const needX = gradX !== null && len > 0;
    const [pg, px, pgx, pm, ps, pw, pgw, pgb] = mod.reserve([
      len * 4,
      len * 4,
      needX ? len * 4 : 0,
      d.c * 8,
      d.c * 8,
      d.c * 4,
      d.c * 4,
      d.c * 4,
    ]);
    mod.write(pg, gradOut, 0, len);
    mod.write(px, x, 0, len);
    f64View(mod, pm, d.c).set(mean.subarray(0, d.c));
    f64View(mod, ps, d.c).set(invstd.subarray(0, d.c));
    let flags = training ? TRAINING : 0;
    if (weight !== null) {
      mod.write(pw, weight, 0, d.c);
      flags |= HAS_WEIGHT;
    }
    if (needX) flags |= NEED_X;
    if (gradWeight !== null) flags |= NEED_WEIGHT;
    if (gradBias !== null) flags |= NEED_BIAS;
    k.batchNormBackward(pg, px, d.n, d.c, d.hw, pm, ps, pw, flags, pgx, pgw, pgb, 0, d.c);
    if (needX) mod.read(pgx, gradX, 0, len);
    if (gradWeight !== null) mod.read(pgw, gradWeight, 0, d.c);
    if (gradBias !== null) mod.read(pgb, gradBias, 0, d.c);
  };

  return { stats, forward, backward };
}

/** Points the batch-norm seam at the WebAssembly kernels of `mod`. */
export function installWasmBatchNorm(mod: WasmKernelModule): void {
  Object.assign(batchNormKernels, makeWasmBatchNorm(mod));
}

/** Points the batch-norm seam back at the reference loops. */
export function restoreReferenceBatchNorm(): void {
  batchNormKernels.stats = batchNormStatsRef;
  batchNormKernels.forward = batchNormForwardRef;
  batchNormKernels.backward = batchNormBackwardRef;
}
