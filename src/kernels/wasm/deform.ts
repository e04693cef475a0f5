import type { DeformConv2dGeometry, DeformConv2dGrads, DeformConv2dKernels } from "../deform.js";
import { writeGeometry } from "./conv-memory.js";
import type { WasmKernelModule } from "./module.js";

/** The deformable-convolution functions exported by assembly/deform.ts (pointers are byte offsets). */
interface DeformExports {
  deformPlanFloats(g: number): number;
  deformSumFloats(g: number): number;
  deformColumnFloats(g: number): number;
  deformForward(
    g: number,
    x: number,
    offset: number,
    mask: number,
    hasMask: number,
    weight: number,
    bias: number,
    hasBias: number,
    out: number,
    idx: number,
    wt: number,
    col: number,
    ws: number,
  ): void;
  deformBackward(
    g: number,
    x: number,
    offset: number,
    mask: number,
    hasMask: number,
    weight: number,
    gradOut: number,
    gradX: number,
    gradOffset: number,
    gradMask: number,
    gradW: number,
    idx: number,
    wt: number,
    slopes: number,
    col: number,
    gradCol: number,
    dy: number,
    dx: number,
    dm: number,
    ws: number,
  ): void;
}

/** Index of the offset-group field, after the conv geometry block's 18 (assembly/deform.ts G_OG). */
const G_OG = 18;

function writeDeformGeometry(mod: WasmKernelModule, g: DeformConv2dGeometry): number {
  const pg = writeGeometry(mod, g);
  mod.i32(pg + 4 * G_OG, 1)[0] = g.offsetGroups;
  return pg;
}

/**
 * Copies the input into memory as planes of H*W floats at a stride of H*W + 1, each followed by its zero
 * slot (assembly/deform.ts explains why).
 */
function writePlanes(mod: WasmKernelModule, ptr: number, input: Float32Array, g: DeformConv2dGeometry): void {
  const plane = g.hIn * g.wIn;
  const count = g.n * g.cIn;
  const view = mod.f32(ptr, count * (plane + 1));
  for (let i = 0; i < count; i++) {
    view.set(input.subarray(i * plane, (i + 1) * plane), i * (plane + 1));
    view[i * (plane + 1) + plane] = 0;
  }
}

/** Copies strided planes (stride H*W + 1) out of memory into a contiguous [N, Cin, H, W] buffer. */
function readPlanes(mod: WasmKernelModule, ptr: number, dst: Float32Array, g: DeformConv2dGeometry): void {
  const plane = g.hIn * g.wIn;
  const count = g.n * g.cIn;
  const view = mod.f32(ptr, count * (plane + 1));
  for (let i = 0; i < count; i++) dst.set(view.subarray(i * (plane + 1), i * (plane + 1) + plane), i * plane);
}

/**
 * The deformable-convolution seam backed by assembly/deform.ts: the same sampling plan + column matrix +
 * GEMM algorithm as the TypeScript path (src/kernels/deform-columns.ts), with sampling, scattering and GEMM
 * all inside WebAssembly memory. One thread; memory per call is laid out by the module's arena (reused).
 */
export function makeWasmDeform(mod: WasmKernelModule): DeformConv2dKernels {
  const e = mod.exports as unknown as DeformExports;
  return {
    forward(input, offset, mask, weight, bias, g, out) {
      if (out.length === 0) return;
      const pg = writeDeformGeometry(mod, g);
      const planFloats = e.deformPlanFloats(pg);
      const f = 4;
      const [px, po, pm, pw, pb, pout, pidx, pwt, pcol] = mod.reserve([
        g.n * g.cIn * (g.hIn * g.wIn + 1) * f,
        offset.length * f,
        (mask?.length ?? 0) * f,
        weight.length * f,
        (bias?.length ?? 0) * f,
        out.length * f,
        planFloats * f,
        planFloats * f,
        e.deformColumnFloats(pg) * f,
      ]);
      writePlanes(mod, px, input, g);
      mod.write(po, offset, 0, offset.length);
      if (mask) mod.write(pm, mask, 0, mask.length);
      mod.write(pw, weight, 0, weight.length);
      if (bias) mod.write(pb, bias, 0, bias.length);
      e.deformForward(pg, px, po, pm, mask ? 1 : 0, pw, pb, bias ? 1 : 0, pout, pidx, pwt, pcol, mod.gemmWs);
      mod.read(pout, out, 0, out.length);
    },
    backward(input, offset, mask, weight, gradOut, g, grads: DeformConv2dGrads) {
      const gradMask = mask === null ? null : grads.mask;
      // Without a mask there is no mask gradient; a buffer given for it is still overwritten (with zeros).
      if (mask === null) grads.mask?.fill(0);
      const withSums = grads.offset !== null || gradMask !== null;
      const pg = writeDeformGeometry(mod, g);
      const planFloats = e.deformPlanFloats(pg);
      const sumFloats = withSums ? e.deformSumFloats(pg) : 0;
      const columnFloats = e.deformColumnFloats(pg);
      const xFloats = g.n * g.cIn * (g.hIn * g.wIn + 1);
      const f = 4;
      const [px, po, pm, pw, pgo, pgx, pgoff, pgm, pgw, pidx, pwt, pslopes, pcol, pgcol, pdy, pdx, pdm] =
        mod.reserve([
          xFloats * f,
          offset.length * f,
          (mask?.length ?? 0) * f,
          weight.length * f,
          gradOut.length * f,
          grads.input ? xFloats * f : 0,
          grads.offset ? offset.length * f : 0,
          gradMask ? gradMask.length * f : 0,
          grads.weight ? weight.length * f : 0,
          planFloats * f,
          planFloats * f,
          withSums ? 3 * planFloats * f : 0,
          grads.weight ? columnFloats * f : 0,
          columnFloats * f,
          sumFloats * f,
          sumFloats * f,
          sumFloats * f,
        ]);
      writePlanes(mod, px, input, g);
      mod.write(po, offset, 0, offset.length);
      if (mask) mod.write(pm, mask, 0, mask.length);
      mod.write(pw, weight, 0, weight.length);
      mod.write(pgo, gradOut, 0, gradOut.length);
      e.deformBackward(
        pg,
        px,
        po,
        pm,
        mask ? 1 : 0,
        pw,
        pgo,
        grads.input ? pgx : 0,
        grads.offset ? pgoff : 0,
        gradMask ? pgm : 0,
        grads.weight ? pgw : 0,
        pidx,
        pwt,
        pslopes,
        pcol,
        pgcol,
        pdy,
        pdx,
        pdm,
        mod.gemmWs,
      );
      if (grads.input) readPlanes(mod, pgx, grads.input, g);
      if (grads.offset) mod.read(pgoff, grads.offset, 0, grads.offset.length);
      if (gradMask) mod.read(pgm, gradMask, 0, gradMask.length);
      if (grads.weight) mod.read(pgw, grads.weight, 0, grads.weight.length);
    },
  };
}
