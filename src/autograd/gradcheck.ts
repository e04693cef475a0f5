import { Rng } from "../tensor/rng.js";
import { noGrad } from "./gradmode.js";
import { Tensor } from "./tensor.js";

export interface GradcheckOptions {
  /** Finite-difference step. */
  eps?: number;
  /** Allowed |analytic - numeric| / (|numeric| + scale) where scale is the RMS of the numeric gradient. */
  rtol?: number;
  /** Seed of the random projection that reduces a tensor output to a scalar. */
  seed?: number;
  /** Check at most this many elements per input (chosen at random) to keep big cases fast. */
  maxElements?: number;
}

export interface GradcheckResult {
  worst: number;
  input: number;
  index: number;
  analytic: number;
  numeric: number;
}

/**
 * Compares the gradients of `fn` at `inputs` with central finite differences of
 * L = sum(fn(inputs) * R) for a fixed random R. Throws a message naming the input and element
 * that disagree; returns the worst relative error seen otherwise.
 */
export function gradcheck(
  fn: (...inputs: Tensor[]) => Tensor,
  inputs: Tensor[],
  options: GradcheckOptions = {},
): GradcheckResult {
  const eps = options.eps ?? 1e-2;
  const rtol = options.rtol ?? 2e-2;
  const rng = new Rng(options.seed ?? 1234);
  const leaves = inputs.map((x) => new Tensor(Float32Array.from(x.data), x.shape, x.requiresGrad));
  const out = fn(...leaves);
  const r = new Float32Array(out.numel);
  for (let i = 0; i < r.length; i++) r[i] = rng.normal();
  out.backward(r);

  const loss = (): number =>
    noGrad(() => {
      const y = fn(...leaves);
      let s = 0;
      for (let i = 0; i < y.data.length; i++) s += y.data[i] * r[i];
      return s;
    });

  let worst: GradcheckResult = { worst: 0, input: -1, index: -1, analytic: 0, numeric: 0 };
  leaves.forEach((x, k) => {
    if (!x.requiresGrad) return;
    const analytic = x.grad?.data ?? new Float32Array(x.numel);
    const indices = pickIndices(x.numel, options.maxElements ?? 64, rng);
    const numeric = new Float64Array(indices.length);
    indices.forEach((i, j) => {
      const orig = x.data[i];
      x.data[i] = orig + eps;
      const up = loss();
      x.data[i] = orig - eps;
      const down = loss();
      x.data[i] = orig;
      numeric[j] = (up - down) / (2 * eps);
    });
    let sq = 0;
    for (const v of numeric) sq += v * v;
    const scale = Math.sqrt(sq / Math.max(1, numeric.length)) + 1e-3;
    indices.forEach((i, j) => {
      const err = Math.abs(analytic[i] - numeric[j]) / (Math.abs(numeric[j]) + scale);
      if (err > worst.worst)
        worst = { worst: err, input: k, index: i, analytic: analytic[i], numeric: numeric[j] };
    });
  });
  if (worst.worst > rtol) {
    throw new Error(
      `gradcheck: input ${worst.input}, element ${worst.index}: analytic ${worst.analytic} vs numeric ${worst.numeric} (relative error ${worst.worst.toExponential(2)} > ${rtol})`,
    );
  }
  return worst;
}

function pickIndices(n: number, max: number, rng: Rng): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const all = Array.from({ length: n }, (_, i) => i);
  rng.shuffle(all);
  return all.slice(0, max).sort((a, b) => a - b);
}
