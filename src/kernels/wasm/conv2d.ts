import type { Conv2dGeometry } from "../../tensor/conv-geometry.js";
import type { Conv2dKernels } from "../conv2d.js";
import type { KernelRunner, SplitCall, Stepped } from "../threads/call.js";
import { serialRunner } from "../threads/pool.js";
import {
  directFlops,
  imageWriter,
  keyOf,
  MIN_FLOPS_PER_THREAD,
  prepare,
  readRows,
  readTileRows,
  reserveFor,
  type Sizes,
  task,
  threadsFor,
} from "./conv-memory.js";
import {
  transposedGeometry,
  type WasmConvOptions,
  type WasmConvPath,
  WEIGHT_PARTS,
  wasmConvPath,
  weightGradientSplit,
  writeBlockKernel,
  writeTransposedFlipped,
} from "./conv-path.js";
import type { WasmKernelModule } from "./module.js";

export { MIN_FLOPS_PER_THREAD } from "./conv-memory.js";
export {
  MAX_BLOCKED_KERNEL,
  type WasmConvDirection,
  type WasmConvOptions,
  type WasmConvPath,
  WEIGHT_PARTS,
  WEIGHT_SPLIT_MIN_CHANNELS,
  WINOGRAD_INDIRECT_MIN_CHANNELS,
  WINOGRAD_MIN_CHANNELS,
  wasmConvPath,
  weightGradientSplit,
} from "./conv-path.js";

/**
 * Conv2d kernels on one WebAssembly module: inputs are copied in, results copied out, workspaces reused.
 * With a runner that has several threads, each call is split into ranges of rows, planes or channels that
 * give every element the same arithmetic as one thread, so every result (forward, input gradient, weight
 * gradient) is bit-identical whatever the thread count: see the work ranges in assembly/conv.ts and
 * weightGradientSplit. The calling thread copies each worker's inputs in just before starting it and reads
 * its own outputs while the workers finish theirs.
 */
/**
 * Largest batch of per-image weight gradients (floats) a Winograd weight gradient split by image may hold;
 * beyond it the split is by channel.
 */
const IMAGE_SPLIT_MAX_FLOATS = 8 * 1024 * 1024;

export function makeWasmConv2d(
  mod: WasmKernelModule,
  options: WasmConvOptions = {},
  runner: KernelRunner = serialRunner(mod),
): Conv2dKernels {
  const e = mod.exports;
  const minFlops = options.minFlopsPerThread ?? MIN_FLOPS_PER_THREAD;

  /**
   * A forward conv of geometry g, reading x (or the output gradient, for the Winograd input gradient) from
   * `src` and the weights through `writeWeights`, into dst.
   */
  /**
   * A 3x3 Winograd weight gradient on t threads split by image: each image's gradient into a buffer of its
   * own (convBackwardWeightWinogradImages), then added up in image order (sumImages), the one-thread call's
   * order. A split by channel repeats every image's output-gradient transform on each thread: 16.3 ms on one
   * thread against 10.5 on two for 64 channels of 56x56 at batch 8. `pg` and `s`: the caller's prepare().
   */
  const winogradWeightByImage = (
    x: Float32Array,
    gradOut: Float32Array,
    g: Conv2dGeometry,
    gradW: Float32Array,
    t: number,
    pg: number,
    s: Sizes,
  ): void => {
    const { ptrs, th } = reserveFor(mod, [s.x * 4, s.out * 4, g.n * s.w * 4], t, s.work);
    const [px, pgo, pimages] = ptrs;
    const xImage = g.cIn * g.hIn * g.wIn;
    const goImage = g.cOut * g.hOut * g.wOut;
    runner.runSplit({
      key: keyOf("backwardWeightByImage", "winograd-f4x4", g),
      units: g.n,
      threads: t,
      chunked: true,
      writeRange(n0, n1) {
        mod.write(px + n0 * xImage * 4, x, n0 * xImage, (n1 - n0) * xImage);
        mod.write(pgo + n0 * goImage * 4, gradOut, n0 * goImage, (n1 - n0) * goImage);
      },
      task: (n0, n1, i) =>
        task("convBackwardWeightWinogradImages", pg, px, pgo, pimages, th.work[i], th.ws[i], n0, n1),
    });
    // Summed into image 0's buffer (sumImages reads each float before it writes it).
    e.sumImages(pimages, pimages, g.n, s.w);
    mod.read(pimages, gradW, 0, s.w);
  };

  const forwardInto = (
    direction: string,
    g: Conv2dGeometry,
    path: WasmConvPath,
    src: Float32Array,
    writeWeights: (pw: number) => void,
    bias: Float32Array | null,
    dst: Float32Array,
  ): void => {
    const { pg, s } = prepare(mod, g, path);
    const depthwise = path === "depthwise-direct";
    const winograd = path === "winograd-f4x4";
    // Units: input planes (depthwise), tile rows of 4 output rows (Winograd) or output rows.
    const perImage = depthwise ? g.cIn : winograd ? Math.ceil(g.hOut / 4) : g.hOut;
    const units = g.n * perImage;
    const t = threadsFor(runner, units, directFlops(g), minFlops);
    const shared = [s.x * 4, s.w * 4, bias ? g.cOut * 4 : 0, s.out * 4];
    if (winograd) shared.push(e.winogradWeightFloats(pg) * 4);
    const { ptrs, th } = reserveFor(mod, shared, t, s.work);
    const [px, pw, pb, po, pu] = ptrs;
    const b = bias ? pb : 0;
    const planeIn = g.hIn * g.wIn;
    const planeOut = g.hOut * g.wOut;
    const mult = g.cOut / g.cIn;
    const writeImages = imageWriter(mod, px, src, g.n, g.cIn * planeIn);
    const call: SplitCall = {
      key: keyOf(direction, path, g),
      units,
      threads: t,
      chunked: true,
      writeShared() {
        writeWeights(pw);
        if (bias) mod.write(pb, bias, 0, g.cOut);
        // Transformed once, on this thread, into a buffer every task reads.
        if (winograd) e.winogradTransformWeights(pg, pw, pu, th.work[0]);
      },
      writeRange(u0, u1) {
        if (depthwise) mod.write(px + u0 * planeIn * 4, src, u0 * planeIn, (u1 - u0) * planeIn);
        else writeImages(Math.floor(u0 / perImage), Math.floor((u1 - 1) / perImage));
      },
      task(u0, u1, i) {
        if (depthwise) return task("depthwiseForward", pg, px, pw, b, po, th.work[i], u0, u1);
        if (winograd) return task("convForwardWinograd", pg, px, pu, b, po, th.work[i], u0, u1);
        return task("convForwardGemm", pg, px, pw, b, po, th.work[i], th.ws[i], u0, u1);
      },
      readRange(u0, u1) {
        if (depthwise) {
          const size = mult * planeOut;
          mod.read(po + u0 * size * 4, dst, u0 * size, (u1 - u0) * size);
        } else if (winograd) {
          readTileRows(mod, po, dst, g, u0, u1);
        } else {
          readRows(mod, po, dst, g.cOut, g.hOut, g.wOut, u0, u1);
        }
      },
    };
    runner.runSplit(call);
  };

  /**
   * A dilated 3x3 stride-1 conv through space-to-batch (assembly/spacebatch.ts): the input regrouped into
   * dH x dW phase images (one split call, over input planes), an undilated valid Winograd conv on the batch
   * of phase images (a second, over tile rows), and its outputs interleaved back (a third, over output
   * planes). Each step splits without changing any element's arithmetic.
   */
  const forwardDilatedInto = (
    direction: string,
    g: Conv2dGeometry,
    src: Float32Array,
    writeWeights: (pw: number) => void,
    bias: Float32Array | null,
    dst: Float32Array,
  ): void => {
    const dH = g.dilationH;
    const dW = g.dilationW;
    const hOs = Math.ceil(g.hOut / dH);
    const wOs = Math.ceil(g.wOut / dW);
    const nb = g.n * dH * dW;
    const gs: Conv2dGeometry = {
      ...g,
      n: nb,
      hIn: hOs + 2,
      wIn: wOs + 2,
      dilationH: 1,
      dilationW: 1,
      padTop: 0,
      padLeft: 0,
      padBottom: 0,
      padRight: 0,
      hOut: hOs,
      wOut: wOs,
    };
    const { pg, s } = prepare(mod, gs, "winograd-f4x4");
    const tiles = nb * Math.ceil(hOs / 4);
    const t = threadsFor(runner, Math.max(tiles, g.n * g.cIn), directFlops(g), minFlops);
    const planeIn = g.hIn * g.wIn;
    const planeOut = g.hOut * g.wOut;
    const shared = [
      g.n * g.cIn * planeIn * 4,
      s.w * 4,
      bias ? g.cOut * 4 : 0,
      g.n * g.cOut * planeOut * 4,
      s.x * 4,
      s.out * 4,
      e.winogradWeightFloats(pg) * 4,
    ];
    const { ptrs, th } = reserveFor(mod, shared, t, s.work);
    const [px, pw, pb, po, pxs, pos, pu] = ptrs;
    const key = keyOf(direction, "winograd-dilated", g);
    runner.runSplit({
      key: `${key}:in`,
      units: g.n * g.cIn,
      threads: Math.min(t, g.n * g.cIn),
      writeShared() {
        writeWeights(pw);
        if (bias) mod.write(pb, bias, 0, g.cOut);
        e.winogradTransformWeights(pg, pw, pu, th.work[0]);
      },
      writeRange: (u0, u1) => mod.write(px + u0 * planeIn * 4, src, u0 * planeIn, (u1 - u0) * planeIn),
      task: (u0, u1) =>
        task(
          "spaceToBatch",
          px,
          g.cIn,
          g.hIn,
          g.wIn,
          dH,
          dW,
          g.padTop,
          g.padLeft,
          gs.hIn,
          gs.wIn,
          pxs,
          u0,
          u1,
        ),
    });
    runner.runSplit({
      key: `${key}:conv`,
      units: tiles,
      threads: Math.min(t, tiles),
      task: (r0, r1, i) => task("convForwardWinograd", pg, pxs, pu, bias ? pb : 0, pos, th.work[i], r0, r1),
    });
    runner.runSplit({
      key: `${key}:out`,
      units: g.n * g.cOut,
      threads: Math.min(t, g.n * g.cOut),
      task: (u0, u1) => task("batchToSpace", pos, g.cOut, hOs, wOs, dH, dW, g.hOut, g.wOut, po, u0, u1),
      readRange: (u0, u1) => mod.read(po + u0 * planeOut * 4, dst, u0 * planeOut, (u1 - u0) * planeOut),
    });
  };

  /**
   * A stride-1 undilated kH x kW conv as one 3x3 conv: the kernel, zero-padded to multiples of 3, is a
   * bh x bw grid of 3x3 blocks, and block (p, q) reads the input shifted by (3p, 3q); so the input's shifted
   * copies become extra input channels (one split call, over input planes) and a valid 3x3 Winograd conv
   * with bh bw times the channels gives the output (a second, over tile rows).
   */
  const forwardBlocksInto = (
    direction: string,
    g: Conv2dGeometry,
    src: Float32Array,
    writeWeights: (pw: number) => void,
    bias: Float32Array | null,
    dst: Float32Array,
  ): void => {
    const bh = Math.ceil(g.kH / 3);
    const bw = Math.ceil(g.kW / 3);
    const gs: Conv2dGeometry = {
      ...g,
      cIn: g.cIn * bh * bw,
      hIn: g.hOut + 2,
      wIn: g.wOut + 2,
      kH: 3,
      kW: 3,
      padTop: 0,
      padLeft: 0,
      padBottom: 0,
      padRight: 0,
    };
    const { pg, s } = prepare(mod, gs, "winograd-f4x4");
    const tiles = g.n * Math.ceil(g.hOut / 4);
    const t = threadsFor(runner, Math.max(tiles, g.n * g.cIn), directFlops(g), minFlops);
    const planeIn = g.hIn * g.wIn;
    const kernelFloats = g.cOut * (g.cIn / g.groups) * g.kH * g.kW;
    const shared = [
      g.n * g.cIn * planeIn * 4,
      kernelFloats * 4,
      s.w * 4,
      bias ? g.cOut * 4 : 0,
      s.out * 4,
      s.x * 4,
      e.winogradWeightFloats(pg) * 4,
    ];
    const { ptrs, th } = reserveFor(mod, shared, t, s.work);
    const [px, pk, pw, pb, po, pxs, pu] = ptrs;
    const key = keyOf(direction, "winograd-blocks", g);
    runner.runSplit({
      key: `${key}:in`,
      units: g.n * g.cIn,
      threads: Math.min(t, g.n * g.cIn),
      writeShared() {
        writeWeights(pk);
        writeBlockKernel(mod.f32(pw, s.w), mod.f32(pk, kernelFloats), g, bh, bw);
        if (bias) mod.write(pb, bias, 0, g.cOut);
        e.winogradTransformWeights(pg, pw, pu, th.work[0]);
      },
      writeRange: (u0, u1) => mod.write(px + u0 * planeIn * 4, src, u0 * planeIn, (u1 - u0) * planeIn),
      task: (u0, u1) =>
        task(
          "shiftStack",
          px,
          g.cIn,
          g.groups,
          g.hIn,
          g.wIn,
          g.padTop,
          g.padLeft,
          bh,
          bw,
          gs.hIn,
          gs.wIn,
          pxs,
          u0,
          u1,
        ),
    });
    runner.runSplit({
      key: `${key}:conv`,
      units: tiles,
      threads: Math.min(t, tiles),
      task: (r0, r1, i) => task("convForwardWinograd", pg, pxs, pu, bias ? pb : 0, po, th.work[i], r0, r1),
      readRange: (r0, r1) => readTileRows(mod, po, dst, g, r0, r1),
    });
  };

  return {
    forward(x, w, bias, g, out) {
      if (g.n * g.cOut * g.hOut * g.wOut === 0) return;
      const path = wasmConvPath(g, "forward", options);
      const nw = g.cOut * (g.cIn / g.groups) * g.kH * g.kW;
      const writeWeights = (pw: number) => mod.write(pw, w, 0, nw);
      if (path === "winograd-dilated") forwardDilatedInto("forward", g, x, writeWeights, bias, out);
      else if (path === "winograd-blocks") forwardBlocksInto("forward", g, x, writeWeights, bias, out);
      else forwardInto("forward", g, path, x, writeWeights, bias, out);
    },
    backwardInput(gradOut, w, g, gradX) {
      const path = wasmConvPath(g, "backwardInput", options);
      if (g.n * g.cIn * g.hIn * g.wIn === 0) return;
      if (path === "winograd-f4x4" || path === "winograd-dilated" || path === "winograd-blocks") {
        // A forward conv of the bordered output gradient with the flipped, transposed kernel.
        const nw = g.cOut * (g.cIn / g.groups) * g.kH * g.kW;
        const write = (pw: number) => writeTransposedFlipped(mod.f32(pw, nw), w, g);
        const gt = transposedGeometry(g);
        if (path === "winograd-dilated") forwardDilatedInto("backwardInput", gt, gradOut, write, null, gradX);
        else if (path === "winograd-blocks")
          forwardBlocksInto("backwardInput", gt, gradOut, write, null, gradX);
        else forwardInto("backwardInput", gt, path, gradOut, write, null, gradX);
        return;
      }
      const { pg, s } = prepare(mod, g, path);
      const depthwise = path === "depthwise-direct";
      const units = g.n * g.cIn;
      const t = threadsFor(runner, units, directFlops(g), minFlops);
      const { ptrs, th } = reserveFor(mod, [s.out * 4, s.w * 4, s.x * 4], t, s.work);
      const [pgo, pw, pgx] = ptrs;
      const planeIn = g.hIn * g.wIn;
      const planeOut = g.hOut * g.wOut;
      const mult = g.cOut / g.cIn;
      const writeImages = imageWriter(mod, pgo, gradOut, g.n, g.cOut * planeOut);
      runner.runSplit({
        key: keyOf("backwardInput", path, g),
        units,
        threads: t,
        chunked: true,
        writeShared: () => mod.write(pw, w, 0, s.w),
        writeRange(u0, u1) {
          if (depthwise) {
            const size = mult * planeOut;
            mod.write(pgo + u0 * size * 4, gradOut, u0 * size, (u1 - u0) * size);
          } else {
            writeImages(Math.floor(u0 / g.cIn), Math.floor((u1 - 1) / g.cIn));
          }
        },
        task: (u0, u1, i) =>
          depthwise
            ? task("depthwiseBackwardInput", pg, pgo, pw, pgx, th.work[i], u0, u1)
            : task("convBackwardInputGemm", pg, pgo, pw, pgx, th.work[i], th.ws[i], u0, u1),
        readRange: (u0, u1) => mod.read(pgx + u0 * planeIn * 4, gradX, u0 * planeIn, (u1 - u0) * planeIn),
      });
    },
    backwardWeight(x, gradOut, g, gradW) {
      const path = wasmConvPath(g, "backwardWeight", options);
      const { pg, s } = prepare(mod, g, path, "backwardWeight");
      // Winograd F(3x3, 4x4) takes the im2col kernel's arguments (its workspace in place of the columns).
      const gemmKernel = path === "winograd-f4x4" ? "convBackwardWeightWinograd" : "convBackwardWeightGemm";
      const flops = directFlops(g);
      const rows = g.n * g.hOut;
      const depthwise = path === "depthwise-direct";
      const key = keyOf("backwardWeight", path, g);
      if (path === "winograd-f4x4" && g.n >= 2 && g.n * s.w <= IMAGE_SPLIT_MAX_FLOATS) {
        const t = threadsFor(runner, g.n, flops, minFlops);
        if (t > 1) {
          winogradWeightByImage(x, gradOut, g, gradW, t, pg, s);
          return;
        }
      }
      if (weightGradientSplit(g) === "channels") {
        const most = threadsFor(runner, g.cIn, flops, minFlops);
        // Each thread owns the gradients of a range of input channels, summed over the whole batch, so it
        // reads every image: all inputs are written before any thread starts.
        const t = Math.min(most, g.cIn);
        const { ptrs, th } = reserveFor(mod, [s.x * 4, s.out * 4, s.w * 4], t, s.work);
        const [px, pgo, pgw] = ptrs;
        const xImage = g.cIn * g.hIn * g.wIn;
        const goImage = g.cOut * g.hOut * g.wOut;
        const writeImage = (n: number) => {
          mod.write(px + n * xImage * 4, x, n * xImage, xImage);
          mod.write(pgo + n * goImage * 4, gradOut, n * goImage, goImage);
        };
        // Workers step through the batch image by image as this thread writes it (one kernel call per
        // image, accumulating after the first: the same sums in the same order as one call).
        const stepped: Stepped = depthwise
          ? {
              count: g.n,
              write: writeImage,
              task: (c0, c1, i) =>
                task("depthwiseBackwardWeight", pg, px, pgo, pgw, th.work[i], c0, c1, 0, 1, 0),
              delta: [0, 0, 0, 0, 0, 0, 0, 1, 1, 0],
              accumulate: 9,
            }
          : {
              count: g.n,
              write: writeImage,
              task: (c0, c1, i) =>
                task(gemmKernel, pg, px, pgo, pgw, th.work[i], th.ws[i], c0, c1, 0, g.hOut, 0),
              delta: [0, 0, 0, 0, 0, 0, 0, 0, g.hOut, g.hOut, 0],
              accumulate: 10,
            };
        runner.runSplit({
          key,
          units: g.cIn,
          threads: t,
          stepped: g.n >= 2 ? stepped : undefined,
          writeShared() {
            if (g.n < 2) {
              mod.write(px, x, 0, s.x);
              mod.write(pgo, gradOut, 0, s.out);
            }
          },
          task: (c0, c1, i) =>
            depthwise
              ? task("depthwiseBackwardWeight", pg, px, pgo, pgw, th.work[i], c0, c1, 0, g.n, 0)
              : task(gemmKernel, pg, px, pgo, pgw, th.work[i], th.ws[i], c0, c1, 0, rows, 0),
        });
        mod.read(pgw, gradW, 0, s.w);
        return;
      }
      // Few input channels (a stem): WEIGHT_PARTS parts of output rows, each summed into its own buffer
      // (by whichever thread), then added in order here.
      const rowsPerPart = Math.max(1, Math.ceil(rows / WEIGHT_PARTS));
      const parts = Math.ceil(rows / rowsPerPart);
      const t = threadsFor(runner, parts, flops, minFlops);
      const { ptrs, th } = reserveFor(mod, [s.x * 4, s.out * 4, parts * s.w * 4], t, s.work);
      const [px, pgo, pparts] = ptrs;
      const writeX = imageWriter(mod, px, x, g.n, g.cIn * g.hIn * g.wIn);
      const writeGo = imageWriter(mod, pgo, gradOut, g.n, g.cOut * g.hOut * g.wOut);
      runner.runSplit({
        key,
        units: parts,
        threads: t,
        writeRange(p0, p1) {
          const first = Math.floor((p0 * rowsPerPart) / g.hOut);
          const last = Math.floor((Math.min(p1 * rowsPerPart, rows) - 1) / g.hOut);
          writeX(first, last);
          writeGo(first, last);
        },
        task: (p0, p1, i) =>
          task("convBackwardWeightGemmParts", pg, px, pgo, pparts, th.work[i], th.ws[i], rowsPerPart, p0, p1),
      });
      if (rows === 0) {
        gradW.fill(0);
        return;
      }
      mod.read(pparts, gradW, 0, s.w);
      for (let i = 1; i < parts; i++) {
        const p = mod.f32(pparts + i * s.w * 4, s.w);
        for (let j = 0; j < s.w; j++) gradW[j] += p[j];
      }
    },
  };
}
