import fc from "fast-check";
import type { DeformConv2dGeometry, DeformConv2dKernels } from "../../src/kernels/deform.js";
import { deformConv2dBackwardRef, deformConv2dForwardRef } from "../../src/kernels/ref/deform.js";
import { convOutSize } from "../../src/tensor/conv-geometry.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";

/** Random deformable-convolution configurations and their buffers, for the fast paths' property tests. */

/** A random valid configuration: channel counts built so that both group counts divide Cin. */
export const configArb = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    groups: fc.constantFrom(1, 2, 3),
    offsetGroups: fc.constantFrom(1, 2, 4),
    cinMul: fc.integer({ min: 1, max: 2 }),
    // Channels per weight group and per offset group multiples of 4: the forward's channel-last fill.
    channelQuads: fc.boolean(),
    coutPerGroup: fc.integer({ min: 1, max: 3 }),
    kH: fc.integer({ min: 1, max: 3 }),
    kW: fc.integer({ min: 1, max: 3 }),
    strideH: fc.integer({ min: 1, max: 2 }),
    strideW: fc.integer({ min: 1, max: 2 }),
    dilationH: fc.integer({ min: 1, max: 2 }),
    dilationW: fc.integer({ min: 1, max: 2 }),
    padTop: fc.integer({ min: 0, max: 2 }),
    padLeft: fc.integer({ min: 0, max: 2 }),
    padBottom: fc.integer({ min: 0, max: 2 }),
    padRight: fc.integer({ min: 0, max: 2 }),
    hIn: fc.integer({ min: 1, max: 7 }),
    wIn: fc.integer({ min: 1, max: 7 }),
    offsetScale: fc.constantFrom<number>(0, 0.5, 1, 2, 5),
    integerOffsets: fc.boolean(),
    withMask: fc.boolean(),
    withBias: fc.boolean(),
    seed: fc.integer({ min: 0, max: 1_000_000 }),
  })
  .filter(
    (c) =>
      c.hIn + c.padTop + c.padBottom >= c.dilationH * (c.kH - 1) + 1 &&
      c.wIn + c.padLeft + c.padRight >= c.dilationW * (c.kW - 1) + 1,
  );

export type Config = typeof configArb extends fc.Arbitrary<infer T> ? T : never;

export function geometryOf(c: Config): DeformConv2dGeometry {
  const cIn = lcm(c.groups, c.offsetGroups) * c.cinMul * (c.channelQuads ? 4 : 1);
  return {
    n: c.n,
    cIn,
    hIn: c.hIn,
    wIn: c.wIn,
    cOut: c.groups * c.coutPerGroup,
    kH: c.kH,
    kW: c.kW,
    strideH: c.strideH,
    strideW: c.strideW,
    dilationH: c.dilationH,
    dilationW: c.dilationW,
    padTop: c.padTop,
    padLeft: c.padLeft,
    padBottom: c.padBottom,
    padRight: c.padRight,
    groups: c.groups,
    hOut: convOutSize(c.hIn, c.kH, c.strideH, c.dilationH, c.padTop, c.padBottom),
    wOut: convOutSize(c.wIn, c.kW, c.strideW, c.dilationW, c.padLeft, c.padRight),
    offsetGroups: c.offsetGroups,
  };
}

function lcm(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y !== 0) [x, y] = [y, x % y];
  return (a * b) / x;
}

export interface Buffers {
  input: Float32Array;
  offset: Float32Array;
  mask: Float32Array | null;
  weight: Float32Array;
  bias: Float32Array | null;
  gradOut: Float32Array;
}

export function buffersOf(c: Config, g: DeformConv2dGeometry): Buffers {
  const rng = new Rng(c.seed);
  const normal = (len: number, scale = 1): Float32Array =>
    Float32Array.from({ length: len }, () => scale * rng.normal());
  const kk = g.kH * g.kW;
  const hw = g.hOut * g.wOut;
  const offset = normal(g.n * 2 * g.offsetGroups * kk * hw, c.offsetScale);
  // Integer offsets put samples exactly on pixels (and on -1 / H), where the one-sided slopes matter.
  if (c.integerOffsets) for (let i = 0; i < offset.length; i++) offset[i] = Math.round(offset[i]);
  return {
    input: normal(g.n * g.cIn * g.hIn * g.wIn),
    offset,
    mask: c.withMask
      ? Float32Array.from({ length: g.n * g.offsetGroups * kk * hw }, () => rng.uniform())
      : null,
    weight: normal(g.cOut * (g.cIn / g.groups) * kk, 0.5),
    bias: c.withBias ? normal(g.cOut) : null,
    gradOut: normal(g.n * g.cOut * hw),
  };
}

export function gradBuffers(b: Buffers) {
  return {
    input: new Float32Array(b.input.length),
    offset: new Float32Array(b.offset.length),
    mask: b.mask ? new Float32Array(b.mask.length) : null,
    weight: new Float32Array(b.weight.length),
  };
}

export const GRAD_KEYS = ["input", "offset", "mask", "weight"] as const;

/**
 * Runs configuration `c` through `kernels` and the reference loops, forward and backward, and checks every
 * output and gradient within 1e-5 (relative to the RMS); the outputs start as NaN so that a value the kernels
 * fail to write shows. Returns the worst error.
 */
export function compareWithReference(kernels: DeformConv2dKernels, c: Config, label: string): number {
  const g = geometryOf(c);
  const b = buffersOf(c, g);
  const outLen = g.n * g.cOut * g.hOut * g.wOut;
  const outRef = new Float32Array(outLen);
  const out = new Float32Array(outLen).fill(Number.NaN);
  deformConv2dForwardRef(b.input, b.offset, b.mask, b.weight, b.bias, g, outRef);
  kernels.forward(b.input, b.offset, b.mask, b.weight, b.bias, g, out);
  let worst = expectClose(out, outRef, { rtol: 1e-5, label: `${label} forward` });
  const ref = gradBuffers(b);
  const fast = gradBuffers(b);
  for (const key of GRAD_KEYS) fast[key]?.fill(Number.NaN);
  deformConv2dBackwardRef(b.input, b.offset, b.mask, b.weight, b.gradOut, g, ref);
  kernels.backward(b.input, b.offset, b.mask, b.weight, b.gradOut, g, fast);
  for (const key of GRAD_KEYS) {
    const r = ref[key];
    const f = fast[key];
    if (r === null || f === null) continue;
    worst = Math.max(worst, expectClose(f, r, { rtol: 1e-5, label: `${label} grad ${key}` }));
  }
  return worst;
}
