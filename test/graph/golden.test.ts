import { describe, expect, it } from "vitest";
import { Tensor } from "../../src/autograd/tensor.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { GraphModel } from "../../src/graph/executor.js";
import type { Weights } from "../../src/graph/types.js";
import { expectClose } from "../helpers/close.js";
import { fromSpec, loadGolden } from "../helpers/golden.js";

/**
 * The tiny network of tools/fixtures_graph.py, built with GraphBuilder under the same module names, so the
 * PyTorch state_dict loads by name. Forward and every gradient are compared with PyTorch (float64).
 */
function tinyNet() {
  const b = new GraphBuilder("tinynet");
  const input = b.input("x", [3, 8, 8]);
  const x = b.scope("stem", () => {
    const c = b.conv2d(input, { outChannels: 4, kernelSize: 3, padding: 1, bias: false, name: "conv" });
    return b.relu(b.batchNorm2d(c, { name: "bn" }));
  });
  let y = b.scope("block", () => {
    const a = b.add(
      b.relu(b.conv2d(x, { outChannels: 4, kernelSize: 3, padding: 1, groups: 2, name: "a" })),
      x,
    );
    const c = b.relu(b.conv2d(x, { outChannels: 2, kernelSize: 1, name: "b" }));
    const z = b.channelShuffle(b.concat([a, c], 1), 3);
    const s = b.scope(
      "se",
      () => {
        const pooled = b.adaptiveAvgPool2d(z, 1);
        const h = b.relu(b.conv2d(pooled, { outChannels: 2, kernelSize: 1, name: "fc1" }));
        return b.sigmoid(b.conv2d(h, { outChannels: 6, kernelSize: 1, name: "fc2" }));
      },
      { kind: "squeezeExcite" },
    );
    return b.mul(z, s);
  });
  y = b.maxPool2d(y, { kernelSize: 2 });
  const offset = b.conv2d(y, { outChannels: 18, kernelSize: 3, padding: 1, name: "offset" });
  y = b.relu(b.deformConv2d(y, offset, { outChannels: 4, kernelSize: 3, padding: 1, name: "deform" }));
  y = b.flatten(b.adaptiveAvgPool2d(y, 1));
  b.output(b.linear(y, { outFeatures: 3, name: "fc" }));
  return b.build();
}

describe("GraphModel against PyTorch (tools/fixtures_graph.py)", () => {
  const golden = loadGolden("graph");
  for (const c of golden.cases) {
    it(c.name, () => {
      const { graph } = tinyNet();
      const names = Object.keys(c.inputs).filter((k) => k !== "x");
      // The builder's parameter names are exactly the torch state_dict keys.
      expect(Object.keys(graph.params).sort()).toEqual([...names].sort());
      const weights: Weights = new Map(names.map((k) => [k, Float32Array.from(c.inputs[k].data)]));
      const model = new GraphModel(graph, weights);
      const x = fromSpec(c.inputs.x, true);
      const training = c.args.training as boolean;
      const out = model.forward(x, { training });
      expect(out.shape).toEqual(c.output.shape);
      const fwd = expectClose(out.data, c.output.data, { rtol: 1e-5, label: `${c.name}: output` });
      out.backward(new Tensor(Float32Array.from(c.gradOutput!.data), c.gradOutput!.shape));
      const params = model.parameters();
      let worstGrad = 0;
      for (const [name, spec] of Object.entries(c.grads)) {
        const t = name === "x" ? x : params.get(name);
        expect(t, `${c.name}: ${name} is a parameter`).toBeDefined();
        expect(t!.grad, `${c.name}: gradient of ${name}`).not.toBeNull();
        worstGrad = Math.max(
          worstGrad,
          expectClose(t!.grad!.data, spec.data, { rtol: 1e-4, label: `${c.name}: grad ${name}` }),
        );
      }
      expect(Object.keys(c.grads).length).toBe(params.size + 1);
      if (c.extra) {
        const buffers = model.buffers();
        for (const [name, spec] of Object.entries(c.extra)) {
          expectClose(buffers.get(name)!.data, spec.data, {
            rtol: 1e-5,
            label: `${c.name}: updated ${name}`,
          });
        }
      }
      expect(fwd).toBeLessThan(1e-5);
      expect(worstGrad).toBeLessThan(1e-4);
    });
  }
});
