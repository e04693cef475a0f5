import { describe, expect, it } from "vitest";
import { denseBlock, denseLayer, transition } from "../../src/blocks/dense.js";
import { buildBlock, figures, forwardBackward } from "./helpers.js";

describe("dense layer, block and transition", () => {
  it("dense block: each layer reads all earlier features; Cin + L*k channels out; params and MACs by hand", () => {
    const [cIn, h, layers, k, bnSize] = [8, 5, 3, 4, 2];
    const { graph, weights, out } = buildBlock([cIn, h, h], (b, x) =>
      denseBlock(b, x, { name: "denseblock1", numLayers: layers, growthRate: k, bnSize }),
    );
    expect(out.shape).toEqual([1, cIn + layers * k, h, h]);
    let params = 0;
    let macs = 0;
    for (let i = 0; i < layers; i++) {
      const c = cIn + i * k;
      params += 2 * c + c * bnSize * k + 2 * bnSize * k + bnSize * k * k * 9;
      macs += h * h * (c * bnSize * k + bnSize * k * k * 9);
      expect(graph.params[`denseblock1.denselayer${i + 1}.conv1.weight`].shape).toEqual([
        bnSize * k,
        c,
        1,
        1,
      ]);
    }
    expect(figures(graph)).toMatchObject({ params, macs });
    expect(graph.scopes?.denseblock1.kind).toBe("denseBlock");
    expect(graph.scopes?.["denseblock1.denselayer2"].kind).toBe("denseLayer");
    forwardBackward(graph, weights);
  });

  it("dense layer on a list of inputs concatenates them first; returns only the k new maps", () => {
    const { graph, weights, out } = buildBlock([6, 4, 4], (b, x) => {
      const a = b.conv2d(x, { outChannels: 3, kernelSize: 1 });
      return denseLayer(b, [x, a], { name: "l", growthRate: 5 });
    });
    expect(out.shape).toEqual([1, 5, 4, 4]);
    expect(graph.nodes.find((n) => n.name === "l.concat")?.inputs).toEqual(["x", "conv1"]);
    forwardBackward(graph, weights);
  });

  it("transition: BN-ReLU-1x1 conv-2x2 average pool halves the size", () => {
    const [cIn, h, cOut] = [12, 6, 6];
    const { graph, weights, out } = buildBlock([cIn, h, h], (b, x) =>
      transition(b, x, { name: "t", outChannels: cOut }),
    );
    expect(out.shape).toEqual([1, cOut, h / 2, h / 2]);
    expect(figures(graph)).toMatchObject({ params: 2 * cIn + cIn * cOut, macs: h * h * cIn * cOut });
    forwardBackward(graph, weights);
  });
});
