import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { ArgumentError, ShapeError } from "../../src/tensor/errors.js";

/** Input shapes (with or without batch, other resolutions, several inputs) and their errors. */

function convNet() {
  const b = new GraphBuilder("fcn");
  const x = b.input("image", [3, 8, 8]);
  b.output(b.conv2d(x, { outChannels: 2, kernelSize: 3, padding: 1, name: "c" }));
  return b.build().graph;
}

describe("analyze inputs", () => {
  it("defaults to the declared input at batch 1, with or without the batch in the shape", () => {
    const g = convNet();
    const declared = analyze(g);
    expect(declared.inputs).toEqual([{ name: "image", shape: [1, 3, 8, 8] }]);
    expect(declared.batch).toBe(1);
    expect(analyze(g, [3, 8, 8]).totals).toEqual(declared.totals);
    expect(analyze(g, [1, 3, 8, 8]).totals).toEqual(declared.totals);
    expect(analyze(g, [4, 3, 8, 8]).batch).toBe(4);
    expect(analyze(g, { image: [3, 8, 8] }, { batch: 2 }).inputs[0].shape).toEqual([2, 3, 8, 8]);
  });

  it("analyses another resolution when the graph allows it", () => {
    const a = analyze(convNet(), [3, 16, 12]);
    expect(a.layers[0].outputShape).toEqual([1, 2, 16, 12]);
    expect(a.totals.macs).toBe(2 * 16 * 12 * 3 * 9);
  });

  it("names the input and the first node that does not fit", () => {
    expect(() => analyze(convNet(), [1, 8, 8])).toThrowError(ShapeError);
    expect(() => analyze(convNet(), [1, 8, 8])).toThrowError(
      /analyze "fcn" at \[1, 1, 8, 8\] for input "image" declared \[N, 3, 8, 8\]: conv2d node "c"/,
    );
    const b = new GraphBuilder("flat");
    b.output(b.linear(b.flatten(b.input("x", [1, 4, 4])), { outFeatures: 2, name: "fc" }));
    expect(() => analyze(b.build().graph, [1, 5, 5])).toThrowError(/linear node "fc"/);
  });

  it("rejects malformed shapes and a batch that contradicts the shape", () => {
    const g = convNet();
    expect(() => analyze(g, [8, 8])).toThrowError(
      /expected 3 dimensions \(the graph declares \[N, 3, 8, 8\]\)/,
    );
    expect(() => analyze(g, [3, 0, 8])).toThrowError(ArgumentError);
    expect(() => analyze(g, [2, 3, 8, 8], { batch: 3 })).toThrowError(/options.batch/);
    expect(() => analyze(g, [3, 8, 8], { batch: 0 })).toThrowError(
      /options.batch: expected a positive integer/,
    );
    expect(() => analyze(g, { other: [3, 8, 8] })).toThrowError(/inputs among image/);
  });

  it("takes shapes by name for a graph with several inputs", () => {
    const b = new GraphBuilder("two");
    const p = b.input("p", [2, 4, 4]);
    const q = b.input("q", [2, 4, 4]);
    b.output(b.add(p, q, { name: "sum" }));
    const { graph } = b.build();
    expect(() => analyze(graph, [2, 4, 4])).toThrowError(/shapes by input name/);
    const a = analyze(graph, { p: [2, 4, 4] }, { batch: 3 });
    expect(a.inputs).toEqual([
      { name: "p", shape: [3, 2, 4, 4] },
      { name: "q", shape: [3, 2, 4, 4] },
    ]);
    expect(a.totals.inputBytes).toBe(2 * 3 * 32 * 4);
  });

  it("does not modify the graph", () => {
    const g = convNet();
    const before = JSON.stringify(g);
    analyze(g, [3, 16, 16], { batch: 2, countAll: true });
    expect(JSON.stringify(g)).toBe(before);
  });
});
