import { expect } from "vitest";
import { randn } from "../../src/autograd/factories.js";
import { GraphBuilder, type ValueRef } from "../../src/graph/builder.js";
import { GraphModel } from "../../src/graph/executor.js";
import type { Graph, Weights } from "../../src/graph/types.js";
import { validateGraph } from "../../src/graph/validate.js";
import { sum } from "../../src/ops/reduce.js";
import type { RuleResult } from "../../src/rewrite/types.js";
import { Rng } from "../../src/tensor/rng.js";

/**
 * Small networks to rewrite in tests, with batch norms given random statistics and affine parameters (fresh
 * batch norms are identities, which would hide mistakes in rules that touch them).
 */

/** Gives every batch norm random running statistics and affine parameters. */
export function randomizeNorms(graph: Graph, weights: Weights, seed = 7): Weights {
  const rng = new Rng(seed);
  const out = new Map(weights);
  for (const node of graph.nodes) {
    if (node.op !== "batchNorm2d") continue;
    const p = node.params;
    const fill = (name: string | undefined, f: () => number) => {
      if (name === undefined) return;
      out.set(name, Float32Array.from(weights.get(name)!, f));
    };
    fill(p.weight, () => 0.5 + rng.uniform());
    fill(p.bias, () => rng.normal() * 0.2);
    fill(p.runningMean, () => rng.normal() * 0.1);
    fill(p.runningVar, () => 0.5 + rng.uniform());
  }
  return out;
}

export interface ConvSpec {
  out: number;
  k: number | [number, number];
  stride?: number;
  groups?: number;
  bn?: boolean;
  act?: "relu" | "relu6" | "none";
  pool?: boolean;
  dilation?: number;
}

/**
 * A plain chain: for each spec a conv (padding keeping the size at stride 1) [-> bn] [-> act] [-> 2x2 max pool],
 * then global average pool and a linear head. Convs are named "convN", the scope "body".
 */
export function chain(
  specs: readonly ConvSpec[],
  options: { input?: [number, number, number]; seed?: number; head?: boolean } = {},
): { graph: Graph; weights: Weights } {
  const [c, h, w] = options.input ?? [3, 8, 8];
  const b = new GraphBuilder("chain", { seed: options.seed ?? 1 });
  let x: ValueRef = b.input("x", [c, h, w]);
  x = b.scope("body", () => {
    let y = x;
    specs.forEach((s, i) => {
      const k = typeof s.k === "number" ? [s.k, s.k] : s.k;
      const d = s.dilation ?? 1;
      y = b.conv2d(y, {
        name: `conv${i + 1}`,
        outChannels: s.out,
        kernelSize: k as [number, number],
        stride: s.stride ?? 1,
        padding: [Math.floor(((k[0] - 1) * d) / 2), Math.floor(((k[1] - 1) * d) / 2)],
        dilation: d,
        groups: s.groups ?? 1,
        bias: !(s.bn ?? true),
      });
      if (s.bn ?? true) y = b.batchNorm2d(y, { name: `bn${i + 1}` });
      if ((s.act ?? "relu") === "relu") y = b.relu(y, { name: `relu${i + 1}` });
      if (s.act === "relu6") y = b.relu6(y, { name: `relu${i + 1}` });
      if (s.pool) y = b.maxPool2d(y, { kernelSize: 2, name: `pool${i + 1}` });
    });
    return y;
  });
  if (options.head ?? true) {
    x = b.flatten(b.adaptiveAvgPool2d(x, 1, { name: "avgpool" }), 1, -1, { name: "flatten" });
    x = b.linear(x, { outFeatures: 5, name: "fc" });
  }
  b.output(x);
  const built = b.build();
  return { graph: built.graph, weights: randomizeNorms(built.graph, built.weights) };
}

/**
 * Checks a rewritten graph: it validates with its weights, runs forward in eval and training mode, and a
 * backward pass reaches every trainable parameter with finite gradients.
 */
export function expectRunsAndTrains(graph: Graph, weights: Weights, batch = 2, seed = 3): void {
  validateGraph(graph, weights);
  const model = new GraphModel(graph, weights);
  const info = graph.inputs[0];
  const shape = info.shape.map((d) => (typeof d === "number" ? d : batch));
  const x = randn(shape, { rng: new Rng(seed) });
  const evalOut = model.eval().forward(x);
  expect(evalOut.data.every(Number.isFinite), "eval output finite").toBe(true);
  model.train();
  model.zeroGrad();
  const y = model.forward(x);
  sum(y).backward();
  for (const [name, p] of model.parameters()) {
    expect(p.grad, `gradient of ${name}`).not.toBeNull();
    expect(p.grad!.data.every(Number.isFinite), `finite gradient of ${name}`).toBe(true);
  }
}

/** The worst per-site max-relative error of a rule's result (every site measured). */
export function worstSiteError(result: RuleResult): number {
  expect(result.sites.length).toBeGreaterThan(0);
  let worst = 0;
  for (const s of result.sites) {
    expect(s.error, `site ${s.node} measured`).not.toBeNull();
    worst = Math.max(worst, s.error!.maxRel, s.error!.relL2);
  }
  return worst;
}

/** Params of the conv weight of a node, by node name. */
export function weightOf(graph: Graph, weights: Weights, node: string): Float32Array {
  const n = graph.nodes.find((m) => m.name === node);
  if (n === undefined) throw new Error(`no node ${node}`);
  return weights.get((n.params as { weight: string }).weight)!;
}
