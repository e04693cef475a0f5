import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/index.js";
import { Sequential } from "../../src/blocks/common.js";
import { smallKernelStack } from "../../src/blocks/small-kernel-stack.js";
import { buildBlock, figures, forwardBackward, ops } from "./helpers.js";

describe("smallKernelStack", () => {
  it("three 3x3 convs stand for one 7x7: receptive field 7, params and MACs by hand, forward/backward", () => {
    const [cIn, h, cOut, n] = [4, 10, 8, 3];
    const { graph, weights, out } = buildBlock([cIn, h, h], (b, x) =>
      smallKernelStack(b, x, { name: "stack", replaces: 7, outChannels: cOut }),
    );
    expect(out.shape).toEqual([1, cOut, h, h]);
    expect(graph.scopes?.stack).toMatchObject({
      kind: "smallKernelStack",
      meta: { n, equivalentKernelSize: 7 },
    });
    expect(ops(graph).filter((op) => op === "conv2d")).toHaveLength(n);
    expect(analyze(graph).receptiveField?.size).toEqual([7, 7]);
    // conv weights 9*Cin*Cout + (n-1)*9*Cout*Cout, BN 2*Cout per conv; MACs the same per output pixel
    expect(figures(graph)).toEqual({
      params: 9 * cIn * cOut + (n - 1) * 9 * cOut * cOut + n * 2 * cOut,
      buffers: n * (2 * cOut + 1),
      macs: h * h * (9 * cIn * cOut + (n - 1) * 9 * cOut * cOut),
    });
    forwardBackward(graph, weights);
  });

  it("stride goes on the last conv: same output size and receptive field as the large conv with padding n", () => {
    const [cIn, h, cOut] = [2, 11, 3];
    for (const n of [1, 2, 3]) {
      const k = 2 * n + 1;
      const { graph, out } = buildBlock([cIn, h, h], (b, x) =>
        smallKernelStack(b, x, { n, outChannels: cOut, stride: 2, bn: false }),
      );
      const large = buildBlock([cIn, h, h], (b, x) =>
        b.conv2d(x, { outChannels: cOut, kernelSize: k, padding: n, stride: 2 }),
      );
      expect(out.shape, `n=${n}`).toEqual(large.out.shape);
      const a = analyze(graph).receptiveField;
      expect([a?.size, a?.jump], `n=${n}`).toEqual([
        [k, k],
        [2, 2],
      ]);
      const hOut = out.shape[2];
      // conv i reads Cin (first) or Cout channels; all but the last run at the input size, the last at the output's
      let macs = 0;
      for (let i = 0; i < n; i++) {
        const size = i === n - 1 ? hOut : h;
        macs += size * size * 9 * (i === 0 ? cIn : cOut) * cOut;
      }
      expect(figures(graph).macs, `n=${n}`).toBe(macs);
    }
  });

  it("inline with a Sequential counter names the nodes like torchvision VGG's features.N", () => {
    const { graph } = buildBlock([3, 8, 8], (b, x) =>
      b.scope("features", () => {
        const seq = new Sequential();
        const y = smallKernelStack(b, x, { n: 2, outChannels: 4, bn: false, inline: true, names: seq });
        return b.maxPool2d(y, { name: seq.next(), kernelSize: 2 });
      }),
    );
    expect(graph.nodes.map((nd) => `${nd.name}:${nd.op}`)).toEqual([
      "features.0:conv2d",
      "features.1:relu",
      "features.2:conv2d",
      "features.3:relu",
      "features.4:maxPool2d",
    ]);
    expect(Object.keys(graph.params).sort()).toEqual([
      "features.0.bias",
      "features.0.weight",
      "features.2.bias",
      "features.2.weight",
    ]);
  });

  it("rejects an even or inconsistent equivalent kernel", () => {
    expect(() =>
      buildBlock([1, 8, 8], (b, x) => smallKernelStack(b, x, { replaces: 4, outChannels: 2 })),
    ).toThrow(/smallKernelStack: replaces: expected an odd kernel size >= 3, got 4/);
    expect(() =>
      buildBlock([1, 8, 8], (b, x) => smallKernelStack(b, x, { n: 2, replaces: 7, outChannels: 2 })),
    ).toThrow(/replaces: expected 2n\+1 = 5/);
  });
});
