import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../src/graph/builder.js";
import { inferShapes } from "../../src/graph/validate.js";
import { ArgumentError, ShapeError } from "../../src/tensor/errors.js";

function lenet(seed = 0) {
  const b = new GraphBuilder("lenet", { seed });
  let x = b.input("image", [1, 28, 28]);
  x = b.scope("features", () => {
    let y = b.conv2d(x, { outChannels: 6, kernelSize: 5, padding: 2 });
    y = b.relu(y);
    y = b.maxPool2d(y, { kernelSize: 2 });
    y = b.conv2d(y, { outChannels: 16, kernelSize: 5 });
    y = b.relu(y);
    return b.maxPool2d(y, { kernelSize: 2 });
  });
  x = b.flatten(x);
  x = b.scope("classifier", () => {
    let y = b.relu(b.linear(x, { outFeatures: 120 }));
    y = b.relu(b.linear(y, { outFeatures: 84 }));
    return b.linear(y, { outFeatures: 10, name: "out" });
  });
  b.output(x);
  return { b, x, ...b.build() };
}

describe("GraphBuilder: shapes and attributes", () => {
  it("infers every shape as it goes, and the channel counts of each layer", () => {
    const { graph, x } = lenet();
    expect(x.shape).toEqual([1, 10]);
    const convs = graph.nodes.filter((n) => n.op === "conv2d");
    expect(convs.map((n) => [n.attrs.inChannels, n.attrs.outChannels])).toEqual([
      [1, 6],
      [6, 16],
    ]);
    const fcs = graph.nodes.filter((n) => n.op === "linear");
    expect(fcs.map((n) => [n.attrs.inFeatures, n.attrs.outFeatures])).toEqual([
      [400, 120],
      [120, 84],
      [84, 10],
    ]);
    const shapes = inferShapes(graph, { batch: 5 });
    expect(shapes.get("features.maxpool2")).toEqual([5, 16, 5, 5]);
    expect(shapes.get("classifier.out")).toEqual([5, 10]);
    expect(graph.inputs).toEqual([{ name: "image", shape: ["N", 1, 28, 28] }]);
  });

  it("stores attrs normalised: pairs expanded, padding resolved to [top, left, bottom, right]", () => {
    const b = new GraphBuilder("pads");
    const x = b.input("x", [3, 9, 9]);
    const same = b.conv2d(x, { outChannels: 4, kernelSize: [2, 3], padding: "same", dilation: [1, 2] });
    const asym = b.conv2d(same, {
      outChannels: 4,
      kernelSize: 3,
      padding: [0, 1, 2, 1],
      stride: 2,
      bias: false,
    });
    const pool = b.maxPool2d(asym, { kernelSize: 3, stride: 1, padding: 1 });
    b.output(pool);
    const { graph } = b.build();
    const [c1, c2, p] = graph.nodes;
    if (c1.op !== "conv2d" || c2.op !== "conv2d" || p.op !== "maxPool2d") throw new Error("unexpected ops");
    // 'same' with k=2 (total 1: the extra pixel at the bottom) and k=3 dilated 2 (total 4)
    expect(c1.attrs.padding).toEqual([0, 2, 1, 2]);
    expect(c1.attrs.kernelSize).toEqual([2, 3]);
    expect(c1.attrs.stride).toEqual([1, 1]);
    expect(c1.attrs.dilation).toEqual([1, 2]);
    expect(same.shape).toEqual([1, 4, 9, 9]);
    expect(c2.attrs).toEqual({
      inChannels: 4,
      outChannels: 4,
      kernelSize: [3, 3],
      stride: [2, 2],
      padding: [0, 1, 2, 1],
      dilation: [1, 1],
      groups: 1,
      bias: false,
    });
    expect(c2.params).toEqual({ weight: "conv2.weight" });
    expect(asym.shape).toEqual([1, 4, 5, 5]);
    expect(p.attrs).toEqual({
      kernelSize: [3, 3],
      stride: [1, 1],
      padding: [1, 1, 1, 1],
      dilation: [1, 1],
      ceilMode: false,
    });
  });

  it("builds split, concat, channel shuffle, SE-style broadcasting and reshape with a batch-agnostic 0", () => {
    const b = new GraphBuilder("mix");
    const x = b.input("x", [8, 4, 4]);
    const [p, q, r] = b.split(x, 3);
    expect([p.shape, q.shape, r.shape]).toEqual([
      [1, 3, 4, 4],
      [1, 3, 4, 4],
      [1, 2, 4, 4],
    ]);
    const y = b.channelShuffle(b.concat([r, q, p]), 2);
    const s = b.sigmoid(b.mean(y, [2, 3], true));
    expect(s.shape).toEqual([1, 8, 1, 1]);
    const z = b.reshape(b.mul(y, s), [0, -1]);
    b.output(z);
    const { graph } = b.build();
    expect(graph.nodes[0].outputs).toEqual(["split1:0", "split1:1", "split1:2"]);
    expect(inferShapes(graph, { batch: 3 }).get(z.name)).toEqual([3, 128]);
  });

  it("a deformable conv reads offsets (and a v2 mask) from ordinary nodes", () => {
    const b = new GraphBuilder("dcn");
    const x = b.input("x", [4, 6, 6]);
    const k = 3;
    const offset = b.conv2d(x, {
      outChannels: 2 * 2 * k * k,
      kernelSize: k,
      padding: 1,
      name: "offset",
      init: { weight: "zeros", bias: "zeros" },
    });
    const mask = b.sigmoid(
      b.conv2d(x, { outChannels: 2 * k * k, kernelSize: k, padding: 1, name: "mask_conv" }),
    );
    const y = b.deformConv2d(x, offset, { outChannels: 8, kernelSize: k, padding: 1, mask, name: "dcn" });
    b.output(y);
    const { graph, weights } = b.build();
    const node = graph.nodes.find((n) => n.name === "dcn");
    if (node?.op !== "deformConv2d") throw new Error("no deformConv2d node");
    expect(node.attrs.offsetGroups).toBe(2);
    expect(node.attrs.mask).toBe(true);
    expect(node.inputs).toEqual(["x", "offset", "sigmoid1"]);
    expect(y.shape).toEqual([1, 8, 6, 6]);
    expect(Array.from(weights.get("offset.weight")!).every((v) => v === 0)).toBe(true);
    expect(() => {
      const b2 = new GraphBuilder("bad");
      const x2 = b2.input("x", [4, 6, 6]);
      const off = b2.conv2d(x2, { outChannels: 10, kernelSize: 3, padding: 1 });
      b2.deformConv2d(x2, off, { outChannels: 8, kernelSize: 3, padding: 1 });
    }).toThrow(/deformConv2d: offset: expected 2\*offsetGroups\*9 channels/);
  });

  it("fails at the line that makes a shape mistake, naming the node", () => {
    const b = new GraphBuilder("bad");
    const x = b.input("x", [3, 8, 8]);
    const y = b.scope("stage1", () => b.conv2d(x, { outChannels: 4, kernelSize: 3 }));
    expect(() => b.scope("stage2", () => b.add(x, y))).toThrow(ShapeError);
    expect(() => b.add(x, y)).toThrow(
      /add node "add\d": inputs: expected shapes that broadcast, got \[1, 3, 8, 8\] and \[1, 4, 6, 6\]/,
    );
    expect(() => b.conv2d(y, { outChannels: 4, kernelSize: 9 })).toThrow(
      /conv2d node "conv1".*larger than the padded input/,
    );
    expect(() => b.conv2d(y, { outChannels: 6, kernelSize: 1, groups: 3 })).toThrow(ArgumentError);
    expect(() => b.maxPool2d(y, { kernelSize: 2, padding: 2 })).toThrow(/maxPool2d node "maxpool1".*half/);
    expect(() => b.reshape(y, [0, 7, -1])).toThrow(
      /reshape node "reshape1".*expected a shape with 144 elements/,
    );
    expect(() => b.relu("nope")).toThrow(/expected a value defined in this builder, got "nope"/);
  });
});

describe("GraphBuilder: names and scopes", () => {
  it("names nodes by scope path with per-scope counters; params follow state_dict spelling", () => {
    const b = new GraphBuilder("names");
    const x = b.input("x", [3, 8, 8]);
    const y = b.scope("stage1", () =>
      b.scope(
        "block1",
        () => {
          const c = b.conv2d(x, { outChannels: 4, kernelSize: 3, padding: 1 });
          const n = b.batchNorm2d(c);
          return b.relu(b.conv2d(b.relu(n), { outChannels: 4, kernelSize: 1 }));
        },
        { kind: "basic", meta: { width: 4 } },
      ),
    );
    const z = b.conv2d(y, { outChannels: 2, kernelSize: 1, name: "head" });
    b.output(z);
    const { graph } = b.build();
    expect(graph.nodes.map((n) => [n.name, n.scope])).toEqual([
      ["stage1.block1.conv1", "stage1.block1"],
      ["stage1.block1.bn1", "stage1.block1"],
      ["stage1.block1.relu1", "stage1.block1"],
      ["stage1.block1.conv2", "stage1.block1"],
      ["stage1.block1.relu2", "stage1.block1"],
      ["head", ""],
    ]);
    expect(graph.nodes[1].params).toEqual({
      weight: "stage1.block1.bn1.weight",
      bias: "stage1.block1.bn1.bias",
      runningMean: "stage1.block1.bn1.running_mean",
      runningVar: "stage1.block1.bn1.running_var",
      numBatchesTracked: "stage1.block1.bn1.num_batches_tracked",
    });
    expect(graph.params["stage1.block1.bn1.running_var"]).toEqual({ shape: [4], kind: "buffer" });
    expect(graph.params["stage1.block1.bn1.num_batches_tracked"]).toEqual({ shape: [], kind: "buffer" });
    expect(graph.scopes).toEqual({ "stage1.block1": { kind: "basic", meta: { width: 4 } } });
  });

  it("refuses duplicate names, a reused scope, and use after build", () => {
    const b = new GraphBuilder("dups");
    const x = b.input("x", [3, 4, 4]);
    b.relu(x, { name: "act" });
    expect(() => b.relu(x, { name: "act" })).toThrow(/expected a name not used yet in this graph, got "act"/);
    expect(() => b.input("x", [1])).toThrow(/got "x"/);
    b.scope("blk", () => b.relu(x));
    expect(() => b.scope("blk", () => b.relu(x))).toThrow(/a scope not used before in this graph, got "blk"/);
    b.output("act");
    b.build();
    expect(() => b.relu(x)).toThrow(/already built/);
    expect(() => new GraphBuilder("none").build()).toThrow(/no outputs/);
  });

  it("shares a parameter when a node names an existing one (weight tying), checking its shape", () => {
    const b = new GraphBuilder("tied");
    const x = b.input("x", [4]);
    const y = b.linear(x, { outFeatures: 4, name: "enc" });
    const z = b.node(
      "linear",
      [y],
      { inFeatures: 4, outFeatures: 4, bias: false },
      { name: "dec", params: { weight: { name: "enc.weight" } } },
    )[0];
    b.output(z);
    const { graph } = b.build();
    expect(graph.nodes[1].params).toEqual({ weight: "enc.weight" });
    expect(Object.keys(graph.params)).toEqual(["enc.weight", "enc.bias"]);
    const b2 = new GraphBuilder("tied-bad");
    const x2 = b2.input("x", [4]);
    b2.linear(x2, { outFeatures: 3, name: "enc" });
    expect(() =>
      b2.node(
        "linear",
        [x2],
        { inFeatures: 4, outFeatures: 4, bias: false },
        { params: { weight: { name: "enc.weight" } } },
      ),
    ).toThrow(
      /shared parameter "enc.weight": expected parameter of shape \[4, 4\], got parameter of shape \[3, 4\]/,
    );
  });
});

describe("GraphBuilder: initialisation", () => {
  it("is repeatable from a seed and differs across seeds", () => {
    const a = lenet(3).weights;
    const b = lenet(3).weights;
    const c = lenet(4).weights;
    for (const [name, data] of a) expect(Array.from(data), name).toEqual(Array.from(b.get(name)!));
    expect(Array.from(a.get("features.conv1.weight")!)).not.toEqual(
      Array.from(c.get("features.conv1.weight")!),
    );
  });

  it("batch norm starts at weight 1, bias 0, running mean 0, var 1, batches 0; init options override", () => {
    const b = new GraphBuilder("bn");
    const x = b.input("x", [3, 4, 4]);
    b.output(b.batchNorm2d(b.batchNorm2d(x), { init: { weight: "zeros" }, name: "zero_gamma" }));
    const { weights } = b.build();
    expect(Array.from(weights.get("bn1.weight")!)).toEqual([1, 1, 1]);
    expect(Array.from(weights.get("bn1.bias")!)).toEqual([0, 0, 0]);
    expect(Array.from(weights.get("bn1.running_mean")!)).toEqual([0, 0, 0]);
    expect(Array.from(weights.get("bn1.running_var")!)).toEqual([1, 1, 1]);
    expect(Array.from(weights.get("bn1.num_batches_tracked")!)).toEqual([0]);
    expect(Array.from(weights.get("zero_gamma.weight")!)).toEqual([0, 0, 0]);
  });

  it("conv/linear weights and biases follow PyTorch's default bounds (computed by torch itself)", () => {
    // torch computes each layer's bounds with its own init helpers; we check range and spread of ours.
    const script = `
import json, math, torch.nn as nn
from torch.nn import init
out = []
for m in [nn.Conv2d(6, 16, 5), nn.Conv2d(8, 8, 3, groups=4), nn.Linear(120, 84)]:
    fan_in, _ = init._calculate_fan_in_and_fan_out(m.weight)
    gain = init.calculate_gain("leaky_relu", math.sqrt(5))
    out.append({"weight": math.sqrt(3.0) * gain / math.sqrt(fan_in), "bias": 1 / math.sqrt(fan_in)})
print(json.dumps(out))`;
    const bounds = JSON.parse(execFileSync("/usr/bin/python3", ["-c", script], { encoding: "utf8" })) as {
      weight: number;
      bias: number;
    }[];
    const b = new GraphBuilder("init", { seed: 11 });
    const x = b.input("x", [6, 9, 9]);
    b.conv2d(x, { outChannels: 16, kernelSize: 5, name: "c1" });
    const v = b.input("v", [8, 5, 5]);
    b.conv2d(v, { outChannels: 8, kernelSize: 3, groups: 4, name: "c2" });
    const f = b.input("f", [120]);
    b.output(b.linear(f, { outFeatures: 84, name: "fc" }));
    b.output("c1", "c2");
    const { weights } = b.build();
    ["c1", "c2", "fc"].forEach((layer, i) => {
      for (const role of ["weight", "bias"] as const) {
        const data = weights.get(`${layer}.${role}`)!;
        const bound = bounds[i][role];
        const maxAbs = Math.max(...Array.from(data, Math.abs));
        expect(maxAbs, `${layer}.${role} within bound`).toBeLessThanOrEqual(bound);
        // Uniform on [-bound, bound]: with >= 8 samples the largest |value| is very likely above bound/3.
        expect(maxAbs, `${layer}.${role} reaches toward the bound`).toBeGreaterThan(bound / 3);
        if (data.length >= 2000) {
          const rms = Math.sqrt(data.reduce((s, w) => s + w * w, 0) / data.length);
          expect(rms / (bound / Math.sqrt(3)), `${layer}.${role} spread`).toBeCloseTo(1, 1);
        }
      }
    });
  });
});
