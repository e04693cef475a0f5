import {
  type AdaptivePool2dGeometry,
  type AvgPoolDivisor,
  adaptiveAvgPool2dBackwardRef,
  adaptiveAvgPool2dForwardRef,
  adaptiveMaxPool2dForwardRef,
  avgPool2dBackwardRef,
  avgPool2dForwardRef,
  maxPool2dBackwardRef,
  maxPool2dForwardRef,
  type Pool2dGeometry,
} from "./ref/pool.js";

export type { AdaptivePool2dGeometry, AvgPoolDivisor, Pool2dGeometry };

/**
 * Pooling kernels over contiguous NCHW float32 buffers (see ref/pool.ts for the exact semantics of each).
 * Forward kernels overwrite `out` (and `argmax`); backward kernels overwrite `gradX`.
 */
export interface PoolKernels {
  maxPool2dForward(x: Float32Array, g: Pool2dGeometry, out: Float32Array, argmax: Int32Array): void;
  /** Scatter-add of output gradients to argmax positions; shared by fixed and adaptive max pooling. */
  maxPoolBackward(
    gradOut: Float32Array,
    argmax: Int32Array,
    planes: number,
    inPlane: number,
    outPlane: number,
    gradX: Float32Array,
  ): void;
  avgPool2dForward(x: Float32Array, g: Pool2dGeometry, d: AvgPoolDivisor, out: Float32Array): void;
  avgPool2dBackward(gradOut: Float32Array, g: Pool2dGeometry, d: AvgPoolDivisor, gradX: Float32Array): void;
  adaptiveAvgPool2dForward(x: Float32Array, g: AdaptivePool2dGeometry, out: Float32Array): void;
  adaptiveAvgPool2dBackward(gradOut: Float32Array, g: AdaptivePool2dGeometry, gradX: Float32Array): void;
  adaptiveMaxPool2dForward(
    x: Float32Array,
    g: AdaptivePool2dGeometry,
    out: Float32Array,
    argmax: Int32Array,
  ): void;
}

/** The dispatch seam: the reference loops by default; a faster backend replaces entries when it loads. */
export const poolKernels: PoolKernels = {
  maxPool2dForward: maxPool2dForwardRef,
  maxPoolBackward: maxPool2dBackwardRef,
  avgPool2dForward: avgPool2dForwardRef,
  avgPool2dBackward: avgPool2dBackwardRef,
  adaptiveAvgPool2dForward: adaptiveAvgPool2dForwardRef,
  adaptiveAvgPool2dBackward: adaptiveAvgPool2dBackwardRef,
  adaptiveMaxPool2dForward: adaptiveMaxPool2dForwardRef,
};
