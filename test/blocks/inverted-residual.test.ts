import { describe, expect, it } from "vitest";
import { invertedResidual } from "../../src/blocks/inverted-residual.js";
import { buildBlock, figures, forwardBackward, ops } from "./helpers.js";

const bn = (c: number) => 2 * c;

describe("invertedResidual", () => {
  it("t = 6, stride 1, same channels: expand, depthwise, project, residual add (torchvision's names)", () => {
    const [c, h, t] = [8, 5, 6];
    const hidden = c * t;
    const { graph, weights, out } = buildBlock([c, h, h], (b, x) =>
      invertedResidual(b, x, { name: "3", outChannels: c, expandRatio: t }),
    );
    expect(out.shape).toEqual([1, c, h, h]);
    expect(ops(graph).at(-1)).toBe("add");
    expect(
      Object.keys(graph.params)
        .filter((k) => k.endsWith("weight"))
        .sort(),
    ).toEqual([
      "3.conv.0.0.weight",
      "3.conv.0.1.weight",
      "3.conv.1.0.weight",
      "3.conv.1.1.weight",
      "3.conv.2.weight",
      "3.conv.3.weight",
    ]);
    const w = c * hidden + hidden * 9 + hidden * c;
    expect(figures(graph)).toEqual({
      params: w + 2 * bn(hidden) + bn(c),
      buffers: 2 * (bn(hidden) + 1) + bn(c) + 1,
      macs: h * h * w,
    });
    expect(ops(graph).filter((op) => op === "relu6")).toHaveLength(2);
    forwardBackward(graph, weights);
  });

  it("t = 1 has no expansion (conv.0 depthwise, conv.1 project, conv.2 BN); stride 2 has no residual", () => {
    const [cIn, h, cOut] = [6, 8, 4];
    const { graph, weights, out } = buildBlock([cIn, h, h], (b, x) =>
      invertedResidual(b, x, { name: "1", outChannels: cOut, expandRatio: 1, stride: 2 }),
    );
    const hOut = h / 2;
    expect(out.shape).toEqual([1, cOut, hOut, hOut]);
    expect(ops(graph)).not.toContain("add");
    expect(graph.params["1.conv.0.0.weight"].shape).toEqual([cIn, 1, 3, 3]);
    expect(graph.params["1.conv.1.weight"].shape).toEqual([cOut, cIn, 1, 1]);
    expect(graph.params["1.conv.2.weight"].shape).toEqual([cOut]);
    expect(figures(graph).macs).toBe(hOut * hOut * (cIn * 9 + cIn * cOut));
    forwardBackward(graph, weights);
  });
});
