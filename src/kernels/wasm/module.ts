import { ArgumentError, describe } from "../../tensor/errors.js";
import { detectWasmFeatures } from "./detect.js";
import {
  RELAXED_SIMD_SHARED_WASM_BASE64,
  RELAXED_SIMD_WASM_BASE64,
  SIMD_SHARED_WASM_BASE64,
  SIMD_WASM_BASE64,
} from "./generated/binaries.js";

/** The two builds of assembly/: fused multiply-add (relaxed SIMD) or multiply then add (SIMD 128). */
export type WasmVariant = "relaxed-simd" | "simd";

/** Functions exported by assembly/index.ts (pointers are byte offsets into the module's memory). */
export interface KernelExports {
  heapBase(): number;
  gemmWorkspaceBytes(): number;
  gemm(
    transA: number,
    transB: number,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: number,
    lda: number,
    b: number,
    ldb: number,
    beta: number,
    c: number,
    ldc: number,
    ws: number,
  ): void;
  /** Floats of column-matrix workspace (per thread) for the geometry block at g (0 when pointwise). */
  convWorkspaceFloats(g: number): number;
  /** Floats of workspace (per thread) the depthwise kernels need for the geometry block at g. */
  depthwiseWorkspaceFloats(g: number): number;
  /** Deformable conv (assembly/deform.ts; geometry block plus the offset-group field): plan floats per array. */
  deformPlanFloats(g: number): number;
  /** Floats of one offset or mask gradient accumulator. */
  deformSumFloats(g: number): number;
  /** Floats of one weight group's column matrix. */
  deformColumnFloats(g: number): number;
  /** Floats of the forward's column workspace (the packed matrix, and a channel-last copy of an image). */
  deformForwardColumnFloats(g: number): number;
  /** Images [n0, n1). */
  deformForward(
    g: number,
    x: number,
    offset: number,
    /** 0: no mask (v1). */
    mask: number,
    weight: number,
    bias: number,
    hasBias: number,
    out: number,
    idx: number,
    wt: number,
    col: number,
    ws: number,
    n0: number,
    n1: number,
  ): void;
  /** Images [n0, n1); per-image weight gradients into gradWImages. */
  deformBackward(
    g: number,
    x: number,
    offset: number,
    mask: number,
    weight: number,
    gradOut: number,
    gradX: number,
    gradOffset: number,
    gradMask: number,
    gradWImages: number,
    idx: number,
    wt: number,
    slopes: number,
    col: number,
    gradCol: number,
    /** dx and dm follow, each deformSumFloats rounded up to 16 floats. */
    dy: number,
    ws: number,
    n0: number,
    n1: number,
  ): void;
  deformSumImages(dst: number, src: number, images: number, len: number): void;
  /** dst = the images' partial results added in image order, the first copied (assembly/sum.ts). */
  sumImages(dst: number, src: number, images: number, len: number): void;
  /** Floats of workspace per thread of the Winograd forward (transform scratch, V, M, padded plane). */
  winogradWorkspaceFloats(g: number): number;
  /** Floats of the transformed weights U, shared by the threads of a call. */
  winogradWeightFloats(g: number): number;
  winogradTransformWeights(g: number, w: number, u: number, work: number): void;
  /** Tile rows [r0, r1), numbered n * ceil(Hout / 4) + ty. */
  convForwardWinograd(
    g: number,
    x: number,
    u: number,
    bias: number,
    out: number,
    work: number,
    r0: number,
    r1: number,
  ): void;
  /** Output rows [r0, r1), numbered n * Hout + oh. */
  convForwardGemm(
    g: number,
    x: number,
    w: number,
    bias: number,
    out: number,
    col: number,
    ws: number,
    r0: number,
    r1: number,
  ): void;
  /** Input planes [u0, u1), numbered n * Cin + c. */
  convBackwardInputGemm(
    g: number,
    gradOut: number,
    w: number,
    gradX: number,
    col: number,
    ws: number,
    u0: number,
    u1: number,
  ): void;
  /** Input channels [c0, c1) over output rows [r0, r1) (numbered n * Hout + oh). */
  convBackwardWeightGemm(
    g: number,
    x: number,
    gradOut: number,
    gradW: number,
    col: number,
    ws: number,
    c0: number,
    c1: number,
    r0: number,
    r1: number,
    accumulate: number,
  ): void;
  /** convBackwardWeightGemm's contract by Winograd F(3x3, 4x4) (3x3, stride 1, undilated; whole images). */
  convBackwardWeightWinograd(
    g: number,
    x: number,
    gradOut: number,
    gradW: number,
    work: number,
    ws: number,
    c0: number,
    c1: number,
    r0: number,
    r1: number,
    accumulate: number,
  ): void;
  /** Images [n0, n1), each into its own weight gradient at gradWImages + n weight sizes. */
  convBackwardWeightWinogradImages(
    g: number,
    x: number,
    gradOut: number,
    gradWImages: number,
    work: number,
    ws: number,
    n0: number,
    n1: number,
  ): void;
  /** Floats of workspace (per thread) of convBackwardWeightWinograd. */
  winogradGradWorkspaceFloats(g: number): number;
  /** Parts [p0, p1) of rowsPerPart output rows, each into its own Cout x K block of `partials`. */
  convBackwardWeightGemmParts(
    g: number,
    x: number,
    gradOut: number,
    partials: number,
    col: number,
    ws: number,
    rowsPerPart: number,
    p0: number,
    p1: number,
  ): void;
  /** Dilated-conv phases: input planes [u0, u1) (n * channels + c) into dH x dW phase images of hS x wS. */
  spaceToBatch(
    x: number,
    channels: number,
    hIn: number,
    wIn: number,
    dH: number,
    dW: number,
    pT: number,
    pL: number,
    hS: number,
    wS: number,
    dst: number,
    u0: number,
    u1: number,
  ): void;
  /** Phase outputs (hS x wS each) interleaved into output planes [u0, u1) (n * channels + c). */
  batchToSpace(
    src: number,
    channels: number,
    hS: number,
    wS: number,
    dH: number,
    dW: number,
    hOut: number,
    wOut: number,
    out: number,
    u0: number,
    u1: number,
  ): void;
  /** Kernel blocks: input planes [u0, u1) (n * cIn + c) as bh x bw shifted copies of hS x wS. */
  shiftStack(
    x: number,
    cIn: number,
    groups: number,
    hIn: number,
    wIn: number,
    pT: number,
    pL: number,
    bh: number,
    bw: number,
    hS: number,
    wS: number,
    dst: number,
    u0: number,
    u1: number,
  ): void;
  /** Input planes [u0, u1), numbered n * Cin + c. */
  depthwiseForward(
    g: number,
    x: number,
    w: number,
    bias: number,
    out: number,
    work: number,
    u0: number,
    u1: number,
  ): void;
  /** Input planes [u0, u1), numbered n * Cin + c. */
  depthwiseBackwardInput(
    g: number,
    gradOut: number,
    w: number,
    gradX: number,
    work: number,
    u0: number,
    u1: number,
  ): void;
  /** Filters of input channels [c0, c1) over images [n0, n1). */
  depthwiseBackwardWeight(
    g: number,
    x: number,
    gradOut: number,
    gradW: number,
    work: number,
    c0: number,
    c1: number,
    n0: number,
    n1: number,
    accumulate: number,
  ): void;
}

/** Names of the exported functions a worker may be asked to run (the thread pool's task table). */
export const PARALLEL_KERNELS = [
  "gemm",
  "convForwardWinograd",
  "convForwardGemm",
  "convBackwardInputGemm",
  "convBackwardWeightGemm",
  "convBackwardWeightWinograd",
  "convBackwardWeightWinogradImages",
  "convBackwardWeightGemmParts",
  "depthwiseForward",
  "depthwiseBackwardInput",
  "depthwiseBackwardWeight",
  "deformForward",
  "deformBackward",
  "spaceToBatch",
  "batchToSpace",
  "shiftStack",
] as const;

export type ParallelKernel = (typeof PARALLEL_KERNELS)[number];

const PAGE = 65536;
const ALIGN = 64;
/** Bytes kept for the geometry block (18 i32 fields = 72 bytes, rounded up). */
const GEOMETRY_BYTES = 128;

function alignUp(v: number, a: number): number {
  return Math.ceil(v / a) * a;
}

/**
 * One instance of the kernels and its memory. Layout: [static data | 128 B geometry block | gemm workspace |
 * per-call region]. The per-call region is laid out afresh by every call from offset `callBase`; memory grows
 * only when a call needs more than any call before (so in steady state nothing is allocated).
 */
export class WasmKernelModule {
  readonly exports: KernelExports;
  readonly memory: WebAssembly.Memory;
  readonly variant: WasmVariant;
  /** The compiled module (a thread pool instantiates it again in each worker, over the same shared memory). */
  readonly compiled: WebAssembly.Module;
  /** Whether the memory is shared (the build for threads). */
  readonly shared: boolean;
  /** Where the 18-field geometry block lives. */
  readonly geometryPtr: number;
  /** The gemm packing workspace. */
  readonly gemmWs: number;
  private readonly callBase: number;

  constructor(
    compiled: WebAssembly.Module,
    instance: WebAssembly.Instance,
    memory: WebAssembly.Memory,
    variant: WasmVariant,
    shared: boolean,
  ) {
    this.compiled = compiled;
    this.exports = instance.exports as unknown as KernelExports;
    this.memory = memory;
    this.variant = variant;
    this.shared = shared;
    this.geometryPtr = alignUp(this.exports.heapBase(), ALIGN);
    this.gemmWs = this.geometryPtr + GEOMETRY_BYTES;
    this.callBase = alignUp(this.gemmWs + this.exports.gemmWorkspaceBytes(), ALIGN);
    this.ensure(this.callBase);
  }

  /** Bytes of memory now (the high-water mark of every call so far). */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
  }

  /**
   * Lays out buffers of the given byte sizes for one call (64-byte aligned, in order) and returns their
   * offsets. Invalidates typed-array views taken before (the memory may grow): take views after this.
   */
  reserve(byteSizes: readonly number[]): number[] {
    let at = this.callBase;
    const ptrs: number[] = [];
    for (const size of byteSizes) {
      ptrs.push(at);
      at = alignUp(at + Math.max(0, size), ALIGN);
    }
    this.ensure(at);
    return ptrs;
  }

  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }

  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, length);
  }

  /** Copies `length` floats of `src` from `offset` into memory at `ptr`. */
  write(ptr: number, src: Float32Array, offset: number, length: number): void {
    this.f32(ptr, length).set(
      offset === 0 && src.length === length ? src : src.subarray(offset, offset + length),
    );
  }

  /** Copies `length` floats from memory at `ptr` into `dst` from `offset`. */
  read(ptr: number, dst: Float32Array, offset: number, length: number): void {
    dst.set(this.f32(ptr, length), offset);
  }
}

function decodeBase64(s: string): Uint8Array {
  const bin = atob(s);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/** The best variant this runtime runs, or null when it has no WebAssembly SIMD. */
export function bestVariant(): WasmVariant | null {
  const f = detectWasmFeatures();
  if (f.relaxedSimd) return "relaxed-simd";
  if (f.simd) return "simd";
  return null;
}

/** Instantiation choices: `shared` picks the build on a shared memory (for the thread pool). */
export interface InstantiateOptions {
  shared?: boolean;
}

function checkSupported(variant: WasmVariant, shared: boolean): Uint8Array {
  const f = detectWasmFeatures();
  const ok = variant === "relaxed-simd" ? f.relaxedSimd : f.simd;
  if (!ok) {
    throw new ArgumentError(
      describe(
        "useWasmKernels",
        "variant",
        "a variant this runtime supports (relaxed-simd needs Chrome 114+, or Node with --experimental-wasm-relaxed-simd)",
        variant,
      ),
    );
  }
  const base64 =
    variant === "relaxed-simd"
      ? shared
        ? RELAXED_SIMD_SHARED_WASM_BASE64
        : RELAXED_SIMD_WASM_BASE64
      : shared
        ? SIMD_SHARED_WASM_BASE64
        : SIMD_WASM_BASE64;
  return decodeBase64(base64);
}

/**
 * Maximum sizes tried for a shared memory, in 64 KiB pages: a shared memory cannot move, so the engine
 * reserves its maximum up front; 4 GiB is wasm32's whole space (cheap on 64-bit hosts), and 32-bit hosts
 * that cannot reserve it get the next size that they can.
 */
const SHARED_MAXIMUM_PAGES = [65536, 16384, 4096];

/** A fresh memory for the kernels: private, or shared (throws when the runtime cannot make one). */
export function createKernelMemory(shared: boolean): WebAssembly.Memory {
  if (!shared) return new WebAssembly.Memory({ initial: 1 });
  let last: unknown = null;
  for (const maximum of SHARED_MAXIMUM_PAGES) {
    try {
      return new WebAssembly.Memory({ initial: 1, maximum, shared: true });
    } catch (err) {
      last = err;
    }
  }
  throw last instanceof Error ? last : new Error(String(last));
}

function imports(memory: WebAssembly.Memory): WebAssembly.Imports {
  return {
    env: {
      memory,
      abort: () => {
        throw new Error("convkit wasm kernels: abort");
      },
    },
  };
}

/** Compiles and instantiates synchronously (Node, workers; browsers refuse large synchronous compiles on the main thread). */
export function instantiateSync(variant: WasmVariant, options: InstantiateOptions = {}): WasmKernelModule {
  const shared = options.shared ?? false;
  const bytes = checkSupported(variant, shared);
  const memory = createKernelMemory(shared);
  const compiled = new WebAssembly.Module(bytes as BufferSource);
  const instance = new WebAssembly.Instance(compiled, imports(memory));
  return new WasmKernelModule(compiled, instance, memory, variant, shared);
}

/** Compiles and instantiates asynchronously (works everywhere). */
export async function instantiate(
  variant: WasmVariant,
  options: InstantiateOptions = {},
): Promise<WasmKernelModule> {
  const shared = options.shared ?? false;
  const bytes = checkSupported(variant, shared);
  const memory = createKernelMemory(shared);
  const compiled = await WebAssembly.compile(bytes as BufferSource);
  const instance = await WebAssembly.instantiate(compiled, imports(memory));
  return new WasmKernelModule(compiled, instance, memory, variant, shared);
}
