import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { noGrad } from "../../src/autograd/gradmode.js";
import { writePytorchExport } from "../../src/export/index.js";
import { GraphModel } from "../../src/graph/executor.js";
import type { Graph } from "../../src/graph/types.js";
import { buildZooModel, ZOO, zooNames } from "../../src/zoo/index.js";
import { expectClose } from "../helpers/close.js";
import {
  type CaseResult,
  type CheckCase,
  expectSameKeys,
  perturbWeights,
  randomInputs,
  readTensors,
  runChecks,
  torchAvailability,
  writeTensors,
} from "./helpers.js";

/**
 * Every zoo model exported to PyTorch gives convkit's eval-mode outputs within 1e-4 relative
 * (|a - e| <= 1e-4 (|e| + rms)), with convkit's weights loaded by name (strict): the state_dict keys and shapes are
 * the graph's parameters exactly.
 *
 * Sizes: ImageNet models at 1 x 3 x 64 x 64 (VGG at 32 x 32) with 10 classes (the input size changes no layer,
 * only the spatial extent); LeNet-5 and the Fashion-MNIST nets at batch 2 of their own inputs. AlexNet and VGG keep
 * their 57M-134M parameters (the 25088 x 4096 classifier does not depend on the input size), which makes most of
 * this file's minute: 1.3 GB of weights written and read. Weights are perturbed first (batch-norm statistics,
 * zero-initialised offset convs) so that a swapped or ignored parameter changes the output.
 */

const torch = torchAvailability();
const SIZE: Record<string, number> = { vgg11: 32, vgg16: 32 };
const RTOL = 1e-4;

interface Prepared {
  graph: Graph;
  expected: Record<string, Float32Array>;
  output: string;
}

describe("exportPytorch: every zoo model in PyTorch", () => {
  // PyTorch is a test requirement (README, .ci/run): fail with the reason rather than skip.
  const root = mkdtempSync(join(tmpdir(), "convkit-export-zoo-"));
  const prepared = new Map<string, Prepared>();
  let results: Record<string, CaseResult> = {};
  const worst: [string, number][] = [];

  beforeAll(async () => {
    if (!torch.ok) throw new Error(`${torch.reason}: install Debian's python3-torch and python3-torchvision`);
    const cases: CheckCase[] = [];
    for (const name of zooNames) {
      const entry = ZOO[name];
      const imagenet = entry.inputShape[1] === 224;
      const { graph, weights } = buildZooModel(
        name,
        imagenet ? { inputSize: SIZE[name] ?? 64, numClasses: 10 } : {},
      );
      const dir = join(root, name);
      const output = join(dir, "output.safetensors");
      const w = perturbWeights(graph, weights, 11);
      await writePytorchExport(dir, graph, w, { data: false });
      const inputs = randomInputs(graph, imagenet ? 1 : 2, 5);
      const input = join(dir, "input.safetensors");
      writeTensors(input, inputs);
      const outs = noGrad(() => new GraphModel(graph, w).forwardOutputs(inputs));
      const expected = Object.fromEntries(Object.entries(outs).map(([k, t]) => [k, t.data]));
      prepared.set(name, { graph, expected, output });
      cases.push({ name, dir, mode: "eval", input, output });
    }
    results = runChecks(cases, root);
  }, 300_000);

  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    if (worst.length > 0) {
      const lines = worst.map(([n, e]) => `  ${n.padEnd(22)} ${e.toExponential(2)}`);
      console.log(`exported zoo models, worst relative difference to convkit:\n${lines.join("\n")}`);
    }
  });

  for (const name of zooNames) {
    it(`${name}: state_dict = graph parameters; eval outputs within 1e-4`, () => {
      const p = prepared.get(name)!;
      const result = results[name];
      expect(result, `${name}: no result`).toBeDefined();
      expectSameKeys(p.graph, result, name);
      const got = readTensors(p.output);
      let err = 0;
      for (const [out, expected] of Object.entries(p.expected)) {
        const t = got.get(out);
        expect(t, `${name}: output ${out}`).toBeDefined();
        err = Math.max(err, expectClose(t!.data, expected, { rtol: RTOL, label: `${name} output ${out}` }));
      }
      worst.push([name, err]);
    });
  }
});
