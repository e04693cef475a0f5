/**
 * Reductions: `sum` and `mean` over some or all dimensions (torch.sum / torch.mean with dim and
 * keepdim). No dims (undefined or []) reduces everything, to shape [] (or all-ones with keepdim),
 * as torch does for `dim=[]`. Sums accumulate in float64 and round once.
 */
import { record } from "../autograd/record.js";
import { Tensor } from "../autograd/tensor.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { normAxis, numel } from "../tensor/shape.js";
import { broadcastIndex } from "./broadcast.js";

interface Plan {
  /** Output shape. */
  shape: number[];
  /** The output shape with reduced axes kept as 1, which broadcasts back to the input. */
  keptShape: number[];
  /** How many input elements fall into each output element. */
  count: number;
}

function plan(op: string, x: Tensor, dims: number | readonly number[] | undefined, keepdim: boolean): Plan {
  if (!(x instanceof Tensor)) throw new ArgumentError(describe(op, "x", "a Tensor", x));
  if (typeof keepdim !== "boolean") throw new ArgumentError(describe(op, "keepdim", "a boolean", keepdim));
  const rank = x.ndim;
  let list: readonly number[];
  if (dims === undefined) list = [];
  else if (typeof dims === "number") list = [dims];
  else if (Array.isArray(dims)) list = dims;
  else throw new ArgumentError(describe(op, "dims", "a number or an array of numbers", dims));
  // A 0-d tensor accepts dim 0 / -1 (torch wraps it as if it had one axis); it stays 0-d.
  const norm = list.map((d) => normAxis(d, Math.max(rank, 1), op, "dims"));
  if (new Set(norm).size !== norm.length) {
    throw new ArgumentError(describe(op, "dims", "each dimension at most once", dims));
  }
  const reduced = new Set(norm.length === 0 ? x.shape.map((_, i) => i) : norm);
  const keptShape = x.shape.map((d, i) => (reduced.has(i) ? 1 : d));
  const shape = keepdim ? keptShape : x.shape.filter((_, i) => !reduced.has(i));
  return { shape, keptShape, count: x.numel / Math.max(1, numel(keptShape)) };
}

function reduceSum(x: Tensor, keptShape: number[], scale: number): Float32Array {
  const map = broadcastIndex(x.shape, keptShape);
  if (map === null) return x.data.map((v) => v * scale);
  const acc = new Float64Array(numel(keptShape));
  const xd = x.data;
  for (let i = 0; i < xd.length; i++) acc[map[i]] += xd[i];
  for (let i = 0; i < acc.length; i++) acc[i] *= scale;
  return Float32Array.from(acc);
}

function spread(g: Float32Array, x: Tensor, keptShape: number[], scale: number): Float32Array {
  const map = broadcastIndex(x.shape, keptShape);
  const gx = new Float32Array(x.numel);
  for (let i = 0; i < gx.length; i++) gx[i] = g[map === null ? i : map[i]] * scale;
  return gx;
}

/** Sum over `dims` (all when omitted), dropping them unless keepdim (torch.sum). */
export function sum(x: Tensor, dims?: number | readonly number[], keepdim = false): Tensor {
  const p = plan("sum", x, dims, keepdim);
  return record("sum", reduceSum(x, p.keptShape, 1), p.shape, [x], (g) => [spread(g, x, p.keptShape, 1)]);
}

/** Mean over `dims` (all when omitted), dropping them unless keepdim (torch.mean); NaN when empty. */
export function mean(x: Tensor, dims?: number | readonly number[], keepdim = false): Tensor {
  const p = plan("mean", x, dims, keepdim);
  const scale = 1 / p.count; // Infinity for an empty reduction: 0 * Infinity = NaN, as in torch
  return record("mean", reduceSum(x, p.keptShape, scale), p.shape, [x], (g) => [
    spread(g, x, p.keptShape, scale),
  ]);
}
