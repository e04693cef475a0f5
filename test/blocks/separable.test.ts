import { describe, expect, it } from "vitest";
import { depthwiseSeparable } from "../../src/blocks/separable.js";
import { buildBlock, figures, forwardBackward, ops } from "./helpers.js";

describe("depthwiseSeparable", () => {
  it("depthwise 3x3 (multiplier 2, stride 2) + pointwise: k*k*Cin*m*H'W' + Cin*m*Cout*H'W' MACs", () => {
    const [cIn, h, cOut, m, k] = [4, 8, 6, 2, 3];
    const { graph, weights, out } = buildBlock([cIn, h, h], (b, x) =>
      depthwiseSeparable(b, x, { name: "sep", outChannels: cOut, depthMultiplier: m, stride: 2 }),
    );
    const hOut = h / 2;
    expect(out.shape).toEqual([1, cOut, hOut, hOut]);
    const dw = graph.nodes[0];
    expect(dw.op === "conv2d" && [dw.name, dw.attrs.groups, dw.attrs.outChannels]).toEqual([
      "sep.depthwise.conv",
      cIn,
      cIn * m,
    ]);
    expect(graph.scopes?.sep.kind).toBe("depthwiseSeparable");
    expect(graph.scopes?.["sep.depthwise"].kind).toBe("depthwise");
    expect(graph.scopes?.["sep.pointwise"].kind).toBe("pointwise");
    expect(figures(graph)).toEqual({
      params: k * k * cIn * m + 2 * cIn * m + cIn * m * cOut + 2 * cOut,
      buffers: 2 * cIn * m + 1 + 2 * cOut + 1,
      macs: k * k * cIn * m * hOut * hOut + cIn * m * cOut * hOut * hOut,
    });
    forwardBackward(graph, weights);
  });

  it("Xception form: no activation between depthwise and pointwise", () => {
    const { graph, weights } = buildBlock([3, 6, 6], (b, x) =>
      depthwiseSeparable(b, x, { outChannels: 4, depthwiseActivation: "none", activation: "relu6" }),
    );
    expect(ops(graph)).toEqual(["conv2d", "batchNorm2d", "conv2d", "batchNorm2d", "relu6"]);
    forwardBackward(graph, weights);
  });
});
