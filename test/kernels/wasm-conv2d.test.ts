import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { conv2dKernels } from "../../src/kernels/conv2d.js";
import {
  conv2dBackwardInputRef,
  conv2dBackwardWeightRef,
  conv2dForwardRef,
} from "../../src/kernels/ref/conv2d.js";
import { makeWasmConv2d } from "../../src/kernels/wasm/conv2d.js";
import { useReferenceKernels, useWasmKernelsSync, wasmConvPath } from "../../src/kernels/wasm/index.js";
import { instantiateSync } from "../../src/kernels/wasm/module.js";
import { type Conv2dGeometry, conv2dGeometry, type Padding2d } from "../../src/tensor/conv-geometry.js";
import { expectClose } from "../helpers/close.js";
import { Rng, randArray, WASM_VARIANTS } from "./wasm-variants.js";

interface Spec {
  n: number;
  groups: number;
  cInG: number;
  cOutG: number;
  kH: number;
  kW: number;
  stride: [number, number];
  dilation: [number, number];
  pads: [number, number, number, number];
  extra: [number, number];
}

function geometryOf(s: Spec): Conv2dGeometry {
  const [pt, pl, pb, pr] = s.pads;
  // Smallest input the kernel fits in, plus extra rows/columns so output widths cross the 4- and 8-lane steps.
  const h = Math.max(1, s.dilation[0] * (s.kH - 1) + 1 - pt - pb) + s.extra[0];
  const w = Math.max(1, s.dilation[1] * (s.kW - 1) + 1 - pl - pr) + s.extra[1];
  const padding: Padding2d = [pt, pl, pb, pr];
  return conv2dGeometry([s.n, s.cInG * s.groups, h, w], [s.cOutG * s.groups, s.cInG, s.kH, s.kW], {
    stride: s.stride,
    dilation: s.dilation,
    padding,
    groups: s.groups,
  });
}

const int = (min: number, max: number) => fc.integer({ min, max });
const pair = (min: number, max: number) => fc.tuple(int(min, max), int(min, max));
const pads = fc.tuple(int(0, 3), int(0, 3), int(0, 3), int(0, 3));

/** Dense and grouped convs on the im2col path: channel counts cross the 4-row tile, pixel counts the 8-column one. */
const generalArb: fc.Arbitrary<Spec> = fc.record({
  n: int(1, 3),
  groups: int(1, 3),
  cInG: int(1, 5),
  cOutG: int(1, 9),
  kH: int(1, 5),
  kW: int(1, 5),
  stride: pair(1, 3),
  dilation: pair(1, 3),
  pads,
  extra: pair(0, 9),
});

/** 1x1, stride 1, unpadded: the input plane is the GEMM operand itself (dilation is irrelevant but allowed). */
const pointwiseArb: fc.Arbitrary<Spec> = fc.record({
  n: int(1, 3),
  groups: int(1, 3),
  cInG: int(1, 9),
  cOutG: int(1, 9),
  kH: fc.constant(1),
  kW: fc.constant(1),
  stride: fc.constant<[number, number]>([1, 1]),
  dilation: pair(1, 2),
  pads: fc.constant<[number, number, number, number]>([0, 0, 0, 0]),
  extra: pair(0, 12),
});

/** groups == Cin with a channel multiplier: the direct kernel; widths up to 20 hit the 8-, 4- and 1-wide steps. */
const depthwiseArb: fc.Arbitrary<Spec> = fc.record({
  n: int(1, 3),
  groups: int(2, 5),
  cInG: fc.constant(1),
  cOutG: int(1, 3),
  kH: int(1, 5),
  kW: int(1, 5),
  stride: pair(1, 3),
  dilation: pair(1, 3),
  pads,
  extra: pair(0, 20),
});

/**
 * The 3x3 stride-1 depthwise kernel of its own (strips of four columns rolling down the rows, undilated
 * rows): heights from one row up, widths across the 4-lane strips and the scalar tail, any padding.
 */
const depthwise3x3Arb: fc.Arbitrary<Spec> = fc.record({
  n: int(1, 2),
  groups: int(2, 4),
  cInG: fc.constant(1),
  cOutG: int(1, 2),
  kH: fc.constant(3),
  kW: fc.constant(3),
  stride: fc.constant<[number, number]>([1, 1]),
  dilation: fc.tuple(fc.constant(1), int(1, 2)),
  pads,
  extra: pair(0, 13),
});

/**
 * 3x3 stride-1 depthwise with one pixel of padding on every side and rows of a multiple of 4 (8 and up):
 * the kernel that reads the planes in place and supplies the padding in registers.
 */
const depthwiseSameArb: fc.Arbitrary<Spec> = fc.record({
  n: int(1, 2),
  groups: int(2, 4),
  cInG: fc.constant(1),
  cOutG: int(1, 2),
  kH: fc.constant(3),
  kW: fc.constant(3),
  stride: fc.constant<[number, number]>([1, 1]),
  dilation: fc.constant<[number, number]>([1, 1]),
  pads: fc.constant<[number, number, number, number]>([1, 1, 1, 1]),
  extra: fc.tuple(int(1, 9), fc.constantFrom(7, 11, 15, 19, 23)),
});

function sizes(g: Conv2dGeometry): { x: number; w: number; y: number } {
  return {
    x: g.n * g.cIn * g.hIn * g.wIn,
    w: g.cOut * (g.cIn / g.groups) * g.kH * g.kW,
    y: g.n * g.cOut * g.hOut * g.wOut,
  };
}

/** Runs forward (with and without bias), input gradient and weight gradient against the reference. */
function checkAll(kernels: ReturnType<typeof makeWasmConv2d>, g: Conv2dGeometry, seed: number): void {
  const rng = new Rng(seed);
  const s = sizes(g);
  const x = randArray(s.x, rng);
  const w = randArray(s.w, rng);
  const bias = randArray(g.cOut, rng);
  const gy = randArray(s.y, rng);
  const label = `${wasmConvPath(g)} ${JSON.stringify(g)} seed ${seed}`;
  for (const b of [null, bias]) {
    const expected = new Float32Array(s.y);
    const actual = new Float32Array(s.y).fill(Number.NaN);
    conv2dForwardRef(x, w, b, g, expected);
    kernels.forward(x, w, b, g, actual);
    expectClose(actual, expected, { rtol: 1e-4, label: `forward${b ? "+bias" : ""} ${label}` });
  }
  const gxExpected = new Float32Array(s.x);
  const gxActual = new Float32Array(s.x).fill(Number.NaN);
  conv2dBackwardInputRef(gy, w, g, gxExpected);
  kernels.backwardInput(gy, w, g, gxActual);
  expectClose(gxActual, gxExpected, { rtol: 1e-4, label: `backwardInput ${label}` });
  const gwExpected = new Float32Array(s.w);
  const gwActual = new Float32Array(s.w).fill(Number.NaN);
  conv2dBackwardWeightRef(x, gy, g, gwExpected);
  kernels.backwardWeight(x, gy, g, gwActual);
  expectClose(gwActual, gwExpected, { rtol: 1e-4, label: `backwardWeight ${label}` });
}

/** 3x3, stride 1, undilated: Winograd F(4x4, 3x3); widths up to 40 leave 1-3 columns in the last tile and tile groups. */
const winogradArb: fc.Arbitrary<Spec> = fc.record({
  n: int(1, 2),
  groups: int(1, 3),
  cInG: int(1, 10),
  cOutG: int(1, 10),
  kH: fc.constant(3),
  kW: fc.constant(3),
  stride: fc.constant<[number, number]>([1, 1]),
  dilation: fc.constant<[number, number]>([1, 1]),
  pads,
  extra: pair(0, 40),
});

/** 3x3, stride 1, dilated (1-3 per axis): Winograd on the phase images of space-to-batch. */
const dilatedArb: fc.Arbitrary<Spec> = fc.record({
  n: int(1, 2),
  groups: int(1, 2),
  cInG: int(1, 6),
  cOutG: int(1, 6),
  kH: fc.constant(3),
  kW: fc.constant(3),
  stride: fc.constant<[number, number]>([1, 1]),
  dilation: pair(1, 3),
  pads: fc.tuple(int(0, 6), int(0, 6), int(0, 6), int(0, 6)),
  extra: pair(0, 20),
});

/** Stride 1, undilated, kernels 3..9 a side (not both 3): Winograd on 3x3 blocks of shifted input copies. */
const blocksArb: fc.Arbitrary<Spec> = fc
  .record({
    n: int(1, 2),
    groups: int(1, 2),
    cInG: int(1, 4),
    cOutG: int(1, 5),
    kH: int(3, 9),
    kW: int(3, 9),
    stride: fc.constant<[number, number]>([1, 1]),
    dilation: fc.constant<[number, number]>([1, 1]),
    pads: fc.tuple(int(0, 9), int(0, 9), int(0, 9), int(0, 9)),
    extra: pair(0, 14),
  })
  .filter((s) => s.kH > 3 || s.kW > 3);

describe.each(WASM_VARIANTS)("wasm conv2d (%s)", (variant) => {
  const mod = instantiateSync(variant);
  const kernels = makeWasmConv2d(mod, { winograd: "never" });
  const winograd = makeWasmConv2d(mod, { winograd: "always" });
  const seed = int(0, 1e6);

  it("im2col + GEMM path matches the reference (dense, grouped, strided, dilated, asymmetric padding)", () => {
    fc.assert(
      fc.property(generalArb, seed, (spec, sd) => {
        const g = geometryOf(spec);
        if (wasmConvPath(g) === "depthwise-direct") return; // generated when cInG = 1 and groups > 1: covered below
        checkAll(kernels, g, sd);
      }),
      { numRuns: 150 },
    );
  });

  it("pointwise GEMM path matches the reference", () => {
    fc.assert(
      fc.property(pointwiseArb, seed, (spec, sd) => {
        const g = geometryOf(spec);
        if (spec.cInG > 1 || spec.groups === 1) expect(wasmConvPath(g)).toBe("pointwise-gemm");
        checkAll(kernels, g, sd);
      }),
      { numRuns: 80 },
    );
  });

  it("direct depthwise path matches the reference (multipliers, strides, dilation, padding)", () => {
    fc.assert(
      fc.property(depthwiseArb, seed, (spec, sd) => {
        const g = geometryOf(spec);
        expect(wasmConvPath(g)).toBe("depthwise-direct");
        checkAll(kernels, g, sd);
      }),
      { numRuns: 150 },
    );
  });

  it("3x3 stride-1 depthwise kernel matches the reference (every height, strip and tail width)", () => {
    fc.assert(
      fc.property(depthwise3x3Arb, seed, (spec, sd) => {
        const g = geometryOf(spec);
        expect(wasmConvPath(g)).toBe("depthwise-direct");
        checkAll(kernels, g, sd);
      }),
      { numRuns: 100 },
    );
  });

  it("3x3 'same' depthwise read in place matches the reference (padding supplied in registers)", () => {
    fc.assert(
      fc.property(depthwiseSameArb, seed, (spec, sd) => {
        const g = geometryOf(spec);
        expect([g.hOut, g.wOut]).toEqual([g.hIn, g.wIn]);
        expect(g.wIn % 4 === 0 && g.wIn >= 8).toBe(true);
        expect(wasmConvPath(g)).toBe("depthwise-direct");
        checkAll(kernels, g, sd);
      }),
      { numRuns: 60 },
    );
  });

  it("Winograd F(4x4, 3x3) forward matches the reference (tile edges, groups, asymmetric padding, bias)", () => {
    fc.assert(
      fc.property(winogradArb, seed, (spec, sd) => {
        const g = geometryOf(spec);
        if (wasmConvPath(g, "forward", { winograd: "always" }) !== "winograd-f4x4") return; // depthwise specs
        const rng = new Rng(sd);
        const s = sizes(g);
        const x = randArray(s.x, rng);
        const w = randArray(s.w, rng);
        const bias = randArray(g.cOut, rng);
        const expected = new Float32Array(s.y);
        const actual = new Float32Array(s.y).fill(Number.NaN);
        conv2dForwardRef(x, w, bias, g, expected);
        winograd.forward(x, w, bias, g, actual);
        expectClose(actual, expected, { rtol: 1e-4, label: `winograd ${JSON.stringify(g)} seed ${sd}` });
      }),
      { numRuns: 120 },
    );
  });

  it("im2col forward in bands of output rows (columns over 512 KiB: a 7x7 stride-2 stem) matches the reference", () => {
    // 147 taps x 112 columns a row: bands of 7 rows, the last of 2 (30 output rows), with bias.
    const g = conv2dGeometry([1, 3, 60, 224], [16, 3, 7, 7], { stride: [2, 2], padding: [3, 3, 3, 3] });
    expect([g.hOut, g.wOut]).toEqual([30, 112]);
    expect(wasmConvPath(g)).toBe("im2col-gemm");
    const rng = new Rng(11);
    const s = sizes(g);
    const x = randArray(s.x, rng);
    const w = randArray(s.w, rng);
    const bias = randArray(g.cOut, rng);
    const expected = new Float32Array(s.y);
    const actual = new Float32Array(s.y).fill(Number.NaN);
    conv2dForwardRef(x, w, bias, g, expected);
    kernels.forward(x, w, bias, g, actual);
    expectClose(actual, expected, { rtol: 1e-4, label: "banded stem forward" });
  });

  it("Winograd numbers tiles densely: every output width 1-44 (quads straddling GEMM panels at each lane) matches", () => {
    // Tiles are numbered row after row across the band, so a quad of tiles starts at any lane of an 8-tile
    // panel; widths 1..44 give 1..11 tiles a row and, over 9 tile rows, every start lane and panel tail.
    const rng = new Rng(7);
    for (let w = 1; w <= 44; w++) {
      const g = conv2dGeometry([1, 5, 34, w], [6, 5, 3, 3], { padding: [1, 1, 1, 1] });
      expect(wasmConvPath(g, "forward", { winograd: "always" })).toBe("winograd-f4x4");
      const s = sizes(g);
      const x = randArray(s.x, rng);
      const wt = randArray(s.w, rng);
      const expected = new Float32Array(s.y);
      const actual = new Float32Array(s.y).fill(Number.NaN);
      conv2dForwardRef(x, wt, null, g, expected);
      winograd.forward(x, wt, null, g, actual);
      expectClose(actual, expected, { rtol: 1e-4, label: `winograd width ${w}` });
    }
  });

  it("Winograd input gradient (a forward conv of the bordered gradient, flipped kernel) matches the reference", () => {
    fc.assert(
      fc.property(winogradArb, seed, (spec, sd) => {
        const g = geometryOf(spec);
        const path = wasmConvPath(g, "backwardInput", { winograd: "always" });
        if (path === "depthwise-direct") return;
        // Padding beyond 2 would crop the gradient: that case stays on im2col.
        expect(path).toBe(Math.max(...spec.pads) <= 2 ? "winograd-f4x4" : "im2col-gemm");
        const rng = new Rng(sd);
        const s = sizes(g);
        const w = randArray(s.w, rng);
        const gy = randArray(s.y, rng);
        const expected = new Float32Array(s.x);
        const actual = new Float32Array(s.x).fill(Number.NaN);
        conv2dBackwardInputRef(gy, w, g, expected);
        winograd.backwardInput(gy, w, g, actual);
        expectClose(actual, expected, {
          rtol: 1e-4,
          label: `winograd backwardInput ${JSON.stringify(g)} seed ${sd}`,
        });
      }),
      { numRuns: 120 },
    );
  });

  it("Winograd F(3x3, 4x4) weight gradient matches the reference (tile edges, groups, padding, batch)", () => {
    fc.assert(
      fc.property(winogradArb, seed, (spec, sd) => {
        const g = geometryOf(spec);
        if (wasmConvPath(g) === "depthwise-direct") return;
        const path = wasmConvPath(g, "backwardWeight", { winograd: "always" });
        // Winograd when threads split the weight gradient by input channel (8 or more), else im2col.
        expect(path).toBe(g.cIn >= 8 ? "winograd-f4x4" : "im2col-gemm");
        const rng = new Rng(sd);
        const s = sizes(g);
        const x = randArray(s.x, rng);
        const gy = randArray(s.y, rng);
        const expected = new Float32Array(s.w);
        const actual = new Float32Array(s.w).fill(Number.NaN);
        conv2dBackwardWeightRef(x, gy, g, expected);
        winograd.backwardWeight(x, gy, g, actual);
        expectClose(actual, expected, {
          rtol: 1e-4,
          label: `winograd backwardWeight ${JSON.stringify(g)} seed ${sd}`,
        });
      }),
      { numRuns: 120 },
    );
  });

  it("Winograd weight gradient on a 64-channel 56x56 pair of images stays within 1e-4 of the reference", () => {
    const g = conv2dGeometry([2, 64, 56, 56], [64, 64, 3, 3], { padding: [1, 1, 1, 1] });
    expect(wasmConvPath(g, "backwardWeight")).toBe("winograd-f4x4");
    const rng = new Rng(5);
    const s = sizes(g);
    const x = randArray(s.x, rng);
    const gy = randArray(s.y, rng);
    const expected = new Float32Array(s.w);
    const actual = new Float32Array(s.w);
    conv2dBackwardWeightRef(x, gy, g, expected);
    makeWasmConv2d(mod).backwardWeight(x, gy, g, actual);
    // Winograd's transforms cost precision like the forward's: worst 2-3e-5 of the RMS, mean 2e-6 here
    // (im2col: 1e-6 and 2e-7), the forward Winograd's level on the same case.
    expectClose(actual, expected, { rtol: 1e-4, label: "winograd backwardWeight 64ch 56x56" });
  });

  it("dilated Winograd (space-to-batch phases) matches the reference, forward and input gradient", () => {
    fc.assert(
      fc.property(dilatedArb, seed, (spec, sd) => {
        const g = geometryOf(spec);
        const dilated = g.dilationH > 1 || g.dilationW > 1;
        const forwardPath = wasmConvPath(g, "forward", { winograd: "always" });
        if (forwardPath === "depthwise-direct") return;
        expect(forwardPath).toBe(dilated ? "winograd-dilated" : "winograd-f4x4");
        const rng = new Rng(sd);
        const s = sizes(g);
        const x = randArray(s.x, rng);
        const w = randArray(s.w, rng);
        const bias = randArray(g.cOut, rng);
        const gy = randArray(s.y, rng);
        const label = `${JSON.stringify(g)} seed ${sd}`;
        const expected = new Float32Array(s.y);
        const actual = new Float32Array(s.y).fill(Number.NaN);
        conv2dForwardRef(x, w, bias, g, expected);
        winograd.forward(x, w, bias, g, actual);
        expectClose(actual, expected, { rtol: 1e-4, label: `dilated winograd forward ${label}` });
        // The input gradient takes this path while the padding is at most the dilated kernel's extent.
        const fits =
          Math.max(spec.pads[0], spec.pads[2]) <= 2 * g.dilationH &&
          Math.max(spec.pads[1], spec.pads[3]) <= 2 * g.dilationW;
        const inputPath = wasmConvPath(g, "backwardInput", { winograd: "always" });
        expect(inputPath).toBe(fits ? forwardPath : "im2col-gemm");
        const gxExpected = new Float32Array(s.x);
        const gxActual = new Float32Array(s.x).fill(Number.NaN);
        conv2dBackwardInputRef(gy, w, g, gxExpected);
        winograd.backwardInput(gy, w, g, gxActual);
        expectClose(gxActual, gxExpected, { rtol: 1e-4, label: `dilated winograd backwardInput ${label}` });
      }),
      { numRuns: 120 },
    );
  });

  it("blocked Winograd (kernels up to 9x9 as 3x3 blocks) matches the reference, forward and input gradient", () => {
    fc.assert(
      fc.property(blocksArb, seed, (spec, sd) => {
        const g = geometryOf(spec);
        const forwardPath = wasmConvPath(g, "forward", { winograd: "always" });
        if (forwardPath === "depthwise-direct") return;
        expect(forwardPath).toBe("winograd-blocks");
        const rng = new Rng(sd);
        const s = sizes(g);
        const x = randArray(s.x, rng);
        const w = randArray(s.w, rng);
        const bias = randArray(g.cOut, rng);
        const gy = randArray(s.y, rng);
        const label = `${JSON.stringify(g)} seed ${sd}`;
        const expected = new Float32Array(s.y);
        const actual = new Float32Array(s.y).fill(Number.NaN);
        conv2dForwardRef(x, w, bias, g, expected);
        winograd.forward(x, w, bias, g, actual);
        expectClose(actual, expected, { rtol: 1e-4, label: `blocked winograd forward ${label}` });
        const fits =
          Math.max(spec.pads[0], spec.pads[2]) < g.kH && Math.max(spec.pads[1], spec.pads[3]) < g.kW;
        expect(wasmConvPath(g, "backwardInput", { winograd: "always" })).toBe(
          fits ? forwardPath : "im2col-gemm",
        );
        const gxExpected = new Float32Array(s.x);
        const gxActual = new Float32Array(s.x).fill(Number.NaN);
        conv2dBackwardInputRef(gy, w, g, gxExpected);
        winograd.backwardInput(gy, w, g, gxActual);
        expectClose(gxActual, gxExpected, { rtol: 1e-4, label: `blocked winograd backwardInput ${label}` });
      }),
      { numRuns: 120 },
    );
  });

  it("auto picks blocked Winograd for wide 5x5 convs on large enough maps (64 -> 64, padding 2)", () => {
    const g = conv2dGeometry([4, 64, 24, 24], [64, 64, 5, 5], { padding: 2 });
    expect(wasmConvPath(g)).toBe("winograd-blocks");
    expect(wasmConvPath(g, "backwardInput")).toBe("winograd-blocks");
    checkAll(makeWasmConv2d(mod), g, 12);
  });

  it("auto picks dilated Winograd for wide dilated 3x3 convs (64 -> 64, dilation 2, padding 2)", () => {
    const g = conv2dGeometry([3, 64, 15, 18], [64, 64, 3, 3], { padding: 2, dilation: 2 });
    expect(wasmConvPath(g)).toBe("winograd-dilated");
    expect(wasmConvPath(g, "backwardInput")).toBe("winograd-dilated");
    checkAll(makeWasmConv2d(mod), g, 11);
  });

  it("auto keeps im2col + GEMM where Winograd's per-call costs outweigh its savings (few tiles, small maps)", () => {
    const at = (input: number[], k: number) =>
      wasmConvPath(conv2dGeometry(input, [64, 64, k, k], { padding: (k - 1) / 2 }));
    // 3x3: 7x7 maps at batch 8 are 32 tiles, 14x14 at batch 1 are 16; 14x14 at batch 8 and 28x28 at batch 1 pass.
    expect(at([8, 64, 7, 7], 3)).toBe("im2col-gemm");
    expect(at([1, 64, 14, 14], 3)).toBe("im2col-gemm");
    expect(at([8, 64, 14, 14], 3)).toBe("winograd-f4x4");
    expect(at([1, 64, 28, 28], 3)).toBe("winograd-f4x4");
    // 5x5 and 7x7 as 3x3 blocks: never below 24 pixels a side, and 128 tiles at least.
    expect(at([64, 64, 14, 14], 5)).toBe("im2col-gemm");
    expect(at([1, 64, 28, 28], 7)).toBe("im2col-gemm");
    expect(at([1, 64, 56, 56], 5)).toBe("winograd-blocks");
    expect(at([8, 64, 28, 28], 7)).toBe("winograd-blocks");
    // The study's baseline at batch 64: every 5x5 layer (14x14, 7x7) stays on im2col.
    expect(at([64, 64, 7, 7], 5)).toBe("im2col-gemm");
  });

  it("auto takes 3x3 Winograd from 8 channels per group; blocks and dilated ones from 32", () => {
    const path = (input: number[], weight: number[], opts: Parameters<typeof conv2dGeometry>[2]) =>
      wasmConvPath(conv2dGeometry(input, weight, opts));
    // The benchmark's grouped shape: 128 channels in 8 groups of 16.
    const grouped = conv2dGeometry([1, 128, 28, 28], [128, 16, 3, 3], { padding: 1, groups: 8 });
    expect(wasmConvPath(grouped)).toBe("winograd-f4x4");
    expect(wasmConvPath(grouped, "backwardInput")).toBe("winograd-f4x4");
    checkAll(makeWasmConv2d(mod), grouped, 13);
    expect(path([1, 8, 28, 28], [8, 8, 3, 3], { padding: 1 })).toBe("winograd-f4x4");
    expect(path([1, 8, 28, 28], [4, 8, 3, 3], { padding: 1 })).toBe("im2col-gemm"); // 4 outputs
    expect(path([1, 1, 28, 28], [32, 1, 3, 3], { padding: 1 })).toBe("im2col-gemm"); // 1 input channel
    expect(path([8, 16, 56, 56], [16, 16, 5, 5], { padding: 2 })).toBe("im2col-gemm");
    expect(path([8, 16, 56, 56], [16, 16, 3, 3], { padding: 2, dilation: 2 })).toBe("im2col-gemm");
  });

  it("Winograd handles wide channels as auto selects it (64 -> 64, 3x3 padding 1)", () => {
    const g = conv2dGeometry([2, 64, 19, 22], [64, 64, 3, 3], { padding: 1 });
    expect(wasmConvPath(g)).toBe("winograd-f4x4");
    expect(wasmConvPath(g, "backwardInput")).toBe("winograd-f4x4");
    expect(wasmConvPath(g, "backwardWeight")).toBe("winograd-f4x4");
    checkAll(makeWasmConv2d(mod), g, 9);
  });

  it("handles the benchmark-like shapes with large tiles (3x3 64ch, 7x7 stride-2 stem, depthwise 3x3)", () => {
    const shapes: [number[], number[], Parameters<typeof conv2dGeometry>[2]][] = [
      [[1, 16, 20, 21], [24, 16, 3, 3], { padding: 1 }],
      [[1, 3, 30, 31], [8, 3, 7, 7], { stride: 2, padding: 3 }],
      [[2, 12, 13, 14], [12, 1, 3, 3], { padding: 1, groups: 12 }],
      [[1, 16, 9, 9], [16, 2, 3, 3], { padding: 2, dilation: 2, groups: 8 }],
    ];
    for (const [xs, ws, opts] of shapes) checkAll(kernels, conv2dGeometry(xs, ws, opts), 5);
  });

  it("never computes on what earlier calls left in memory (Winograd panel tails, weight-gradient quads)", () => {
    // Results never depended on it, but a stale subnormal costs a microcode assist per multiply on some
    // CPUs: a 128-channel 7x7 Winograd conv in a training run measured 35x slower. Memory left at +Infinity
    // shows it: Infinity times weights of both signs sums to NaN, so a NaN anywhere in the kernels' memory
    // after a call means stale values were multiplied.
    const rng = new Rng(17);
    const shapes: [number[], number[], Parameters<typeof conv2dGeometry>[2]][] = [
      [[2, 16, 7, 7], [16, 16, 3, 3], { padding: 1 }],
      [[1, 8, 8, 8], [14, 8, 3, 3], { padding: 1 }],
      [[1, 8, 6, 9], [8, 8, 3, 3], { padding: 1 }],
      [[3, 8, 28, 28], [8, 8, 3, 3], { padding: 1 }],
      [[2, 8, 9, 11], [12, 8, 3, 3], { padding: [0, 1, 2, 0] }],
      [[1, 6, 13, 10], [10, 6, 3, 3], { stride: 2, padding: 1 }],
      [[2, 6, 11, 12], [8, 6, 5, 5], { padding: 2 }],
      [[2, 9, 7, 5], [7, 9, 1, 1], {}],
      [[2, 12, 9, 13], [12, 1, 3, 3], { padding: 1, groups: 12 }],
      [[1, 8, 12, 16], [16, 1, 3, 3], { padding: 1, groups: 8 }],
      [[2, 16, 10, 7], [24, 2, 3, 3], { padding: 1, groups: 8 }],
      [[1, 8, 9, 9], [8, 8, 3, 3], { padding: 2, dilation: 2 }],
    ];
    for (const [xs, ws, opts] of shapes) {
      const g = conv2dGeometry(xs, ws, opts);
      const x = randArray(g.n * g.cIn * g.hIn * g.wIn, rng);
      const w = randArray(g.cOut * g.cIn * g.kH * g.kW, rng);
      const gy = randArray(g.n * g.cOut * g.hOut * g.wOut, rng);
      const calls: [string, Float32Array, (k: typeof winograd) => void][] = [];
      const y = new Float32Array(gy.length);
      const gx = new Float32Array(x.length);
      const gw = new Float32Array(w.length);
      calls.push(["forward", y, (k) => k.forward(x, w, null, g, y)]);
      calls.push(["backwardInput", gx, (k) => k.backwardInput(gy, w, g, gx)]);
      calls.push(["backwardWeight", gw, (k) => k.backwardWeight(x, gy, g, gw)]);
      for (const k of [kernels, winograd]) {
        for (const [what, out, call] of calls) {
          const where = `${what} ${wasmConvPath(g, what as "forward", { winograd: k === winograd ? "always" : "never" })} x ${xs} w ${ws}`;
          call(k);
          const clean = out.slice();
          const stale = new Float32Array(mod.memory.buffer, mod.gemmWs);
          stale.fill(Number.POSITIVE_INFINITY);
          call(k);
          expect(
            Object.is(
              out.findIndex((v, i) => !Object.is(v, clean[i])),
              -1,
            ),
            where,
          ).toBe(true);
          const after = new Float32Array(mod.memory.buffer, mod.gemmWs);
          expect(
            after.findIndex((v) => Number.isNaN(v)),
            where,
          ).toBe(-1);
        }
      }
    }
  });

  it("an empty batch gives an empty output and a zero weight gradient", () => {
    const g = conv2dGeometry([0, 4, 5, 5], [6, 4, 3, 3], { padding: 1 });
    const gw = new Float32Array(6 * 4 * 9).fill(Number.NaN);
    kernels.forward(new Float32Array(0), new Float32Array(6 * 4 * 9), null, g, new Float32Array(0));
    kernels.backwardWeight(new Float32Array(0), new Float32Array(0), g, gw);
    expect(Array.from(gw).every((v) => v === 0)).toBe(true);
    // The same through the Winograd weight gradient (8 input channels: split by channel).
    const gWide = conv2dGeometry([0, 8, 5, 5], [6, 8, 3, 3], { padding: 1 });
    expect(wasmConvPath(gWide, "backwardWeight", { winograd: "always" })).toBe("winograd-f4x4");
    const gwWide = new Float32Array(6 * 8 * 9).fill(Number.NaN);
    winograd.backwardWeight(new Float32Array(0), new Float32Array(0), gWide, gwWide);
    expect(Array.from(gwWide).every((v) => v === 0)).toBe(true);
  });
});

describe("conv2d seam", () => {
  it("useWasmKernelsSync installs the wasm conv kernels and useReferenceKernels restores the reference", () => {
    useWasmKernelsSync({ variant: "simd" });
    expect(conv2dKernels.forward).not.toBe(conv2dForwardRef);
    const g = conv2dGeometry([1, 3, 6, 6], [4, 3, 3, 3], { padding: 1 });
    const rng = new Rng(1);
    const x = randArray(108, rng);
    const w = randArray(108, rng);
    const viaSeam = new Float32Array(144);
    const viaRef = new Float32Array(144);
    conv2dKernels.forward(x, w, null, g, viaSeam);
    conv2dForwardRef(x, w, null, g, viaRef);
    expectClose(viaSeam, viaRef, { rtol: 1e-5, label: "seam forward" });
    useReferenceKernels();
    expect(conv2dKernels.forward).toBe(conv2dForwardRef);
    expect(conv2dKernels.backwardInput).toBe(conv2dBackwardInputRef);
    expect(conv2dKernels.backwardWeight).toBe(conv2dBackwardWeightRef);
  });
});
