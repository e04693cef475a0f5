/**
 * The ceiling of one core for f32x4 WebAssembly: a loop of independent multiply-adds (11 accumulators, no
 * memory traffic), compiled with AssemblyScript in both builds. It bounds what any wasm SIMD kernel reaches
 * here; native engines use wider vectors (AVX2/AVX-512) and are not bound by it.
 *   npx tsx bench/peak.ts   (prints GFLOP/s for mul+add and for relaxed FMA)
 */
import v8 from "node:v8";
import asc from "assemblyscript/asc";

const SOURCE = `
export function run(iters: i32, seed: f32): f32 {
  // acc_i += x * y: the products do not depend on the accumulators (as in a GEMM tile), so the loop is
  // bound by multiply-add throughput, not latency. x changes every iteration so nothing is hoisted.
  let x = f32x4.splat(seed);
  const d = f32x4.splat(1e-7);
  const y0 = f32x4.splat(0.5);
  const y1 = f32x4.splat(0.25);
  let a0 = f32x4.splat(0); let a1 = a0; let a2 = a0; let a3 = a0; let a4 = a0; let a5 = a0;
  let a6 = a0; let a7 = a0; let a8 = a0; let a9 = a0; let a10 = a0;
  for (let i = 0; i < iters; i++) {
    a0 = MADD(x, y0, a0); a1 = MADD(x, y1, a1); a2 = MADD(x, y0, a2); a3 = MADD(x, y1, a3);
    a4 = MADD(x, y0, a4); a5 = MADD(x, y1, a5); a6 = MADD(x, y0, a6); a7 = MADD(x, y1, a7);
    a8 = MADD(x, y0, a8); a9 = MADD(x, y1, a9); a10 = MADD(x, y0, a10);
    x = f32x4.add(x, d);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(f32x4.add(s, f32x4.add(f32x4.add(a8, a9), a10)), 0);
}`;

async function build(fused: boolean): Promise<Uint8Array> {
  const madd = fused ? "f32x4.relaxed_madd(a, b, c)" : "f32x4.add(f32x4.mul(a, b), c)";
  const src = `function MADD(a: v128, b: v128, c: v128): v128 { return ${madd}; }\n${SOURCE}`;
  const flags = [
    "-O3",
    "--runtime",
    "stub",
    "--enable",
    "simd",
    ...(fused ? ["--enable", "relaxed-simd"] : []),
  ];
  const out: Record<string, Uint8Array | string> = {};
  const { error, stderr } = await asc.main(["peak.ts", ...flags, "--outFile", "peak.wasm"], {
    readFile: (name) => (name === "peak.ts" ? src : null),
    writeFile: (name, contents) => {
      out[name] = contents;
    },
    listFiles: () => [],
  });
  if (error) throw new Error(`${error.message}\n${stderr.toString()}`);
  return out["peak.wasm"] as Uint8Array;
}

/** GFLOP/s of the multiply-add loop, best of 5, unfused and (when the runtime has relaxed SIMD) fused. */
export async function measurePeak(): Promise<{ mulAdd: number; fma: number | null }> {
  const result: { mulAdd: number; fma: number | null } = { mulAdd: 0, fma: null };
  for (const fused of [false, true]) {
    const bytes = await build(fused);
    if (!WebAssembly.validate(bytes as BufferSource)) continue;
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes as BufferSource), {
      env: { abort() {} },
    });
    const run = instance.exports.run as (iters: number, seed: number) => number;
    const iters = 20_000_000;
    run(1000, 0.5);
    let best = Number.POSITIVE_INFINITY;
    for (let r = 0; r < 5; r++) {
      const t = performance.now();
      run(iters, 0.5);
      best = Math.min(best, performance.now() - t);
    }
    // 11 vectors x 4 lanes x 2 FLOPs per iteration.
    const gflops = (iters * 11 * 4 * 2) / best / 1e6;
    if (fused) result.fma = gflops;
    else result.mulAdd = gflops;
  }
  return result;
}

if (process.argv[1]?.endsWith("peak.ts")) {
  v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
  const p = await measurePeak();
  console.log(`mul + add  : ${p.mulAdd.toFixed(1)} GFLOP/s (best of 5)`);
  console.log(`relaxed FMA: ${p.fma === null ? "unsupported" : `${p.fma.toFixed(1)} GFLOP/s (best of 5)`}`);
}
