import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { composeFootprint, stackField } from "../../src/draw/geometry.js";
import { drawAsymmetricConv, drawConvGrid } from "../../src/draw/kernel.js";
import { drawKernelStack } from "../../src/draw/stack.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { conv2dGeometry } from "../../src/tensor/conv-geometry.js";
import { ArgumentError } from "../../src/tensor/errors.js";
import { byClass, parseSvg, textOf } from "./xml.js";

const ints = (els: { attrs: Record<string, string> }[], ...keys: string[]) =>
  els.map((e) => keys.map((k) => Number(e.attrs[k])));

describe("drawConvGrid", () => {
  it("a dilation-2 3x3 window has 9 sampled cells two apart, with 16 holes in its 5x5 extent", () => {
    const root = parseSvg(
      drawConvGrid({ inputSize: 9, kernelSize: 3, padding: 2, dilation: 2, output: [4, 4] }),
    );
    const taps = ints(byClass(root, "tap"), "data-row", "data-col");
    const expected: number[][] = [];
    for (const r of [2, 4, 6]) for (const c of [2, 4, 6]) expected.push([r, c]);
    expect(taps).toEqual(expected);
    expect(textOf(root)).toContain("window 5×5");
    expect(textOf(root)).toContain("16 holes");
    expect(ints(byClass(root, "out-cell"), "data-row", "data-col")).toEqual([[4, 4]]);
  });

  it("samples row = oh·s − padTop + i·d and the output size agrees with conv2dGeometry (random configs)", () => {
    const config = fc
      .record({
        h: fc.integer({ min: 1, max: 9 }),
        w: fc.integer({ min: 1, max: 9 }),
        kh: fc.integer({ min: 1, max: 4 }),
        kw: fc.integer({ min: 1, max: 4 }),
        sh: fc.integer({ min: 1, max: 3 }),
        sw: fc.integer({ min: 1, max: 3 }),
        dh: fc.integer({ min: 1, max: 3 }),
        dw: fc.integer({ min: 1, max: 3 }),
        pads: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2)),
        pick: fc.tuple(fc.nat(), fc.nat()),
      })
      .filter(
        (c) =>
          c.h + c.pads[0] + c.pads[2] >= c.dh * (c.kh - 1) + 1 &&
          c.w + c.pads[1] + c.pads[3] >= c.dw * (c.kw - 1) + 1,
      );
    fc.assert(
      fc.property(config, (c) => {
        const g = conv2dGeometry([1, 1, c.h, c.w], [1, 1, c.kh, c.kw], {
          stride: [c.sh, c.sw],
          dilation: [c.dh, c.dw],
          padding: c.pads,
        });
        const oh = c.pick[0] % g.hOut;
        const ow = c.pick[1] % g.wOut;
        const root = parseSvg(
          drawConvGrid({
            inputSize: [c.h, c.w],
            kernelSize: [c.kh, c.kw],
            stride: [c.sh, c.sw],
            dilation: [c.dh, c.dw],
            padding: c.pads,
            output: [oh, ow],
          }),
        );
        const taps = ints(byClass(root, "tap"), "data-i", "data-j", "data-row", "data-col");
        expect(taps.length).toBe(c.kh * c.kw);
        for (const [i, j, row, col] of taps) {
          expect(row).toBe(oh * c.sh - c.pads[0] + i * c.dh);
          expect(col).toBe(ow * c.sw - c.pads[1] + j * c.dw);
        }
        expect(byClass(root, "out").length + byClass(root, "out-cell").length).toBe(g.hOut * g.wOut);
        expect(byClass(root, "pad").length).toBe(
          (c.h + c.pads[0] + c.pads[2]) * (c.w + c.pads[1] + c.pads[3]) - c.h * c.w,
        );
        const strided = c.sh > 1 || c.sw > 1;
        expect(byClass(root, "anchor").length).toBe(strided ? g.hOut * g.wOut : 0);
      }),
      { numRuns: 60 },
    );
  });

  it("marks the window start of every output cell at stride 2", () => {
    const root = parseSvg(drawConvGrid({ inputSize: 7, kernelSize: 3, stride: 2, padding: 1 }));
    const anchors = ints(byClass(root, "anchor"), "data-row", "data-col");
    expect(anchors.length).toBe(16);
    for (const [r, c] of anchors) {
      expect((r + 1) % 2).toBe(0);
      expect((c + 1) % 2).toBe(0);
    }
  });

  it("prints the parameter and MAC counts of the analyzer for the layer", () => {
    const b = new GraphBuilder("one");
    b.output(
      b.conv2d(b.input("x", [64, 56, 56]), {
        outChannels: 128,
        kernelSize: 3,
        stride: 2,
        padding: 1,
        bias: false,
      }),
    );
    const a = analyze(b.build().graph);
    const text = textOf(
      parseSvg(
        drawConvGrid({
          inputSize: 56,
          kernelSize: 3,
          stride: 2,
          padding: 1,
          inChannels: 64,
          outChannels: 128,
        }),
      ),
    );
    expect(text).toContain("params 128·64·3·3 = 73.7K");
    expect(a.totals.params).toBe(73_728);
    expect(text).toContain(`MACs ${(a.totals.macs / 1e6).toPrecision(3)}M`);
  });

  it("rejects windows that do not fit and cells outside the output", () => {
    expect(() => drawConvGrid({ inputSize: 3, kernelSize: 3, dilation: 2 })).toThrow(ArgumentError);
    expect(() => drawConvGrid({ inputSize: 5, kernelSize: 3, output: [3, 0] })).toThrow(/output/);
    expect(() => drawConvGrid({ inputSize: 5, kernelSize: 0 })).toThrow(/kernelSize/);
  });
});

describe("drawAsymmetricConv", () => {
  it("1xk then kx1 reaches every cell of the kxk field exactly once", () => {
    for (const k of [3, 5, 7]) {
      const root = parseSvg(drawAsymmetricConv({ kernelSize: k }));
      const panels = byClass(root, "panel");
      expect(panels.map((p) => p.attrs["data-kernel"])).toEqual([`${k}x${k}`, `1x${k}`, `1x${k}+${k}x1`]);
      const combined = byClass(panels[2], "tap");
      expect(combined.length).toBe(k * k);
      expect(combined.every((t) => t.attrs["data-paths"] === "1")).toBe(true);
      expect(byClass(panels[0], "tap").length).toBe(k * k);
      expect(byClass(panels[1], "tap").length).toBe(k);
      expect(byClass(panels[2], "second-tap").length).toBe(k);
    }
  });

  it("composes footprints as a Minkowski sum with path counts", () => {
    const f = composeFootprint([
      [3, 3],
      [3, 3],
    ]);
    expect(f.size).toBe(25);
    expect(f.get("2,2")).toBe(9);
    expect(f.get("0,0")).toBe(1);
    expect([...f.values()].reduce((s, v) => s + v, 0)).toBe(81);
  });
});

describe("drawKernelStack", () => {
  /** The analyzer's receptive field of a plain stack of convs (an independent computation). */
  function analyzerField(layers: { k: number; d: number; s: number }[]): number {
    const b = new GraphBuilder("stack");
    let x = b.input("x", [1, 64, 64]);
    for (const l of layers) x = b.conv2d(x, { outChannels: 1, kernelSize: l.k, dilation: l.d, stride: l.s });
    b.output(x);
    const { graph } = b.build();
    return analyze(graph).layers.at(-1)!.receptiveField!.size[0];
  }

  it("its theoretical field matches the analyzer's, and the paths multiply (random stacks)", () => {
    const layer = fc.record({
      k: fc.integer({ min: 1, max: 4 }),
      d: fc.integer({ min: 1, max: 3 }),
      s: fc.integer({ min: 1, max: 2 }),
    });
    fc.assert(
      fc.property(fc.array(layer, { minLength: 1, maxLength: 3 }), (layers) => {
        const f = stackField(layers);
        expect(f.size).toBe(analyzerField(layers));
        const input = f.levels[f.levels.length - 1];
        const total = [...input.values()].reduce((s, v) => s + v, 0);
        expect(total).toBe(layers.reduce((p, l) => p * l.k, 1));
        // The reached input cells span exactly the theoretical field.
        const keys = [...input.keys()];
        expect(Math.max(...keys) - Math.min(...keys) + 1).toBe(f.size);
      }),
      { numRuns: 40 },
    );
  });

  it("draws every reached cell with its path count; dilation 2,2,2 leaves holes, 1,2,4 none", () => {
    const root = parseSvg(
      drawKernelStack({
        stacks: [
          [3, 3, 3],
          [7],
          [
            { kernelSize: 3, dilation: 1 },
            { kernelSize: 3, dilation: 2 },
            { kernelSize: 3, dilation: 4 },
          ],
          [
            { kernelSize: 3, dilation: 2 },
            { kernelSize: 3, dilation: 2 },
            { kernelSize: 3, dilation: 2 },
          ],
        ],
      }),
    );
    const stacks = byClass(root, "stack");
    expect(stacks.map((s) => s.attrs["data-field"])).toEqual(["7", "7", "15", "13"]);
    const inputCells = (s: (typeof stacks)[0], level: number) =>
      byClass(s, "reached").filter((r) => r.attrs["data-level"] === String(level));
    expect(inputCells(stacks[0], 3).map((r) => Number(r.attrs["data-paths"]))).toEqual([1, 3, 6, 7, 6, 3, 1]);
    expect(inputCells(stacks[2], 3).length).toBe(15);
    expect(inputCells(stacks[3], 3).length).toBe(7);
    // params: 3·9·C² against 49·C² at C = 64.
    expect(Number(stacks[0].attrs["data-params"])).toBe(27 * 64 * 64);
    expect(Number(stacks[1].attrs["data-params"])).toBe(49 * 64 * 64);
    // One edge per tap of every reached cell above the input.
    expect(byClass(stacks[0], "tap-edge").length).toBe(3 * (1 + 3 + 5));
  });
});
