/**
 * `total` units split into `parts` contiguous ranges whose sizes differ by at most one (the larger first),
 * as [start, end) pairs; parts beyond `total` are left out, so every range is non-empty (when total > 0).
 */
export function splitRange(total: number, parts: number): [number, number][] {
  const n = Math.max(1, Math.min(parts, total));
  const out: [number, number][] = [];
  const base = Math.floor(total / n);
  const extra = total - base * n;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const size = base + (i < extra ? 1 : 0);
    out.push([at, at + size]);
    at += size;
  }
  return out;
}

/**
 * `total` units split into contiguous ranges in proportion to `shares` (positive, any scale), each at least
 * one unit: boundaries are the rounded cumulative shares. Needs total >= shares.length.
 */
export function splitByShares(total: number, shares: readonly number[]): [number, number][] {
  const n = shares.length;
  const sum = shares.reduce((a, b) => a + b, 0);
  const out: [number, number][] = [];
  let at = 0;
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += shares[i];
    const end = i === n - 1 ? total : Math.round((acc / sum) * total);
    // At least one unit here, and at least one left for each range after this one.
    const hi = Math.min(Math.max(end, at + 1), total - (n - 1 - i));
    out.push([at, hi]);
    at = hi;
  }
  return out;
}
