// Tile and block sizes of the packed GEMM (assembly/gemm.ts).

/** Columns per micro-tile: two f32x4 vectors. */
export const NR: i32 = 8;
/**
 * Rows per micro-tile. x64 V8 gives wasm 15 usable xmm registers: 4x8 holds 8 accumulators + 2 B vectors
 * + 1 broadcast (+ 1 product temporary when unfused). 6x8 (12 accumulators) spills: measured 30 GFLOP/s
 * against 47-58 for 4x8 on 256^3..512^3, with or without fused multiply-add.
 */
export const MR: i32 = 4;
/** Depth of one packed block (A panel 4 x 256 floats = 4 KiB, B panel 8 KiB: both stay in L1). */
export const KC: i32 = 256;
/** Rows of A packed at once (a multiple of MR); the packed block (120 KiB) stays in L2. */
export const MC: i32 = 120;
/** Columns of B packed at once; the packed block (up to 1 MiB) stays in L2/L3. */
export const NC: i32 = 1024;
