import type { Conv2dGeometry } from "../tensor/conv-geometry.js";
import { conv2dBackwardInputRef, conv2dBackwardWeightRef, conv2dForwardRef } from "./ref/conv2d.js";

/**
 * Conv2d kernels over contiguous NCHW float32 buffers, geometry resolved by conv2dGeometry.
 * - forward: out[N, Cout, Hout, Wout] = conv(x, w) + bias (bias may be null); overwrites `out`.
 * - backwardInput: gradX[N, Cin, H, W] from gradOut and w; overwrites `gradX`.
 * - backwardWeight: gradW[Cout, Cin/groups, kH, kW] from x and gradOut; overwrites `gradW`.
 */
export interface Conv2dKernels {
  forward(
    x: Float32Array,
    w: Float32Array,
    bias: Float32Array | null,
    g: Conv2dGeometry,
    out: Float32Array,
  ): void;
  backwardInput(gradOut: Float32Array, w: Float32Array, g: Conv2dGeometry, gradX: Float32Array): void;
  backwardWeight(x: Float32Array, gradOut: Float32Array, g: Conv2dGeometry, gradW: Float32Array): void;
}

/** The dispatch seam: the reference loops by default; the WebAssembly backend replaces entries when loaded. */
export const conv2dKernels: Conv2dKernels = {
  forward: conv2dForwardRef,
  backwardInput: conv2dBackwardInputRef,
  backwardWeight: conv2dBackwardWeightRef,
};
