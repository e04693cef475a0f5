/**
 * Probabilities and classification losses: `softmax`, `logSoftmax` (numerically stable, over one
 * dimension), `nllLoss` and `crossEntropy` (torch.nn.functional's, with reduction, ignoreIndex and
 * labelSmoothing as in PyTorch 1.13).
 *
 * Inputs of the losses are [N, C], [N, C, d1, ...] (one label per position) or unbatched [C];
 * labels are integer class indices given as an Int32Array, a number array or a Tensor holding
 * integral values, shaped like the input without its class dimension.
 */
import { record } from "../autograd/record.js";
import { Tensor } from "../autograd/tensor.js";
import { ArgumentError, DataError, describe, ShapeError } from "../tensor/errors.js";
import { formatShape, normAxis, numel, sameShape } from "../tensor/shape.js";

/** outer x size x inner: the layout of one axis of a contiguous tensor. */
interface AxisLayout {
  outer: number;
  size: number;
  inner: number;
}

function layout(shape: readonly number[], axis: number): AxisLayout {
  if (shape.length === 0) return { outer: 1, size: 1, inner: 1 };
  return { outer: numel(shape.slice(0, axis)), size: shape[axis], inner: numel(shape.slice(axis + 1)) };
}

function checkTensor(x: unknown, op: string, argument: string): Tensor {
  if (!(x instanceof Tensor)) throw new ArgumentError(describe(op, argument, "a Tensor", x));
  return x;
}

/**
 * log-sum-exp of every line along the axis, with the max subtracted first so nothing overflows.
 * Returns one float64 value per (outer, inner) position.
 */
function logSumExp(data: Float32Array, { outer, size, inner }: AxisLayout): Float64Array {
  const lse = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * size * inner + i;
      let max = Number.NEGATIVE_INFINITY;
      for (let c = 0; c < size; c++) max = Math.max(max, data[base + c * inner]);
      // An all -Infinity (or empty) line: keep max finite so exp() gives 0 rather than NaN.
      if (max === Number.NEGATIVE_INFINITY) max = 0;
      let s = 0;
      for (let c = 0; c < size; c++) s += Math.exp(data[base + c * inner] - max);
      lse[o * inner + i] = max + Math.log(s);
    }
  }
  return lse;
}

function softmaxDim(
  op: string,
  x: Tensor,
  dim: number,
): { axis: number; lay: AxisLayout; lse: Float64Array } {
  checkTensor(x, op, "x");
  if (dim === undefined) throw new ArgumentError(describe(op, "dim", "an explicit dimension", dim));
  const axis = normAxis(dim, Math.max(x.ndim, 1), op, "dim");
  const lay = layout(x.shape, axis);
  return { axis, lay, lse: logSumExp(x.data, lay) };
}

/** exp(x) / sum(exp(x)) along `dim` (torch.softmax). */
export function softmax(x: Tensor, dim: number): Tensor {
  const { lay, lse } = softmaxDim("softmax", x, dim);
  const { outer, size, inner } = lay;
  const out = new Float32Array(x.numel);
  for (let o = 0; o < outer; o++)
    for (let c = 0; c < size; c++)
      for (let i = 0; i < inner; i++) {
        const k = (o * size + c) * inner + i;
        out[k] = Math.exp(x.data[k] - lse[o * inner + i]);
      }
  return record("softmax", out, x.shape, [x], (g) => {
    // dx = y * (g - sum(g * y)) along the axis
    const gx = new Float32Array(g.length);
    for (let o = 0; o < outer; o++)
      for (let i = 0; i < inner; i++) {
        const base = o * size * inner + i;
        let dot = 0;
        for (let c = 0; c < size; c++) dot += g[base + c * inner] * out[base + c * inner];
        for (let c = 0; c < size; c++) {
          const k = base + c * inner;
          gx[k] = out[k] * (g[k] - dot);
        }
      }
    return [gx];
  });
}

/** x - log(sum(exp(x))) along `dim` (torch.log_softmax), without forming exp(x) / sum. */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  const { lay, lse } = softmaxDim("logSoftmax", x, dim);
  const { outer, size, inner } = lay;
  const out = new Float32Array(x.numel);
  for (let o = 0; o < outer; o++)
    for (let c = 0; c < size; c++)
      for (let i = 0; i < inner; i++) {
        const k = (o * size + c) * inner + i;
        out[k] = x.data[k] - lse[o * inner + i];
      }
  return record("logSoftmax", out, x.shape, [x], (g) => {
    // dx = g - softmax * sum(g) along the axis; softmax recomputed in float64 from x
    const gx = new Float32Array(g.length);
    for (let o = 0; o < outer; o++)
      for (let i = 0; i < inner; i++) {
        const base = o * size * inner + i;
        let total = 0;
        for (let c = 0; c < size; c++) total += g[base + c * inner];
        for (let c = 0; c < size; c++) {
          const k = base + c * inner;
          gx[k] = g[k] - Math.exp(x.data[k] - lse[o * inner + i]) * total;
        }
      }
    return [gx];
  });
}

export type Reduction = "mean" | "sum" | "none";

export interface NllLossOptions {
  /** How per-position losses combine (default 'mean': averaged over positions not ignored). */
  reduction?: Reduction;
  /** A label value whose positions contribute nothing (default -100, PyTorch's). */
  ignoreIndex?: number;
}

export interface CrossEntropyOptions extends NllLossOptions {
  /** Mixes the one-hot target with the uniform distribution: (1 - s) * onehot + s / C (default 0). */
  labelSmoothing?: number;
}

export type Labels = Int32Array | readonly number[] | Tensor;

/** Geometry of a loss input: N positions-batches, C classes, `inner` positions per sample. */
interface LossGeometry {
  lay: AxisLayout;
  /** Shape of the labels and of the 'none' output. */
  labelShape: number[];
}

function lossGeometry(op: string, input: Tensor): LossGeometry {
  checkTensor(input, op, "input");
  if (input.ndim === 0) {
    throw new ShapeError(
      describe(op, "input", "[N, C], [N, C, d1, ...] or [C]", `shape ${formatShape(input.shape)}`),
    );
  }
  const classAxis = input.ndim === 1 ? 0 : 1;
  const labelShape = input.shape.filter((_, i) => i !== classAxis);
  return { lay: layout(input.shape, classAxis), labelShape };
}

/** Reads and validates the labels; ignored positions keep the ignoreIndex value. */
function readLabels(
  op: string,
  labels: Labels,
  geo: LossGeometry,
  classes: number,
  ignoreIndex: number,
): Int32Array {
  let values: ArrayLike<number>;
  if (labels instanceof Tensor) {
    if (!sameShape(labels.shape, geo.labelShape)) {
      throw new ShapeError(
        describe(op, "labels", `shape ${formatShape(geo.labelShape)}`, `shape ${formatShape(labels.shape)}`),
      );
    }
    values = labels.data;
  } else if (labels instanceof Int32Array || Array.isArray(labels)) {
    values = labels;
  } else {
    throw new ArgumentError(describe(op, "labels", "an Int32Array, a number array or a Tensor", labels));
  }
  const count = numel(geo.labelShape);
  if (values.length !== count) {
    throw new ShapeError(
      describe(
        op,
        "labels",
        `${count} labels (input without its class dimension: ${formatShape(geo.labelShape)})`,
        `${values.length} labels`,
      ),
    );
  }
  const out = new Int32Array(count);
  for (let k = 0; k < count; k++) {
    const v = values[k];
    if (typeof v !== "number" || !Number.isInteger(v) || (v !== ignoreIndex && (v < 0 || v >= classes))) {
      throw new DataError(
        describe(
          op,
          `labels[${k}]`,
          `an integer class index in [0, ${classes - 1}] (or ignoreIndex ${ignoreIndex})`,
          v,
        ),
      );
    }
    out[k] = v;
  }
  return out;
}

function checkOptions(op: string, reduction: unknown, ignoreIndex: unknown): void {
  if (reduction !== "mean" && reduction !== "sum" && reduction !== "none") {
    throw new ArgumentError(describe(op, "reduction", "'mean', 'sum' or 'none'", reduction));
  }
  if (typeof ignoreIndex !== "number" || !Number.isInteger(ignoreIndex)) {
    throw new ArgumentError(describe(op, "ignoreIndex", "an integer", ignoreIndex));
  }
}

/**
 * Reduces per-position losses and returns, with the output, the weight each position's loss gets
 * in the result given the output gradient `g` (what backward multiplies with).
 */
function reduce(
  name: string,
  losses: Float64Array,
  valid: Uint8Array,
  geo: LossGeometry,
  reduction: Reduction,
  inputs: Tensor[],
  backward: (weightOf: (p: number) => number) => Float32Array,
): Tensor {
  if (reduction === "none") {
    return record(name, Float32Array.from(losses), geo.labelShape, inputs, (g) => [
      backward((p) => (valid[p] ? g[p] : 0)),
    ]);
  }
  let total = 0;
  let count = 0;
  for (let p = 0; p < losses.length; p++) {
    total += losses[p];
    count += valid[p];
  }
  // mean over positions not ignored; 0 / 0 = NaN when all are ignored, as in PyTorch
  const divisor = reduction === "mean" ? count : 1;
  const out = Float32Array.of(total / divisor);
  return record(name, out, [], inputs, (g) => {
    const w = g[0] / divisor;
    return [backward((p) => (valid[p] ? w : 0))];
  });
}

/**
 * Negative log-likelihood of the labels under log-probabilities (torch.nn.functional.nll_loss):
 * loss = -logProbs[label] per position.
 */
export function nllLoss(logProbs: Tensor, labels: Labels, options: NllLossOptions = {}): Tensor {
  const op = "nllLoss";
  const { reduction = "mean", ignoreIndex = -100 } = options;
  checkOptions(op, reduction, ignoreIndex);
  const geo = lossGeometry(op, logProbs);
  const { outer, size, inner } = geo.lay;
  const y = readLabels(op, labels, geo, size, ignoreIndex);
  const losses = new Float64Array(y.length);
  const valid = new Uint8Array(y.length);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const p = o * inner + i;
      if (y[p] === ignoreIndex) continue;
      valid[p] = 1;
      losses[p] = -logProbs.data[(o * size + y[p]) * inner + i];
    }
  return reduce(op, losses, valid, geo, reduction, [logProbs], (weightOf) => {
    const gx = new Float32Array(logProbs.numel);
    for (let o = 0; o < outer; o++)
      for (let i = 0; i < inner; i++) {
        const p = o * inner + i;
        if (valid[p]) gx[(o * size + y[p]) * inner + i] = -weightOf(p);
      }
    return gx;
  });
}

/**
 * Cross-entropy of logits against integer labels (torch.nn.functional.cross_entropy): per position
 * -(1 - s) * logSoftmax[label] - (s / C) * sum_c logSoftmax[c], with s = labelSmoothing. Computed in
 * one fused pass; the gradient is softmax - (1 - s) * onehot - s / C per position.
 */
export function crossEntropy(logits: Tensor, labels: Labels, options: CrossEntropyOptions = {}): Tensor {
  const op = "crossEntropy";
  const { reduction = "mean", ignoreIndex = -100, labelSmoothing = 0 } = options;
  checkOptions(op, reduction, ignoreIndex);
  if (typeof labelSmoothing !== "number" || !(labelSmoothing >= 0 && labelSmoothing <= 1)) {
    throw new ArgumentError(describe(op, "labelSmoothing", "a number in [0, 1]", labelSmoothing));
  }
  const geo = lossGeometry(op, logits);
  const { outer, size, inner } = geo.lay;
  const y = readLabels(op, labels, geo, size, ignoreIndex);
  const lse = logSumExp(logits.data, geo.lay);
  const x = logits.data;
  const s = labelSmoothing;
  const losses = new Float64Array(y.length);
  const valid = new Uint8Array(y.length);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const p = o * inner + i;
      if (y[p] === ignoreIndex) continue;
      valid[p] = 1;
      const base = o * size * inner + i;
      let loss = -(1 - s) * (x[base + y[p] * inner] - lse[p]);
      if (s > 0) {
        let sumLogp = 0;
        for (let c = 0; c < size; c++) sumLogp += x[base + c * inner] - lse[p];
        loss -= (s / size) * sumLogp;
      }
      losses[p] = loss;
    }
  return reduce(op, losses, valid, geo, reduction, [logits], (weightOf) => {
    const gx = new Float32Array(logits.numel);
    for (let o = 0; o < outer; o++)
      for (let i = 0; i < inner; i++) {
        const p = o * inner + i;
        if (!valid[p]) continue;
        const w = weightOf(p);
        const base = o * size * inner + i;
        for (let c = 0; c < size; c++) {
          const k = base + c * inner;
          const target = (c === y[p] ? 1 - s : 0) + s / size;
          gx[k] = w * (Math.exp(x[k] - lse[p]) - target);
        }
      }
    return gx;
  });
}
