import { describe, expect, it } from "vitest";
import { randn } from "../../src/autograd/factories.js";
import { noGrad } from "../../src/autograd/gradmode.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { GraphModel } from "../../src/graph/executor.js";
import type { Weights } from "../../src/graph/types.js";
import {
  hardSigmoid,
  hardSwish,
  leakyRelu,
  relu,
  relu6,
  sigmoid,
  silu,
  tanh,
} from "../../src/ops/activation.js";
import { batchNorm2d } from "../../src/ops/batchnorm.js";
import { conv2d } from "../../src/ops/conv.js";
import { dropout } from "../../src/ops/dropout.js";
import { add, div, mul, sub } from "../../src/ops/elementwise.js";
import { linear } from "../../src/ops/linear.js";
import { logSoftmax, softmax } from "../../src/ops/loss.js";
import { adaptiveAvgPool2d, adaptiveMaxPool2d, avgPool2d, maxPool2d } from "../../src/ops/pool.js";
import { mean, sum } from "../../src/ops/reduce.js";
import { concat, flatten, permute, reshape, split, transpose } from "../../src/ops/shape.js";
import { channelShuffle } from "../../src/ops/shuffle.js";
import { ShapeError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";

/** A network touching most node kinds: conv-bn-relu, split/concat, shuffle, SE mul, residual add, pools, linear. */
function smallNet(seed = 1) {
  const b = new GraphBuilder("small", { seed });
  const x = b.input("x", [4, 6, 6]);
  let y = b.scope("stem", () =>
    b.relu(b.batchNorm2d(b.conv2d(x, { outChannels: 6, kernelSize: 3, padding: 1 }))),
  );
  y = b.scope("block", () => {
    const [p, q] = b.split(y, [2, 4]);
    const r = b.conv2d(q, { outChannels: 4, kernelSize: 3, padding: 1, groups: 2, bias: false });
    const z = b.channelShuffle(b.concat([r, p]), 3);
    const s = b.sigmoid(b.conv2d(b.mean(z, [2, 3], true), { outChannels: 6, kernelSize: 1, name: "se" }));
    return b.add(b.mul(z, s), y);
  });
  y = b.avgPool2d(b.maxPool2d(y, { kernelSize: 2 }), {
    kernelSize: 3,
    stride: 1,
    padding: 1,
    countIncludePad: false,
  });
  y = b.linear(b.reshape(y, [0, -1]), { outFeatures: 5, name: "fc" });
  b.output(y);
  return b.build();
}

/** The same network, called op by op on the same tensors. */
function byHand(x: Tensor, p: Map<string, Tensor>, training: boolean): Tensor {
  const g = (k: string) => p.get(k)!;
  if (training) g("stem.bn1.num_batches_tracked").data[0] += 1; // nn.BatchNorm2d counts training batches
  let y = conv2d(x, g("stem.conv1.weight"), g("stem.conv1.bias"), { padding: [1, 1, 1, 1] });
  y = relu(
    batchNorm2d(
      y,
      g("stem.bn1.running_mean"),
      g("stem.bn1.running_var"),
      g("stem.bn1.weight"),
      g("stem.bn1.bias"),
      {
        training,
        momentum: 0.1,
        eps: 1e-5,
      },
    ),
  );
  const [a, q] = split(y, [2, 4], 1);
  const r = conv2d(q, g("block.conv1.weight"), null, { padding: 1, groups: 2 });
  const z = channelShuffle(concat([r, a], 1), 3);
  const s = sigmoid(conv2d(mean(z, [2, 3], true), g("block.se.weight"), g("block.se.bias")));
  y = add(mul(z, s), y);
  y = avgPool2d(maxPool2d(y, { kernelSize: 2 }), {
    kernelSize: 3,
    stride: 1,
    padding: 1,
    countIncludePad: false,
  });
  return linear(reshape(y, [y.shape[0], -1]), g("fc.weight"), g("fc.bias"));
}

function leaves(weights: Weights, graph: ReturnType<typeof smallNet>["graph"]): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, info] of Object.entries(graph.params)) {
    out.set(name, new Tensor(Float32Array.from(weights.get(name)!), info.shape, info.kind === "parameter"));
  }
  return out;
}

describe("GraphModel", () => {
  for (const training of [false, true]) {
    it(`forward and backward equal the ops called by hand (${training ? "training" : "eval"})`, () => {
      const { graph, weights } = smallNet();
      const model = new GraphModel(graph, weights);
      const hand = leaves(weights, graph);
      const x1 = randn([3, 4, 6, 6], { rng: new Rng(5), requiresGrad: true });
      const x2 = new Tensor(Float32Array.from(x1.data), x1.shape, true);
      const out = model.forward(x1, { training });
      const ref = byHand(x2, hand, training);
      expect(out.shape).toEqual([3, 5]);
      expect(Array.from(out.data)).toEqual(Array.from(ref.data));
      const gradOut = randn(out.shape, { rng: new Rng(6) });
      out.backward(gradOut);
      ref.backward(gradOut);
      expect(Array.from(x1.grad!.data)).toEqual(Array.from(x2.grad!.data));
      const params = model.parameters();
      expect([...params.keys()]).toEqual(
        Object.keys(graph.params).filter((k) => graph.params[k].kind === "parameter"),
      );
      for (const [name, t] of params) {
        expect(t.requiresGrad, name).toBe(true);
        expect(t.grad, `gradient of ${name}`).not.toBeNull();
        expect(Array.from(t.grad!.data), name).toEqual(Array.from(hand.get(name)!.grad!.data));
        expect(
          t.grad!.data.some((v) => v !== 0),
          `${name} gradient is not all zero`,
        ).toBe(true);
      }
      for (const [name, t] of model.buffers()) {
        expect(t.requiresGrad, name).toBe(false);
        expect(Array.from(t.data), `buffer ${name}`).toEqual(Array.from(hand.get(name)!.data));
      }
    });
  }

  it("training updates batch-norm buffers and num_batches_tracked; eval leaves them alone", () => {
    const { graph, weights } = smallNet();
    const model = new GraphModel(graph, weights);
    const x = randn([2, 4, 6, 6], { rng: new Rng(8) });
    const rm = () => Array.from(model.buffers().get("stem.bn1.running_mean")!.data);
    const before = rm();
    noGrad(() => model.eval().forward(x));
    expect(rm()).toEqual(before);
    expect(model.buffers().get("stem.bn1.num_batches_tracked")!.data[0]).toBe(0);
    model.train();
    model.forward(x);
    model.forward(x);
    expect(rm()).not.toEqual(before);
    expect(model.buffers().get("stem.bn1.num_batches_tracked")!.data[0]).toBe(2);
    // The buffers are the same persistent tensors that weights() snapshots.
    expect(Array.from(model.weights().get("stem.bn1.running_mean")!)).toEqual(rm());
  });

  it("momentum null is PyTorch's cumulative average; without running stats batch statistics are used in eval", () => {
    const b = new GraphBuilder("bn");
    const x = b.input("x", [3, 2, 2]);
    const y = b.batchNorm2d(x, { momentum: null, name: "cum" });
    b.output(b.batchNorm2d(y, { trackRunningStats: false, affine: false, name: "free" }));
    const { graph, weights } = b.build();
    expect(Object.keys(graph.params).filter((k) => k.startsWith("free"))).toEqual([]);
    const model = new GraphModel(graph, weights).train();
    const batches = [1, 2, 3].map((s) => randn([4, 3, 2, 2], { rng: new Rng(s) }));
    for (const xb of batches) model.forward(xb);
    // Cumulative average of the batch means: after k batches, running = mean of the k batch means.
    const expected = new Float64Array(3);
    for (const xb of batches) {
      const m = mean(xb, [0, 2, 3]).data;
      for (let c = 0; c < 3; c++) expected[c] += m[c] / 3;
    }
    const got = model.buffers().get("cum.running_mean")!.data;
    for (let c = 0; c < 3; c++) expect(got[c]).toBeCloseTo(expected[c], 5);
    expect(model.buffers().get("cum.num_batches_tracked")!.data[0]).toBe(3);
    model.eval();
    const out = model.runAll(batches[0]);
    const free = out.get("free")!;
    // Normalised with its own batch statistics even in eval: per-channel mean ~0.
    const channelMeans = mean(free, [0, 2, 3]).data;
    for (const m of channelMeans) expect(Math.abs(m)).toBeLessThan(1e-5);
  });

  it("dropout is active only in training and repeatable from the model's seed", () => {
    const b = new GraphBuilder("drop");
    b.output(b.dropout(b.input("x", [50]), 0.5));
    const { graph, weights } = b.build();
    const x = randn([2, 50], { rng: new Rng(1) });
    const m1 = new GraphModel(graph, weights, { seed: 9 });
    const m2 = new GraphModel(graph, weights, { seed: 9 });
    expect(Array.from(m1.forward(x).data)).toEqual(Array.from(x.data));
    const t1 = m1.forward(x, { training: true });
    const t2 = m2.forward(x, { training: true });
    expect(Array.from(t1.data)).toEqual(Array.from(t2.data));
    const ref = dropout(x, { p: 0.5, training: true, rng: new Rng(9) });
    expect(Array.from(t1.data)).toEqual(Array.from(ref.data));
    expect(t1.data.some((v) => v === 0)).toBe(true);
  });

  it("parameters are persistent: in-place updates are seen by the next forward; loadWeights copies in place", () => {
    const { graph, weights } = smallNet();
    const model = new GraphModel(graph, weights);
    const x = randn([1, 4, 6, 6], { rng: new Rng(2) });
    const w = model.parameters().get("fc.bias")!;
    const before = noGrad(() => model.forward(x)).data[0];
    w.data[0] += 1;
    expect(noGrad(() => model.forward(x)).data[0]).toBeCloseTo(before + 1, 5);
    model.loadWeights(weights);
    expect(model.parameters().get("fc.bias")).toBe(w);
    expect(noGrad(() => model.forward(x)).data[0]).toBe(before);
    // The model copied the weights: the caller's map is untouched by training.
    expect(weights.get("fc.bias")![0]).toBe(w.data[0]);
    expect(() => model.loadWeights(new Map([["fc.bias", new Float32Array(2)]]))).toThrow(
      /fc.bias: expected 5 values/,
    );
    expect(() => model.loadWeights(new Map([["fc.bias", new Float32Array(5)]]))).toThrow(
      /a value for "stem.conv1.weight"/,
    );
  });

  it("several inputs and outputs by name; runAll keeps every value", () => {
    const b = new GraphBuilder("two");
    const u = b.input("u", [3]);
    const v = b.input("v", [3]);
    const s = b.add(u, v, { name: "s" });
    const t = b.sum(b.mul(u, v), 1, false, { name: "dot" });
    b.output(s, t);
    const { graph, weights } = b.build();
    const model = new GraphModel(graph, weights);
    const uu = new Tensor(Float32Array.of(1, 2, 3, 4, 5, 6), [2, 3]);
    const vv = new Tensor(Float32Array.of(6, 5, 4, 3, 2, 1), [2, 3]);
    const out = model.forwardOutputs({ u: uu, v: vv });
    expect(Array.from(out.s.data)).toEqual(Array.from(add(uu, vv).data));
    expect(Array.from(out.dot.data)).toEqual(Array.from(sum(mul(uu, vv), 1).data));
    expect(() => model.forward({ u: uu, v: vv })).toThrow(/a single output \(use forwardOutputs\)/);
    expect([...model.runAll({ u: uu, v: vv }).keys()]).toEqual(["u", "v", "s", "mul1", "dot"]);
    expect(() => model.forwardOutputs({ u: uu })).toThrow(/input "v": expected a Tensor/);
    expect(() => model.forwardOutputs({ u: uu, v: vv, w: vv })).toThrow(/expected only "u", "v", got "w"/);
    expect(() => model.forwardOutputs(uu)).toThrow(/tensors by name/);
  });

  it("checks input shapes against the graph and names the node when an op fails", () => {
    const { graph, weights } = smallNet();
    const model = new GraphModel(graph, weights);
    expect(() => model.forward(randn([1, 3, 6, 6]))).toThrow(ShapeError);
    expect(() => model.forward(randn([1, 3, 6, 6]))).toThrow(
      /input "x": expected shape \[N, 4, 6, 6\], got \[1, 3, 6, 6\]/,
    );
    // Training batch norm on one value per channel fails inside the op; the error names the node.
    const b = new GraphBuilder("tiny");
    b.output(b.scope("s", () => b.batchNorm2d(b.input("x", [2, 1, 1]))));
    const built = b.build();
    const m = new GraphModel(built.graph, built.weights).train();
    expect(() => m.forward(randn([1, 2, 1, 1]))).toThrow(
      /batchNorm2d node "s.bn1" \(scope "s"\): batchNorm2d: input/,
    );
  });

  it("every remaining op kind runs exactly like its functional op", () => {
    const b = new GraphBuilder("ops");
    const x = b.input("x", [3, 4, 5]);
    const a = b.hardSwish(b.relu6(b.leakyRelu(x, 0.2)));
    const c = b.div(b.sub(b.silu(x), b.tanh(x)), b.add(b.sigmoid(x), b.hardSigmoid(x)));
    const d = b.adaptiveMaxPool2d(b.identity(b.mul(a, c)), [2, 3]);
    const e = b.permute(b.transpose(d, 1, 3), [0, 2, 1, 3]);
    b.output(b.softmax(e, -1, { name: "p" }), b.logSoftmax(e, 1, { name: "lp" }));
    const { graph, weights } = b.build();
    const xt = randn([2, 3, 4, 5], { rng: new Rng(4) });
    const got = new GraphModel(graph, weights).forwardOutputs(xt);
    const ra = hardSwish(relu6(leakyRelu(xt, 0.2)));
    const rc = div(sub(silu(xt), tanh(xt)), add(sigmoid(xt), hardSigmoid(xt)));
    const re = permute(transpose(adaptiveMaxPool2d(mul(ra, rc), [2, 3]), 1, 3), [0, 2, 1, 3]);
    expect(got.p.shape).toEqual(re.shape);
    expect(Array.from(got.p.data)).toEqual(Array.from(softmax(re, -1).data));
    expect(Array.from(got.lp.data)).toEqual(Array.from(logSoftmax(re, 1).data));
  });

  it("runs global pooling, flatten and a constant operand like the ops", () => {
    const b = new GraphBuilder("gap");
    const x = b.input("x", [2, 3, 3]);
    const scale = b.constant(Float32Array.of(2, -1), [1, 2, 1, 1], { name: "scale" });
    const y = b.flatten(b.adaptiveAvgPool2d(b.mul(x, scale), 1));
    b.output(y);
    const { graph, weights } = b.build();
    expect(graph.params["scale.value"]).toEqual({ shape: [1, 2, 1, 1], kind: "buffer" });
    const xt = randn([4, 2, 3, 3], { rng: new Rng(3) });
    const got = new GraphModel(graph, weights).forward(xt);
    const s = new Tensor(Float32Array.of(2, -1), [1, 2, 1, 1]);
    expect(Array.from(got.data)).toEqual(Array.from(flatten(adaptiveAvgPool2d(mul(xt, s), 1), 1).data));
  });
});
