import {
  type BatchNormDims,
  batchNormBackwardRef,
  batchNormForwardRef,
  batchNormStatsRef,
} from "./ref/batchnorm.js";

export type { BatchNormDims };

/** Batch-norm kernels over contiguous NCHW float32 buffers (see ref/batchnorm.ts for each one's contract). */
export interface BatchNormKernels {
  stats(x: Float32Array, d: BatchNormDims, mean: Float64Array, varBiased: Float64Array): void;
  forward(
    x: Float32Array,
    d: BatchNormDims,
    mean: Float64Array,
    invstd: Float64Array,
    weight: Float32Array | null,
    bias: Float32Array | null,
    out: Float32Array,
  ): void;
  backward(
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
  ): void;
}

/** The dispatch seam: the reference loops by default; a faster backend replaces entries when it loads. */
export const batchNormKernels: BatchNormKernels = {
  stats: batchNormStatsRef,
  forward: batchNormForwardRef,
  backward: batchNormBackwardRef,
};
