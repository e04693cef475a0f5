import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { collapseByScope } from "../../src/analyze/scopes.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import type { OpAttrs } from "../../src/graph/types.js";

/** Parameter counting: trainable and buffers apart, shared parameters once in the totals. */

describe("parameters", () => {
  it("separates trainable parameters from buffers (batch norm running statistics)", () => {
    const b = new GraphBuilder("bn");
    const x = b.input("x", [3, 8, 8]);
    const c = b.conv2d(x, { outChannels: 16, kernelSize: 3, bias: false, name: "conv" });
    const n = b.batchNorm2d(c, { name: "bn" });
    const m = b.batchNorm2d(n, { affine: false, name: "bn_plain" });
    b.output(b.batchNorm2d(m, { trackRunningStats: false, name: "bn_batch" }));
    const a = analyze(b.build().graph);
    const [conv, bn, plain, batch] = a.layers;
    expect([conv.params, conv.buffers]).toEqual([16 * 3 * 3 * 3, 0]);
    // weight + bias trainable; running mean + running var + num_batches_tracked (a scalar) buffers.
    expect([bn.params, bn.buffers]).toEqual([2 * 16, 2 * 16 + 1]);
    expect([plain.params, plain.buffers]).toEqual([0, 2 * 16 + 1]);
    expect([batch.params, batch.buffers]).toEqual([2 * 16, 0]);
    expect(a.totals.params).toBe(16 * 27 + 32 + 32);
    expect(a.totals.buffers).toBe(33 + 33);
    expect(a.totals.paramBytes).toBe(4 * (a.totals.params + a.totals.buffers));
  });

  it("counts a parameter shared by two nodes once in the totals", () => {
    const b = new GraphBuilder("tied");
    const x = b.input("x", [4, 5, 5]);
    const attrs: OpAttrs["conv2d"] = {
      inChannels: 4,
      outChannels: 4,
      kernelSize: [3, 3],
      stride: [1, 1],
      padding: [1, 1, 1, 1],
      dilation: [1, 1],
      groups: 1,
      bias: true,
    };
    const [y1] = b.node("conv2d", [x], attrs, { name: "c1" });
    // The second conv reuses c1's weight (weight tying) but has its own bias.
    const [y2] = b.node("conv2d", [y1], attrs, { name: "c2", params: { weight: { name: "c1.weight" } } });
    b.output(y2);
    const { graph } = b.build();
    const a = analyze(graph);
    const [c1, c2] = a.layers;
    expect(c1.params).toBe(4 * 4 * 9 + 4);
    expect(c1.sharedParams).toBe(0);
    expect(c2.params).toBe(4 * 4 * 9 + 4);
    expect(c2.sharedParams).toBe(4 * 4 * 9);
    expect(a.totals.params).toBe(4 * 4 * 9 + 4 + 4);
    // Both still cost their MACs.
    expect(a.totals.macs).toBe(2 * (4 * 5 * 5 * 4 * 9));
    // The collapsed view attributes the shared weight to its first user, so groups add up to the totals.
    const groups = collapseByScope(a, 1);
    expect(groups.map((g) => g.params)).toEqual([4 * 4 * 9 + 4, 4]);
    expect(groups.reduce((s, g) => s + g.params, 0)).toBe(a.totals.params);
  });

  it("counts a constant's value as a buffer", () => {
    const b = new GraphBuilder("const");
    const x = b.input("x", [2, 3, 3]);
    const k = b.constant(new Float32Array(2), [1, 2, 1, 1], { name: "scale" });
    b.output(b.mul(x, k));
    const a = analyze(b.build().graph);
    expect(a.totals.params).toBe(0);
    expect(a.totals.buffers).toBe(2);
    expect(a.layers[0].receptiveField).toBeNull();
  });
});
