/**
 * Broadcasting helpers shared by the element-wise ops and the reductions: where each output
 * element reads its operand from, and how a gradient is summed back to the operand's shape.
 *
 * Shapes align from the right and a size-1 (or missing) dimension is repeated, as in NumPy and
 * PyTorch; `broadcastShapes` in src/tensor/shape.ts decides the output shape and names both shapes
 * when they do not broadcast.
 */
import { ShapeError } from "../tensor/errors.js";
import { formatShape, numel, type Shape, sameShape, stridesOf } from "../tensor/shape.js";

/**
 * For every flat (row-major) index of `outShape`, the flat index of the element of `inShape` that
 * broadcasting reads there. Returns null when the shapes are equal (the map is the identity), so
 * that callers can take a plain loop. Throws when `inShape` does not broadcast to `outShape`.
 */
export function broadcastIndex(outShape: Shape, inShape: Shape): Int32Array | null {
  if (sameShape(outShape, inShape)) return null;
  const rank = outShape.length;
  if (inShape.length > rank) throw notBroadcastable(inShape, outShape);
  // Stride of the input along each output axis; 0 where the input is broadcast (size 1 or absent).
  const inStrides = stridesOf(inShape);
  const strides = new Array<number>(rank).fill(0);
  for (let i = 0; i < inShape.length; i++) {
    const axis = rank - inShape.length + i;
    if (inShape[i] === outShape[axis]) strides[axis] = inShape[i] === 1 ? 0 : inStrides[i];
    else if (inShape[i] !== 1) throw notBroadcastable(inShape, outShape);
  }
  const n = numel(outShape);
  const map = new Int32Array(n);
  if (n === 0) return map;
  if (rank === 0) return map; // a scalar output reads element 0
  // Odometer over the output index; the innermost axis runs as a tight loop.
  const last = rank - 1;
  const inner = outShape[last];
  const innerStride = strides[last];
  const counter = new Array<number>(rank).fill(0);
  let base = 0;
  for (let o = 0; o < n; o += inner) {
    for (let j = 0, src = base; j < inner; j++, src += innerStride) map[o + j] = src;
    // Advance the outer axes (all but the last).
    for (let axis = last - 1; axis >= 0; axis--) {
      counter[axis]++;
      base += strides[axis];
      if (counter[axis] < outShape[axis]) break;
      base -= strides[axis] * counter[axis];
      counter[axis] = 0;
    }
  }
  return map;
}

/**
 * How operands are read while the output is walked in row-major order, in `rows` runs of `inner` elements:
 * along a run operand k moves by `steps[k]` (1: it is read contiguously, 0: one value is repeated), and run r
 * starts at element `starts[k][r]`. Trailing axes along which every operand is either contiguous or
 * repeated are merged into the run (so [N, C, H, W] * [N, C, 1, 1] walks N*C runs of H*W), which lets the
 * element-wise loops run without a per-element index map.
 */
export interface BroadcastWalk {
  rows: number;
  inner: number;
  steps: number[];
  starts: Int32Array[];
}

/** Stride of `inShape` along each axis of `outShape` (0 where broadcast); throws when it does not broadcast. */
function broadcastStrides(outShape: Shape, inShape: Shape): number[] {
  const rank = outShape.length;
  if (inShape.length > rank) throw notBroadcastable(inShape, outShape);
  const inStrides = stridesOf(inShape);
  const strides = new Array<number>(rank).fill(0);
  for (let i = 0; i < inShape.length; i++) {
    const axis = rank - inShape.length + i;
    if (inShape[i] === outShape[axis]) strides[axis] = inShape[i] === 1 ? 0 : inStrides[i];
    else if (inShape[i] !== 1) throw notBroadcastable(inShape, outShape);
  }
  return strides;
}

/** The walk of `outShape` for operands of the given shapes (each must broadcast to it). */
export function broadcastWalk(outShape: Shape, inShapes: readonly Shape[]): BroadcastWalk {
  const rank = outShape.length;
  const strides = inShapes.map((s) => broadcastStrides(outShape, s));
  const n = numel(outShape);
  if (rank === 0 || n === 0) {
    return {
      rows: n === 0 ? 0 : 1,
      inner: n === 0 ? 0 : 1,
      steps: inShapes.map(() => 0),
      starts: inShapes.map(() => new Int32Array(n === 0 ? 0 : 1)),
    };
  }
  // The run: the last axis, then each axis to its left while every operand keeps its pattern (stride 0, or
  // the run's length so far). -1: not known yet (only size-1 axes so far, where any operand fits).
  const last = rank - 1;
  const steps = strides.map((st) => (outShape[last] === 1 ? -1 : st[last]));
  let inner = outShape[last];
  let first = last; // first axis of the run
  while (first > 0) {
    const d = first - 1;
    const size = outShape[d];
    if (size !== 1) {
      let fits = true;
      for (let k = 0; k < strides.length && fits; k++) {
        if (steps[k] !== -1 && strides[k][d] !== steps[k] * inner) fits = false;
      }
      if (!fits) break;
      // With the pattern still unknown the run is all size-1 axes, so the stride here is 0 or 1.
      for (let k = 0; k < strides.length; k++) if (steps[k] === -1) steps[k] = strides[k][d] === 0 ? 0 : 1;
    }
    inner *= size;
    first = d;
  }
  for (let k = 0; k < steps.length; k++) if (steps[k] === -1) steps[k] = 0;
  const rows = n / inner;
  const starts = strides.map(() => new Int32Array(rows));
  // Odometer over the axes left of the run.
  const counter = new Array<number>(first).fill(0);
  const base = strides.map(() => 0);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < strides.length; k++) starts[k][r] = base[k];
    for (let axis = first - 1; axis >= 0; axis--) {
      counter[axis]++;
      for (let k = 0; k < strides.length; k++) base[k] += strides[k][axis];
      if (counter[axis] < outShape[axis]) break;
      for (let k = 0; k < strides.length; k++) base[k] -= strides[k][axis] * counter[axis];
      counter[axis] = 0;
    }
  }
  return { rows, inner, steps, starts };
}

/**
 * Sums a gradient of shape `outShape` back to `inShape`, over the axes that broadcasting repeated
 * (the adjoint of broadcasting). Accumulates in float64, in the order of the output elements, then
 * rounds once to float32. Returns `grad` itself when the shapes are equal.
 */
export function reduceToShape(grad: Float32Array, outShape: Shape, inShape: Shape): Float32Array {
  if (sameShape(outShape, inShape)) return grad;
  const w = broadcastWalk(outShape, [inShape]);
  const acc = new Float64Array(numel(inShape));
  const step = w.steps[0];
  const starts = w.starts[0];
  const inner = w.inner;
  for (let r = 0, o = 0; r < w.rows; r++) {
    for (let j = 0, t = starts[r]; j < inner; j++, o++, t += step) acc[t] += grad[o];
  }
  return Float32Array.from(acc);
}

/** Repeats `data` (of `inShape`) to `outShape` as broadcasting does; a fresh contiguous array. */
export function expandData(data: Float32Array, inShape: Shape, outShape: Shape): Float32Array {
  if (sameShape(outShape, inShape)) return data.slice();
  const w = broadcastWalk(outShape, [inShape]);
  const out = new Float32Array(numel(outShape));
  const step = w.steps[0];
  const starts = w.starts[0];
  for (let r = 0, o = 0; r < w.rows; r++) {
    for (let j = 0, t = starts[r]; j < w.inner; j++, o++, t += step) out[o] = data[t];
  }
  return out;
}

function notBroadcastable(inShape: Shape, outShape: Shape): ShapeError {
  return new ShapeError(
    `broadcast: shape ${formatShape(inShape)} does not broadcast to ${formatShape(outShape)}`,
  );
}
