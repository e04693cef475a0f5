import { appendFileSync } from "node:fs";
import { expect } from "vitest";

export interface CloseOptions {
  /** Relative tolerance: |a - e| <= rtol * (|e| + rms(expected)). */
  rtol?: number;
  /** Names the case in the failure message. */
  label?: string;
}

/**
 * Element-wise comparison, relative to each expected value plus the tensor's RMS (so that entries
 * that cancel to nearly zero are judged on the tensor's scale). Fails naming the case and element.
 * Returns the worst error ratio err / (|e| + rms), for reporting.
 */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  options: CloseOptions = {},
): number {
  const rtol = options.rtol ?? 1e-5;
  const label = options.label ?? "";
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let sq = 0;
  for (let i = 0; i < expected.length; i++) sq += expected[i] * expected[i];
  const rms = Math.sqrt(sq / Math.max(1, expected.length)) || 1e-12;
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!Number.isFinite(a) && a !== e) {
      throw new Error(`${label}: element ${i} is ${a}, expected ${e}`);
    }
    const err = Math.abs(a - e) / (Math.abs(e) + rms);
    if (err > worst) {
      worst = err;
      worstAt = i;
    }
  }
  // CONVKIT_WORST_ERRORS=FILE appends every comparison's worst error as a JSON line (test, label, error), so a
  // run of the golden tests can report the worst error per operator against PyTorch.
  const report = process.env.CONVKIT_WORST_ERRORS;
  if (report) {
    const test = expect.getState().testPath?.replace(/^.*\/test\//, "test/") ?? "";
    appendFileSync(report, `${JSON.stringify({ test, label, worst })}\n`);
  }
  if (worst > rtol) {
    throw new Error(
      `${label}: element ${worstAt}: got ${actual[worstAt]}, expected ${expected[worstAt]} (relative error ${worst.toExponential(2)} > ${rtol})`,
    );
  }
  return worst;
}
