import { deformConv2dBackwardColumns, deformConv2dForwardColumns } from "./deform-columns.js";
import {
  type DeformConv2dGeometry,
  type DeformConv2dGrads,
  deformConv2dBackwardRef,
  deformConv2dForwardRef,
} from "./ref/deform.js";

export type { DeformConv2dGeometry, DeformConv2dGrads } from "./ref/deform.js";

/**
 * Deformable-convolution kernels over contiguous NCHW float32 buffers (torchvision's deform_conv2d):
 * - forward: out [N, Cout, Hout, Wout] from input, offset, mask (null for v1), weight and bias (may be null);
 *   overwrites `out`.
 * - backward: fills the non-null buffers of `grads` (input, offset, mask, weight; each overwritten) from
 *   gradOut. The bias gradient is a plain sum and stays with the op.
 */
export interface DeformConv2dKernels {
  forward(
    input: Float32Array,
    offset: Float32Array,
    mask: Float32Array | null,
    weight: Float32Array,
    bias: Float32Array | null,
    g: DeformConv2dGeometry,
    out: Float32Array,
  ): void;
  backward(
    input: Float32Array,
    offset: Float32Array,
    mask: Float32Array | null,
    weight: Float32Array,
    gradOut: Float32Array,
    g: DeformConv2dGeometry,
    grads: DeformConv2dGrads,
  ): void;
}

/** The plain loops, one output element at a time: the oracle the other paths are tested against. */
export const deformConv2dRefKernels: DeformConv2dKernels = {
  forward: deformConv2dForwardRef,
  backward: deformConv2dBackwardRef,
};

/**
 * The dispatch seam the op calls. Default: sampling plan + column buffer + the GEMM seam (so a faster GEMM
 * speeds this up too); a WebAssembly backend may replace the entries when it loads.
 */
export const deformConv2dKernels: DeformConv2dKernels = {
  forward: deformConv2dForwardColumns,
  backward: deformConv2dBackwardColumns,
};
