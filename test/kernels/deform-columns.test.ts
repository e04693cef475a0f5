import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type DeformConv2dGeometry,
  deformConv2dKernels,
  deformConv2dRefKernels,
} from "../../src/kernels/deform.js";
import {
  buildSamplingPlan,
  deformConv2dBackwardColumns,
  deformConv2dForwardColumns,
} from "../../src/kernels/deform-columns.js";
import { type Gemm, gemmKernels } from "../../src/kernels/gemm.js";
import { deformConv2dBackwardRef, deformConv2dForwardRef } from "../../src/kernels/ref/deform.js";
import { expectClose } from "../helpers/close.js";
import {
  buffersOf,
  type Config,
  compareWithReference,
  configArb,
  geometryOf,
  gradBuffers,
} from "./deform-configs.js";

describe("deformable convolution, sampling plan + GEMM path", () => {
  it("is the op's default kernel, and the reference stays reachable", () => {
    expect(deformConv2dKernels.forward).toBe(deformConv2dForwardColumns);
    expect(deformConv2dKernels.backward).toBe(deformConv2dBackwardColumns);
    expect(deformConv2dRefKernels.forward).toBe(deformConv2dForwardRef);
    expect(deformConv2dRefKernels.backward).toBe(deformConv2dBackwardRef);
  });

  it("equals the reference loops, forward and every gradient, on random configurations", () => {
    let worst = 0;
    let runs = 0;
    fc.assert(
      fc.property(configArb, (c) => {
        const columns = { forward: deformConv2dForwardColumns, backward: deformConv2dBackwardColumns };
        worst = Math.max(worst, compareWithReference(columns, c, JSON.stringify(c)));
        runs++;
      }),
      { numRuns: 150, seed: 20240611 },
    );
    console.log(
      `deform-columns: ${runs} random configurations, worst relative error vs reference ${worst.toExponential(2)}`,
    );
    expect(runs).toBe(150);
  });

  it("computes only the gradients asked for, and overwrites what it fills", () => {
    const c: Config = {
      n: 2,
      groups: 2,
      offsetGroups: 2,
      cinMul: 1,
      channelQuads: false,
      coutPerGroup: 2,
      kH: 3,
      kW: 3,
      strideH: 1,
      strideW: 1,
      dilationH: 1,
      dilationW: 1,
      padTop: 1,
      padLeft: 1,
      padBottom: 1,
      padRight: 1,
      hIn: 4,
      wIn: 5,
      offsetScale: 2,
      integerOffsets: false,
      withMask: true,
      withBias: false,
      seed: 7,
    };
    const g = geometryOf(c);
    const b = buffersOf(c, g);
    const full = gradBuffers(b);
    deformConv2dBackwardRef(b.input, b.offset, b.mask, b.weight, b.gradOut, g, full);
    for (const key of ["input", "offset", "mask", "weight"] as const) {
      const only = { input: null, offset: null, mask: null, weight: null } as Record<
        "input" | "offset" | "mask" | "weight",
        Float32Array | null
      >;
      const target = new Float32Array(full[key]!.length).fill(123); // stale values must be overwritten
      only[key] = target;
      deformConv2dBackwardColumns(b.input, b.offset, b.mask, b.weight, b.gradOut, g, {
        input: only.input,
        offset: only.offset,
        mask: only.mask,
        weight: only.weight,
      });
      expectClose(target, full[key]!, { rtol: 1e-5, label: `only ${key}` });
    }
  });

  it("goes through the GEMM seam (a faster GEMM speeds it up)", () => {
    const c: Config = {
      n: 1,
      groups: 2,
      offsetGroups: 1,
      cinMul: 1,
      channelQuads: false,
      coutPerGroup: 1,
      kH: 2,
      kW: 2,
      strideH: 1,
      strideW: 1,
      dilationH: 1,
      dilationW: 1,
      padTop: 0,
      padLeft: 0,
      padBottom: 0,
      padRight: 0,
      hIn: 3,
      wIn: 3,
      offsetScale: 1,
      integerOffsets: false,
      withMask: false,
      withBias: true,
      seed: 3,
    };
    const g = geometryOf(c);
    const b = buffersOf(c, g);
    const original = gemmKernels.gemm;
    const calls: [boolean, boolean][] = [];
    const spy: Gemm = (transA, transB, ...rest) => {
      calls.push([transA, transB]);
      original(transA, transB, ...rest);
    };
    gemmKernels.gemm = spy;
    try {
      deformConv2dForwardColumns(
        b.input,
        b.offset,
        b.mask,
        b.weight,
        b.bias,
        g,
        new Float32Array(g.cOut * 4),
      );
      expect(calls).toEqual([
        [false, false],
        [false, false],
      ]);
      calls.length = 0;
      deformConv2dBackwardColumns(b.input, b.offset, null, b.weight, b.gradOut, g, gradBuffers(b));
      // per weight group: gradW += gradOut x columns^T, gradColumns = W^T x gradOut
      expect(calls).toEqual([
        [false, true],
        [true, false],
        [false, true],
        [true, false],
      ]);
    } finally {
      gemmKernels.gemm = original;
    }
  });

  it("plans four corners with bilinear weights times the mask; corners outside point at the zero slot", () => {
    // One 1x1 tap on a 2x3 image, output 2x3, offsets chosen by hand to hit each case. The zero slot is 6.
    const g: DeformConv2dGeometry = {
      n: 1,
      cIn: 1,
      hIn: 2,
      wIn: 3,
      cOut: 1,
      kH: 1,
      kW: 1,
      strideH: 1,
      strideW: 1,
      dilationH: 1,
      dilationW: 1,
      padTop: 0,
      padLeft: 0,
      padBottom: 0,
      padRight: 0,
      groups: 1,
      hOut: 2,
      wOut: 3,
      offsetGroups: 1,
    };
    const dy = [0.25, -1.5, 0, -1, 0, 0.5];
    const dx = [0.5, 0, -1, 0, 10, -0.5];
    const offset = Float32Array.from([...dy, ...dx]);
    const mask = Float32Array.from([0.5, 1, 1, 1, 1, 2]);
    const plan = buildSamplingPlan(offset, mask, g, 0, true);
    const corners = (p: number) => Array.from(plan.index.subarray(4 * p, 4 * p + 4));
    const weights = (p: number) => Array.from(plan.weight.subarray(4 * p, 4 * p + 4));
    const grad = (p: number, part: number) =>
      Array.from(plan.grad!.subarray(12 * p + 4 * part, 12 * p + 4 * part + 4));
    // pixel 0 samples (0.25, 0.5): corners (0,0) (0,1) (1,0) (1,1), weights times mask 0.5
    expect(corners(0)).toEqual([0, 1, 3, 4]);
    expect(weights(0)).toEqual([0.5 * 0.375, 0.5 * 0.375, 0.5 * 0.125, 0.5 * 0.125]);
    expect(grad(0, 2)).toEqual([0.375, 0.375, 0.125, 0.125]); // unmasked, for the mask gradient
    expect(grad(0, 0)).toEqual([-0.25, -0.25, 0.25, 0.25]); // d/dy: -(1 - lx), -lx, (1 - lx), lx, times mask
    expect(grad(0, 1)).toEqual([-0.375, 0.375, -0.125, 0.125]); // d/dx: -(1 - ly), (1 - ly), -ly, ly, times mask
    // pixel 1 samples (-1.5, 1): outside, every corner at the zero slot
    expect(corners(1)).toEqual([6, 6, 6, 6]);
    expect(weights(1)).toEqual([0, 0, 0, 0]);
    // pixel 2 samples (0, 1) exactly on a pixel: corners (0,1) (0,2) (1,1) (1,2), weight only on (0,1)
    expect(corners(2)).toEqual([1, 2, 4, 5]);
    expect(weights(2)).toEqual([1, 0, 0, 0]);
    // pixel 3 (oh = 1, ow = 0) with dy = -1 samples exactly pixel (0, 0)
    expect(corners(3)).toEqual([0, 1, 3, 4]);
    // pixel 4 samples (1, 11): outside
    expect(corners(4)).toEqual([6, 6, 6, 6]);
    // pixel 5 samples (1.5, 1.5): the bottom corners fall below the image
    expect(corners(5)).toEqual([4, 5, 6, 6]);
  });

  it("at exactly y = -1 keeps the inside corners: zero weight, non-zero slope (torchvision's gradient)", () => {
    const g: DeformConv2dGeometry = {
      n: 1,
      cIn: 1,
      hIn: 2,
      wIn: 2,
      cOut: 1,
      kH: 1,
      kW: 1,
      strideH: 1,
      strideW: 1,
      dilationH: 1,
      dilationW: 1,
      padTop: 1,
      padLeft: 0,
      padBottom: 0,
      padRight: 0,
      groups: 1,
      hOut: 3,
      wOut: 2,
      offsetGroups: 1,
    };
    // Output pixel (0, 0) with padding 1 and zero offsets samples (y, x) = (-1, 0): the corners in row -1 go
    // to the zero slot (4), the row-0 corners stay, with weight 0 but slope +-1.
    const plan = buildSamplingPlan(new Float32Array(12), null, g, 0, true);
    expect(Array.from(plan.index.subarray(0, 4))).toEqual([4, 4, 0, 1]);
    expect(Array.from(plan.weight.subarray(0, 4))).toEqual([1, 0, 0, 0]);
    expect(Array.from(plan.grad!.subarray(0, 4))).toEqual([-1, -0, 1, 0]);
  });
});
