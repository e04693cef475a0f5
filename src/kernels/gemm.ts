import { gemmRef } from "./ref/gemm.js";

/** Signature every GEMM backend implements (see gemmRef for the meaning of each argument). */
export type Gemm = typeof gemmRef;

/**
 * The dispatch seam: ops call `kernels.gemm`, and a faster backend (WebAssembly SIMD) replaces the entry
 * when it loads. The reference stays importable for tests.
 */
export const gemmKernels: { gemm: Gemm } = { gemm: gemmRef };
