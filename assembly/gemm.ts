// Packed single-precision GEMM, BLIS-style: C[m x n] = alpha * op(A) * op(B) + beta * C, row-major with
// leading dimensions. op(B) is packed in panels of NR columns (kc x NR, row after row), op(A) in panels of
// MR rows (kc x MR, column after column); an MR x NR register tile of f32x4 accumulators walks the panels.
// Transposes are absorbed by the packing, so one micro-kernel serves all four combinations.
import { f32s, fmadd, storeTransposed4 } from "./simd";
import { KC, MC, MR, NC, NR } from "./tiles";

/** Bytes of workspace one gemm call needs (packed A block, packed B block, one edge tile). */
export function gemmWorkspaceBytes(): usize {
  return f32s(MC * KC + KC * NC + 64);
}

function imin(a: i32, b: i32): i32 {
  return a < b ? a : b;
}

/** Packs rows [i0, i0+mc) x depth [p0, p0+kc) of op(A) into MR-row panels, zero-padding the last. */
function packA(transA: bool, a: usize, lda: i32, i0: i32, mc: i32, p0: i32, kc: i32, dst: usize): void {
  for (let ib = 0; ib < mc; ib += MR) {
    const mr = imin(MR, mc - ib);
    const panel = dst + f32s(ib * kc);
    if (transA) {
      // Stored k x m: one depth step is a contiguous run of rows.
      for (let p = 0; p < kc; p++) {
        const src = a + f32s((p0 + p) * lda + i0 + ib);
        const d = panel + f32s(p * MR);
        for (let r = 0; r < mr; r++) store<f32>(d + f32s(r), load<f32>(src + f32s(r)));
        for (let r = mr; r < MR; r++) store<f32>(d + f32s(r), 0);
      }
    } else {
      for (let r = 0; r < MR; r++) {
        const d = panel + f32s(r);
        if (r < mr) {
          const src = a + f32s((i0 + ib + r) * lda + p0);
          for (let p = 0; p < kc; p++) store<f32>(d + f32s(p * MR), load<f32>(src + f32s(p)));
        } else {
          for (let p = 0; p < kc; p++) store<f32>(d + f32s(p * MR), 0);
        }
      }
    }
  }
}

/** Packs depth [p0, p0+kc) x columns [j0, j0+nc) of op(B) into NR-column panels, zero-padding the last. */
function packB(transB: bool, b: usize, ldb: i32, p0: i32, kc: i32, j0: i32, nc: i32, dst: usize): void {
  for (let jb = 0; jb < nc; jb += NR) {
    const nr = imin(NR, nc - jb);
    const panel = dst + f32s(jb * kc);
    if (!transB) {
      if (nr === NR) {
        let src = b + f32s(p0 * ldb + j0 + jb);
        const step = f32s(ldb);
        for (let p = 0; p < kc; p++) {
          const d = panel + f32s(p * NR);
          v128.store(d, v128.load(src));
          v128.store(d, v128.load(src, 16), 16);
          src += step;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          const src = b + f32s((p0 + p) * ldb + j0 + jb);
          const d = panel + f32s(p * NR);
          for (let c = 0; c < nr; c++) store<f32>(d + f32s(c), load<f32>(src + f32s(c)));
          for (let c = nr; c < NR; c++) store<f32>(d + f32s(c), 0);
        }
      }
    } else {
      // Stored n x k: each column of op(B) is a contiguous run. Transpose 4x4 blocks with shuffles.
      packBTransposed(b, ldb, p0, kc, j0 + jb, nr, panel);
    }
  }
}

/** One NR-column panel of op(B) = B^T, B stored n x k (column j of op(B) is row j of B). */
function packBTransposed(b: usize, ldb: i32, p0: i32, kc: i32, j: i32, nr: i32, panel: usize): void {
  if (nr === NR) {
    const step = f32s(ldb);
    const r0 = b + f32s(j * ldb + p0);
    let p = 0;
    for (; p + 4 <= kc; p += 4) {
      const off = f32s(p);
      for (let h = 0; h < 2; h++) {
        const rh = r0 + <usize>(h * 4) * step + off;
        const x0 = v128.load(rh);
        const x1 = v128.load(rh + step);
        const x2 = v128.load(rh + 2 * step);
        const x3 = v128.load(rh + 3 * step);
        // 4x4 transpose: lanes (row, depth) -> (depth, row)
        storeTransposed4(x0, x1, x2, x3, panel + f32s(p * NR + h * 4), f32s(NR));
      }
    }
    for (; p < kc; p++) {
      const d = panel + f32s(p * NR);
      for (let c = 0; c < NR; c++) store<f32>(d + f32s(c), load<f32>(r0 + <usize>c * step + f32s(p)));
    }
  } else {
    for (let c = 0; c < NR; c++) {
      const d = panel + f32s(c);
      if (c < nr) {
        const src = b + f32s((j + c) * ldb + p0);
        for (let p = 0; p < kc; p++) store<f32>(d + f32s(p * NR), load<f32>(src + f32s(p)));
      } else {
        for (let p = 0; p < kc; p++) store<f32>(d + f32s(p * NR), 0);
      }
    }
  }
}

/** Writes one row of a tile: c = acc, or c += acc when accumulating. */
function storeRow(c: usize, x0: v128, x1: v128, accumulate: i32): void {
  if (accumulate) {
    v128.store(c, f32x4.add(v128.load(c), x0));
    v128.store(c, f32x4.add(v128.load(c, 16), x1), 16);
  } else {
    v128.store(c, x0);
    v128.store(c, x1, 16);
  }
}

/**
 * C[MR x NR] = (packed A panel) * (packed B panel) over depth kc, stored (accumulate 0) or added to C.
 * No alpha or beta here: two f32 arguments live across the loop would take two of the 15 vector registers
 * wasm gets on x64, and 6x8 spilled with them (25 GFLOP/s against 55 without); gemm applies a general
 * alpha and beta on an edge tile's path instead.
 */
export function kernel6x8(kc: i32, pa: usize, pb: usize, c: usize, ldc: usize, accumulate: i32): void {
  let c00 = f32x4.splat(0);
  let c01 = c00;
  let c10 = c00;
  let c11 = c00;
  let c20 = c00;
  let c21 = c00;
  let c30 = c00;
  let c31 = c00;
  let c40 = c00;
  let c41 = c00;
  let c50 = c00;
  let c51 = c00;
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c00 = fmadd(a, b0, c00);
    c01 = fmadd(a, b1, c01);
    a = v128.load32_splat(pa, 4);
    c10 = fmadd(a, b0, c10);
    c11 = fmadd(a, b1, c11);
    a = v128.load32_splat(pa, 8);
    c20 = fmadd(a, b0, c20);
    c21 = fmadd(a, b1, c21);
    a = v128.load32_splat(pa, 12);
    c30 = fmadd(a, b0, c30);
    c31 = fmadd(a, b1, c31);
    a = v128.load32_splat(pa, 16);
    c40 = fmadd(a, b0, c40);
    c41 = fmadd(a, b1, c41);
    a = v128.load32_splat(pa, 20);
    c50 = fmadd(a, b0, c50);
    c51 = fmadd(a, b1, c51);
    pa += 24;
    pb += 32;
  }
  storeRow(c, c00, c01, accumulate);
  storeRow(c + ldc, c10, c11, accumulate);
  storeRow(c + 2 * ldc, c20, c21, accumulate);
  storeRow(c + 3 * ldc, c30, c31, accumulate);
  storeRow(c + 4 * ldc, c40, c41, accumulate);
  storeRow(c + 5 * ldc, c50, c51, accumulate);
}

/**
 * kernel6x8 for a panel's first four rows only (A still packed MR floats a depth step): the last panel of
 * an M that leaves four rows or fewer (16 = 6 + 6 + 4) skips the padded rows' multiply-adds.
 */
export function kernel4x8(kc: i32, pa: usize, pb: usize, c: usize, ldc: usize, accumulate: i32): void {
  let c00 = f32x4.splat(0);
  let c01 = c00;
  let c10 = c00;
  let c11 = c00;
  let c20 = c00;
  let c21 = c00;
  let c30 = c00;
  let c31 = c00;
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c00 = fmadd(a, b0, c00);
    c01 = fmadd(a, b1, c01);
    a = v128.load32_splat(pa, 4);
    c10 = fmadd(a, b0, c10);
    c11 = fmadd(a, b1, c11);
    a = v128.load32_splat(pa, 8);
    c20 = fmadd(a, b0, c20);
    c21 = fmadd(a, b1, c21);
    a = v128.load32_splat(pa, 12);
    c30 = fmadd(a, b0, c30);
    c31 = fmadd(a, b1, c31);
    pa += f32s(MR);
    pb += 32;
  }
  storeRow(c, c00, c01, accumulate);
  storeRow(c + ldc, c10, c11, accumulate);
  storeRow(c + 2 * ldc, c20, c21, accumulate);
  storeRow(c + 3 * ldc, c30, c31, accumulate);
}

/** Copies the valid mr x nr corner of an edge tile (computed with alpha 1, beta 0) into C. */
function mergeTile(tile: usize, c: usize, ldc: i32, mr: i32, nr: i32, alpha: f32, beta: f32): void {
  for (let r = 0; r < mr; r++) {
    const src = tile + f32s(r * NR);
    const dst = c + f32s(r * ldc);
    for (let j = 0; j < nr; j++) {
      const v = alpha * load<f32>(src + f32s(j));
      const d = dst + f32s(j);
      store<f32>(d, beta === 0 ? v : v + beta * load<f32>(d));
    }
  }
}

/** C = beta * C (0 when beta is 0, whatever C held): the k == 0 case. */
function scaleC(m: i32, n: i32, beta: f32, c: usize, ldc: i32): void {
  for (let i = 0; i < m; i++) {
    const row = c + f32s(i * ldc);
    for (let j = 0; j < n; j++) {
      const d = row + f32s(j);
      store<f32>(d, beta === 0 ? 0 : beta * load<f32>(d));
    }
  }
}

/**
 * C[m x n] = alpha * op(A) * op(B) + beta * C. op(A) is A[m x k] (lda >= k) or, when transA, A stored
 * k x m (lda >= m); likewise op(B) is B[k x n] or B stored n x k. `ws` points at gemmWorkspaceBytes() bytes.
 */
export function gemm(
  transA: i32,
  transB: i32,
  m: i32,
  n: i32,
  k: i32,
  alpha: f32,
  a: usize,
  lda: i32,
  b: usize,
  ldb: i32,
  beta: f32,
  c: usize,
  ldc: i32,
  ws: usize,
): void {
  gemmBlocks(transA !== 0, transB !== 0, false, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ws);
}

/**
 * C[m x n] = A[m x k] * B + beta * C with B already packed (by im2colPanels): panel j (columns 8j to 8j + 7,
 * zero past n) is k rows of NR floats at b + 4 * k * NR * j. Any depth block of a panel is then a
 * contiguous run, so the GEMM reads the panels in place and skips its own packing pass over B.
 */
export function gemmPackedB(
  m: i32,
  n: i32,
  k: i32,
  a: usize,
  lda: i32,
  b: usize,
  beta: f32,
  c: usize,
  ldc: i32,
  ws: usize,
): void {
  gemmBlocks(false, false, true, m, n, k, 1, a, lda, b, 0, beta, c, ldc, ws);
}

/** Float offset of element (row, col) of a k-row matrix packed for gemmPackedB. */
export function packedBOffset(k: i32, row: i32, col: i32): i32 {
  return ((col >> 3) * k + row) * NR + (col & 7);
}

/** Zeroes the lanes of the last panel of a k x n matrix packed for gemmPackedB that lie past column n. */
export function zeroPackedBTail(b: usize, k: i32, n: i32): void {
  if ((n & 7) === 0) return;
  const last = b + f32s(packedBOffset(k, 0, n & ~7));
  for (let r = 0; r < k; r++) {
    for (let l = n & 7; l < NR; l++) store<f32>(last + f32s(r * NR + l), 0);
  }
}

function gemmBlocks(
  transA: bool,
  transB: bool,
  packedB: bool,
  m: i32,
  n: i32,
  k: i32,
  alpha: f32,
  a: usize,
  lda: i32,
  b: usize,
  ldb: i32,
  beta: f32,
  c: usize,
  ldc: i32,
  ws: usize,
): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    scaleC(m, n, beta, c, ldc);
    return;
  }
  const pa = ws;
  const pbBlock = ws + f32s(MC * KC);
  const tile = pbBlock + f32s(KC * NC);
  const ldcBytes = f32s(ldc);
  // The micro-kernel stores or adds its tile; any other alpha or beta goes through mergeTile.
  const plain = alpha === 1 && (beta === 0 || beta === 1);
  // Equal depth blocks (576 = 3 x 192 rather than 256 + 256 + 64) keep every block's tiles busy.
  const kBlocks = (k + KC - 1) / KC;
  const kcStep = (k + kBlocks - 1) / kBlocks;
  for (let jc = 0; jc < n; jc += NC) {
    const nc = imin(NC, n - jc);
    for (let pc = 0; pc < k; pc += kcStep) {
      const kc = imin(kcStep, k - pc);
      const betaBlock: f32 = pc === 0 ? beta : 1;
      // Where this block's first panel starts and how far apart its panels lie.
      let pb = pbBlock;
      let panelFloats = kc;
      if (packedB) {
        pb = b + f32s(jc * k + pc * NR);
        panelFloats = k;
      } else {
        // (Reading a non-transposed B in place, row stride ldb, instead of packing it was measured: 44 vs
        // 41 GFLOP/s on grouped 3x3 but 22 vs 49 on 5x5, whose long rows make every depth step a new page.)
        packB(transB, b, ldb, pc, kc, jc, nc, pbBlock);
      }
      for (let ic = 0; ic < m; ic += MC) {
        const mc = imin(MC, m - ic);
        packA(transA, a, lda, ic, mc, pc, kc, pa);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = imin(NR, nc - jr);
          const bPanel = pb + f32s(jr * panelFloats);
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = imin(MR, mc - ir);
            const aPanel = pa + f32s(ir * kc);
            const cTile = c + f32s((ic + ir) * ldc + jc + jr);
            if (mr === MR && nr === NR && plain) {
              kernel6x8(kc, aPanel, bPanel, cTile, ldcBytes, betaBlock === 0 ? 0 : 1);
            } else if (mr === 4 && nr === NR && plain) {
              kernel4x8(kc, aPanel, bPanel, cTile, ldcBytes, betaBlock === 0 ? 0 : 1);
            } else {
              if (mr <= 4) kernel4x8(kc, aPanel, bPanel, tile, f32s(NR), 0);
              else kernel6x8(kc, aPanel, bPanel, tile, f32s(NR), 0);
              mergeTile(tile, cTile, ldc, mr, nr, alpha, betaBlock);
            }
          }
        }
      }
    }
  }
}
