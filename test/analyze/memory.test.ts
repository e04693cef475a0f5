import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { GraphBuilder } from "../../src/graph/builder.js";

/**
 * Activation memory at float32 (4 bytes an element): every node output's bytes, and the peak of the live set
 * along the node order when each value is freed after its last reader (graph outputs are kept).
 */

describe("activation memory", () => {
  it("follows the live set on a small branching graph", () => {
    const b = new GraphBuilder("branch");
    const x = b.input("x", [2, 4, 4]); // 32 elements = 128 B
    const a = b.conv2d(x, { outChannels: 4, kernelSize: 3, padding: 1, name: "a" }); // 64 el = 256 B
    const c = b.conv2d(x, { outChannels: 2, kernelSize: 1, name: "b" }); // 32 el = 128 B, last reader of x
    const r = b.relu(a, { name: "c" }); // 256 B, last reader of a
    const d = b.concat([r, c], 1, { name: "d" }); // 96 el = 384 B, last reader of c and b
    const e = b.mean(d, [2, 3], false, { name: "e" }); // [1, 6] = 24 B, last reader of d
    b.output(e);
    const res = analyze(b.build().graph);
    expect(res.layers.map((l) => l.activationBytes)).toEqual([256, 128, 256, 384, 24]);
    // Live while each node runs (inputs still held + its output):
    //   a: x 128 + a 256 = 384;  b: x + a + b = 512, then x is freed -> 384
    //   c: a + b + c = 640, then a freed -> 384;  d: b + c + d = 768, then b, c freed -> 384
    //   e: d + e = 408.
    expect(res.layers.map((l) => l.liveBytes)).toEqual([384, 512, 640, 768, 408]);
    expect(res.totals.peakActivationBytes).toBe(768);
    expect(res.totals.activationBytes).toBe(256 + 128 + 256 + 384 + 24);
    expect(res.totals.inputBytes).toBe(128);
  });

  it("frees a value nobody reads right after it is made, and keeps graph outputs to the end", () => {
    const b = new GraphBuilder("dead");
    const x = b.input("x", [1, 4, 4]); // 64 B
    b.relu(x, { name: "unused" }); // 64 B, never read
    const y = b.sigmoid(x, { name: "kept" }); // 64 B, a graph output
    const z = b.tanh(y, { name: "last" }); // 64 B
    b.output(y, z);
    const res = analyze(b.build().graph);
    // unused: x + unused = 128 then unused freed; kept: x + kept = 128 then x freed; last: kept + last = 128.
    expect(res.layers.map((l) => l.liveBytes)).toEqual([128, 128, 128]);
    expect(res.totals.peakActivationBytes).toBe(128);
  });

  it("scales with the batch", () => {
    const b = new GraphBuilder("batch");
    b.output(b.relu(b.input("x", [3, 2, 2])));
    const { graph } = b.build();
    expect(analyze(graph, [3, 2, 2], { batch: 5 }).totals.activationBytes).toBe(5 * 12 * 4);
  });
});
