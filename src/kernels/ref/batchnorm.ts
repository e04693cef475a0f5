/**
 * Reference batch-norm kernels over contiguous NCHW float32 buffers. Per-channel statistics are
 * accumulated in float64 (two passes: mean, then centred squares) so that they stay accurate for large
 * N*H*W; the per-channel vectors are Float64Array for the same reason.
 */

/** Sizes of a batch-norm input: `count = n * hw` values per channel. */
export interface BatchNormDims {
  n: number;
  c: number;
  /** H * W */
  hw: number;
}

/** Batch mean and biased variance (divided by N*H*W) of each channel. Overwrites `mean` and `varBiased`. */
export function batchNormStatsRef(
  x: Float32Array,
  d: BatchNormDims,
  mean: Float64Array,
  varBiased: Float64Array,
): void {
  const count = d.n * d.hw;
  for (let ch = 0; ch < d.c; ch++) {
    let sum = 0;
    for (let b = 0; b < d.n; b++) {
      const base = (b * d.c + ch) * d.hw;
      for (let i = 0; i < d.hw; i++) sum += x[base + i];
    }
    const m = sum / count;
    let sq = 0;
    for (let b = 0; b < d.n; b++) {
      const base = (b * d.c + ch) * d.hw;
      for (let i = 0; i < d.hw; i++) {
        const t = x[base + i] - m;
        sq += t * t;
      }
    }
    mean[ch] = m;
    varBiased[ch] = sq / count;
  }
}

/**
 * y = (x - mean[c]) * invstd[c] * weight[c] + bias[c]; weight/bias null mean 1/0 (no affine).
 * Training passes the batch statistics, evaluation the running ones. Overwrites `out`.
 */
export function batchNormForwardRef(
  x: Float32Array,
  d: BatchNormDims,
  mean: Float64Array,
  invstd: Float64Array,
  weight: Float32Array | null,
  bias: Float32Array | null,
  out: Float32Array,
): void {
  for (let b = 0; b < d.n; b++) {
    for (let ch = 0; ch < d.c; ch++) {
      const base = (b * d.c + ch) * d.hw;
      const m = mean[ch];
      const scale = invstd[ch] * (weight === null ? 1 : weight[ch]);
      const shift = bias === null ? 0 : bias[ch];
      for (let i = 0; i < d.hw; i++) out[base + i] = (x[base + i] - m) * scale + shift;
    }
  }
}

/**
 * Gradients of batch norm. With `training`, mean and invstd are functions of x (batch statistics), so
 * gradX = w * invstd * (g - mean(g) - xhat * mean(g * xhat)) per channel; in evaluation they are constants
 * and gradX = g * w * invstd. gradWeight = sum(g * xhat), gradBias = sum(g) in both modes.
 * Each output buffer may be null when that gradient is not needed; the others are overwritten.
 */
export function batchNormBackwardRef(
  gradOut: Float32Array,
  x: Float32Array,
  d: BatchNormDims,
  mean: Float64Array,
  invstd: Float64Array,
  weight: Float32Array | null,
  training: boolean,
  gradX: Float32Array | null,
  gradWeight: Float32Array | null,
  gradBias: Float32Array | null,
): void {
  const count = d.n * d.hw;
  for (let ch = 0; ch < d.c; ch++) {
    const m = mean[ch];
    const is = invstd[ch];
    let sumG = 0;
    let sumGC = 0; // sum of g * (x - mean)
    for (let b = 0; b < d.n; b++) {
      const base = (b * d.c + ch) * d.hw;
      for (let i = 0; i < d.hw; i++) {
        const g = gradOut[base + i];
        sumG += g;
        sumGC += g * (x[base + i] - m);
      }
    }
    if (gradWeight !== null) gradWeight[ch] = sumGC * is;
    if (gradBias !== null) gradBias[ch] = sumG;
    if (gradX === null) continue;
    const w = weight === null ? 1 : weight[ch];
    const scale = w * is;
    const meanG = training ? sumG / count : 0;
    // xhat * mean(g * xhat) = (x - mean) * invstd^2 * sumGC / count
    const k = training ? (is * is * sumGC) / count : 0;
    for (let b = 0; b < d.n; b++) {
      const base = (b * d.c + ch) * d.hw;
      for (let i = 0; i < d.hw; i++) {
        gradX[base + i] = scale * (gradOut[base + i] - meanG - (x[base + i] - m) * k);
      }
    }
  }
}
