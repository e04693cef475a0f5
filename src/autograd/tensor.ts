import { DataError, describe, ShapeError, verbatim } from "../tensor/errors.js";
import { checkShape, formatShape, numel, type Shape } from "../tensor/shape.js";
import { runBackward } from "./engine.js";

/**
 * The record an op leaves on its output so that backward can reach its inputs.
 * `backward` receives the gradient of the output and returns one gradient per input
 * (null where `needs[i]` is false); the engine drops the closure after use so saved
 * activations are freed, like PyTorch does unless `retainGraph` is asked for.
 */
export interface GradFn {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  backward: ((gradOutput: Float32Array, needs: readonly boolean[]) => (Float32Array | null)[]) | null;
}

export interface BackwardOptions {
  /** Keep the recorded graph so backward can run through it again. */
  retainGraph?: boolean;
}

/**
 * A float32, row-major (NCHW for images), contiguous tensor with reverse-mode autograd.
 * Mirrors `torch.Tensor` where the names overlap: `shape`, `grad`, `requiresGrad`, `backward()`.
 */
export class Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
  /** Accumulated gradient (leaves, and non-leaves after `retainGrad()`), or null before any backward. */
  grad: Tensor | null = null;
  /** The op that produced this tensor, or null for a leaf. */
  gradFn: GradFn | null = null;
  private _requiresGrad: boolean;
  private _retainsGrad = false;

  constructor(data: Float32Array, shape: Shape, requiresGrad = false) {
    if (data.length !== numel(shape)) {
      throw new DataError(
        `Tensor: data length ${data.length} does not match shape ${formatShape(shape)} (${numel(shape)} elements)`,
      );
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this._requiresGrad = requiresGrad;
  }

  get requiresGrad(): boolean {
    return this._requiresGrad;
  }

  set requiresGrad(value: boolean) {
    if (!value && this.gradFn !== null) {
      throw new DataError(
        "Tensor.requiresGrad: only leaf tensors can stop requiring grad; use detach() for a non-leaf",
      );
    }
    this._requiresGrad = value;
  }

  /** True for tensors created by the user rather than by a differentiable op. */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  get ndim(): number {
    return this.shape.length;
  }

  get numel(): number {
    return this.data.length;
  }

  get retainsGrad(): boolean {
    return this._retainsGrad;
  }

  /** Keeps `.grad` on a non-leaf tensor after backward, like `Tensor.retain_grad()`. */
  retainGrad(): this {
    if (!this._requiresGrad) throw new DataError("Tensor.retainGrad: the tensor does not require grad");
    this._retainsGrad = true;
    return this;
  }

  /** Size of one dimension (negative counts from the end). */
  size(dim: number): number {
    const d = dim < 0 ? dim + this.shape.length : dim;
    if (!Number.isInteger(d) || d < 0 || d >= this.shape.length) {
      throw new ShapeError(describe("Tensor.size", "dim", `an axis of ${formatShape(this.shape)}`, dim));
    }
    return this.shape[d];
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.data.length !== 1) {
      throw new ShapeError(
        describe(
          "Tensor.item",
          "tensor",
          "exactly one element",
          verbatim(`shape ${formatShape(this.shape)}`),
        ),
      );
    }
    return this.data[0];
  }

  /** A tensor sharing no history with this one (same data, no gradient tracking). */
  detach(): Tensor {
    return new Tensor(this.data, this.shape, false);
  }

  /** Clears the accumulated gradient (sets it to null, like `optimizer.zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    this.grad = null;
  }

  /**
   * Reverse-mode differentiation from this tensor. A one-element output needs no argument
   * (the seed is 1); otherwise pass the gradient of some scalar with respect to this tensor.
   */
  backward(gradOutput?: Tensor | Float32Array | readonly number[], options: BackwardOptions = {}): void {
    runBackward(this, gradOutput, options);
  }

  toString(): string {
    const head = Array.from(this.data.subarray(0, 8), (v) => v.toPrecision(4)).join(", ");
    const more = this.data.length > 8 ? ", ..." : "";
    return `Tensor(shape=${formatShape(this.shape)}, data=[${head}${more}]${this._requiresGrad ? ", requiresGrad" : ""})`;
  }
}

export interface TensorOptions {
  requiresGrad?: boolean;
}

type Nested = number | readonly Nested[];

/**
 * Creates a tensor, copying the data like `torch.tensor`. `data` may be flat (with `shape`) or nested
 * arrays (shape inferred). Without a shape, flat data becomes 1-d.
 */
export function tensor(
  data: Float32Array | ArrayLike<number> | readonly Nested[] | number,
  shape?: Shape,
  options: TensorOptions = {},
): Tensor {
  let flat: Float32Array;
  let inferred: number[];
  if (typeof data === "number") {
    flat = Float32Array.of(data);
    inferred = [];
  } else if (data instanceof Float32Array || !Array.isArray(data) || !data.some((v) => Array.isArray(v))) {
    flat = Float32Array.from(data as ArrayLike<number>);
    inferred = [flat.length];
  } else {
    const out: number[] = [];
    inferred = flattenNested(data as readonly Nested[], out, 0, []);
    flat = Float32Array.from(out);
  }
  const finalShape = shape === undefined ? inferred : checkShape(shape, "tensor", "shape");
  if (numel(finalShape) !== flat.length) {
    throw new DataError(
      `tensor: data has ${flat.length} elements but shape ${formatShape(finalShape)} needs ${numel(finalShape)}`,
    );
  }
  return new Tensor(flat, finalShape, options.requiresGrad ?? false);
}

function flattenNested(data: readonly Nested[], out: number[], depth: number, shape: number[]): number[] {
  if (shape.length === depth) shape.push(data.length);
  else if (shape[depth] !== data.length) {
    throw new DataError(
      `tensor: nested data is ragged at depth ${depth} (${shape[depth]} vs ${data.length})`,
    );
  }
  for (const item of data) {
    if (Array.isArray(item)) flattenNested(item as readonly Nested[], out, depth + 1, shape);
    else if (typeof item === "number") {
      if (shape.length !== depth + 1)
        throw new DataError(`tensor: nested data is ragged at depth ${depth + 1}`);
      out.push(item);
    } else throw new DataError(describe("tensor", "data", "numbers or nested arrays of numbers", item));
  }
  return shape;
}
