import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { lowRank, symmetricEigen } from "../../src/rewrite/linalg.js";
import { Rng } from "../../src/tensor/rng.js";

function random(rows: number, cols: number, rng: Rng): Float64Array {
  return Float64Array.from({ length: rows * cols }, () => rng.normal());
}

function matmul(a: Float64Array, b: Float64Array, n: number, k: number, m: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) for (let t = 0; t < k; t++) out[i * m + j] += a[i * k + t] * b[t * m + j];
  return out;
}

function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

describe("linalg: truncated SVD", () => {
  it("symmetricEigen diagonalises: A v = lambda v, eigenvalues descending", () => {
    const rng = new Rng(1);
    const n = 6;
    const b = random(n, n, rng);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = b[i * n + j] + b[j * n + i];
    const { values, vectors } = symmetricEigen(Float64Array.from(a), n);
    for (let k = 0; k < n; k++) {
      if (k > 0) expect(values[k]).toBeLessThanOrEqual(values[k - 1]);
      for (let i = 0; i < n; i++) {
        let av = 0;
        for (let j = 0; j < n; j++) av += a[i * n + j] * vectors[j * n + k];
        expect(av).toBeCloseTo(values[k] * vectors[i * n + k], 9);
      }
    }
  });

  it("full rank reproduces the matrix; a rank-r matrix is exact at rank r (both orientations)", () => {
    const rng = new Rng(2);
    for (const [rows, cols, r] of [
      [7, 4, 2],
      [3, 9, 1],
      [12, 12, 5],
    ]) {
      const a = random(rows, cols, rng);
      const full = lowRank(a, rows, cols, Math.min(rows, cols));
      const back = matmul(full.left, full.right, rows, full.rank, cols);
      expect(norm(back.map((v, i) => v - a[i])) / norm(a)).toBeLessThan(1e-10);
      const low = matmul(random(rows, r, rng), random(r, cols, rng), rows, r, cols);
      const f = lowRank(low, rows, cols, r);
      const rec = matmul(f.left, f.right, rows, r, cols);
      expect(norm(rec.map((v, i) => v - low[i])) / norm(low), `${rows}x${cols} rank ${r}`).toBeLessThan(1e-9);
      expect(f.relativeError).toBeLessThan(1e-6);
    }
  });

  it("property: the truncation satisfies the optimality conditions of the best rank-r approximation", () => {
    // E = A - L R must be orthogonal to L's columns and R's rows (Eckart-Young's first-order conditions), its
    // norm must be the discarded singular values, and every kept singular value at least every discarded one.
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 0, max: 1000 }),
        (rows, cols, rank, seed) => {
          const r = Math.min(rank, rows, cols);
          const a = random(rows, cols, new Rng(seed));
          const f = lowRank(a, rows, cols, r);
          const e = matmul(f.left, f.right, rows, r, cols).map((v, i) => a[i] - v);
          const scale = norm(a);
          for (let k = 0; k < r; k++) {
            for (let j = 0; j < cols; j++) {
              let s = 0;
              for (let i = 0; i < rows; i++) s += f.left[i * r + k] * e[i * cols + j];
              expect(Math.abs(s)).toBeLessThan(1e-8 * scale * scale);
            }
          }
          const discarded = Math.sqrt(f.singular.slice(r).reduce((acc, s) => acc + s * s, 0));
          expect(norm(e)).toBeCloseTo(discarded, 8);
          if (r < f.singular.length) expect(f.singular[r - 1]).toBeGreaterThanOrEqual(f.singular[r] - 1e-12);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("ranks above min(rows, cols) leave the extra components at zero", () => {
    const a = random(3, 2, new Rng(5));
    const f = lowRank(a, 3, 2, 4);
    expect(f.left.length).toBe(12);
    for (let i = 0; i < 3; i++) for (let k = 2; k < 4; k++) expect(f.left[i * 4 + k]).toBe(0);
    expect(f.relativeError).toBeLessThan(1e-7);
  });

  it("a zero matrix gives zero factors and zero error", () => {
    const f = lowRank(new Float64Array(6), 2, 3, 1);
    expect(f.relativeError).toBe(0);
    expect([...f.left, ...f.right].every((v) => v === 0)).toBe(true);
  });
});
