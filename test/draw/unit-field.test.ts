import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { effectiveReceptiveField } from "../../src/draw/receptive.js";
import { drawUnitField, unitFieldBox } from "../../src/draw/unit-field.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { ArgumentError, ShapeError } from "../../src/tensor/errors.js";
import { byClass, parseSvg } from "./xml.js";

interface Layer {
  k: number;
  s: number;
  d: number;
  p: number;
}

/** A linear (no activation) conv stack with random weights: every input pixel of a unit's field reaches it. */
function stack(size: number, layers: Layer[], seed: number) {
  const b = new GraphBuilder("stack", { seed });
  let x = b.input("x", [1, size, size]);
  layers.forEach((l, i) => {
    x = b.conv2d(x, {
      name: `c${i}`,
      outChannels: 1,
      kernelSize: l.k,
      stride: l.s,
      dilation: l.d,
      padding: l.p,
      bias: false,
    });
  });
  b.output(x);
  return b.build();
}

/** Bounding box of the non-zero gradient entries (the pixels the unit actually depends on). */
function gradientBox(map: Float32Array, h: number, w: number) {
  let top = h;
  let left = w;
  let bottom = -1;
  let right = -1;
  for (let r = 0; r < h; r++) {
    for (let q = 0; q < w; q++) {
      if (map[r * w + q] === 0) continue;
      top = Math.min(top, r);
      bottom = Math.max(bottom, r);
      left = Math.min(left, q);
      right = Math.max(right, q);
    }
  }
  return { top, left, bottom, right };
}

describe("unitFieldBox", () => {
  it("is the bounding box of the input pixels a unit's gradient reaches (random conv stacks)", () => {
    const layer = fc.record({
      k: fc.integer({ min: 1, max: 4 }),
      s: fc.integer({ min: 1, max: 2 }),
      d: fc.integer({ min: 1, max: 2 }),
      p: fc.integer({ min: 0, max: 2 }),
    });
    let exact = 0;
    fc.assert(
      fc.property(
        fc.array(layer, { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 0, max: 1000 }),
        (layers, seed) => {
          const size = 16;
          const { graph, weights } = stack(size, layers, seed);
          const a = analyze(graph);
          const last = a.layers[a.layers.length - 1];
          const [, , ho, wo] = last.outputShape;
          const field = last.receptiveField!;
          const units: [number, number][] = [
            [Math.floor(ho / 2), Math.floor(wo / 2)],
            [ho - 1, wo - 1],
          ];
          for (const unit of units) {
            const erf = effectiveReceptiveField(graph, weights, { layer: last.name, unit, samples: 1 });
            const box = unitFieldBox(field, unit, [size, size]);
            expect(box.centre).toEqual(erf.centre);
            const half = (field.size[0] - 1) / 2;
            const outside =
              box.centre[0] - half < 0 ||
              box.centre[1] - half < 0 ||
              box.centre[0] + half > size - 1 ||
              box.centre[1] + half > size - 1;
            expect(box.clipped).toBe(outside);
            // Random weights: every pixel a unit depends on has a non-zero gradient.
            const want = gradientBox(erf.map, size, size);
            if (!box.clipped) {
              // Inside the image the field's extreme pixels are taps: the boxes agree exactly.
              expect({ top: box.top, left: box.left, bottom: box.bottom, right: box.right }).toEqual(want);
              exact++;
            } else if (want.bottom >= 0) {
              // At the border the theory counts pixels that the padding of an intermediate layer or a hole of a
              // dilated kernel hides, so the pixels reached lie within the box.
              expect(box.empty).toBe(false);
              expect(want.top).toBeGreaterThanOrEqual(box.top);
              expect(want.left).toBeGreaterThanOrEqual(box.left);
              expect(want.bottom).toBeLessThanOrEqual(box.bottom);
              expect(want.right).toBeLessThanOrEqual(box.right);
            }
          }
        },
      ),
      { numRuns: 30, seed: 11 },
    );
    expect(exact).toBeGreaterThan(10);
  });

  it("covers the whole image for a global field and checks its arguments", () => {
    const field = {
      size: [5, 5] as [number, number],
      jump: [1, 1] as [number, number],
      start: [0, 0] as [number, number],
      global: true,
      deformable: false,
      globalContext: false,
    };
    expect(unitFieldBox(field, [0, 0], [4, 6])).toEqual({
      centre: [1.5, 2.5],
      top: 0,
      left: 0,
      bottom: 3,
      right: 5,
      clipped: false,
      empty: false,
    });
    expect(() => unitFieldBox(field, [-1, 0], [4, 6])).toThrow(ArgumentError);
    expect(() => unitFieldBox(field, [0, 0], [0, 6])).toThrow(ArgumentError);
  });
});

describe("drawUnitField", () => {
  it("draws the box where unitFieldBox puts it, on the image", () => {
    const { graph } = stack(
      12,
      [
        { k: 3, s: 2, d: 1, p: 1 },
        { k: 3, s: 1, d: 2, p: 2 },
      ],
      0,
    );
    const a = analyze(graph);
    const last = a.layers[1];
    const image = { data: Float32Array.from({ length: 144 }, (_, i) => i % 7), height: 12, width: 12 };
    const svg = drawUnitField({ image, field: last.receptiveField!, layer: last.name, unit: [0, 2] });
    const root = parseSvg(svg);
    const [rect] = byClass(root, "field");
    const box = unitFieldBox(last.receptiveField!, [0, 2], [12, 12]);
    expect(rect.attrs["data-top"]).toBe(String(box.top));
    expect(rect.attrs["data-left"]).toBe(String(box.left));
    expect(rect.attrs["data-bottom"]).toBe(String(box.bottom));
    expect(rect.attrs["data-right"]).toBe(String(box.right));
    expect(rect.attrs["data-size"]).toBe(last.receptiveField!.size.join(","));
    expect(box.clipped).toBe(true);
    expect(byClass(root, "centre")).toHaveLength(1);
    expect(() =>
      drawUnitField({
        image: { ...image, height: 11 },
        field: last.receptiveField!,
        layer: "x",
        unit: [0, 0],
      }),
    ).toThrow(ShapeError);
  });
});
