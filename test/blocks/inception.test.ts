import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/index.js";
import { inceptionModule } from "../../src/blocks/inception.js";
import { buildBlock, figures, forwardBackward } from "./helpers.js";

const CH = { ch1x1: 4, ch3x3red: 3, ch3x3: 5, ch5x5red: 2, ch5x5: 3, poolProj: 2 };

describe("inceptionModule", () => {
  for (const [five, kernels] of [
    ["5x5", [5]],
    ["3x3", [3]],
    ["factorised", [3, 3]],
  ] as const) {
    it(`four branches concatenated ("${five}" branch): shape, params and MACs by hand, forward/backward`, () => {
      const [cIn, h] = [8, 6];
      const { graph, weights, out } = buildBlock([cIn, h, h], (b, x) =>
        inceptionModule(b, x, { name: "inc", ...CH, fiveByFive: five }),
      );
      const cOut = CH.ch1x1 + CH.ch3x3 + CH.ch5x5 + CH.poolProj;
      expect(out.shape).toEqual([1, cOut, h, h]);
      // conv weights: 1x1; 1x1 -> 3x3; 1x1 -> k (-> k); pool -> 1x1 (no bias: each conv has BN)
      let w =
        cIn * CH.ch1x1 +
        cIn * CH.ch3x3red +
        CH.ch3x3red * CH.ch3x3 * 9 +
        cIn * CH.ch5x5red +
        cIn * CH.poolProj;
      let bnChannels = CH.ch1x1 + CH.ch3x3red + CH.ch3x3 + CH.ch5x5red + CH.poolProj;
      let prev = CH.ch5x5red;
      for (const k of kernels) {
        w += prev * CH.ch5x5 * k * k;
        bnChannels += CH.ch5x5;
        prev = CH.ch5x5;
      }
      expect(figures(graph)).toEqual({
        params: w + 2 * bnChannels,
        buffers: 2 * bnChannels + 6 + (kernels.length - 1),
        macs: h * h * w,
      });
      expect(graph.scopes?.inc).toMatchObject({ kind: "inception", meta: { fiveByFive: five } });
      // The largest branch sets the field: 5 for "5x5" and "factorised", 3 otherwise.
      expect(analyze(graph).receptiveField?.size).toEqual(five === "3x3" ? [3, 3] : [5, 5]);
      forwardBackward(graph, weights);
    });
  }

  it("uses torchvision's GoogLeNet names (BasicConv2d conv/bn inside branchN[.i])", () => {
    const { graph } = buildBlock([8, 4, 4], (b, x) =>
      inceptionModule(b, x, { name: "inception3a", ...CH, fiveByFive: "3x3", bn: { eps: 0.001 } }),
    );
    expect(
      Object.keys(graph.params)
        .filter((k) => k.endsWith(".weight"))
        .sort(),
    ).toEqual(
      [
        "branch1.conv",
        "branch1.bn",
        "branch2.0.conv",
        "branch2.0.bn",
        "branch2.1.conv",
        "branch2.1.bn",
        "branch3.0.conv",
        "branch3.0.bn",
        "branch3.1.conv",
        "branch3.1.bn",
        "branch4.1.conv",
        "branch4.1.bn",
      ]
        .map((k) => `inception3a.${k}.weight`)
        .sort(),
    );
    const bn = graph.nodes.find((n) => n.op === "batchNorm2d");
    expect(bn?.op === "batchNorm2d" && bn.attrs.eps).toBe(0.001);
  });
});
