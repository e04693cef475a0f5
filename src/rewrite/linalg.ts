/**
 * The small dense linear algebra the weight carry-over needs: a truncated SVD in float64.
 *
 * A rule that factorises a kernel (separable, asymmetric, bottleneck) reshapes it to a matrix A (rows x cols)
 * and wants the rank-r matrices L (rows x r) and R (r x cols) with L·R the best rank-r approximation of A in the
 * Frobenius norm (Eckart-Young: the truncated SVD). We compute it from the eigen-decomposition of the smaller
 * Gram matrix (AᵀA or AAᵀ) (Householder tridiagonalisation + implicit QL), in float64: dependable, and accurate
 * enough here (the kernels are float32, so float64 with the squared condition number still leaves ~1e-8
 * relative error on every singular direction that matters). Cost ~ rows·cols·n + 9·n³ with n = min(rows, cols):
 * microseconds for per-channel slices, seconds for a 1536-wide ResNet/VGG matrix.
 */

/** A rank-r factorisation A ≈ L·R with the singular values split evenly: L = U·√S, R = √S·Vᵀ. */
export interface LowRank {
  /** rows x rank, row-major. */
  left: Float64Array;
  /** rank x cols, row-major. */
  right: Float64Array;
  rank: number;
  /** All singular values of A, largest first (min(rows, cols) of them). */
  singular: Float64Array;
  /** ‖A − L·R‖_F / ‖A‖_F from the discarded singular values (0 for a zero matrix). */
  relativeError: number;
}

/**
 * Symmetric eigen-decomposition: Householder reduction to tridiagonal form, then the implicit QL algorithm
 * (tred2 + tql2, as in EISPACK and the public-domain JAMA library), about 9·n³ flops: seconds for n = 1536 where
 * cyclic Jacobi takes minutes. `a` (n x n, row-major, symmetric) is not modified.
 * Returns eigenvalues (descending) and eigenvectors as columns of `vectors` (n x n, row-major), same order.
 */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  // v[i] holds row i of the accumulating orthogonal matrix V (A = V diag(d) Vᵀ at the end).
  const v = Array.from({ length: n }, (_, i) => Float64Array.from(a.subarray(i * n, (i + 1) * n)));
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 0) return { values: d, vectors: new Float64Array(0) };
  tred2(v, d, e, n);
  // tql2 rotates columns of V; work on its transpose so that those updates run along contiguous rows.
  const w = Array.from({ length: n }, (_, j) => Float64Array.from({ length: n }, (_, k) => v[k][j]));
  tql2(w, d, e, n);
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => d[j] - d[i]);
  const values = Float64Array.from(order, (i) => d[i]);
  const vectors = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const col = w[order[k]];
    for (let i = 0; i < n; i++) vectors[i * n + k] = col[i];
  }
  return { values, vectors };
}

/** Householder tridiagonalisation (JAMA's tred2): V, the diagonal d and the sub-diagonal e. */
function tred2(v: Float64Array[], d: Float64Array, e: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) d[j] = v[n - 1][j];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = v[i - 1][j];
        v[i][j] = 0;
        v[j][i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        v[j][i] = f;
        g = e[j] + v[j][j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += v[k][j] * d[k];
          e[k] += v[k][j] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) v[k][j] -= f * e[k] + g * d[k];
        d[j] = v[i - 1][j];
        v[i][j] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    v[n - 1][i] = v[i][i];
    v[i][i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = v[k][i + 1] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += v[k][i + 1] * v[k][j];
        for (let k = 0; k <= i; k++) v[k][j] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) v[k][i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = v[n - 1][j];
    v[n - 1][j] = 0;
  }
  v[n - 1][n - 1] = 1;
  e[0] = 0;
}

/** Implicit QL on the tridiagonal form (JAMA's tql2); `w[j]` is column j of V (updated in place). */
function tql2(w: Float64Array[], d: Float64Array, e: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n && Math.abs(e[m]) > eps * tst1) m++;
    if (m === n) m = n - 1;
    if (m > l) {
      for (let iter = 0; iter < 100; iter++) {
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          const wi = w[i];
          const wi1 = w[i + 1];
          for (let k = 0; k < n; k++) {
            const t = wi1[k];
            wi1[k] = s * wi[k] + c * t;
            wi[k] = c * wi[k] - s * t;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
        if (!(Math.abs(e[l]) > eps * tst1)) break;
      }
    }
    d[l] += f;
    e[l] = 0;
  }
}

/**
 * Best rank-`rank` approximation of the rows x cols matrix `a` (row-major, any numeric array): A ≈ L·R.
 * `rank` larger than min(rows, cols) is allowed; the extra components are zero.
 */
export function lowRank(a: ArrayLike<number>, rows: number, cols: number, rank: number): LowRank {
  const n = Math.min(rows, cols);
  // Work on the Gram matrix of the short side: G = AᵀA (cols x cols) when cols <= rows, else AAᵀ.
  const byCols = cols <= rows;
  const g = new Float64Array(n * n);
  if (byCols) {
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      for (let i = 0; i < cols; i++) {
        const ai = a[base + i];
        if (ai === 0) continue;
        for (let j = i; j < cols; j++) g[i * n + j] += ai * a[base + j];
      }
    }
  } else {
    for (let i = 0; i < rows; i++) {
      for (let j = i; j < rows; j++) {
        let s = 0;
        for (let k = 0; k < cols; k++) s += a[i * cols + k] * a[j * cols + k];
        g[i * n + j] = s;
      }
    }
  }
  let total = 0;
  for (let i = 0; i < n; i++) {
    total += g[i * n + i];
    for (let j = i + 1; j < n; j++) g[j * n + i] = g[i * n + j];
  }
  const { values, vectors } = symmetricEigen(g, n);
  const singular = Float64Array.from(values, (x) => Math.sqrt(Math.max(0, x)));
  const left = new Float64Array(rows * rank);
  const right = new Float64Array(rank * cols);
  const top = singular[0] ?? 0;
  let kept = 0;
  for (let k = 0; k < Math.min(rank, n); k++) {
    const s = singular[k];
    // Directions with a negligible singular value carry rounding noise only: leave them at zero.
    if (!(s > top * 1e-12) || s === 0) break;
    kept += s * s;
    const root = Math.sqrt(s);
    // With unit vector w from the Gram matrix, the other side is A·w / s (or Aᵀ·w / s).
    if (byCols) {
      for (let j = 0; j < cols; j++) right[k * cols + j] = vectors[j * n + k] * root;
      for (let r = 0; r < rows; r++) {
        let acc = 0;
        for (let j = 0; j < cols; j++) acc += a[r * cols + j] * vectors[j * n + k];
        left[r * rank + k] = acc / root;
      }
    } else {
      for (let r = 0; r < rows; r++) left[r * rank + k] = vectors[r * n + k] * root;
      for (let j = 0; j < cols; j++) {
        let acc = 0;
        for (let r = 0; r < rows; r++) acc += a[r * cols + j] * vectors[r * n + k];
        right[k * cols + j] = acc / root;
      }
    }
  }
  const relativeError = total > 0 ? Math.sqrt(Math.max(0, total - kept) / total) : 0;
  return { left, right, rank, singular, relativeError };
}
