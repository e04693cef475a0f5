import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { binTotal, countedOps, MAC_RULES, TORCHVISION_OPS } from "../../src/analyze/macs.js";
import type { Analysis, LayerAnalysis } from "../../src/analyze/types.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { OP_NAMES } from "../../src/graph/types.js";

/**
 * Every MAC rule against a hand computation on a small graph. Output sizes are worked out in the comments
 * with PyTorch's formula floor((in + padBefore + padAfter - d*(k-1) - 1) / s) + 1.
 */

function layer(a: Analysis, name: string): LayerAnalysis {
  const l = a.layers.find((x) => x.name === name);
  if (l === undefined) throw new Error(`no layer ${name}`);
  return l;
}

describe("conv2d MACs (torchvision's rule: N*Cout*Hout*Wout*(Cin/groups)*kH*kW, no bias)", () => {
  it("grouped, strided, dilated, asymmetric kernel and asymmetric padding", () => {
    const b = new GraphBuilder("conv");
    const x = b.input("x", [4, 9, 11]);
    // H: (9 + 1 + 2 - 2*(3-1) - 1) / 2 -> floor(3.5) + 1 = 4;  W: (11 + 0 + 1 - 1*(2-1) - 1) / 1 + 1 = 11.
    const y = b.conv2d(x, {
      outChannels: 6,
      kernelSize: [3, 2],
      stride: [2, 1],
      padding: [1, 0, 2, 1],
      dilation: [2, 1],
      groups: 2,
      name: "c",
    });
    b.output(y);
    const a = analyze(b.build().graph, [4, 9, 11], { batch: 2 });
    const c = layer(a, "c");
    expect(c.outputShape).toEqual([2, 6, 4, 11]);
    const macs = 2 * 6 * 4 * 11 * (4 / 2) * 3 * 2; // 6336
    expect(c.macs).toBe(macs);
    expect(c.flops).toBe(2 * macs);
    expect(c.counted).toBe(true);
    expect(a.totals.macs).toBe(macs);
    expect(a.totals.flops).toBe(2 * macs);
    // Parameters: weight 6 x (4/2) x 3 x 2 = 72, bias 6.
    expect(c.params).toBe(78);
  });

  it("depthwise 3x3 (groups = channels) and pointwise 1x1", () => {
    const b = new GraphBuilder("dw");
    const x = b.input("x", [8, 5, 5]);
    const d = b.conv2d(x, { outChannels: 8, kernelSize: 3, padding: 1, groups: 8, bias: false, name: "dw" });
    const p = b.conv2d(d, { outChannels: 16, kernelSize: 1, bias: false, name: "pw" });
    b.output(p);
    const a = analyze(b.build().graph);
    expect(layer(a, "dw").macs).toBe(1 * 8 * 5 * 5 * 1 * 3 * 3); // 1800
    expect(layer(a, "pw").macs).toBe(1 * 16 * 5 * 5 * 8 * 1 * 1); // 3200
    expect(a.totals.macs).toBe(1800 + 3200);
    expect(a.totals.params).toBe(8 * 1 * 3 * 3 + 16 * 8);
  });

  it("scales with the batch given in the shape or as an option", () => {
    const b = new GraphBuilder("batch");
    b.output(b.conv2d(b.input("x", [1, 4, 4]), { outChannels: 2, kernelSize: 3, name: "c" }));
    const { graph } = b.build();
    const one = 1 * 2 * 2 * 2 * 1 * 3 * 3; // Hout = Wout = 4 - 2 = 2
    expect(analyze(graph, [1, 4, 4]).totals.macs).toBe(one);
    expect(analyze(graph, [5, 1, 4, 4]).totals.macs).toBe(5 * one);
    expect(analyze(graph, [1, 4, 4], { batch: 3 }).totals.macs).toBe(3 * one);
    expect(analyze(graph, undefined, { batch: 3 }).batch).toBe(3);
  });
});

describe("linear MACs", () => {
  it("in*out per row, times the leading dimensions", () => {
    const b = new GraphBuilder("lin");
    const x = b.input("x", [3, 5, 20]);
    const y = b.linear(x, { outFeatures: 7, name: "fc" });
    b.output(y);
    const a = analyze(b.build().graph, [3, 5, 20], { batch: 2 });
    expect(layer(a, "fc").outputShape).toEqual([2, 3, 5, 7]);
    expect(layer(a, "fc").macs).toBe(2 * 3 * 5 * 20 * 7);
    expect(layer(a, "fc").params).toBe(20 * 7 + 7);
  });

  it("on a flat [N, in] input", () => {
    const b = new GraphBuilder("mlp");
    const x = b.input("x", [784]);
    const h = b.relu(b.linear(x, { outFeatures: 100, name: "fc1" }));
    b.output(b.linear(h, { outFeatures: 10, bias: false, name: "fc2" }));
    const a = analyze(b.build().graph, [784], { batch: 4 });
    expect(a.totals.macs).toBe(4 * 784 * 100 + 4 * 100 * 10);
    expect(a.totals.params).toBe(784 * 100 + 100 + 100 * 10);
    expect(a.receptiveField).toBeNull();
  });
});

describe("deformable conv MACs", () => {
  function deformNet(mask: boolean) {
    const b = new GraphBuilder("deform");
    const x = b.input("x", [4, 6, 6]);
    // Offsets for a 3x3 kernel, 2 offset groups: 2*2*9 = 36 channels; output 6x6 (padding 1).
    const off = b.conv2d(x, { outChannels: 36, kernelSize: 3, padding: 1, name: "offset" });
    const m = mask
      ? b.sigmoid(b.conv2d(x, { outChannels: 18, kernelSize: 3, padding: 1, name: "mask" }))
      : undefined;
    const y = b.deformConv2d(x, off, { outChannels: 8, kernelSize: 3, padding: 1, mask: m, name: "dc" });
    b.output(y);
    return b.build().graph;
  }

  it("counts the matrix part like a conv by default", () => {
    const a = analyze(deformNet(false));
    const matrix = 1 * 8 * 6 * 6 * 4 * 3 * 3; // 10368
    expect(layer(a, "dc").macs).toBe(matrix);
    expect(layer(a, "offset").macs).toBe(1 * 36 * 6 * 6 * 4 * 9);
    expect(a.totals.macs).toBe(matrix + 36 * 36 * 36);
  });

  it("adds 4 MACs per bilinear sample (and 1 for the v2 mask) and the bias with countAll", () => {
    const samples = 1 * 4 * 3 * 3 * 6 * 6; // N*Cin*kH*kW*Hout*Wout = 1296
    const matrix = 8 * 6 * 6 * 4 * 9;
    const bias = 8 * 6 * 6;
    const v1 = analyze(deformNet(false), undefined, { countAll: true });
    expect(layer(v1, "dc").macs).toBe(matrix + bias + 4 * samples);
    const v2 = analyze(deformNet(true), undefined, { countAll: true });
    expect(layer(v2, "dc").macs).toBe(matrix + bias + 5 * samples);
  });
});

describe("countAll rules of the other ops", () => {
  function everything() {
    const b = new GraphBuilder("all");
    const x = b.input("x", [4, 6, 6]);
    const c = b.conv2d(x, { outChannels: 4, kernelSize: 3, padding: 1, name: "conv" }); // [1, 4, 6, 6]
    const n = b.batchNorm2d(c, { name: "bn" });
    const r = b.relu(n, { name: "relu" });
    const gate = b.sigmoid(b.adaptiveAvgPool2d(r, 1, { name: "gap" }), { name: "gate" }); // [1, 4, 1, 1]
    const se = b.mul(r, gate, { name: "se" }); // broadcast to [1, 4, 6, 6]
    const s = b.add(se, x, { name: "add" });
    const mp = b.maxPool2d(s, { kernelSize: 3, stride: 2, name: "mp" }); // (6-3)/2+1 = 2 -> [1, 4, 2, 2]
    const ap = b.avgPool2d(s, { kernelSize: 2, name: "ap" }); // [1, 4, 3, 3]
    const ad = b.adaptiveAvgPool2d(s, [3, 4], { name: "adapt" }); // bins of 6 -> 3: 2,2,2; 6 -> 4: 2,2,2,2
    const cat = b.concat([b.flatten(mp), b.flatten(ap), b.flatten(ad)], 1, { name: "cat" }); // 16 + 36 + 48
    const m = b.mean(s, [2, 3], false, { name: "mean" }); // [1, 4]
    const sm = b.softmax(b.linear(cat, { outFeatures: 5, name: "fc" }), 1, { name: "sm" });
    b.output(sm, m);
    return b.build().graph;
  }

  it("follows each documented rule", () => {
    const a = analyze(everything(), undefined, { countAll: true });
    const elems = 4 * 6 * 6; // 144
    expect(layer(a, "conv").macs).toBe(4 * 6 * 6 * 4 * 9 + elems); // + bias
    expect(layer(a, "bn").macs).toBe(elems);
    expect(layer(a, "relu").macs).toBe(elems);
    expect(layer(a, "gap").macs).toBe(4 * 6 * 6); // global pooling reads every input element
    expect(layer(a, "gate").macs).toBe(4);
    expect(layer(a, "se").macs).toBe(elems); // SE's multiply: N*C*H*W
    expect(layer(a, "add").macs).toBe(elems);
    expect(layer(a, "mp").macs).toBe(4 * 2 * 2 * 9);
    expect(layer(a, "ap").macs).toBe(4 * 3 * 3 * 4);
    expect(layer(a, "adapt").macs).toBe(4 * (2 + 2 + 2) * (2 + 2 + 2 + 2));
    expect(layer(a, "cat").macs).toBe(0);
    expect(layer(a, "mean").macs).toBe(elems);
    expect(layer(a, "fc").macs).toBe(100 * 5 + 5);
    expect(layer(a, "sm").macs).toBe(3 * 5);
    expect(a.layers.every((l) => l.counted)).toBe(true);
    expect(a.layers.every((l) => l.flops === 2 * l.macs)).toBe(true);
    const sum = a.layers.reduce((s, l) => s + l.macs, 0);
    expect(a.totals.macs).toBe(sum);
    expect(a.totals.flops).toBe(2 * sum);
    expect(a.counting.convention).toBe("all");
    expect(a.counting.countedOps).toEqual([...OP_NAMES]);
  });

  it("counts only conv2d, deformConv2d and linear without countAll, bias excluded", () => {
    const a = analyze(everything());
    expect(a.counting.convention).toBe("torchvision");
    expect(a.counting.countedOps).toEqual(["conv2d", "deformConv2d", "linear"]);
    expect(layer(a, "conv").macs).toBe(4 * 6 * 6 * 4 * 9);
    expect(layer(a, "fc").macs).toBe(100 * 5);
    for (const l of a.layers) {
      const counted = l.op === "conv2d" || l.op === "linear";
      expect(l.counted, l.name).toBe(counted);
      if (!counted) expect(l.macs, l.name).toBe(0);
    }
    expect(a.totals.macs).toBe(4 * 6 * 6 * 4 * 9 + 100 * 5);
  });
});

describe("rule table", () => {
  it("documents every op, and torchvision's ops are the conv and linear ones", () => {
    expect(Object.keys(MAC_RULES).sort()).toEqual([...OP_NAMES].sort());
    expect(TORCHVISION_OPS).toEqual(["conv2d", "deformConv2d", "linear"]);
    expect(countedOps("torchvision")).toEqual([...TORCHVISION_OPS]);
  });

  it("is the table documented in docs/analyze.md", () => {
    const doc = readFileSync(join(import.meta.dirname, "..", "..", "docs", "analyze.md"), "utf8");
    for (const op of OP_NAMES) expect(doc, op).toContain(`| \`${op}\` | ${MAC_RULES[op]} |`);
  });

  it("sums PyTorch's adaptive bins, uneven ones overlapping", () => {
    // 5 -> 3: [0, 2), [1, 4), [3, 5): lengths 2 + 3 + 2.
    expect(binTotal(5, 3)).toBe(7);
    expect(binTotal(7, 7)).toBe(7);
    expect(binTotal(6, 1)).toBe(6);
  });
});
