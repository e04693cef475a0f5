/**
 * WebAssembly feature detection by validating tiny modules, the way wasm-feature-detect does: a runtime
 * that does not know an opcode rejects the module, with no code compiled or run.
 */

/** Which WebAssembly features this runtime accepts. */
export interface WasmFeatures {
  wasm: boolean;
  simd: boolean;
  /** Relaxed SIMD (f32x4.relaxed_madd): Chrome 114+, Firefox 120+; Node 20 only with --experimental-wasm-relaxed-simd. */
  relaxedSimd: boolean;
}

// (module (func (result v128) <body>)): type, function and code sections around one body.
function moduleWith(body: number[]): Uint8Array {
  const head = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02,
    0x01, 0x00,
  ];
  return new Uint8Array([...head, 0x0a, body.length + 2, 0x01, body.length, ...body]);
}

const V128_ZERO = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
/** v128.const 0; end */
const SIMD_PROBE = moduleWith([0x00, ...V128_ZERO, 0x0b]);
/** v128.const 0 (x3); f32x4.relaxed_madd (0xfd 0x105); end */
const RELAXED_PROBE = moduleWith([0x00, ...V128_ZERO, ...V128_ZERO, ...V128_ZERO, 0xfd, 0x85, 0x02, 0x0b]);

function validates(bytes: Uint8Array): boolean {
  try {
    return WebAssembly.validate(bytes as BufferSource);
  } catch {
    return false;
  }
}

/** Probes the runtime now (not cached: a Node flag set at run time changes the answer). */
export function detectWasmFeatures(): WasmFeatures {
  const wasm = typeof WebAssembly === "object" && typeof WebAssembly.validate === "function";
  if (!wasm) return { wasm: false, simd: false, relaxedSimd: false };
  const simd = validates(SIMD_PROBE);
  return { wasm, simd, relaxedSimd: simd && validates(RELAXED_PROBE) };
}
