/**
 * Activation functions with PyTorch 1.13's values and gradients, including the gradient it defines
 * at each kink (checked against torch in tools/fixtures_elementwise.py):
 *
 * | op | gradient at the kinks |
 * |---|---|
 * | relu | 0 at x = 0 (threshold_backward keeps x > 0) |
 * | relu6 | 0 at x = 0 and x = 6 (hardtanh_backward keeps 0 < x < 6) |
 * | leakyRelu | negativeSlope at x = 0 (only x > 0 gets 1) |
 * | hardSigmoid | 1/6 strictly inside (-3, 3), 0 at -3 and 3 |
 * | hardSwish | 0 below -3, x/3 + 1/2 on [-3, 3) (so -1/2 at -3), 1 from 3 on |
 *
 * hardSwish at exactly x = 3: PyTorch 1.13 is not self-consistent there. Its CPU vectorized loop
 * (which handles the bulk of every tensor) gives 1, while its scalar loop (the tail elements that do
 * not fill a vector block) and its CUDA kernel give 3/2. convkit follows the vectorized CPU loop, so
 * the gradient does not depend on an element's position.
 *
 * Gradients are computed from the saved input in float64 (not from the rounded float32 output), so
 * sigmoid-like gradients stay accurate where the output saturates.
 */
import type { Tensor } from "../autograd/tensor.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { unaryLoops } from "./elementwise.js";

// Each activation has its own forward and backward loop (see unaryLoops), with the formula written in the
// loop. relu, the hot one, avoids data-dependent branches: with signs at random, a mispredicted branch per
// element costs more than the arithmetic.

/** Int32 view of a float32 buffer (same bytes), for bit-level loops. */
function bits(a: Float32Array): Int32Array {
  return new Int32Array(a.buffer, a.byteOffset, a.length);
}

/**
 * max(x, 0) on the float32 bit patterns, branch-free: a pattern with the sign bit set is a negative number,
 * -0 or -Infinity (all give +0, as Math.max(v, 0) does) when it is at most the bits of -Infinity
 * (0xff800000), and a NaN (kept) above. The mask is all ones exactly for the first kind.
 */
function reluForward(xd: Float32Array, out: Float32Array): void {
  const xi = bits(xd);
  const oi = bits(out);
  for (let i = 0; i < xi.length; i++) {
    const v = xi[i];
    oi[i] = v & ~((v >> 31) & ((v + 8388607) >> 31));
  }
}

/** g * (x > 0 ? 1 : 0) (threshold_backward), as a product with the comparison's 0 or 1. */
function reluBackward(g: Float32Array, xd: Float32Array, gx: Float32Array): void {
  for (let i = 0; i < gx.length; i++) gx[i] = g[i] * +(xd[i] > 0);
}

/** max(x, 0) (torch.relu). NaN propagates, as in PyTorch. */
export function relu(x: Tensor): Tensor {
  return unaryLoops("relu", x, reluForward, reluBackward);
}

/** min(max(x, 0), 6) (torch.nn.functional.relu6). */
export function relu6(x: Tensor): Tensor {
  return unaryLoops(
    "relu6",
    x,
    (xd, out) => {
      // v <= 0 ? 0 : min(v, 6): relu on the bits, then the (rarely taken) clamp at 6; NaN propagates.
      reluForward(xd, out);
      for (let i = 0; i < out.length; i++) if (out[i] > 6) out[i] = 6;
    },
    (g, xd, gx) => {
      for (let i = 0; i < gx.length; i++) {
        const v = xd[i];
        gx[i] = g[i] * (+(v > 0) & +(v < 6));
      }
    },
  );
}

/** x for x > 0, negativeSlope * x otherwise (torch.nn.functional.leaky_relu). */
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  if (typeof negativeSlope !== "number" || !Number.isFinite(negativeSlope)) {
    throw new ArgumentError(describe("leakyRelu", "negativeSlope", "a finite number", negativeSlope));
  }
  const s = negativeSlope;
  return unaryLoops(
    "leakyRelu",
    x,
    (xd, out) => {
      for (let i = 0; i < out.length; i++) {
        const v = xd[i];
        out[i] = v > 0 ? v : v * s;
      }
    },
    (g, xd, gx) => {
      for (let i = 0; i < gx.length; i++) gx[i] = g[i] * (xd[i] > 0 ? 1 : s);
    },
  );
}

/** 1 / (1 + e^-x) (torch.sigmoid), evaluated without overflow for large |x|. */
export function sigmoid(x: Tensor): Tensor {
  return unaryLoops(
    "sigmoid",
    x,
    (xd, out) => {
      for (let i = 0; i < out.length; i++) out[i] = logistic(xd[i]);
    },
    (g, xd, gx) => {
      for (let i = 0; i < gx.length; i++) {
        const y = logistic(xd[i]);
        gx[i] = g[i] * (y * (1 - y));
      }
    },
  );
}

function logistic(v: number): number {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

/** relu6(x + 3) / 6 (torch.nn.functional.hardsigmoid). */
export function hardSigmoid(x: Tensor): Tensor {
  return unaryLoops(
    "hardSigmoid",
    x,
    (xd, out) => {
      for (let i = 0; i < out.length; i++) {
        const v = xd[i];
        out[i] = v <= -3 ? 0 : v >= 3 ? 1 : (v + 3) / 6;
      }
    },
    (g, xd, gx) => {
      for (let i = 0; i < gx.length; i++) {
        const v = xd[i];
        gx[i] = g[i] * (v > -3 && v < 3 ? 1 / 6 : 0);
      }
    },
  );
}

/** x * relu6(x + 3) / 6 (torch.nn.functional.hardswish, MobileNetV3). */
export function hardSwish(x: Tensor): Tensor {
  return unaryLoops(
    "hardSwish",
    x,
    (xd, out) => {
      for (let i = 0; i < out.length; i++) {
        const v = xd[i];
        // v * 0 rather than 0 below -3: PyTorch's formula gives -0 there, and NaN at -Infinity.
        out[i] = v <= -3 ? v * 0 : v >= 3 ? v : (v * (v + 3)) / 6;
      }
    },
    (g, xd, gx) => {
      for (let i = 0; i < gx.length; i++) {
        const v = xd[i];
        gx[i] = g[i] * (v < -3 ? 0 : v < 3 ? v / 3 + 0.5 : 1);
      }
    },
  );
}

/** x * sigmoid(x) (torch.nn.functional.silu, a.k.a. swish). */
export function silu(x: Tensor): Tensor {
  return unaryLoops(
    "silu",
    x,
    (xd, out) => {
      for (let i = 0; i < out.length; i++) {
        const v = xd[i];
        out[i] = v * logistic(v);
      }
    },
    (g, xd, gx) => {
      for (let i = 0; i < gx.length; i++) {
        const v = xd[i];
        const s = logistic(v);
        gx[i] = g[i] * (s * (1 + v * (1 - s)));
      }
    },
  );
}

/** Hyperbolic tangent (torch.tanh). */
export function tanh(x: Tensor): Tensor {
  return unaryLoops(
    "tanh",
    x,
    (xd, out) => {
      for (let i = 0; i < out.length; i++) out[i] = Math.tanh(xd[i]);
    },
    (g, xd, gx) => {
      for (let i = 0; i < gx.length; i++) {
        const y = Math.tanh(xd[i]);
        gx[i] = g[i] * (1 - y * y);
      }
    },
  );
}
