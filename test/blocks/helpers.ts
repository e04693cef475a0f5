import { expect } from "vitest";
import { analyze } from "../../src/analyze/index.js";
import { randn } from "../../src/autograd/factories.js";
import type { Tensor } from "../../src/autograd/tensor.js";
import { GraphBuilder, type ValueRef } from "../../src/graph/builder.js";
import { GraphModel } from "../../src/graph/executor.js";
import type { Graph, Weights } from "../../src/graph/types.js";
import { Rng } from "../../src/tensor/rng.js";

/** A one-block graph: input "x" of per-sample shape `sample`, the block's output as the graph output. */
export function buildBlock(
  sample: readonly number[],
  block: (b: GraphBuilder, x: ValueRef) => ValueRef,
  seed = 0,
): { graph: Graph; weights: Weights; out: ValueRef } {
  const b = new GraphBuilder("block", { seed });
  const x = b.input("x", sample);
  const out = block(b, x);
  b.output(out);
  return { ...b.build(), out };
}

/**
 * One training-mode forward and backward through the executor on a random batch, with a random output gradient.
 * Asserts that the input and every trainable parameter receive a gradient with some non-zero entry.
 */
export function forwardBackward(
  graph: Graph,
  weights: Weights,
  batch = 2,
  seed = 1,
): { model: GraphModel; x: Tensor; y: Tensor } {
  const rng = new Rng(seed);
  const model = new GraphModel(graph, weights).train();
  const sample = graph.inputs[0].shape.slice(1) as number[];
  const x = randn([batch, ...sample], { rng, requiresGrad: true });
  const y = model.forward(x);
  expect(y.data.every(Number.isFinite), `${graph.name}: finite output`).toBe(true);
  y.backward(randn(y.shape, { rng }));
  expect(x.grad, "input gradient").not.toBeNull();
  const params = model.parameters();
  expect(params.size).toBeGreaterThan(0);
  for (const [name, t] of params) {
    expect(t.grad, `gradient of ${name}`).not.toBeNull();
    expect(
      t.grad!.data.some((v) => v !== 0),
      `gradient of ${name} has a non-zero entry`,
    ).toBe(true);
    expect(t.grad!.data.every(Number.isFinite), `gradient of ${name} is finite`).toBe(true);
  }
  return { model, x, y };
}

/** The analyzer's totals at batch 1 (trainable params, buffers, MACs under torchvision's convention). */
export function figures(graph: Graph): { params: number; buffers: number; macs: number } {
  const t = analyze(graph).totals;
  return { params: t.params, buffers: t.buffers, macs: t.macs };
}

/** Parameter names of a graph, sorted. */
export function paramNames(graph: Graph): string[] {
  return Object.keys(graph.params).sort();
}

/** Ops of the graph's nodes, in order. */
export function ops(graph: Graph): string[] {
  return graph.nodes.map((n) => n.op);
}
