import type { Tensor } from "../autograd/tensor.js";
import { ArgumentError, DataError, describe, ShapeError } from "../tensor/errors.js";

/**
 * Classification metrics over logits `[B, K]` and integer labels. Predictions follow torch.argmax:
 * the first index of the largest value, and NaN counts as the largest (so a diverged model is not
 * silently credited with class 0).
 */

function checkLogits(op: string, logits: Tensor, labels: ArrayLike<number>): [number, number] {
  if (logits.shape.length !== 2)
    throw new ShapeError(describe(op, "logits", "a 2-d tensor [B, K]", `shape [${logits.shape.join(", ")}]`));
  const [b, k] = logits.shape;
  if (labels.length !== b)
    throw new ShapeError(describe(op, "labels", `${b} labels (one per row of logits)`, labels.length));
  for (let i = 0; i < b; i++) {
    const label = labels[i];
    if (!Number.isInteger(label) || label < 0 || label >= k)
      throw new DataError(describe(op, `labels[${i}]`, `a class in [0, ${k - 1}]`, label));
  }
  return [b, k];
}

/** Index of the largest value of each row of logits `[B, K]`. */
export function argmaxRows(logits: Tensor): Int32Array {
  if (logits.shape.length !== 2)
    throw new ShapeError(
      describe("argmaxRows", "logits", "a 2-d tensor [B, K]", `shape [${logits.shape.join(", ")}]`),
    );
  const [b, k] = logits.shape;
  if (k === 0)
    throw new ShapeError(describe("argmaxRows", "logits", "at least one class", `shape [${b}, 0]`));
  const out = new Int32Array(b);
  const d = logits.data;
  for (let i = 0; i < b; i++) {
    let best = 0;
    let bestValue = d[i * k];
    if (!Number.isNaN(bestValue)) {
      for (let j = 1; j < k; j++) {
        const v = d[i * k + j];
        if (Number.isNaN(v)) {
          best = j;
          break;
        }
        if (v > bestValue) {
          best = j;
          bestValue = v;
        }
      }
    }
    out[i] = best;
  }
  return out;
}

/** Number of rows whose label is among the `k` largest logits (ties broken toward lower indices). */
export function correctCount(logits: Tensor, labels: ArrayLike<number>, topK = 1): number {
  const [b, k] = checkLogits("correctCount", logits, labels);
  if (!Number.isInteger(topK) || topK < 1 || topK > k)
    throw new ArgumentError(describe("correctCount", "topK", `an integer in [1, ${k}]`, topK));
  if (topK === 1) {
    const pred = argmaxRows(logits);
    let n = 0;
    for (let i = 0; i < b; i++) if (pred[i] === labels[i]) n++;
    return n;
  }
  const d = logits.data;
  let n = 0;
  for (let i = 0; i < b; i++) {
    const label = labels[i];
    const target = d[i * k + label];
    // Rank of the label: how many classes come before it (larger value, or equal and lower index).
    let ahead = 0;
    for (let j = 0; j < k; j++) {
      const v = d[i * k + j];
      if (v > target || (v === target && j < label) || (Number.isNaN(v) && !Number.isNaN(target))) ahead++;
    }
    if (!Number.isNaN(target) && ahead < topK) n++;
  }
  return n;
}

/** Fraction of rows classified correctly (top-1, or top-k). */
export function accuracy(logits: Tensor, labels: ArrayLike<number>, topK = 1): number {
  const b = logits.shape[0] ?? 0;
  return b === 0 ? 0 : correctCount(logits, labels, topK) / b;
}

/** A mean over batches weighted by their size: the epoch's mean loss from per-batch mean losses. */
export class RunningMean {
  private sum = 0;
  private n = 0;

  /** Adds a value that is the mean of `count` samples. */
  add(value: number, count = 1): void {
    if (!Number.isFinite(count) || count < 0)
      throw new ArgumentError(describe("RunningMean.add", "count", "a non-negative number", count));
    this.sum += value * count;
    this.n += count;
  }

  get count(): number {
    return this.n;
  }

  /** The mean so far (NaN before any sample, like the mean of nothing). */
  get mean(): number {
    return this.n === 0 ? Number.NaN : this.sum / this.n;
  }

  reset(): void {
    this.sum = 0;
    this.n = 0;
  }
}

/** Counts of (true class, predicted class) pairs: `matrix[t * K + p]`. */
export class ConfusionMatrix {
  readonly numClasses: number;
  readonly matrix: Int32Array;

  constructor(numClasses: number) {
    if (!Number.isSafeInteger(numClasses) || numClasses < 1)
      throw new ArgumentError(describe("ConfusionMatrix", "numClasses", "a positive integer", numClasses));
    this.numClasses = numClasses;
    this.matrix = new Int32Array(numClasses * numClasses);
  }

  /** Adds a batch: predictions from logits `[B, K]` (argmax), or class indices directly. */
  update(predictions: Tensor | ArrayLike<number>, labels: ArrayLike<number>): void {
    const k = this.numClasses;
    let pred: ArrayLike<number>;
    if (isTensor(predictions)) {
      checkLogits("ConfusionMatrix.update", predictions, labels);
      if (predictions.shape[1] !== k)
        throw new ShapeError(
          describe("ConfusionMatrix.update", "logits", `${k} classes`, predictions.shape[1]),
        );
      pred = argmaxRows(predictions);
    } else pred = predictions;
    if (pred.length !== labels.length)
      throw new ShapeError(
        describe("ConfusionMatrix.update", "labels", `${pred.length} labels`, labels.length),
      );
    for (let i = 0; i < labels.length; i++) {
      const t = labels[i];
      const p = pred[i];
      if (!Number.isInteger(t) || t < 0 || t >= k)
        throw new DataError(
          describe("ConfusionMatrix.update", `labels[${i}]`, `a class in [0, ${k - 1}]`, t),
        );
      if (!Number.isInteger(p) || p < 0 || p >= k)
        throw new DataError(
          describe("ConfusionMatrix.update", `predictions[${i}]`, `a class in [0, ${k - 1}]`, p),
        );
      this.matrix[t * k + p]++;
    }
  }

  get total(): number {
    let n = 0;
    for (const v of this.matrix) n += v;
    return n;
  }

  /** Overall accuracy: the diagonal over the total. */
  accuracy(): number {
    let hit = 0;
    for (let c = 0; c < this.numClasses; c++) hit += this.matrix[c * this.numClasses + c];
    const total = this.total;
    return total === 0 ? 0 : hit / total;
  }

  /** Recall of each class (correct / samples of that class; NaN for a class never seen). */
  perClassAccuracy(): number[] {
    const k = this.numClasses;
    const out: number[] = [];
    for (let t = 0; t < k; t++) {
      let row = 0;
      for (let p = 0; p < k; p++) row += this.matrix[t * k + p];
      out.push(row === 0 ? Number.NaN : this.matrix[t * k + t] / row);
    }
    return out;
  }

  /** The matrix as rows (true class) of columns (predicted class), for reports and JSON. */
  toRows(): number[][] {
    const k = this.numClasses;
    return Array.from({ length: k }, (_, t) => Array.from(this.matrix.subarray(t * k, (t + 1) * k)));
  }

  reset(): void {
    this.matrix.fill(0);
  }
}

function isTensor(value: unknown): value is Tensor {
  return (
    typeof value === "object" &&
    value !== null &&
    "shape" in value &&
    "data" in value &&
    (value as Tensor).data instanceof Float32Array
  );
}
