import { describe, expect, it } from "vitest";
import { Tensor } from "../../src/autograd/tensor.js";
import {
  drawReceptiveField,
  effectiveReceptiveField,
  massInside,
  massRadius,
} from "../../src/draw/receptive.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { ArgumentError } from "../../src/tensor/errors.js";
import { byClass, parseSvg } from "./xml.js";

/**
 * A linear net of two 3x3 convs with all-one weights and no bias on a 9x9 input: the gradient of one output
 * unit with respect to the input counts the paths from the unit to each pixel, which is the outer product of
 * [1, 1, 1] * [1, 1, 1] = [1, 2, 3, 2, 1] with itself, whatever the input.
 */
function boxNet(dilation = 1) {
  const b = new GraphBuilder("box");
  let x = b.input("x", [1, 9, 9]);
  const ones = { data: new Float32Array(9).fill(1) };
  x = b.conv2d(x, {
    name: "c1",
    outChannels: 1,
    kernelSize: 3,
    padding: dilation,
    dilation,
    bias: false,
    init: {},
  });
  x = b.conv2d(x, { name: "c2", outChannels: 1, kernelSize: 3, padding: 1, bias: false });
  b.output(x);
  const { graph, weights } = b.build();
  weights.set("c1.weight", ones.data);
  weights.set("c2.weight", ones.data);
  return { graph, weights };
}

/** Full 1-d convolution of two sequences (the reference). */
function convolve(a: number[], b: number[]): number[] {
  const out = new Array<number>(a.length + b.length - 1).fill(0);
  a.forEach((x, i) => {
    b.forEach((y, j) => {
      out[i + j] += x * y;
    });
  });
  return out;
}

describe("effective receptive field", () => {
  it("of a linear box-filter stack is the path count, centred on the unit", () => {
    const { graph, weights } = boxNet();
    const erf = effectiveReceptiveField(graph, weights, { layer: "c2", unit: [4, 4], samples: 2 });
    const line = convolve([1, 1, 1], [1, 1, 1]);
    expect(line).toEqual([1, 2, 3, 2, 1]);
    for (let r = 0; r < 9; r++) {
      for (let c = 0; c < 9; c++) {
        const inside = Math.abs(r - 4) <= 2 && Math.abs(c - 4) <= 2;
        const want = inside ? line[r - 2] * line[c - 2] : 0;
        expect(erf.map[r * 9 + c]).toBeCloseTo(want, 5);
      }
    }
    expect(erf.theoretical.size).toEqual([5, 5]);
    expect(erf.centre).toEqual([4, 4]);
    expect(massInside(erf)).toBeCloseTo(1, 6);
    // 90% of the mass (81 in all) lies within distance 2 of the centre; not within 1.
    expect(massRadius(erf, 0.9)).toBeGreaterThan(1);
    expect(massRadius(erf, 0.9)).toBeLessThanOrEqual(Math.SQRT2 * 2);
  });

  it("of a dilated first layer follows the dilated path counts", () => {
    const { graph, weights } = boxNet(2);
    const erf = effectiveReceptiveField(graph, weights, { layer: "c2", unit: [4, 4], samples: 1 });
    // Taps of the dilation-2 layer are two apart: [1, 0, 1, 0, 1], then the dense 3x3: [1, 1, 1].
    const line = convolve([1, 0, 1, 0, 1], [1, 1, 1]);
    for (let r = 0; r < 7; r++) {
      for (let c = 0; c < 7; c++) expect(erf.map[(r + 1) * 9 + (c + 1)]).toBeCloseTo(line[r] * line[c], 5);
    }
    expect(erf.map[0]).toBe(0);
    expect(erf.theoretical.size).toEqual([7, 7]);
  });

  it("draws the theoretical square, the 90% circle and the peak at the unit", () => {
    const { graph, weights } = boxNet();
    const root = parseSvg(drawReceptiveField(graph, weights, { layer: "c2", unit: [4, 4], samples: 1 }));
    const t = byClass(root, "theoretical")[0];
    expect(t.attrs["data-size"]).toBe("5,5");
    expect(t.attrs["data-centre"]).toBe("4,4");
    const erf = byClass(root, "erf")[0];
    expect([erf.attrs["data-peak-row"], erf.attrs["data-peak-col"]]).toEqual(["4", "4"]);
    expect(byClass(root, "mass90").length).toBe(1);
  });

  it("accepts given inputs and rejects a bad layer, unit or channel", () => {
    const { graph, weights } = boxNet();
    const x = new Tensor(new Float32Array(81).fill(1), [1, 1, 9, 9]);
    expect(effectiveReceptiveField(graph, weights, { layer: "c2", inputs: [x] }).map[40]).toBeCloseTo(9, 5);
    expect(() => effectiveReceptiveField(graph, weights, { layer: "nope" })).toThrow(ArgumentError);
    expect(() => effectiveReceptiveField(graph, weights, { layer: "c2", unit: [9, 0] })).toThrow(/unit/);
    expect(() => effectiveReceptiveField(graph, weights, { layer: "c2", channel: 1 })).toThrow(/channel/);
  });
});
