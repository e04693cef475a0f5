/**
 * What `convkit run` prints about an output tensor: its statistics and, for a classifier's `[N, K]` output,
 * the top classes of each sample with their probabilities (a softmax of the logits, unless the rows already
 * are probability distributions).
 */

export interface TensorStats {
  min: number;
  max: number;
  mean: number;
  std: number;
  /** Count of NaN and infinite values (excluded from the statistics). */
  nonFinite: number;
}

export interface TopClass {
  index: number;
  /** The class name from graph.meta.classes, when the model carries one. */
  label?: string;
  /** The raw output value. */
  value: number;
  /** Probability: softmax of the row, or the value itself when the row already is a distribution. */
  prob: number;
}

/** Min, max, mean and (population) standard deviation of the finite values. */
export function tensorStats(data: Float32Array): TensorStats {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  let n = 0;
  for (const v of data) {
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    n++;
  }
  const mean = n > 0 ? sum / n : Number.NaN;
  let sq = 0;
  for (const v of data) if (Number.isFinite(v)) sq += (v - mean) * (v - mean);
  return {
    min: n > 0 ? min : Number.NaN,
    max: n > 0 ? max : Number.NaN,
    mean,
    std: n > 0 ? Math.sqrt(sq / n) : Number.NaN,
    nonFinite: data.length - n,
  };
}

/** Whether an output shape looks like class scores: `[N, K]` with K >= 2. */
export function isClassifierOutput(shape: readonly number[]): boolean {
  return shape.length === 2 && shape[1] >= 2;
}

/** Whether a row is already a probability distribution (values in [0, 1] summing to 1). */
function isDistribution(row: Float32Array): boolean {
  let sum = 0;
  for (const v of row) {
    if (!(v >= 0 && v <= 1)) return false;
    sum += v;
  }
  return Math.abs(sum - 1) < 1e-3;
}

/** The `k` largest entries of one row (ties by index), with probabilities. */
export function topClasses(row: Float32Array, k: number, labels?: readonly string[]): TopClass[] {
  const probs = isDistribution(row) ? Float64Array.from(row) : softmax(row);
  const order = Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b);
  return order.slice(0, Math.min(k, row.length)).map((index) => {
    const top: TopClass = { index, value: row[index], prob: probs[index] };
    if (labels !== undefined && labels.length === row.length) top.label = labels[index];
    return top;
  });
}

function softmax(row: Float32Array): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (const v of row) if (v > max) max = v;
  const out = new Float64Array(row.length);
  let sum = 0;
  for (let i = 0; i < row.length; i++) {
    out[i] = Math.exp(row[i] - max);
    sum += out[i];
  }
  for (let i = 0; i < row.length; i++) out[i] /= sum;
  return out;
}

/** A number in 4 significant digits (scientific notation for very large or small magnitudes). */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(3);
  return String(Number(x.toPrecision(4)));
}

/** `281 "tabby" (p 0.312, 4.12)` for each class (probability, then the raw value), joined. */
export function formatTopClasses(tops: readonly TopClass[]): string {
  return tops
    .map((t) => {
      const name = t.label !== undefined ? ` ${JSON.stringify(t.label)}` : "";
      return `${t.index}${name} (p ${formatNumber(t.prob)}, ${formatNumber(t.value)})`;
    })
    .join(", ");
}
