import v8 from "node:v8";
import { detectWasmFeatures } from "../../src/kernels/wasm/detect.js";
import type { WasmVariant } from "../../src/kernels/wasm/module.js";
import { Rng } from "../../src/tensor/rng.js";

/**
 * Both builds of the kernels are tested. Node 20 ships relaxed SIMD behind a V8 flag (on by default from
 * Node 22), and the flag can be set at run time before the first relaxed module is validated.
 */
export function enableRelaxedSimd(): void {
  v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
}

/** The variants every wasm kernel test runs on. */
export const WASM_VARIANTS: readonly WasmVariant[] = ["simd", "relaxed-simd"];

enableRelaxedSimd();
const features = detectWasmFeatures();
if (!features.simd || !features.relaxedSimd) {
  throw new Error(
    `wasm tests need WebAssembly SIMD and relaxed SIMD, runtime has ${JSON.stringify(features)}`,
  );
}

export function randArray(size: number, rng: Rng): Float32Array {
  const a = new Float32Array(size);
  for (let i = 0; i < size; i++) a[i] = rng.normal();
  return a;
}

export { Rng };
