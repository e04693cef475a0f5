import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { noGrad } from "../../src/autograd/gradmode.js";
import { exportPytorch, exportPytorchModule, writePytorchExport } from "../../src/export/index.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { GraphModel } from "../../src/graph/executor.js";
import { type Graph, OP_NAMES, type Weights } from "../../src/graph/types.js";
import { ArgumentError } from "../../src/tensor/errors.js";
import { buildZooModel } from "../../src/zoo/index.js";
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
import { everyModeModel, everyOpGraph } from "./models.js";

/**
 * The translation op by op and block by block: a graph with every primitive op (and PyTorch's awkward
 * attributes and naming cases), and a model with every convolution mode built from the blocks, in eval mode and
 * in training mode (batch statistics; running statistics and num_batches_tracked updated as torch does). The
 * generated code's structure and its refusals are checked without torch.
 */

const torch = torchAvailability();
const RTOL = 1e-4;
/**
 * Training-mode outputs pass some 40 batch norms that divide by the batch's own standard deviation, which for
 * nearly constant channels (ReLU'd maps of 2 x 2) is close to sqrt(eps): float32 rounding differences come out
 * amplified (the every-mode model's logits differ by 4e-5 relative, its running statistics by 1e-7).
 */
const TRAIN_OUTPUT_RTOL = 3e-4;

describe("exportPytorch: generated code", () => {
  it("the every-op graph covers every op of types.ts", () => {
    const { graph } = everyOpGraph();
    const ops = new Set(graph.nodes.map((n) => n.op));
    expect(OP_NAMES.filter((op) => !ops.has(op))).toEqual([]);
    expect(() => exportPytorch(graph)).not.toThrow();
  });

  it("one class per block kind; blocks differing only in numbers share a class with constructor arguments", () => {
    const { graph } = buildZooModel("resnet18", { inputSize: 64 });
    const m = exportPytorchModule(graph);
    expect(m.className).toBe("Resnet18");
    const byName = Object.fromEntries(m.classes.map((c) => [c.name, c]));
    expect(byName.Resnet18.paths).toEqual([""]);
    expect(byName.BasicBlock.paths).toEqual(["layer1.0", "layer1.1", "layer2.1", "layer3.1", "layer4.1"]);
    expect(byName.BasicBlock.params).toEqual(["in_channels"]);
    expect(byName.BasicBlock2.paths).toEqual(["layer2.0", "layer3.0", "layer4.0"]);
    expect(byName.Stage2.params).toEqual(["in_channels", "out_channels"]);
    expect(m.source).toContain("class BasicBlock(Block):");
    expect(m.source).toContain(
      "        self.conv1 = nn.Conv2d(in_channels, in_channels, kernel_size=3, padding=1, bias=False)",
    );
    expect(m.source).toContain('        self.add_module("0", BasicBlock(in_channels=64))');
    expect(m.source).toContain("        self.layer3 = Stage2(in_channels=128, out_channels=256)");
    expect(m.source).toContain("        layer1 = self.layer1(maxpool);  del maxpool");
    // GoogLeNet: 57 conv-BN-ReLU units and 9 Inception modules in 7 classes, like torchvision's own code.
    const g = exportPytorchModule(buildZooModel("googlenet", { inputSize: 64 }).graph);
    expect(g.classes).toHaveLength(7);
    expect(g.source).toContain(
      "        self.inception3a = Inception(in_channels=192, branch1_out_channels=64, branch2_block0_out_channels=96,",
    );
  });

  it("deformable blocks subclass torchvision's DeformConv2d; channel shuffle is view/transpose/reshape", () => {
    const { graph } = buildZooModel("deformable_resnet50", { inputSize: 64 });
    const src = exportPytorchModule(graph).source;
    expect(src).toContain("from torchvision.ops import DeformConv2d");
    expect(src).toContain("class DeformableConv(DeformConv2d):");
    expect(src).toContain("        deform_conv = super().forward(x, split_0, mask=mask)");
    const shuffle = exportPytorchModule(buildZooModel("shufflenet_v2_x1_0", { inputSize: 64 }).graph).source;
    expect(shuffle).toContain("x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)");
    expect(shuffle).not.toContain("nn.ChannelShuffle(");
  });

  it("non-identifier names, raw parameters and asymmetric padding are spelled so the keys stay the same", () => {
    const src = exportPytorchModule(everyOpGraph().graph).source;
    expect(src).toContain('self.add_module("lambda", Lambda())');
    expect(src).toContain('lambda_ = self["lambda"](stem)');
    expect(src).toContain("F.conv2d(tied_again, self.shared.weight, self.shared.bias, padding=(1, 1))");
    expect(src).toContain("proj = F.linear(extra, self.proj_weight, self.proj.b)");
    expect(src).toContain("conv = self.conv(F.pad(x, (1, 0, 0, 1)))");
    expect(src).toContain(
      "pad_max_pool2d(borrows_silu1, kernel_size=3, stride=2, padding=(1, 0, 0, 1), ceil_mode=True)",
    );
    // The tied layer is one module, called three times (twice from the root, once for the scope that borrows it).
    expect(src.match(/= self\.tied\(/g)).toHaveLength(3);
  });

  it("refuses names PyTorch cannot hold, naming the parameter", () => {
    const b = new GraphBuilder("bad");
    const x = b.input("x", [1, 4, 4]);
    b.output(b.scope("block", () => b.conv2d(x, { name: "training", outChannels: 2, kernelSize: 1 })));
    const { graph } = b.build();
    expect(() => exportPytorch(graph)).toThrow(ArgumentError);
    expect(() => exportPytorch(graph)).toThrow(/module "block\.training".*attribute of torch\.nn\.Module/);
  });

  it("refuses an op it does not know, naming the node", () => {
    const { graph } = everyOpGraph();
    const bad = structuredClone(graph) as Graph;
    (bad.nodes[3] as { op: string }).op = "fancyConv";
    expect(() => exportPytorch(bad)).toThrow(new RegExp(bad.nodes[3].name.replace(".", "\\.")));
  });

  it("refuses a bad class name", () => {
    expect(() => exportPytorch(everyOpGraph().graph, { className: "not valid" })).toThrow(ArgumentError);
    expect(exportPytorch(everyOpGraph().graph, { className: "Net" }).modelPy).toContain("class Net(Block):");
  });
});

interface Prepared {
  graph: Graph;
  weights: Weights;
  expected: Map<string, Float32Array>;
  output: string;
  mode: "eval" | "train";
}

describe("exportPytorch: every op and every convolution mode in PyTorch", () => {
  // PyTorch is a test requirement (README, .ci/run): fail with the reason rather than skip.
  const root = mkdtempSync(join(tmpdir(), "convkit-export-ops-"));
  const prepared = new Map<string, Prepared>();
  let results: Record<string, CaseResult> = {};

  const models: [string, () => { graph: Graph; weights: Weights }, "eval" | "train"][] = [
    ["every-op eval", () => everyOpGraph(0.3), "eval"],
    ["every-op train", () => everyOpGraph(0), "train"],
    ["every-mode eval", () => everyModeModel(1), "eval"],
    ["every-mode train", () => everyModeModel(1), "train"],
  ];

  beforeAll(async () => {
    if (!torch.ok) throw new Error(`${torch.reason}: install Debian's python3-torch and python3-torchvision`);
    const cases: CheckCase[] = [];
    for (const [name, build, mode] of models) {
      const { graph, weights } = build();
      const w = perturbWeights(graph, weights, 13);
      const dir = join(root, name.replace(" ", "-"));
      await writePytorchExport(dir, graph, w, { data: false });
      // Training mode normalises with batch statistics; the last blocks are 1 x 1 or 2 x 2 maps, so a batch
      // of 8 keeps those statistics well conditioned (with 3 values per channel rounding differences grow).
      const inputs = randomInputs(graph, mode === "train" ? 8 : 3, 17);
      const input = join(dir, "input.safetensors");
      const output = join(dir, "output.safetensors");
      writeTensors(input, inputs);
      const model = new GraphModel(graph, w);
      const outs = noGrad(() => model.forwardOutputs(inputs, { training: mode === "train" }));
      const expected = new Map(Object.entries(outs).map(([k, t]) => [k, t.data]));
      if (mode === "train") for (const [k, v] of model.weights()) expected.set(`state:${k}`, v);
      prepared.set(name, { graph, weights: w, expected, output, mode });
      cases.push({ name, dir, mode, input, output });
    }
    results = runChecks(cases, root);
  }, 120_000);

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  for (const [name, , mode] of models) {
    const what =
      mode === "eval"
        ? "eval outputs within 1e-4"
        : "training-mode outputs within 3e-4, updated batch-norm statistics within 1e-4";
    it(`${name}: state_dict = graph parameters; ${what}`, () => {
      const p = prepared.get(name)!;
      expectSameKeys(p.graph, results[name], name);
      const got = readTensors(p.output);
      const worst: number[] = [];
      for (const [key, expected] of p.expected) {
        const t = got.get(key);
        expect(t, `${name}: ${key}`).toBeDefined();
        const rtol = mode === "train" && !key.startsWith("state:") ? TRAIN_OUTPUT_RTOL : RTOL;
        worst.push(expectClose(t!.data, expected, { rtol, label: `${name} ${key}` }));
      }
      if (mode === "train") {
        // The step changed the running statistics (so the comparison above says something).
        const mean = Object.keys(p.graph.params).find((k) => k.endsWith(".running_mean"))!;
        const prefix = mean.slice(0, -"running_mean".length);
        expect(Array.from(p.expected.get(`state:${mean}`)!)).not.toEqual(Array.from(p.weights.get(mean)!));
        expect(got.get(`state:${prefix}num_batches_tracked`)!.data[0]).toBe(8); // 7 (perturbWeights) + 1
      }
      console.log(`${name}: worst relative difference ${Math.max(...worst).toExponential(2)}`);
    });
  }
});
