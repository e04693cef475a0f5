import { conv2dKernels } from "../conv2d.js";
import { deformConv2dKernels } from "../deform.js";
import { deformConv2dBackwardColumns, deformConv2dForwardColumns } from "../deform-columns.js";
import { gemmKernels } from "../gemm.js";
import { conv2dBackwardInputRef, conv2dBackwardWeightRef, conv2dForwardRef } from "../ref/conv2d.js";
import { gemmRef } from "../ref/gemm.js";
import { attachThreads, detachThreads, threadSupport } from "../threads/index.js";
import { installWasmBatchNorm, restoreReferenceBatchNorm } from "./batchnorm.js";
import { makeWasmConv2d } from "./conv2d.js";
import { makeWasmDeform } from "./deform.js";
import { makeWasmGemm } from "./gemm.js";
import {
  bestVariant,
  instantiate,
  instantiateSync,
  type WasmKernelModule,
  type WasmVariant,
} from "./module.js";
import { installWasmPool, restoreReferencePool } from "./pool.js";

export {
  type WasmConvDirection,
  type WasmConvOptions,
  type WasmConvPath,
  WINOGRAD_INDIRECT_MIN_CHANNELS,
  WINOGRAD_MIN_CHANNELS,
  wasmConvPath,
} from "./conv2d.js";
export { detectWasmFeatures, type WasmFeatures } from "./detect.js";
export type { WasmVariant } from "./module.js";

/** Which implementation the kernel seams dispatch to. */
export type KernelBackend = WasmVariant | "reference";

export interface UseWasmOptions {
  /** "auto" (default): relaxed SIMD when the runtime has it, else SIMD, else the TypeScript reference. */
  variant?: WasmVariant | "auto";
}

const modules = new Map<WasmVariant, WasmKernelModule>();
let active: KernelBackend = "reference";

function install(mod: WasmKernelModule): KernelBackend {
  gemmKernels.gemm = makeWasmGemm(mod);
  const runner = attachThreads(mod);
  const conv = makeWasmConv2d(mod, {}, runner);
  conv2dKernels.forward = conv.forward;
  conv2dKernels.backwardInput = conv.backwardInput;
  conv2dKernels.backwardWeight = conv.backwardWeight;
  const deform = makeWasmDeform(mod, {}, runner);
  deformConv2dKernels.forward = deform.forward;
  deformConv2dKernels.backward = deform.backward;
  installWasmBatchNorm(mod);
  installWasmPool(mod);
  active = mod.variant;
  return active;
}

function pick(options: UseWasmOptions): WasmVariant | null {
  const v = options.variant ?? "auto";
  return v === "auto" ? bestVariant() : v;
}

/**
 * Points the gemm, conv2d, deformConv2d, batch-norm and pooling seams at the WebAssembly kernels (compiled
 * once per variant, asynchronously, which browsers require on the main thread). Returns the backend now in
 * use: "reference" when the runtime has no WebAssembly SIMD. An explicitly requested variant the runtime
 * lacks is an ArgumentError.
 */
export async function useWasmKernels(options: UseWasmOptions = {}): Promise<KernelBackend> {
  const variant = pick(options);
  if (variant === null) return useReferenceKernels();
  let mod = modules.get(variant);
  if (!mod) {
    mod = await instantiate(variant, { shared: threadSupport().ok });
    modules.set(variant, mod);
  }
  return install(mod);
}

/** Same as useWasmKernels, compiling synchronously (Node, workers). */
export function useWasmKernelsSync(options: UseWasmOptions = {}): KernelBackend {
  const variant = pick(options);
  if (variant === null) return useReferenceKernels();
  let mod = modules.get(variant);
  if (!mod) {
    mod = instantiateSync(variant, { shared: threadSupport().ok });
    modules.set(variant, mod);
  }
  return install(mod);
}

/** Points the seams back at the plain TypeScript reference loops. */
export function useReferenceKernels(): "reference" {
  gemmKernels.gemm = gemmRef;
  conv2dKernels.forward = conv2dForwardRef;
  conv2dKernels.backwardInput = conv2dBackwardInputRef;
  conv2dKernels.backwardWeight = conv2dBackwardWeightRef;
  // Deformable convolution's TypeScript default is the sampling plan + GEMM path (on the reference GEMM).
  deformConv2dKernels.forward = deformConv2dForwardColumns;
  deformConv2dKernels.backward = deformConv2dBackwardColumns;
  restoreReferenceBatchNorm();
  restoreReferencePool();
  detachThreads();
  active = "reference";
  return active;
}

/**
 * Points the seams at the backend a user asked for: "auto" takes WebAssembly SIMD when this runtime and
 * build have it and falls back to the TypeScript reference; "wasm" insists (its load error propagates).
 */
export function chooseKernels(choice: "auto" | "wasm" | "reference"): KernelBackend {
  if (choice === "reference") return useReferenceKernels();
  try {
    return useWasmKernelsSync();
  } catch (e) {
    if (choice === "wasm") throw e;
    return useReferenceKernels();
  }
}

/** The backend the seams dispatch to now. */
export function activeKernelBackend(): KernelBackend {
  return active;
}

/** Bytes of WebAssembly memory held by the loaded variants (their high-water marks). */
export function wasmMemoryBytes(): number {
  let total = 0;
  for (const m of modules.values()) total += m.memoryBytes;
  return total;
}
