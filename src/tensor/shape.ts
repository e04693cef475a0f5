import { ArgumentError, describe, ShapeError, verbatim } from "./errors.js";

export type Shape = readonly number[];

/** Number of elements of a shape (1 for a scalar shape `[]`). */
export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a contiguous tensor. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Throws unless every dimension is a non-negative safe integer. */
export function checkShape(shape: unknown, op: string, argument = "shape"): number[] {
  if (!Array.isArray(shape)) throw new ShapeError(describe(op, argument, "an array of integers", shape));
  for (const d of shape) {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) {
      throw new ShapeError(describe(op, argument, "non-negative integer dimensions", shape));
    }
  }
  return [...shape] as number[];
}

/** Throws unless `shape` has exactly `rank` dimensions; `what` names them, e.g. "[N, C, H, W]". */
export function checkRank(shape: Shape, rank: number, op: string, argument: string, what?: string): void {
  if (shape.length !== rank) {
    throw new ShapeError(
      describe(
        op,
        argument,
        `a ${rank}-d tensor${what ? ` ${what}` : ""}`,
        verbatim(`shape ${formatShape(shape)}`),
      ),
    );
  }
}

/** Normalises a possibly negative axis into [0, rank). */
export function normAxis(axis: number, rank: number, op: string, argument = "axis"): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= Math.max(rank, 1)) {
    throw new ArgumentError(describe(op, argument, `an integer in [${-rank}, ${rank - 1}]`, axis));
  }
  return axis < 0 ? axis + rank : axis;
}

/** NumPy/PyTorch broadcasting of two shapes (aligned from the right). */
export function broadcastShapes(a: Shape, b: Shape, op: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(
        `${op}: shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast (dimension ${i}: ${da} vs ${db})`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Checks a positive integer argument (a size, a stride, a group count). */
export function checkPositiveInt(value: unknown, op: string, argument: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new ArgumentError(describe(op, argument, "a positive integer", value));
  }
  return value;
}

/** Checks a non-negative integer argument (a padding). */
export function checkNonNegativeInt(value: unknown, op: string, argument: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new ArgumentError(describe(op, argument, "a non-negative integer", value));
  }
  return value;
}

/** Expands `n` or `[h, w]` into a pair, checking each with `check`. */
export function pair(
  value: number | readonly number[] | undefined,
  fallback: number,
  op: string,
  argument: string,
  check: (v: unknown, op: string, argument: string) => number,
): [number, number] {
  if (value === undefined) return [fallback, fallback];
  if (typeof value === "number") {
    const v = check(value, op, argument);
    return [v, v];
  }
  if (!Array.isArray(value) || value.length !== 2) {
    throw new ArgumentError(describe(op, argument, "a number or [h, w]", value));
  }
  return [check(value[0], op, argument), check(value[1], op, argument)];
}
