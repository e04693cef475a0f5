/**
 * Deformable convolution: reference loops vs sampling plan + GEMM, forward and backward.
 *
 *   npx tsx bench/deform.ts [--runs 5] [--ref-runs 3] [--size 56] [--channels 64]
 *
 * When the WebAssembly kernels load (src/kernels/wasm), the seam is timed a third time pointed at them
 * (assembly/deform.ts: plan, column fill, scatter and GEMM in WebAssembly). `npm run bench` times the same
 * case against ONNX Runtime and torchvision.
 *
 * Case: DCNv2 (modulated), batch 1, C -> C channels, 3x3, stride 1, padding 1, one offset group, offsets of
 * about a pixel. Throughput counts 2 FLOPs per multiply-add of the convolution's MACs
 * (N*Cout*Hout*Wout*Cin/groups*kH*kW); backward counts two of them (input side and weight side). Bilinear
 * sampling and scattering are not counted. The machine is shared: figures are indicative.
 */
import {
  type DeformConv2dGeometry,
  deformConv2dKernels,
  deformConv2dRefKernels,
} from "../src/kernels/deform.js";
import { Rng } from "../src/tensor/rng.js";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const runs = arg("runs", 5);
const refRuns = arg("ref-runs", 3);
const size = arg("size", 56);
const channels = arg("channels", 64);

const g: DeformConv2dGeometry = {
  n: 1,
  cIn: channels,
  hIn: size,
  wIn: size,
  cOut: channels,
  kH: 3,
  kW: 3,
  strideH: 1,
  strideW: 1,
  dilationH: 1,
  dilationW: 1,
  padTop: 1,
  padLeft: 1,
  padBottom: 1,
  padRight: 1,
  groups: 1,
  hOut: size,
  wOut: size,
  offsetGroups: 1,
};
const kk = g.kH * g.kW;
const hw = g.hOut * g.wOut;
const rng = new Rng(42);
const normal = (n: number, scale = 1) => Float32Array.from({ length: n }, () => scale * rng.normal());
const input = normal(g.n * g.cIn * g.hIn * g.wIn);
const offset = normal(g.n * 2 * g.offsetGroups * kk * hw);
const mask = Float32Array.from({ length: g.n * g.offsetGroups * kk * hw }, () => rng.uniform());
const weight = normal(g.cOut * g.cIn * kk, 0.05);
const bias = normal(g.cOut);
const gradOut = normal(g.n * g.cOut * hw);
const out = new Float32Array(g.n * g.cOut * hw);
const grads = {
  input: new Float32Array(input.length),
  offset: new Float32Array(offset.length),
  mask: new Float32Array(mask.length),
  weight: new Float32Array(weight.length),
};
const macs = g.n * g.cOut * hw * (g.cIn / g.groups) * kk;

interface Timing {
  median: number;
  min: number;
  max: number;
}

function time(fn: () => void, n: number): Timing {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)], min: ms[0], max: ms[ms.length - 1] };
}

function row(label: string, t: Timing, flops: number): string {
  const gflops = flops / (t.median * 1e6);
  return `${label.padEnd(26)} median ${t.median.toFixed(1).padStart(9)} ms  (min ${t.min.toFixed(1)}, max ${t.max.toFixed(1)})  ${gflops.toFixed(3).padStart(7)} GFLOP/s`;
}

console.log(
  `deformConv2d v2 bench: input [1, ${channels}, ${size}, ${size}], weight [${channels}, ${channels}, 3, 3], padding 1, 1 offset group`,
);
console.log(
  `forward: ${(macs / 1e6).toFixed(1)} M MACs = ${((2 * macs) / 1e6).toFixed(1)} MFLOPs; backward counted as twice that`,
);
console.log(`runs: ${runs} (plan + GEMM), ${refRuns} (reference); node ${process.version}`);

const fast = deformConv2dKernels;
const ref = deformConv2dRefKernels;
// One untimed call each so that the JIT has compiled the loops before timing.
fast.forward(input, offset, mask, weight, bias, g, out);
fast.backward(input, offset, mask, weight, gradOut, g, grads);

const results: [string, Timing, number][] = [];
results.push([
  "plan + GEMM forward",
  time(() => fast.forward(input, offset, mask, weight, bias, g, out), runs),
  2 * macs,
]);
results.push([
  "plan + GEMM backward",
  time(() => fast.backward(input, offset, mask, weight, gradOut, g, grads), runs),
  4 * macs,
]);
console.log(row(...results[0]));
console.log(row(...results[1]));
if (refRuns > 0) {
  results.push([
    "reference forward",
    time(() => ref.forward(input, offset, mask, weight, bias, g, out), refRuns),
    2 * macs,
  ]);
  console.log(row(...results[2]));
  results.push([
    "reference backward",
    time(() => ref.backward(input, offset, mask, weight, gradOut, g, grads), refRuns),
    4 * macs,
  ]);
  console.log(row(...results[3]));
  console.log(
    `speed-up of plan + GEMM: forward ${(results[2][1].median / results[0][1].median).toFixed(1)}x, backward ${(results[3][1].median / results[1][1].median).toFixed(1)}x`,
  );
}

// The seam pointed at the WebAssembly kernels, when that backend is available.
try {
  const wasm = await import("../src/kernels/wasm/index.js");
  const backend = wasm.useWasmKernelsSync();
  if (backend === "reference") {
    console.log("WebAssembly SIMD unavailable here: no WebAssembly row");
  } else {
    const check = new Float32Array(out.length);
    fast.forward(input, offset, mask, weight, bias, g, check);
    fast.backward(input, offset, mask, weight, gradOut, g, grads);
    const fwd = time(() => fast.forward(input, offset, mask, weight, bias, g, check), runs);
    const bwd = time(() => fast.backward(input, offset, mask, weight, gradOut, g, grads), runs);
    wasm.useReferenceKernels();
    fast.forward(input, offset, mask, weight, bias, g, out);
    let worst = 0;
    for (let i = 0; i < out.length; i++)
      worst = Math.max(worst, Math.abs(check[i] - out[i]) / (Math.abs(out[i]) + 1));
    console.log(row(`WebAssembly ${backend} forward`, fwd, 2 * macs));
    console.log(row(`WebAssembly ${backend} backward`, bwd, 4 * macs));
    console.log(
      `(forward output vs the TypeScript path: max |diff| / (|ref| + 1) = ${worst.toExponential(2)})`,
    );
  }
} catch (error) {
  console.log(`WebAssembly kernels not loaded (${(error as Error).message}): no WebAssembly row`);
}
