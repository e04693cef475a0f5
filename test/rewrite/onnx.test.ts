import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { randn } from "../../src/autograd/factories.js";
import { noGrad } from "../../src/autograd/gradmode.js";
import { GraphModel } from "../../src/graph/executor.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { type RuleStep, rewrite } from "../../src/rewrite/rewrite.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";
import { chain } from "./helpers.js";

/** Rewritten models export to ONNX and run in ONNX Runtime with the same outputs as convkit's executor. */

const pipelines: Record<string, (string | RuleStep)[]> = {
  "stack-small + se": [{ rule: "stack-small" }, { rule: "se", options: { reduction: 4 } }],
  "separable + asymmetric": [
    { rule: "separable", where: "name=body.conv1" },
    { rule: "asymmetric", where: "name=body.conv3" },
  ],
  "multi-size + bottleneck": [
    { rule: "multi-size", where: "name=body.conv1" },
    { rule: "bottleneck", where: "name=body.conv3", options: { ratio: 2 } },
  ],
  "group + shuffle": [{ rule: "group", options: { groups: 2 } }, "shuffle"],
  "residual + dense": [
    { rule: "residual", where: "name=body.conv3" },
    { rule: "dense", where: "name=body.conv5" },
  ],
  "deformable v2 + dilate": [
    { rule: "deformable", options: { version: 2 }, where: "name=body.conv1" },
    { rule: "dilate", where: "name=body.pool2" },
  ],
};

describe("rewritten models in ONNX Runtime", () => {
  for (const [label, steps] of Object.entries(pipelines)) {
    it(label, async () => {
      const { graph, weights } = chain(
        [
          { out: 8, k: 5 },
          { out: 8, k: 3, pool: true },
          { out: 8, k: 3 },
          { out: 8, k: 3 },
          { out: 8, k: 3 },
        ],
        { input: [3, 12, 12] },
      );
      const result = rewrite(graph, weights, steps, { distill: { steps: 5 }, sampleBatch: 2, fitBatch: 2 });
      expect(
        result.steps.every((s) => s.sites.length > 0),
        label,
      ).toBe(true);
      const x = randn([2, 3, 12, 12], { rng: new Rng(9) });
      const ours = noGrad(() => new GraphModel(result.graph, result.weights!).forward(x));
      const session = await ort.InferenceSession.create(exportOnnx(result.graph, result.weights!));
      const out = await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", x.data, x.shape) });
      const theirs = out[session.outputNames[0]];
      expect([...theirs.dims]).toEqual(ours.shape);
      expectClose(theirs.data as Float32Array, ours.data, { rtol: 1e-4, label });
    });
  }
});
