import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/index.js";
import { asymmetricPair } from "../../src/blocks/asymmetric.js";
import { buildBlock, figures, forwardBackward } from "./helpers.js";

describe("asymmetricPair", () => {
  it("1x5 then 5x1 with stride 2: the k x k conv's output size and receptive field, 2k weights per channel pair", () => {
    const [cIn, h, mid, cOut, k, s] = [4, 9, 6, 8, 5, 2];
    const { graph, weights, out } = buildBlock([cIn, h, h], (b, x) =>
      asymmetricPair(b, x, { name: "pair", kernelSize: k, midChannels: mid, outChannels: cOut, stride: s }),
    );
    const hOut = Math.floor((h + 2 * 2 - k) / s) + 1;
    expect(out.shape).toEqual([1, cOut, hOut, hOut]);
    const convs = graph.nodes.filter((n) => n.op === "conv2d");
    expect(convs.map((n) => n.op === "conv2d" && [n.name, n.attrs.kernelSize, n.attrs.stride])).toEqual([
      ["pair.conv1.conv", [1, k], [1, s]],
      ["pair.conv2.conv", [k, 1], [s, 1]],
    ]);
    expect(graph.scopes?.pair).toMatchObject({
      kind: "asymmetricPair",
      meta: { kernelSize: k, order: "1xk-kx1" },
    });
    expect(analyze(graph).receptiveField?.size).toEqual([k, k]);
    // first conv output: H x Hout; second: Hout x Hout
    expect(figures(graph)).toEqual({
      params: k * cIn * mid + 2 * mid + k * mid * cOut + 2 * cOut,
      buffers: 2 * mid + 1 + 2 * cOut + 1,
      macs: mid * h * hOut * cIn * k + cOut * hOut * hOut * mid * k,
    });
    forwardBackward(graph, weights);
  });

  it('order "kx1-1xk" puts the column first; same size and cost on a square input', () => {
    const { graph, weights, out } = buildBlock([3, 7, 7], (b, x) =>
      asymmetricPair(b, x, { name: "pair", kernelSize: 3, outChannels: 5, order: "kx1-1xk", bn: false }),
    );
    expect(out.shape).toEqual([1, 5, 7, 7]);
    const first = graph.nodes[0];
    expect(first.op === "conv2d" && first.attrs.kernelSize).toEqual([3, 1]);
    expect(figures(graph)).toMatchObject({
      params: 3 * 3 * 5 + 5 + 3 * 5 * 5 + 5,
      macs: 49 * (5 * 3 * 3 + 5 * 5 * 3),
    });
    forwardBackward(graph, weights);
    expect(() =>
      buildBlock([3, 7, 7], (b, x) =>
        asymmetricPair(b, x, { outChannels: 5, order: "diagonal" as "1xk-kx1" }),
      ),
    ).toThrow(/asymmetricPair: order: expected "1xk-kx1" or "kx1-1xk", got "diagonal"/);
  });
});
