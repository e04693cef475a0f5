import type { Gemm } from "../gemm.js";
import type { WasmKernelModule } from "./module.js";

/**
 * The Gemm seam entry backed by the WebAssembly packed GEMM: copies op(A), op(B) (and C when beta is not 0)
 * into the module's memory, multiplies in float32, and copies C back. Same contract as gemmRef (contiguous
 * row-major operands, C not read when beta is 0).
 */
export function makeWasmGemm(mod: WasmKernelModule): Gemm {
  return (transA, transB, m, n, k, alpha, a, aOffset, b, bOffset, beta, c, cOffset) => {
    if (m <= 0 || n <= 0) return;
    const aLen = m * Math.max(k, 0);
    const bLen = Math.max(k, 0) * n;
    const cLen = m * n;
    const [pa, pb, pc] = mod.reserve([aLen * 4, bLen * 4, cLen * 4]);
    mod.write(pa, a, aOffset, aLen);
    mod.write(pb, b, bOffset, bLen);
    if (beta !== 0) mod.write(pc, c, cOffset, cLen);
    mod.exports.gemm(
      transA ? 1 : 0,
      transB ? 1 : 0,
      m,
      n,
      k,
      alpha,
      pa,
      transA ? m : k,
      pb,
      transB ? k : n,
      beta,
      pc,
      n,
      mod.gemmWs,
    );
    mod.read(pc, c, cOffset, cLen);
  };
}
