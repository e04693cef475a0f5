import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import type { Analysis, ReceptiveField } from "../../src/analyze/types.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { GraphBuilder, type ValueRef } from "../../src/graph/builder.js";
import { GraphModel } from "../../src/graph/executor.js";
import type { Weights } from "../../src/graph/types.js";

/**
 * Receptive fields: r_out = r_in + (k-1)*d*j_in, j_out = j_in*s, start_out = start_in + ((k-1)/2*d - pad)*j_in,
 * checked on hand-worked cases, and against gradients: the input pixels that reach one output pixel of a
 * random conv/pool stack span exactly the computed field.
 */

function rfOf(a: Analysis, name: string): ReceptiveField {
  const l = a.layers.find((x) => x.name === name);
  if (l === undefined || l.receptiveField === null) throw new Error(`no field at ${name}`);
  return l.receptiveField;
}

/** A one-input graph on [C, size, size] built by `body`, analysed at its declared input. */
function fieldsOf(
  channels: number,
  size: number,
  body: (b: GraphBuilder, x: ValueRef) => ValueRef,
): Analysis {
  const b = new GraphBuilder("rf");
  const x = b.input("x", [channels, size, size]);
  b.output(body(b, x));
  return analyze(b.build().graph);
}

describe("receptive field of stacks", () => {
  it("three 3x3 convs give 7", () => {
    const a = fieldsOf(1, 16, (b, x) => {
      let y = x;
      for (let i = 1; i <= 3; i++)
        y = b.conv2d(y, { outChannels: 1, kernelSize: 3, padding: 1, name: `c${i}` });
      return y;
    });
    expect(rfOf(a, "c1").size).toEqual([3, 3]);
    expect(rfOf(a, "c2").size).toEqual([5, 5]);
    expect(rfOf(a, "c3")).toEqual({
      size: [7, 7],
      jump: [1, 1],
      start: [0, 0],
      global: false,
      deformable: false,
      globalContext: false,
    });
    expect(a.receptiveField).toMatchObject({ layer: "c3", size: [7, 7], jump: [1, 1] });
  });

  it("3x3 with dilation 2, then 3x3, gives 7", () => {
    const a = fieldsOf(1, 16, (b, x) => {
      const y = b.conv2d(x, { outChannels: 1, kernelSize: 3, dilation: 2, padding: 2, name: "dil" });
      return b.conv2d(y, { outChannels: 1, kernelSize: 3, padding: 1, name: "c" });
    });
    expect(rfOf(a, "dil").size).toEqual([5, 5]); // 1 + 2*2*1
    expect(rfOf(a, "c").size).toEqual([7, 7]); // 5 + 2*1*1
    expect(rfOf(a, "c").start).toEqual([0, 0]); // (2*2/2 - 2) = 0, then (1 - 1) = 0
  });

  it("3x3 stride 2, then 3x3, gives 7 with jump 2", () => {
    const a = fieldsOf(1, 16, (b, x) => {
      const y = b.conv2d(x, { outChannels: 1, kernelSize: 3, stride: 2, padding: 1, name: "down" });
      return b.conv2d(y, { outChannels: 1, kernelSize: 3, padding: 1, name: "c" });
    });
    expect(rfOf(a, "down")).toMatchObject({ size: [3, 3], jump: [2, 2], start: [0, 0] });
    expect(rfOf(a, "c")).toMatchObject({ size: [7, 7], jump: [2, 2], start: [0, 0] }); // 3 + 2*1*2
  });

  it("asymmetric 1x7 then 7x1 give 7 on each axis", () => {
    const a = fieldsOf(2, 16, (b, x) => {
      const y = b.conv2d(x, { outChannels: 2, kernelSize: [1, 7], padding: [0, 3], name: "row" });
      return b.conv2d(y, { outChannels: 2, kernelSize: [7, 1], padding: [3, 0], name: "col" });
    });
    expect(rfOf(a, "row").size).toEqual([1, 7]);
    expect(rfOf(a, "col").size).toEqual([7, 7]);
  });

  it("asymmetric padding moves the centre: start = ((k-1)/2*d - padBefore)*j", () => {
    const a = fieldsOf(1, 8, (b, x) => {
      const y = b.conv2d(x, { outChannels: 1, kernelSize: 3, padding: [0, 2, 2, 0], name: "p" });
      return b.conv2d(y, { outChannels: 1, kernelSize: 2, stride: 2, name: "even" });
    });
    // top 0: 1 - 0 = 1; left 2: 1 - 2 = -1.
    expect(rfOf(a, "p").start).toEqual([1, -1]);
    // 2x2 stride 2 without padding: start += (1/2 - 0)*1.
    expect(rfOf(a, "even")).toMatchObject({ size: [4, 4], jump: [2, 2], start: [1.5, -0.5] });
  });

  it("ResNet's stem: 7x7/2 pad 3 then 3x3/2 max pool pad 1 gives 11 with jump 4", () => {
    const a = fieldsOf(3, 32, (b, x) => {
      const y = b.conv2d(x, { outChannels: 4, kernelSize: 7, stride: 2, padding: 3, name: "conv1" });
      return b.maxPool2d(y, { kernelSize: 3, stride: 2, padding: 1, name: "maxpool" });
    });
    expect(rfOf(a, "conv1")).toMatchObject({ size: [7, 7], jump: [2, 2], start: [0, 0] });
    expect(rfOf(a, "maxpool")).toMatchObject({ size: [11, 11], jump: [4, 4], start: [0, 0] });
  });

  it("pools: max pool with dilation, average pool", () => {
    const a = fieldsOf(1, 16, (b, x) => {
      const y = b.maxPool2d(x, { kernelSize: 3, stride: 1, dilation: 2, name: "mp" });
      return b.avgPool2d(y, { kernelSize: 2, stride: 2, name: "ap" });
    });
    expect(rfOf(a, "mp")).toMatchObject({ size: [5, 5], jump: [1, 1], start: [2, 2] });
    expect(rfOf(a, "ap")).toMatchObject({ size: [6, 6], jump: [2, 2], start: [2.5, 2.5] });
  });
});

describe("receptive field at joins", () => {
  it("add and concat take the largest field, with that operand's jump and centre", () => {
    const a = fieldsOf(2, 12, (b, x) => {
      const small = b.conv2d(x, { outChannels: 2, kernelSize: 3, padding: 1, name: "small" });
      // A 5x5 padded only at the bottom/right keeps the size but starts at 2.
      const big = b.conv2d(x, { outChannels: 2, kernelSize: 5, padding: [0, 0, 4, 4], name: "big" });
      const sum = b.add(small, big, { name: "sum" });
      const cat = b.concat([small, big, x], 1, { name: "cat" });
      return b.add(sum, b.conv2d(cat, { outChannels: 2, kernelSize: 1, name: "mix" }));
    });
    expect(rfOf(a, "small")).toMatchObject({ size: [3, 3], start: [0, 0] });
    expect(rfOf(a, "big")).toMatchObject({ size: [5, 5], start: [2, 2] });
    expect(rfOf(a, "sum")).toMatchObject({ size: [5, 5], jump: [1, 1], start: [2, 2] });
    expect(rfOf(a, "cat")).toMatchObject({ size: [5, 5], jump: [1, 1], start: [2, 2] });
  });

  it("a residual join of a strided path and a strided shortcut", () => {
    const a = fieldsOf(2, 16, (b, x) => {
      const main = b.conv2d(
        b.conv2d(x, { outChannels: 4, kernelSize: 3, stride: 2, padding: 1, name: "c1" }),
        { outChannels: 4, kernelSize: 3, padding: 1, name: "c2" },
      );
      const short = b.conv2d(x, { outChannels: 4, kernelSize: 1, stride: 2, name: "down" });
      return b.add(main, short, { name: "join" });
    });
    expect(rfOf(a, "down")).toMatchObject({ size: [1, 1], jump: [2, 2] });
    expect(rfOf(a, "join")).toMatchObject({ size: [7, 7], jump: [2, 2], start: [0, 0] });
  });

  it("takes the largest per axis when branches are asymmetric", () => {
    const a = fieldsOf(1, 12, (b, x) => {
      const row = b.conv2d(x, { outChannels: 1, kernelSize: [1, 5], padding: [0, 2], name: "row" });
      const col = b.conv2d(x, { outChannels: 1, kernelSize: [3, 1], padding: [1, 0], name: "col" });
      return b.add(row, col, { name: "join" });
    });
    expect(rfOf(a, "join").size).toEqual([3, 5]);
  });

  it("an SE gate broadcast over the spatial axes adds a global context, not a larger local field", () => {
    const a = fieldsOf(4, 8, (b, x) => {
      const y = b.conv2d(x, { outChannels: 4, kernelSize: 3, padding: 1, name: "c" });
      const gate = b.sigmoid(
        b.conv2d(b.adaptiveAvgPool2d(y, 1, { name: "squeeze" }), { outChannels: 4, kernelSize: 1 }),
      );
      return b.mul(y, gate, { name: "scale" });
    });
    expect(rfOf(a, "squeeze").global).toBe(true);
    expect(rfOf(a, "scale")).toMatchObject({ size: [3, 3], global: false, globalContext: true });
    expect(a.receptiveField).toMatchObject({ layer: "scale", size: [3, 3], globalContext: true });
  });
});

describe("receptive field through global pooling, flattening and deformable layers", () => {
  it("global pooling and flatten/linear make the field global; the model field is the last spatial one", () => {
    const a = fieldsOf(1, 8, (b, x) => {
      const y = b.relu(b.conv2d(x, { outChannels: 2, kernelSize: 3, stride: 2, padding: 1, name: "c" }), {
        name: "r",
      }); // 4x4, size 3, jump 2
      const g = b.adaptiveAvgPool2d(y, 1, { name: "gap" });
      return b.linear(b.flatten(g, 1, -1, { name: "flat" }), { outFeatures: 3, name: "fc" });
    });
    // Global pooling = a window over the whole 4x4 map: 3 + 3*2 = 9, jump 2*4.
    expect(rfOf(a, "gap")).toMatchObject({ size: [9, 9], jump: [8, 8], global: true });
    expect(rfOf(a, "flat").global).toBe(true);
    expect(rfOf(a, "fc").global).toBe(true);
    expect(a.receptiveField).toEqual({
      layer: "r",
      size: [3, 3],
      jump: [2, 2],
      start: [0, 0],
      global: false,
      deformable: false,
      globalContext: false,
    });
  });

  it("flatten without global pooling: the field before flattening (VGG's 7 -> 7 adaptive pool is exact)", () => {
    const a = fieldsOf(1, 14, (b, x) => {
      const p = b.maxPool2d(x, { kernelSize: 2, name: "pool" }); // 7x7, size 2, jump 2
      const same = b.adaptiveAvgPool2d(p, 7, { name: "avg7" }); // identity on 7x7
      const half = b.adaptiveAvgPool2d(x, 7, { name: "avg14" }); // 14 -> 7: a 2x2/2 window
      return b.linear(b.flatten(b.add(same, half, { name: "j" })), { outFeatures: 2 });
    });
    expect(rfOf(a, "avg7")).toMatchObject({ size: [2, 2], jump: [2, 2], global: false });
    expect(rfOf(a, "avg14")).toMatchObject({ size: [2, 2], jump: [2, 2], start: [0.5, 0.5] });
    expect(a.receptiveField).toMatchObject({ layer: "j", size: [2, 2], jump: [2, 2] });
  });

  it("uneven adaptive bins: the largest bin's field and the mean stride", () => {
    const a = fieldsOf(1, 5, (b, x) => b.adaptiveMaxPool2d(x, 3, { name: "ad" }));
    // Bins of 5 -> 3: [0, 2), [1, 4), [3, 5): largest 3, stride 5/3, first bin centred at 0.5.
    expect(rfOf(a, "ad").size).toEqual([3, 3]);
    expect(rfOf(a, "ad").jump[0]).toBeCloseTo(5 / 3, 12);
    expect(rfOf(a, "ad").start).toEqual([0.5, 0.5]);
  });

  it("a deformable conv reports its nominal grid and marks the field deformable from there on", () => {
    const a = fieldsOf(2, 10, (b, x) => {
      const c = b.conv2d(x, { outChannels: 2, kernelSize: 3, padding: 1, name: "c" });
      const off = b.conv2d(c, { outChannels: 18, kernelSize: 3, padding: 1, name: "offset" });
      const d = b.deformConv2d(c, off, { outChannels: 2, kernelSize: 3, padding: 1, name: "dcn" });
      return b.conv2d(d, { outChannels: 2, kernelSize: 3, padding: 1, name: "after" });
    });
    expect(rfOf(a, "c").deformable).toBe(false);
    expect(rfOf(a, "dcn")).toMatchObject({ size: [5, 5], deformable: true });
    expect(rfOf(a, "after")).toMatchObject({ size: [7, 7], deformable: true });
    expect(a.receptiveField).toMatchObject({ layer: "after", size: [7, 7], deformable: true });
  });

  it("split along channels keeps the field; along a spatial axis it shifts the second piece", () => {
    const a = fieldsOf(2, 8, (b, x) => {
      const y = b.conv2d(x, { outChannels: 4, kernelSize: 3, stride: 2, padding: 1, name: "c" });
      const [p] = b.split(y, [2, 2], 1, { name: "ch" });
      const [top, low] = b.split(y, [1, 3], 2, { name: "rows" });
      b.output(b.relu(top, { name: "top" }), b.relu(low, { name: "low" }));
      return p;
    });
    expect(rfOf(a, "ch")).toMatchObject({ size: [3, 3], jump: [2, 2], start: [0, 0] });
    expect(rfOf(a, "top")).toMatchObject({ size: [3, 3], jump: [2, 2], start: [0, 0] });
    // Row 0 of the second piece is row 1 of y: one jump (2 pixels) further down.
    expect(rfOf(a, "low")).toMatchObject({ size: [3, 3], jump: [2, 2], start: [2, 0] });
  });
});

/** Runs `graph` with every weight 1 and returns d out[pixel] / d input as an [H, W] mask of non-zeros. */
function reachedPixels(
  graph: ReturnType<GraphBuilder["build"]>["graph"],
  weights: Weights,
  size: number,
  out: readonly number[],
  pixel: [number, number],
): { rows: number[]; cols: number[] } {
  const ones: Weights = new Map([...weights].map(([k, v]) => [k, new Float32Array(v.length).fill(1)]));
  const model = new GraphModel(graph, ones);
  const x = new Tensor(new Float32Array(size * size).fill(1), [1, 1, size, size], true);
  const y = model.forward(x);
  const grad = new Float32Array(y.data.length);
  grad[pixel[0] * out[3] + pixel[1]] = 1;
  y.backward(grad);
  const rows: number[] = [];
  const cols: number[] = [];
  const g = x.grad!.data;
  for (let i = 0; i < size; i++)
    for (let j = 0; j < size; j++)
      if (g[i * size + j] !== 0) {
        rows.push(i);
        cols.push(j);
      }
  return { rows, cols };
}

describe("receptive field against gradients", () => {
  const layerArb = fc.record({
    pool: fc.boolean(),
    kh: fc.integer({ min: 1, max: 3 }),
    kw: fc.integer({ min: 1, max: 3 }),
    sh: fc.integer({ min: 1, max: 2 }),
    sw: fc.integer({ min: 1, max: 2 }),
    dh: fc.integer({ min: 1, max: 2 }),
    dw: fc.integer({ min: 1, max: 2 }),
    pads: fc.tuple(fc.nat(1), fc.nat(1), fc.nat(1), fc.nat(1)),
  });

  it("the input pixels reaching an output pixel span [start + i*jump -+ (size-1)/2]", () => {
    fc.assert(
      fc.property(fc.array(layerArb, { minLength: 1, maxLength: 3 }), (layers) => {
        const size = 36;
        const b = new GraphBuilder("stack");
        let y = b.input("x", [1, size, size]);
        for (const l of layers) {
          if (l.pool) {
            // Average pooling: padding at most half the kernel, no dilation.
            const pad = l.pads.map((p, i) => Math.min(p, Math.floor((i % 2 === 0 ? l.kh : l.kw) / 2)));
            y = b.avgPool2d(y, {
              kernelSize: [l.kh, l.kw],
              stride: [l.sh, l.sw],
              padding: pad as [number, number, number, number],
            });
          } else {
            y = b.conv2d(y, {
              outChannels: 1,
              kernelSize: [l.kh, l.kw],
              stride: [l.sh, l.sw],
              dilation: [l.dh, l.dw],
              padding: l.pads,
              bias: false,
            });
          }
        }
        b.output(y);
        const { graph, weights } = b.build();
        const a = analyze(graph);
        const last = a.layers[a.layers.length - 1];
        const rf = last.receptiveField!;
        const out = last.outputShape;
        const pixel: [number, number] = [Math.floor(out[2] / 2), Math.floor(out[3] / 2)];
        const lo = [0, 1].map((ax) => rf.start[ax] + pixel[ax] * rf.jump[ax] - (rf.size[ax] - 1) / 2);
        const hi = [0, 1].map((ax) => rf.start[ax] + pixel[ax] * rf.jump[ax] + (rf.size[ax] - 1) / 2);
        // Only fields wholly inside the image are fully reachable (padding cuts the rest).
        fc.pre(lo.every((v) => v >= 0) && hi.every((v) => v <= size - 1));
        const { rows, cols } = reachedPixels(graph, weights, size, out, pixel);
        expect([Math.min(...rows), Math.max(...rows)]).toEqual([lo[0], hi[0]]);
        expect([Math.min(...cols), Math.max(...cols)]).toEqual([lo[1], hi[1]]);
      }),
      { numRuns: 60, seed: 42 },
    );
  });
});
