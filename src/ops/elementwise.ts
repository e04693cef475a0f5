/**
 * Element-wise arithmetic with NumPy/PyTorch broadcasting (`add`, `sub`, `mul`, `div`) and a few
 * unary functions (`neg`, `exp`, `log`, `sqrt`, `pow` with a number exponent).
 *
 * Either operand of a binary op may be a plain number: it acts as a 0-d constant (shape `[]`) that
 * broadcasts to anything and never receives a gradient, like a Python scalar in PyTorch.
 * Values are computed in float64 and rounded once to float32; gradients of a broadcast operand are
 * summed over the repeated axes (reduceToShape).
 */
import { record } from "../autograd/record.js";
import { Tensor } from "../autograd/tensor.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { broadcastShapes, numel, sameShape } from "../tensor/shape.js";
import { type BroadcastWalk, broadcastWalk, reduceToShape } from "./broadcast.js";

/** A tensor, or a number used as a 0-d constant. */
export type Operand = Tensor | number;

function asTensor(x: Operand, op: string, argument: string): Tensor {
  if (x instanceof Tensor) return x;
  if (typeof x !== "number") throw new ArgumentError(describe(op, argument, "a Tensor or a number", x));
  return new Tensor(Float32Array.of(x), []);
}

// Each op has its own loops (rather than one loop calling a function per element, which V8 cannot inline
// once several ops share it): over the broadcast walk, reading operand a at ia and b at ib, both moving by
// their step (1, or 0 for a repeated value) along each run of the output. Every value is computed in float64
// and rounded once when stored, as before; gradients of a broadcast operand are rounded per element and then
// summed in float64 in output order (what reduceToShape of the rounded full-size gradient gives).

type BinaryLoop = (ad: Float32Array, bd: Float32Array, out: Float32Array, w: BroadcastWalk) => void;

function addLoop(ad: Float32Array, bd: Float32Array, out: Float32Array, w: BroadcastWalk): void {
  const { rows, inner } = w;
  const [sa, sb] = w.steps;
  const [ra, rb] = w.starts;
  for (let r = 0, o = 0; r < rows; r++) {
    let ia = ra[r];
    let ib = rb[r];
    for (let j = 0; j < inner; j++, o++, ia += sa, ib += sb) out[o] = ad[ia] + bd[ib];
  }
}

function subLoop(ad: Float32Array, bd: Float32Array, out: Float32Array, w: BroadcastWalk): void {
  const { rows, inner } = w;
  const [sa, sb] = w.steps;
  const [ra, rb] = w.starts;
  for (let r = 0, o = 0; r < rows; r++) {
    let ia = ra[r];
    let ib = rb[r];
    for (let j = 0; j < inner; j++, o++, ia += sa, ib += sb) out[o] = ad[ia] - bd[ib];
  }
}

function mulLoop(ad: Float32Array, bd: Float32Array, out: Float32Array, w: BroadcastWalk): void {
  const { rows, inner } = w;
  const [sa, sb] = w.steps;
  const [ra, rb] = w.starts;
  for (let r = 0, o = 0; r < rows; r++) {
    let ia = ra[r];
    let ib = rb[r];
    for (let j = 0; j < inner; j++, o++, ia += sa, ib += sb) out[o] = ad[ia] * bd[ib];
  }
}

function divLoop(ad: Float32Array, bd: Float32Array, out: Float32Array, w: BroadcastWalk): void {
  const { rows, inner } = w;
  const [sa, sb] = w.steps;
  const [ra, rb] = w.starts;
  for (let r = 0, o = 0; r < rows; r++) {
    let ia = ra[r];
    let ib = rb[r];
    for (let j = 0; j < inner; j++, o++, ia += sa, ib += sb) out[o] = ad[ia] / bd[ib];
  }
}

/** Broadcasts `a` and `b` to `outShape` and combines them element by element with `loop`. */
function zip(a: Tensor, b: Tensor, outShape: readonly number[], loop: BinaryLoop): Float32Array {
  const out = new Float32Array(numel(outShape));
  loop(a.data, b.data, out, broadcastWalk(outShape, [a.shape, b.shape]));
  return out;
}

/**
 * The gradient of one operand of mul or div, summed back to its shape: element i of the full-size gradient
 * is `kind`'s formula of g[i] and the broadcast operand values p = a, q = b, rounded to float32 (as when it
 * was stored in a full-size array), then summed in float64 in output order per operand element.
 */
type GradKind = "mulA" | "mulB" | "divA" | "divB";

function operandGrad(
  g: Float32Array,
  a: Tensor,
  b: Tensor,
  outShape: readonly number[],
  target: Tensor,
  kind: GradKind,
): Float32Array {
  const w = broadcastWalk(outShape, [a.shape, b.shape, target.shape]);
  if (sameShape(target.shape, outShape)) {
    const full = new Float32Array(g.length);
    gradLoop(g, a.data, b.data, w, kind, full, null);
    return full;
  }
  const acc = new Float64Array(target.numel);
  gradLoop(g, a.data, b.data, w, kind, null, acc);
  return Float32Array.from(acc);
}

/** Writes the rounded per-element gradient into `full`, or adds it into `acc` at the target's position. */
function gradLoop(
  g: Float32Array,
  ad: Float32Array,
  bd: Float32Array,
  w: BroadcastWalk,
  kind: GradKind,
  full: Float32Array | null,
  acc: Float64Array | null,
): void {
  const { rows, inner } = w;
  const [sa, sb, st] = w.steps;
  const [ra, rb, rt] = w.starts;
  for (let r = 0, o = 0; r < rows; r++) {
    let ia = ra[r];
    let ib = rb[r];
    let it = rt[r];
    for (let j = 0; j < inner; j++, o++, ia += sa, ib += sb, it += st) {
      let v: number;
      if (kind === "mulA") v = g[o] * bd[ib];
      else if (kind === "mulB") v = g[o] * ad[ia];
      else if (kind === "divA") v = g[o] / bd[ib];
      else {
        const q = bd[ib];
        v = (-g[o] * ad[ia]) / (q * q);
      }
      if (full !== null) full[o] = v;
      else acc![it] += Math.fround(v);
    }
  }
}

/** a + b with broadcasting (torch.add). */
export function add(a: Operand, b: Operand): Tensor {
  const x = asTensor(a, "add", "a");
  const y = asTensor(b, "add", "b");
  const shape = broadcastShapes(x.shape, y.shape, "add");
  return record("add", zip(x, y, shape, addLoop), shape, [x, y], (g, needs) => [
    needs[0] ? reduceToShape(g, shape, x.shape) : null,
    needs[1] ? reduceToShape(g, shape, y.shape) : null,
  ]);
}

/** a - b with broadcasting (torch.sub). */
export function sub(a: Operand, b: Operand): Tensor {
  const x = asTensor(a, "sub", "a");
  const y = asTensor(b, "sub", "b");
  const shape = broadcastShapes(x.shape, y.shape, "sub");
  return record("sub", zip(x, y, shape, subLoop), shape, [x, y], (g, needs) => [
    needs[0] ? reduceToShape(g, shape, x.shape) : null,
    needs[1] ? reduceToShape(negate(g), shape, y.shape) : null,
  ]);
}

/** a * b with broadcasting (torch.mul), e.g. squeeze-and-excitation's [N, C, H, W] * [N, C, 1, 1]. */
export function mul(a: Operand, b: Operand): Tensor {
  const x = asTensor(a, "mul", "a");
  const y = asTensor(b, "mul", "b");
  const shape = broadcastShapes(x.shape, y.shape, "mul");
  return record("mul", zip(x, y, shape, mulLoop), shape, [x, y], (g, needs) => [
    needs[0] ? operandGrad(g, x, y, shape, x, "mulA") : null,
    needs[1] ? operandGrad(g, x, y, shape, y, "mulB") : null,
  ]);
}

/** a / b with broadcasting (torch.div, true division; x / 0 gives ±Infinity or NaN as in IEEE). */
export function div(a: Operand, b: Operand): Tensor {
  const x = asTensor(a, "div", "a");
  const y = asTensor(b, "div", "b");
  const shape = broadcastShapes(x.shape, y.shape, "div");
  return record("div", zip(x, y, shape, divLoop), shape, [x, y], (g, needs) => [
    needs[0] ? operandGrad(g, x, y, shape, x, "divA") : null,
    needs[1] ? operandGrad(g, x, y, shape, y, "divB") : null,
  ]);
}

function negate(g: Float32Array): Float32Array {
  const out = new Float32Array(g.length);
  for (let i = 0; i < g.length; i++) out[i] = -g[i];
  return out;
}

/**
 * A unary op: `f` maps a value and `df` is its derivative at the input. Both run in float64 on the
 * saved input (not the rounded float32 output), so the gradient is as exact as the forward.
 * Generic (one call per element); the ops below and the activations use `unaryLoops` instead.
 */
export function unary(name: string, x: Tensor, f: (v: number) => number, df: (v: number) => number): Tensor {
  return unaryLoops(
    name,
    x,
    (xd, out) => {
      for (let i = 0; i < out.length; i++) out[i] = f(xd[i]);
    },
    (g, xd, gx) => {
      for (let i = 0; i < g.length; i++) gx[i] = g[i] * df(xd[i]);
    },
  );
}

/** Fills `out` with f(x) element by element. */
export type UnaryForward = (x: Float32Array, out: Float32Array) => void;
/** Fills `gx` with g * f'(x) element by element. */
export type UnaryBackward = (g: Float32Array, x: Float32Array, gx: Float32Array) => void;

/**
 * A unary op given as its two loops, each written out per op so that V8 compiles the element formula into
 * the loop (a shared loop calling `f` per element costs a call per element). Same contract as `unary`:
 * float64 on the saved input, rounded once when stored.
 */
export function unaryLoops(name: string, x: Tensor, forward: UnaryForward, backward: UnaryBackward): Tensor {
  if (!(x instanceof Tensor)) throw new ArgumentError(describe(name, "x", "a Tensor", x));
  const xd = x.data;
  const out = new Float32Array(xd.length);
  forward(xd, out);
  return record(name, out, x.shape, [x], (g) => {
    const gx = new Float32Array(g.length);
    backward(g, xd, gx);
    return [gx];
  });
}

/** -x (torch.neg). */
export function neg(x: Tensor): Tensor {
  return unaryLoops(
    "neg",
    x,
    (xd, out) => {
      for (let i = 0; i < out.length; i++) out[i] = -xd[i];
    },
    (g, _xd, gx) => {
      for (let i = 0; i < gx.length; i++) gx[i] = g[i] * -1;
    },
  );
}

/** e^x (torch.exp). */
export function exp(x: Tensor): Tensor {
  return unaryLoops(
    "exp",
    x,
    (xd, out) => {
      for (let i = 0; i < out.length; i++) out[i] = Math.exp(xd[i]);
    },
    (g, xd, gx) => {
      for (let i = 0; i < gx.length; i++) gx[i] = g[i] * Math.exp(xd[i]);
    },
  );
}

/** Natural logarithm (torch.log): -Infinity at 0, NaN below, gradient 1/x. */
export function log(x: Tensor): Tensor {
  return unaryLoops(
    "log",
    x,
    (xd, out) => {
      for (let i = 0; i < out.length; i++) out[i] = Math.log(xd[i]);
    },
    (g, xd, gx) => {
      for (let i = 0; i < gx.length; i++) gx[i] = g[i] * (1 / xd[i]);
    },
  );
}

/** Square root (torch.sqrt); the gradient 1/(2 sqrt x) is Infinity at 0, as in PyTorch. */
export function sqrt(x: Tensor): Tensor {
  return unaryLoops(
    "sqrt",
    x,
    (xd, out) => {
      for (let i = 0; i < out.length; i++) out[i] = Math.sqrt(xd[i]);
    },
    (g, xd, gx) => {
      for (let i = 0; i < gx.length; i++) gx[i] = g[i] * (0.5 / Math.sqrt(xd[i]));
    },
  );
}

/**
 * x ** exponent for a number exponent (torch.pow(x, exponent)). The gradient is
 * exponent * x^(exponent - 1), and exactly 0 for exponent 0 (PyTorch's pow_backward special case).
 */
export function pow(x: Tensor, exponent: number): Tensor {
  if (typeof exponent !== "number")
    throw new ArgumentError(describe("pow", "exponent", "a number", exponent));
  const e = exponent;
  return unaryLoops(
    "pow",
    x,
    (xd, out) => {
      for (let i = 0; i < out.length; i++) out[i] = xd[i] ** e;
    },
    (g, xd, gx) => {
      for (let i = 0; i < gx.length; i++) gx[i] = g[i] * (e === 0 ? 0 : e * xd[i] ** (e - 1));
    },
  );
}
