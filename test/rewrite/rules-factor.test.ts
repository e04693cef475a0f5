import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import type { Graph, Weights } from "../../src/graph/types.js";
import { applyRule } from "../../src/rewrite/rewrite.js";
import { Rng } from "../../src/tensor/rng.js";
import { chain, expectRunsAndTrains, weightOf, worstSiteError } from "./helpers.js";

/**
 * Rules that carry weights over by a factorisation (SVD) or a projection: exact on kernels built to have the
 * structure, the best approximation otherwise; and the article's cost claims, checked with the analyzer.
 */

/** The graph with conv `node`'s weight replaced by `data`. */
function withWeight(graph: Graph, weights: Weights, node: string, data: Float32Array): Weights {
  const out = new Map(weights);
  const name = (graph.nodes.find((n) => n.name === node)!.params as { weight: string }).weight;
  expect(data.length).toBe(weights.get(name)!.length);
  out.set(name, data);
  return out;
}

function relDist(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dd = 0;
  let bb = 0;
  for (let i = 0; i < b.length; i++) {
    dd += (a[i] - b[i]) ** 2;
    bb += b[i] ** 2;
  }
  return Math.sqrt(dd / bb);
}

const macsOf = (g: Graph, names: string[]) =>
  analyze(g)
    .layers.filter((l) => names.includes(l.name))
    .reduce((s, l) => s + l.macs, 0);

describe("separable: depthwise + pointwise by per-channel SVD", () => {
  const [cin, cout, k] = [4, 6, 3];
  const net = () =>
    chain(
      [
        { out: cin, k: 1 },
        { out: cout, k },
      ],
      { input: [3, 8, 8] },
    );

  it("exact on kernels whose per-input-channel slices have rank <= m; the graph runs and trains", () => {
    const { graph, weights } = net();
    const rng = new Rng(3);
    for (const m of [1, 2]) {
      // W[o, c, t] = sum_j p[o, c, j] d[c, j, t]: rank m per input channel c.
      const p = Float32Array.from({ length: cout * cin * m }, () => rng.normal());
      const d = Float32Array.from({ length: cin * m * k * k }, () => rng.normal());
      const w = new Float32Array(cout * cin * k * k);
      for (let o = 0; o < cout; o++)
        for (let c = 0; c < cin; c++)
          for (let j = 0; j < m; j++)
            for (let t = 0; t < k * k; t++)
              w[(o * cin + c) * k * k + t] += p[(o * cin + c) * m + j] * d[(c * m + j) * k * k + t];
      const built = withWeight(graph, weights, "body.conv2", w);
      const r = applyRule(graph, built, {
        rule: "separable",
        where: "name=body.conv2",
        options: { depthMultiplier: m },
      });
      expect(r.sites[0].carry).toBe("exact");
      expect(worstSiteError(r), `m=${m}`).toBeLessThan(1e-5);
      expect(r.outputError!.maxRel).toBeLessThan(1e-5);
      expectRunsAndTrains(r.graph, r.weights!);
      if (m === 2) {
        const r1 = applyRule(graph, built, { rule: "separable", where: "name=body.conv2" });
        expect(r1.sites[0].weightError!).toBeGreaterThan(1e-2);
      }
    }
  });

  it("on random kernels: exact with m = min(Cout, k*k); with m = 1 the reported kernel error is that of the new weights", () => {
    const { graph, weights } = net();
    const full = applyRule(graph, weights, {
      rule: "separable",
      where: "name=body.conv2",
      options: { depthMultiplier: 6 },
    });
    expect(worstSiteError(full)).toBeLessThan(1e-5);
    const r = applyRule(graph, weights, { rule: "separable", where: "name=body.conv2" });
    const dw = weightOf(r.graph, r.weights!, "body.conv2.depthwise");
    const pw = weightOf(r.graph, r.weights!, "body.conv2.pointwise");
    const rec = new Float32Array(cout * cin * k * k);
    for (let o = 0; o < cout; o++)
      for (let c = 0; c < cin; c++)
        for (let t = 0; t < 9; t++) rec[(o * cin + c) * 9 + t] = pw[o * cin + c] * dw[c * 9 + t];
    const w = weights.get("body.conv2.weight")!;
    expect(r.sites[0].weightError!).toBeCloseTo(relDist(rec, w), 6);
    expect(r.sites[0].carry).toBe("approximate: SVD");
    expect(r.sites[0].error!.relL2).toBeGreaterThan(0.05);
  });

  it("costs 1/Cout + 1/k^2 of the conv's MACs and params (article claim), at the same receptive field", () => {
    const c = 32;
    const { graph } = chain(
      [
        { out: c, k: 1 },
        { out: c, k: 3 },
      ],
      { input: [c, 16, 16] },
    );
    const r = applyRule(graph, null, { rule: "separable", where: "name=body.conv2" });
    const before = macsOf(graph, ["body.conv2"]);
    const after = macsOf(r.graph, ["body.conv2.depthwise", "body.conv2.pointwise"]);
    expect(after / before).toBeCloseTo(1 / c + 1 / 9, 12);
    const a0 = analyze(graph);
    const a1 = analyze(r.graph);
    expect(a1.totals.params - a0.totals.params).toBe(c * 9 + c * c - c * c * 9);
    expect(a1.receptiveField!.size).toEqual(a0.receptiveField!.size);
  });

  it("refuses grouped and 1x1 convs, naming the node", () => {
    const { graph, weights } = chain([
      { out: 4, k: 1 },
      { out: 4, k: 3, groups: 4 },
    ]);
    const r = applyRule(graph, weights, { rule: "separable", where: "op=conv2d" });
    expect(r.refusals.map((f) => f.reason)).toEqual([
      "body.conv1: separable needs a kernel larger than 1x1, got 1x1",
      "body.conv2: separable needs groups=1, got 4",
    ]);
  });
});

describe("asymmetric: k x k -> 1 x k + k x 1 by a rank-Cmid SVD", () => {
  it("exact on kernels of rank <= Cmid (both orders, non-square kernel, stride and padding)", () => {
    const [cin, cout, kh, kw, rank] = [3, 5, 3, 5, 2];
    const { graph, weights } = chain(
      [
        { out: cin, k: 1 },
        { out: cout, k: [kh, kw], stride: 2 },
      ],
      { input: [3, 9, 9] },
    );
    const rng = new Rng(8);
    for (const order of ["1xk-kx1", "kx1-1xk"] as const) {
      // 1xk first: W[o,c,y,x] = sum_m B[o,m,y] A[m,c,x]; kx1 first: sum_m B[o,m,x] A[m,c,y].
      const B = Float32Array.from({ length: cout * rank * Math.max(kh, kw) }, () => rng.normal());
      const A = Float32Array.from({ length: rank * cin * Math.max(kh, kw) }, () => rng.normal());
      const w = new Float32Array(cout * cin * kh * kw);
      for (let o = 0; o < cout; o++)
        for (let c = 0; c < cin; c++)
          for (let y = 0; y < kh; y++)
            for (let x = 0; x < kw; x++)
              for (let m = 0; m < rank; m++) {
                const [s, f] = order === "1xk-kx1" ? [y, x] : [x, y];
                w[((o * cin + c) * kh + y) * kw + x] += B[(o * rank + m) * 5 + s] * A[(m * cin + c) * 5 + f];
              }
      const built = withWeight(graph, weights, "body.conv2", w);
      const r = applyRule(graph, built, {
        rule: "asymmetric",
        where: "name=body.conv2",
        options: { order, midChannels: rank },
      });
      expect(r.sites[0].carry, order).toBe("exact");
      expect(worstSiteError(r), order).toBeLessThan(1e-5);
      expect(r.outputError!.maxRel).toBeLessThan(1e-5);
      expectRunsAndTrains(r.graph, r.weights!);
    }
  });

  it("exact on any kernel with Cmid = min(Cout*kH, Cin*kW); approximate below", () => {
    const { graph, weights } = chain([
      { out: 4, k: 1 },
      { out: 6, k: 3 },
    ]);
    const full = applyRule(graph, weights, {
      rule: "asymmetric",
      where: "name=body.conv2",
      options: { midChannels: 12 },
    });
    expect(worstSiteError(full)).toBeLessThan(1e-5);
    const low = applyRule(graph, weights, {
      rule: "asymmetric",
      where: "name=body.conv2",
      options: { midChannels: 3 },
    });
    expect(low.sites[0].weightError!).toBeGreaterThan(0.05);
    expect(low.sites[0].carry).toBe("approximate: SVD");
  });

  it("1x3 + 3x1 costs 6/9 of a 3x3 (and 2/k for k x k) at equal channels and receptive field (article claim)", () => {
    for (const k of [3, 5, 7]) {
      const { graph } = chain(
        [
          { out: 16, k: 1 },
          { out: 16, k },
        ],
        { input: [16, 16, 16] },
      );
      const r = applyRule(graph, null, { rule: "asymmetric", where: "name=body.conv2" });
      const ratio = macsOf(r.graph, ["body.conv2.conv1", "body.conv2.conv2"]) / macsOf(graph, ["body.conv2"]);
      expect(ratio).toBeCloseTo(2 / k, 12);
      expect(analyze(r.graph).receptiveField!.size).toEqual(analyze(graph).receptiveField!.size);
    }
  });

  it("refuses kernels already thin on one axis and grouped convs", () => {
    const { graph, weights } = chain([
      { out: 4, k: [1, 3] },
      { out: 4, k: 3, groups: 2 },
    ]);
    const r = applyRule(graph, weights, { rule: "asymmetric", where: "op=conv2d" });
    expect(r.refusals.map((f) => f.reason)).toEqual([
      "body.conv1: asymmetric needs a kernel larger than 1 on both axes, got 1x3",
      "body.conv2: asymmetric needs groups=1, got 2",
    ]);
  });
});

describe("bottleneck: 1x1 reduction by SVD over the input channels", () => {
  it("exact on kernels of input-channel rank <= m; the costs follow Cin*m + k^2*m*Cout", () => {
    const [cin, cout, m] = [8, 6, 3];
    const { graph, weights } = chain([
      { out: cin, k: 1 },
      { out: cout, k: 3 },
    ]);
    const rng = new Rng(5);
    const U = Float32Array.from({ length: cout * 9 * m }, () => rng.normal());
    const V = Float32Array.from({ length: m * cin }, () => rng.normal());
    const w = new Float32Array(cout * cin * 9);
    for (let o = 0; o < cout; o++)
      for (let c = 0; c < cin; c++)
        for (let t = 0; t < 9; t++)
          for (let j = 0; j < m; j++) w[(o * cin + c) * 9 + t] += U[(o * 9 + t) * m + j] * V[j * cin + c];
    const built = withWeight(graph, weights, "body.conv2", w);
    const r = applyRule(graph, built, {
      rule: "bottleneck",
      where: "name=body.conv2",
      options: { channels: m },
    });
    expect(r.sites[0].carry).toBe("exact");
    expect(worstSiteError(r)).toBeLessThan(1e-5);
    expectRunsAndTrains(r.graph, r.weights!);
    const random = applyRule(graph, weights, {
      rule: "bottleneck",
      where: "name=body.conv2",
      options: { ratio: 2 },
    });
    expect(random.sites[0].carry).toBe("approximate: SVD");
    expect(random.sites[0].weightError!).toBeGreaterThan(0.05);
    const hw = 64;
    expect(macsOf(random.graph, ["body.conv2.reduce", "body.conv2.conv"])).toBe(
      cin * 4 * hw + 9 * 4 * cout * hw,
    );
    expect(macsOf(graph, ["body.conv2"])).toBe(9 * cin * cout * hw);
  });

  it("refuses grouped convs, 1x1 convs and inputs too thin to reduce", () => {
    const { graph, weights } = chain(
      [
        { out: 4, k: 3 },
        { out: 4, k: 1 },
        { out: 4, k: 3, groups: 2 },
      ],
      { input: [1, 8, 8] },
    );
    const r = applyRule(graph, weights, { rule: "bottleneck", where: "op=conv2d" });
    expect(r.refusals.map((f) => f.reason)).toEqual([
      "body.conv1: bottleneck needs more input channels to reduce: m = max(1, round(1 / 4)) = 1 is not below 1",
      "body.conv2: bottleneck needs a kernel larger than 1x1 (a 1x1 conv is its own bottleneck), got 1x1",
      "body.conv3: bottleneck needs groups=1, got 2",
    ]);
  });
});

describe("group: the block-diagonal projection", () => {
  it("exact when the kernel is block diagonal; otherwise drops exactly the off-block part", () => {
    const [c, g] = [8, 4];
    const { graph, weights } = chain(
      [
        { out: c, k: 1 },
        { out: c, k: 3 },
      ],
      { input: [3, 8, 8] },
    );
    const w = weights.get("body.conv2.weight")!;
    const inside = (o: number, i: number) => Math.floor(o / (c / g)) === Math.floor(i / (c / g));
    const block = w.map((v, idx) => (inside(Math.floor(idx / (c * 9)), Math.floor(idx / 9) % c) ? v : 0));
    const exact = applyRule(graph, withWeight(graph, weights, "body.conv2", block), {
      rule: "group",
      where: "name=body.conv2",
      options: { groups: g },
    });
    expect(exact.sites[0].carry).toBe("exact");
    expect(worstSiteError(exact)).toBeLessThan(1e-5);
    expectRunsAndTrains(exact.graph, exact.weights!);
    const r = applyRule(graph, weights, { rule: "group", where: "name=body.conv2", options: { groups: g } });
    const dropped = relDist(block, w);
    expect(r.sites[0].weightError!).toBeCloseTo(dropped, 6);
    expect(r.sites[0].carry).toBe("approximate: projection");
    // Regrouping a grouped conv (2 -> 4) keeps the blocks nested.
    const two = applyRule(graph, weights, {
      rule: "group",
      where: "name=body.conv2",
      options: { groups: 2 },
    });
    const four = applyRule(two.graph, two.weights, {
      rule: "group",
      where: "name=body.conv2",
      options: { groups: 4 },
    });
    expect(four.sites[0].weightError!).toBeGreaterThan(0);
    expect(weightOf(four.graph, four.weights!, "body.conv2")).toEqual(
      weightOf(r.graph, r.weights!, "body.conv2"),
    );
  });

  it("groups divide the conv's MACs and params by g (article claim)", () => {
    const { graph } = chain(
      [
        { out: 12, k: 1 },
        { out: 24, k: 3 },
      ],
      { input: [3, 8, 8] },
    );
    for (const g of [2, 3, 4, 6, 12]) {
      const r = applyRule(graph, null, { rule: "group", where: "name=body.conv2", options: { groups: g } });
      expect(macsOf(r.graph, ["body.conv2"]) * g).toBe(macsOf(graph, ["body.conv2"]));
      const p = (gr: Graph) => analyze(gr).layers.find((l) => l.name === "body.conv2")!.params;
      expect(p(r.graph) * g).toBe(p(graph));
    }
  });

  it("refuses channels that do not divide, depthwise convs and groups that do not nest", () => {
    const { graph, weights } = chain([
      { out: 6, k: 3 },
      { out: 6, k: 3, groups: 6 },
      { out: 6, k: 3, groups: 3 },
    ]);
    const r = applyRule(graph, weights, { rule: "group", where: "op=conv2d", options: { groups: 2 } });
    expect(r.refusals.map((f) => f.reason)).toEqual([
      "body.conv1: group needs input channels divisible by 2, got 3",
      "body.conv2: group needs a conv that is not depthwise, got groups=6 = channels",
      "body.conv3: group needs groups=2 to be a multiple of the conv's groups, got groups=3",
    ]);
  });
});
