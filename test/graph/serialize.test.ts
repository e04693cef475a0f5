import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { randn } from "../../src/autograd/factories.js";
import { noGrad } from "../../src/autograd/gradmode.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { GraphModel } from "../../src/graph/executor.js";
import {
  loadModel,
  parseGraph,
  saveModel,
  serializeGraph,
  weightsFromBytes,
  weightsToSafetensors,
} from "../../src/graph/serialize.js";
import type { Graph } from "../../src/graph/types.js";
import { parseSafetensors, serializeSafetensors } from "../../src/io/safetensors.js";
import { FormatError, ShapeError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";

const dir = mkdtempSync(join(tmpdir(), "convkit-serialize-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function net(seed = 0) {
  const b = new GraphBuilder("net", { seed });
  b.meta.classes = 3;
  const x = b.input("x", [2, 6, 6]);
  let y = b.scope(
    "stem",
    () => b.relu(b.batchNorm2d(b.conv2d(x, { outChannels: 4, kernelSize: 3, padding: "same" }))),
    { kind: "stem" },
  );
  const [p, q] = b.split(y, 2);
  y = b.concat([b.dropout(q, 0.2), p]);
  y = b.flatten(b.adaptiveAvgPool2d(y, 1));
  b.output(b.linear(y, { outFeatures: 3, name: "head" }));
  return b.build();
}

describe("graph JSON", () => {
  it("is stable: serialising twice, or after a parse, gives identical text", () => {
    const { graph } = net();
    const a = serializeGraph(graph);
    expect(serializeGraph(graph)).toBe(a);
    const parsed = parseGraph(a, "net.json");
    expect(parsed).toEqual(graph);
    expect(serializeGraph(parsed)).toBe(a);
    expect(serializeGraph(net(5).graph)).toBe(a); // weights are not part of the structure
  });

  it("is canonical: key order in the input does not matter; one node per line", () => {
    const { graph } = net();
    const reordered = JSON.parse(JSON.stringify(graph, (_k, v) => reverseKeys(v))) as Graph;
    // graph.params keeps its order on purpose (the parameter order); only the keys inside each entry move.
    reordered.params = Object.fromEntries(
      Object.entries(graph.params).map(([k, v]) => [k, reverseKeys(v) as typeof v]),
    );
    expect(Object.keys(reordered)[0]).not.toBe("format");
    expect(serializeGraph(reordered)).toBe(serializeGraph(graph));
    const text = serializeGraph(graph);
    const nodeLines = text.split("\n").filter((l) => l.startsWith('    {"name": '));
    expect(nodeLines.length).toBe(graph.nodes.length);
    expect(text.startsWith('{\n  "format": "convkit.graph",\n  "version": 1,\n  "name": "net",')).toBe(true);
  });

  it("parse errors name the source; invalid graphs are refused", () => {
    expect(() => parseGraph("{", "m.json")).toThrow(FormatError);
    expect(() => parseGraph("{", "m.json")).toThrow(/graph "m.json": not valid JSON/);
    expect(() => parseGraph("[]", "m.json")).toThrow('graph "m.json": expected a JSON object');
    const broken = JSON.parse(serializeGraph(net().graph));
    broken.nodes[1].inputs = ["ghost"];
    expect(() => parseGraph(JSON.stringify(broken), "m.json")).toThrow(
      'm.json: batchNorm2d node "stem.bn1" (scope "stem"): input "ghost" is not produced by any node or graph input',
    );
  });
});

describe("saveModel / loadModel", () => {
  it("round trip: build -> (train a step) -> save -> load -> same outputs", async () => {
    const { graph, weights } = net(2);
    const model = new GraphModel(graph, weights).train();
    model.forward(randn([4, 2, 6, 6], { rng: new Rng(1) })); // moves the batch-norm running statistics
    const saved = model.weights();
    const path = join(dir, "net");
    await saveModel(path, graph, saved);
    expect(readdirSync(path).sort()).toEqual(["graph.json", "weights.safetensors"]);
    const loaded = await loadModel(path);
    expect(loaded.graph).toEqual(graph);
    for (const [name, data] of saved)
      expect(Array.from(loaded.weights.get(name)!), name).toEqual(Array.from(data));
    const x = randn([3, 2, 6, 6], { rng: new Rng(9) });
    const before = noGrad(() => model.eval().forward(x));
    const after = noGrad(() => new GraphModel(loaded.graph, loaded.weights).forward(x));
    expect(Array.from(after.data)).toEqual(Array.from(before.data));
    // Saving again gives identical files.
    const again = join(dir, "net2");
    await saveModel(again, loaded.graph, loaded.weights);
    for (const f of ["graph.json", "weights.safetensors"]) {
      expect(readFileSync(join(again, f)).equals(readFileSync(join(path, f))), f).toBe(true);
    }
  });

  it("weights are checked against the graph: missing, wrong shape, extra (strict or not)", () => {
    const { graph, weights } = net();
    const bytes = weightsToSafetensors(graph, weights);
    const content = parseSafetensors(bytes);
    expect(content.metadata).toEqual({ format: "pt", graph: "net" });
    expect([...content.tensors.keys()]).toEqual(Object.keys(graph.params));
    const other = structuredClone(graph);
    other.params["head.bias"].shape = [1, 3];
    expect(() => weightsFromBytes(other, bytes, "w.st")).toThrow(ShapeError);
    expect(() => weightsFromBytes(other, bytes, "w.st")).toThrow(
      'weights "w.st" for graph "net": tensor "head.bias": expected shape [1, 3], got [3]',
    );
    const smaller = new Map(weights);
    smaller.delete("head.bias");
    const partial = weightsToSafetensorsUnchecked(smaller, graph);
    expect(() => weightsFromBytes(graph, partial, "w.st")).toThrow(
      'weights "w.st" for graph "net": missing tensor "head.bias" (shape [3])',
    );
    const extra = weightsToSafetensorsUnchecked(new Map([...weights, ["aux.weight", new Float32Array(2)]]), {
      ...graph,
      params: { ...graph.params, "aux.weight": { shape: [2], kind: "parameter" } },
    });
    expect(() => weightsFromBytes(graph, extra, "w.st")).toThrow(
      'tensor "aux.weight" is not a parameter of the graph',
    );
    expect(weightsFromBytes(graph, extra, "w.st", false).size).toBe(weights.size);
  });

  it("loads a PyTorch state_dict (written per the spec by Python, int64 num_batches_tracked) and matches torch's output", () => {
    const path = join(dir, "torch.safetensors");
    const script = `
import json, struct, sys, torch, torch.nn as nn, torch.nn.functional as F
torch.manual_seed(3)
class Stem(nn.Module):
  def __init__(self):
    super().__init__()
    self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
    self.bn1 = nn.BatchNorm2d(4)
class Net(nn.Module):
  def __init__(self):
    super().__init__()
    self.stem = Stem()
    self.head = nn.Linear(4, 3)
  def forward(self, x):
    y = F.relu(self.stem.bn1(self.stem.conv1(x)))
    a, b = torch.split(y, 2, 1)
    y = torch.cat([b, a], 1)
    return self.head(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))
m = Net()
m.train(); m(torch.randn(4, 2, 6, 6))  # one training step: running stats move, num_batches_tracked = 1
m.eval()
x = torch.randn(3, 2, 6, 6)
with torch.no_grad(): out = m(x)
header, data = {}, b""
for name, t in m.state_dict().items():
  dtype, fmt = ("I64", "q") if t.dtype == torch.int64 else ("F32", "f")
  vals = t.reshape(-1).tolist()
  chunk = struct.pack("<%d%s" % (len(vals), fmt), *vals)
  header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [len(data), len(data) + len(chunk)]}
  data += chunk
text = json.dumps(header).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(text)) + text + data)
print(json.dumps({"x": x.reshape(-1).tolist(), "out": out.reshape(-1).tolist(), "nbt": header["stem.bn1.num_batches_tracked"]}))`;
    const ref = JSON.parse(execFileSync("/usr/bin/python3", ["-c", script, path], { encoding: "utf8" })) as {
      x: number[];
      out: number[];
      nbt: { dtype: string };
    };
    expect(ref.nbt.dtype).toBe("I64");
    const { graph } = net();
    // Same module names as the torch model (stem.conv1, stem.bn1, head); no dropout in torch: eval mode.
    const weights = weightsFromBytes(graph, new Uint8Array(readFileSync(path)), path);
    expect(Array.from(weights.get("stem.bn1.num_batches_tracked")!)).toEqual([1]);
    const out = noGrad(() =>
      new GraphModel(graph, weights).forward(new Tensor(Float32Array.from(ref.x), [3, 2, 6, 6])),
    );
    expectClose(out.data, ref.out, { rtol: 1e-5, label: "torch state_dict model" });
  });

  it("writes files atomically: no temporary files remain", async () => {
    const { graph, weights } = net();
    const path = join(dir, "atomic");
    await saveModel(path, graph, weights);
    await saveModel(path, graph, weights);
    expect(readdirSync(path).sort()).toEqual(["graph.json", "weights.safetensors"]);
    writeFileSync(join(path, "graph.json"), "{ not json");
    await expect(loadModel(path)).rejects.toThrow(/graph\.json": not valid JSON/);
  });
});

/** Safetensors bytes without the graph check (to build deliberately inconsistent files). */
function weightsToSafetensorsUnchecked(weights: Map<string, Float32Array>, graph: Graph): Uint8Array {
  return serializeSafetensors(
    [...weights].map(
      ([k, v]) =>
        [k, { shape: graph.params[k].shape, data: v }] as [string, { shape: number[]; data: Float32Array }],
    ),
  );
}

function reverseKeys(v: unknown): unknown {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).reverse());
}
