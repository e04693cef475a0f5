// The conv geometry block the loader writes into memory: 18 i32 fields in Conv2dGeometry's order
// (src/kernels/wasm/geometry.ts writes it; keep both lists in step).
export const G_N: i32 = 0;
export const G_CIN: i32 = 1;
export const G_HIN: i32 = 2;
export const G_WIN: i32 = 3;
export const G_COUT: i32 = 4;
export const G_KH: i32 = 5;
export const G_KW: i32 = 6;
export const G_SH: i32 = 7;
export const G_SW: i32 = 8;
export const G_DH: i32 = 9;
export const G_DW: i32 = 10;
export const G_PT: i32 = 11;
export const G_PL: i32 = 12;
export const G_PB: i32 = 13;
export const G_PR: i32 = 14;
export const G_GROUPS: i32 = 15;
export const G_HOUT: i32 = 16;
export const G_WOUT: i32 = 17;

/** Field `i` of the geometry block at `g`. */
export function gf(g: usize, i: i32): i32 {
  return load<i32>(g + ((<usize>i) << 2));
}
