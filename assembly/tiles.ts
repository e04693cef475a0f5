// Tile and block sizes of the packed GEMM (assembly/gemm.ts).

/** Columns per micro-tile: two f32x4 vectors. */
export const NR: i32 = 8;
/**
 * Rows per micro-tile. x64 V8 gives wasm 15 usable xmm registers: 6x8 holds 12 accumulators + 2 B vectors
 * + 1 broadcast, with nothing else live in the loop (the micro-kernel takes no float arguments: with alpha
 * and beta live it spilled, 25 GFLOP/s). Measured on packed panels in L1 (kc 64 and 256, relaxed SIMD):
 * 4x8 47-51 GFLOP/s, 5x8 51-54, 6x8 53-57.
 */
export const MR: i32 = 6;
/** Depth of one packed block (A panel 6 x 256 floats = 6 KiB, B panel 8 KiB: both stay in L1). */
export const KC: i32 = 256;
/** Rows of A packed at once (a multiple of MR); the packed block (120 KiB) stays in L2. */
export const MC: i32 = 120;
/** Columns of B packed at once; the packed block (up to 1 MiB) stays in L2/L3. */
export const NC: i32 = 1024;
