import { describe, expect, it } from "vitest";
import { makeDivisible, squeezeChannels, squeezeExcite } from "../../src/blocks/squeeze-excite.js";
import { buildBlock, figures, forwardBackward, ops } from "./helpers.js";

describe("squeezeExcite", () => {
  for (const mode of ["conv", "linear"] as const) {
    it(`${mode} mode: pool, reduce, ReLU, expand, sigmoid, scale; 2*C*C' + C' + C params, 2*C*C' MACs`, () => {
      const [c, h, r] = [32, 5, 4];
      const cs = c / r;
      const { graph, weights, out } = buildBlock([c, h, h], (b, x) =>
        squeezeExcite(b, x, { name: "se", reduction: r, mode }),
      );
      expect(out.shape).toEqual([1, c, h, h]);
      expect(graph.scopes?.se).toMatchObject({ kind: "squeezeExcite", meta: { squeezeChannels: cs, mode } });
      expect(graph.params["se.fc1.weight"].shape).toEqual(mode === "conv" ? [cs, c, 1, 1] : [cs, c]);
      expect(figures(graph)).toEqual({ params: 2 * c * cs + cs + c, buffers: 0, macs: 2 * c * cs });
      const { x, y } = forwardBackward(graph, weights);
      // Each channel is scaled by one factor in (0, 1), the same at every pixel.
      const plane = h * h;
      for (let p = 0; p < 2 * c; p++) {
        const scale = y.data[p * plane] / x.data[p * plane];
        expect(scale).toBeGreaterThan(0);
        expect(scale).toBeLessThan(1);
        for (let i = 1; i < plane; i++)
          expect(y.data[p * plane + i]).toBeCloseTo(scale * x.data[p * plane + i], 5);
      }
    });
  }

  it("squeeze width: C/r floored, minChannels, makeDivisible as torchvision's _make_divisible", () => {
    expect(squeezeChannels(256)).toBe(16);
    expect(squeezeChannels(20, { reduction: 16 })).toBe(1);
    expect(squeezeChannels(20, { reduction: 16, minChannels: 4 })).toBe(4);
    // MobileNet v3: _make_divisible(72 // 4, 8) = 24 (18 -> 16 is more than 10% below 18, so 24)
    expect(squeezeChannels(72, { reduction: 4, divisor: 8 })).toBe(24);
    expect(makeDivisible(32, 8)).toBe(32);
    expect(makeDivisible(3, 8)).toBe(8);
    expect(squeezeChannels(10, { squeezeChannels: 7 })).toBe(7);
  });

  it("hard-sigmoid gate and another activation are their nodes", () => {
    const { graph, weights } = buildBlock([8, 3, 3], (b, x) =>
      squeezeExcite(b, x, { reduction: 2, activation: "silu", gate: "hardsigmoid" }),
    );
    expect(ops(graph)).toEqual(["adaptiveAvgPool2d", "conv2d", "silu", "conv2d", "hardSigmoid", "mul"]);
    forwardBackward(graph, weights);
  });
});
