import type { Pads, Pair } from "../graph/types.js";
import { type Padding2d, resolvePadding } from "../tensor/conv-geometry.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { checkPositiveInt, pair } from "../tensor/shape.js";

/**
 * The geometry behind the kernel drawings: which input cells a convolution window samples, and which cells a
 * stack of convolutions reaches (with how many paths). Kept apart from the SVG code so tests can check the
 * drawings against it and it against the ops.
 */

/** A 2-d convolution's window geometry, resolved (what a graph's conv2d node carries). */
export interface WindowGeometry {
  kernelSize: Pair;
  stride: Pair;
  dilation: Pair;
  /** `[top, left, bottom, right]`. */
  padding: Pads;
}

/** What the drawing functions accept: PyTorch's spellings, numbers or pairs, any padding form. */
export interface WindowSpec {
  kernelSize: number | readonly [number, number];
  stride?: number | readonly [number, number];
  /** number, [h, w], [top, left, bottom, right], 'same' (stride 1) or 'valid'. */
  padding?: Padding2d;
  dilation?: number | readonly [number, number];
}

/** Resolves a window spec like nn.Conv2d does. */
export function resolveWindow(spec: WindowSpec, op: string): WindowGeometry {
  if (typeof spec !== "object" || spec === null) {
    throw new ArgumentError(
      describe(op, "spec", "an object { kernelSize, stride?, padding?, dilation? }", spec),
    );
  }
  const kernelSize = pair(spec.kernelSize, 1, op, "kernelSize", checkPositiveInt) as Pair;
  const stride = pair(spec.stride, 1, op, "stride", checkPositiveInt) as Pair;
  const dilation = pair(spec.dilation, 1, op, "dilation", checkPositiveInt) as Pair;
  const padding = resolvePadding(
    spec.padding,
    kernelSize[0],
    kernelSize[1],
    dilation[0],
    dilation[1],
    stride[0],
    stride[1],
    op,
  );
  return { kernelSize, stride, dilation, padding };
}

/** One sampled cell of a window: tap (i, j) of the kernel reads input cell (row, col) (negative = padding). */
export interface Tap {
  i: number;
  j: number;
  row: number;
  col: number;
}

/** The taps of output cell (oh, ow): row = oh*strideH - padTop + i*dilationH, likewise for columns. */
export function windowTaps(g: WindowGeometry, oh: number, ow: number): Tap[] {
  const taps: Tap[] = [];
  for (let i = 0; i < g.kernelSize[0]; i++) {
    for (let j = 0; j < g.kernelSize[1]; j++) {
      taps.push({
        i,
        j,
        row: oh * g.stride[0] - g.padding[0] + i * g.dilation[0],
        col: ow * g.stride[1] - g.padding[1] + j * g.dilation[1],
      });
    }
  }
  return taps;
}

/** Output size of one axis (PyTorch's formula). */
export function outSize(
  size: number,
  k: number,
  s: number,
  d: number,
  before: number,
  after: number,
): number {
  return Math.floor((size + before + after - d * (k - 1) - 1) / s) + 1;
}

/** One layer of a 1-d stack: kernel size, stride, dilation. */
export interface Layer1d {
  k: number;
  s: number;
  d: number;
}

/**
 * The cells each level of a 1-d stack of convolutions contributes to one unit of the top level. Levels are
 * listed from the top (index 0: the unit itself, at position 0) down to the input (index = number of layers).
 * Positions are window-start coordinates of that level relative to the unit's field; `paths` counts how many
 * chains of taps lead from the unit to the cell (the number the effective receptive field is built from).
 * `edges[l]` joins level l to level l + 1: [position at level l, position at level l + 1].
 */
export interface StackField {
  levels: Map<number, number>[];
  edges: [number, number][][];
  /** Theoretical receptive field: 1 + sum over layers of (k - 1)·d·(product of the strides below). */
  size: number;
}

/** Traces a stack of layers, given bottom (first applied) to top. */
export function stackField(layers: readonly Layer1d[]): StackField {
  const top = [...layers].reverse();
  const levels: Map<number, number>[] = [new Map([[0, 1]])];
  const edges: [number, number][][] = [];
  for (const layer of top) {
    const above = levels[levels.length - 1];
    const below = new Map<number, number>();
    const e: [number, number][] = [];
    for (const [p, count] of [...above.entries()].sort((a, b) => a[0] - b[0])) {
      for (let i = 0; i < layer.k; i++) {
        const q = p * layer.s + i * layer.d;
        below.set(q, (below.get(q) ?? 0) + count);
        e.push([p, q]);
      }
    }
    levels.push(new Map([...below.entries()].sort((a, b) => a[0] - b[0])));
    edges.push(e);
  }
  let size = 1;
  let jump = 1;
  for (const layer of layers) {
    size += (layer.k - 1) * layer.d * jump;
    jump *= layer.s;
  }
  return { levels, edges, size };
}

/**
 * The 2-d footprint of stride-1 convolutions applied one after the other (for the asymmetric 1xk then kx1
 * pair): the set of (dy, dx) offsets from the top unit's window start, with path counts.
 */
export function composeFootprint(kernels: readonly Pair[]): Map<string, number> {
  let cells = new Map<string, number>([["0,0", 1]]);
  for (const [kh, kw] of [...kernels].reverse()) {
    const next = new Map<string, number>();
    for (const [key, count] of cells) {
      const [y, x] = key.split(",").map(Number);
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const k = `${y + i},${x + j}`;
          next.set(k, (next.get(k) ?? 0) + count);
        }
      }
    }
    cells = next;
  }
  return cells;
}
