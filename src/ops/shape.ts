/**
 * Shape ops: reshape, flatten, transpose, permute, concat (torch.cat), split, narrow.
 * Every output is a contiguous copy with its own autograd record (convkit tensors are always
 * contiguous, so there are no views to alias).
 */
import { record } from "../autograd/record.js";
import { Tensor } from "../autograd/tensor.js";
import { ArgumentError, describe, ShapeError } from "../tensor/errors.js";
import { formatShape, normAxis, numel, type Shape, stridesOf } from "../tensor/shape.js";

function checkTensor(x: unknown, op: string, argument = "x"): Tensor {
  if (!(x instanceof Tensor)) throw new ArgumentError(describe(op, argument, "a Tensor", x));
  return x;
}

/** Like normAxis, but a 0-d tensor accepts dim 0 and -1 as PyTorch does (it wraps as if rank 1). */
function normDim(dim: number, rank: number, op: string, argument: string): number {
  return normAxis(dim, Math.max(rank, 1), op, argument);
}

/**
 * The shape `shape` means for `count` elements: at most one -1, inferred from the others
 * (torch's infer_size). Exported for ops that take a target shape.
 */
export function inferShape(shape: readonly number[], count: number, op: string): number[] {
  if (!Array.isArray(shape)) throw new ArgumentError(describe(op, "shape", "an array of integers", shape));
  let inferAt = -1;
  let known = 1;
  shape.forEach((d, i) => {
    if (d === -1) {
      if (inferAt >= 0) throw new ArgumentError(describe(op, "shape", "at most one -1", shape));
      inferAt = i;
    } else if (!Number.isSafeInteger(d) || d < 0) {
      throw new ArgumentError(describe(op, "shape", "non-negative integers and at most one -1", shape));
    } else known *= d;
  });
  const out = [...shape];
  if (inferAt >= 0) {
    if (known === 0) {
      throw new ShapeError(
        `${op}: cannot infer the -1 in shape ${formatShape(shape)} for ${count} elements: the other dimensions multiply to 0, so it is ambiguous`,
      );
    }
    if (count % known !== 0) {
      throw new ShapeError(
        `${op}: shape ${formatShape(shape)} is invalid for input of size ${count} (${count} is not a multiple of ${known})`,
      );
    }
    out[inferAt] = count / known;
  } else if (known !== count) {
    throw new ShapeError(`${op}: shape ${formatShape(shape)} is invalid for input of size ${count}`);
  }
  return out;
}

/** The same elements in a new shape (torch.reshape); one dimension may be -1. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor(x, "reshape");
  const out = inferShape(shape, x.numel, "reshape");
  return record("reshape", Float32Array.from(x.data), out, [x], (g) => [g]);
}

/**
 * Merges dimensions startDim..endDim into one (torch.flatten). The defaults are torch.flatten's
 * (startDim 0, endDim -1: everything into one axis); nn.Flatten's head-of-network behaviour is
 * `flatten(x, 1)`. A 0-d tensor becomes shape [1], as in PyTorch.
 */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  checkTensor(x, "flatten");
  const rank = x.ndim;
  const s = normDim(startDim, rank, "flatten", "startDim");
  const e = normDim(endDim, rank, "flatten", "endDim");
  if (s > e) {
    throw new ArgumentError(
      describe("flatten", "startDim", `a dimension not after endDim (${endDim})`, startDim),
    );
  }
  const shape =
    rank === 0 ? [1] : [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  return record("flatten", Float32Array.from(x.data), shape, [x], (g) => [g]);
}

/** Copies `data` of `shape` into the layout whose axis k is input axis dims[k]. */
function permuteData(data: Float32Array, shape: Shape, dims: readonly number[]): Float32Array {
  const rank = shape.length;
  const out = new Float32Array(data.length);
  if (rank === 0 || data.length === 0) {
    out.set(data);
    return out;
  }
  const inStrides = stridesOf(shape);
  const outShape = dims.map((d) => shape[d]);
  const strides = dims.map((d) => inStrides[d]);
  const last = rank - 1;
  const inner = outShape[last];
  const innerStride = strides[last];
  const counter = new Array<number>(rank).fill(0);
  let base = 0;
  for (let o = 0; o < out.length; o += inner) {
    for (let j = 0, src = base; j < inner; j++, src += innerStride) out[o + j] = data[src];
    for (let axis = last - 1; axis >= 0; axis--) {
      counter[axis]++;
      base += strides[axis];
      if (counter[axis] < outShape[axis]) break;
      base -= strides[axis] * counter[axis];
      counter[axis] = 0;
    }
  }
  return out;
}

/** Reorders the dimensions (torch.permute): output axis k is input axis dims[k]. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  checkTensor(x, "permute");
  const rank = x.ndim;
  if (!Array.isArray(dims) || dims.length !== rank) {
    throw new ArgumentError(describe("permute", "dims", `a permutation of ${rank} dimensions`, dims));
  }
  const norm = dims.map((d) => normDim(d, rank, "permute", "dims"));
  if (new Set(norm).size !== rank) {
    throw new ArgumentError(describe("permute", "dims", "each dimension exactly once", dims));
  }
  return permuteNormed("permute", x, norm);
}

function permuteNormed(name: string, x: Tensor, dims: number[]): Tensor {
  const shape = dims.map((d) => x.shape[d]);
  const inverse = new Array<number>(dims.length);
  dims.forEach((d, k) => {
    inverse[d] = k;
  });
  return record(name, permuteData(x.data, x.shape, dims), shape, [x], (g) => [
    permuteData(g, shape, inverse),
  ]);
}

/** Swaps two dimensions (torch.transpose). */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  checkTensor(x, "transpose");
  const rank = x.ndim;
  const a = normDim(dim0, rank, "transpose", "dim0");
  const b = normDim(dim1, rank, "transpose", "dim1");
  const dims = Array.from({ length: rank }, (_, i) => i);
  if (rank > 0) {
    dims[a] = b;
    dims[b] = a;
  }
  return permuteNormed("transpose", x, dims);
}

/**
 * Copies block [start, start + length) of axis `axis` of `src` into `dst` at offset `dstStart` of
 * an axis of size `dstSize` (everything else equal). outer/inner are the products of the sizes
 * before and after the axis.
 */
function copyBlock(
  src: Float32Array,
  srcSize: number,
  start: number,
  length: number,
  dst: Float32Array,
  dstSize: number,
  dstStart: number,
  outer: number,
  inner: number,
): void {
  const run = length * inner;
  for (let o = 0; o < outer; o++) {
    const from = (o * srcSize + start) * inner;
    dst.set(src.subarray(from, from + run), (o * dstSize + dstStart) * inner);
  }
}

/**
 * Joins tensors along an existing axis (torch.cat). All must have the same rank and equal sizes
 * except along `axis`. Like PyTorch 1.13, 1-d empty tensors (shape [0]) are skipped whatever the
 * other tensors' rank (its legacy rule).
 */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(xs as unknown) || xs.length === 0) {
    throw new ArgumentError(describe("concat", "xs", "a non-empty array of tensors", xs));
  }
  xs.forEach((x, i) => {
    checkTensor(x, "concat", `xs[${i}]`);
  });
  const used = xs.filter((x) => !(x.ndim === 1 && x.shape[0] === 0));
  if (used.length === 0) return record("concat", new Float32Array(0), [0], xs, (g) => xs.map(() => g));
  const ref = used[0];
  if (ref.ndim === 0) throw new ShapeError("concat: zero-dimensional tensors cannot be concatenated");
  const a = normAxis(axis, ref.ndim, "concat", "axis");
  let total = 0;
  for (const x of used) {
    const i = xs.indexOf(x);
    if (x.ndim !== ref.ndim || x.shape.some((d, k) => k !== a && d !== ref.shape[k])) {
      throw new ShapeError(
        `concat: xs[${i}] has shape ${formatShape(x.shape)}, expected ${ref.ndim} dimensions matching ${formatShape(ref.shape)} except along axis ${a}`,
      );
    }
    total += x.shape[a];
  }
  const shape = [...ref.shape];
  shape[a] = total;
  const outer = numel(ref.shape.slice(0, a));
  const inner = numel(ref.shape.slice(a + 1));
  const out = new Float32Array(numel(shape));
  let at = 0;
  const starts = xs.map((x) => {
    if (!used.includes(x)) return -1;
    copyBlock(x.data, x.shape[a], 0, x.shape[a], out, total, at, outer, inner);
    at += x.shape[a];
    return at - x.shape[a];
  });
  return record("concat", out, shape, xs, (g, needs) =>
    xs.map((x, i) => {
      if (!needs[i]) return null;
      if (starts[i] < 0) return new Float32Array(0);
      const gx = new Float32Array(x.numel);
      copyBlock(g, total, starts[i], x.shape[a], gx, x.shape[a], 0, outer, inner);
      return gx;
    }),
  );
}

/** `length` elements of axis `dim` starting at `start` (torch.narrow), as a contiguous copy. */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  return narrowAs("narrow", x, dim, start, length);
}

function narrowAs(name: string, x: Tensor, dim: number, start: number, length: number): Tensor {
  checkTensor(x, "narrow");
  if (x.ndim === 0) throw new ShapeError("narrow: cannot be applied to a 0-dimensional tensor");
  const a = normAxis(dim, x.ndim, "narrow", "dim");
  const size = x.shape[a];
  if (!Number.isSafeInteger(start) || start < -size || start > size) {
    throw new ArgumentError(describe("narrow", "start", `an integer in [${-size}, ${size}]`, start));
  }
  const s = start < 0 ? start + size : start;
  if (!Number.isSafeInteger(length) || length < 0 || s + length > size) {
    throw new ArgumentError(describe("narrow", "length", `an integer in [0, ${size - s}]`, length));
  }
  const outer = numel(x.shape.slice(0, a));
  const inner = numel(x.shape.slice(a + 1));
  const shape = [...x.shape];
  shape[a] = length;
  const out = new Float32Array(numel(shape));
  copyBlock(x.data, size, s, length, out, length, 0, outer, inner);
  return record(name, out, shape, [x], (g) => {
    const gx = new Float32Array(x.numel);
    copyBlock(g, length, 0, length, gx, size, s, outer, inner);
    return [gx];
  });
}

/**
 * Splits along `axis` (torch.split). A number is a chunk size: chunks of that size and a smaller
 * last one (0 is allowed only for an empty axis). An array gives every size and must sum to the
 * axis size. Each output has its own record, so unused pieces cost nothing in backward.
 */
export function split(x: Tensor, splitSizeOrSections: number | readonly number[], axis = 0): Tensor[] {
  checkTensor(x, "split");
  if (x.ndim === 0) throw new ShapeError("split: cannot be applied to a 0-dimensional tensor");
  const a = normAxis(axis, x.ndim, "split", "axis");
  const size = x.shape[a];
  let sizes: number[];
  if (typeof splitSizeOrSections === "number") {
    const chunk = splitSizeOrSections;
    if (!Number.isSafeInteger(chunk) || chunk < 0) {
      throw new ArgumentError(describe("split", "splitSizeOrSections", "a non-negative integer", chunk));
    }
    if (chunk === 0 && size !== 0) {
      throw new ArgumentError(
        describe(
          "split",
          "splitSizeOrSections",
          `a positive chunk size (0 only for an empty axis; axis ${a} has ${size})`,
          0,
        ),
      );
    }
    const count = chunk === 0 ? 1 : Math.max(1, Math.ceil(size / chunk));
    sizes = Array.from({ length: count }, (_, i) => Math.min(chunk, size - i * chunk));
  } else if (Array.isArray(splitSizeOrSections)) {
    sizes = [...splitSizeOrSections];
    if (sizes.some((s) => !Number.isSafeInteger(s) || s < 0)) {
      throw new ArgumentError(describe("split", "splitSizeOrSections", "non-negative integer sizes", sizes));
    }
    const sum = sizes.reduce((p, q) => p + q, 0);
    if (sum !== size) {
      throw new ShapeError(
        describe(
          "split",
          "splitSizeOrSections",
          `sizes summing to ${size} (axis ${a} of ${formatShape(x.shape)})`,
          sizes,
        ),
      );
    }
  } else {
    throw new ArgumentError(
      describe("split", "splitSizeOrSections", "a number or an array of sizes", splitSizeOrSections),
    );
  }
  let start = 0;
  return sizes.map((len) => {
    const piece = narrowAs("split", x, a, start, len);
    start += len;
    return piece;
  });
}
