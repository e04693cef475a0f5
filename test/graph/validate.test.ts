import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../src/graph/builder.js";
import type { Graph, Node } from "../../src/graph/types.js";
import { inferShapes, topologicalSort, validateGraph } from "../../src/graph/validate.js";
import { ArgumentError, FormatError, ShapeError } from "../../src/tensor/errors.js";

/** conv -> bn -> relu -> pool -> flatten -> linear, in a scope, as a plain graph to break in each test. */
function sample() {
  const b = new GraphBuilder("sample");
  const x = b.input("x", [3, 8, 8]);
  const y = b.scope("body", () => {
    const c = b.conv2d(x, { outChannels: 4, kernelSize: 3, padding: 1 });
    return b.maxPool2d(b.relu(b.batchNorm2d(c)), { kernelSize: 2 });
  });
  b.output(b.linear(b.flatten(y), { outFeatures: 2, name: "fc" }));
  return b.build();
}

function edit(fn: (g: Graph) => void): Graph {
  const g = structuredClone(sample().graph);
  fn(g);
  return g;
}

function node(g: Graph, name: string): Node {
  const n = g.nodes.find((m) => m.name === name);
  if (n === undefined) throw new Error(`no node ${name}`);
  return n;
}

describe("validateGraph", () => {
  it("accepts a built graph and returns its shapes", () => {
    const { graph, weights } = sample();
    const shapes = validateGraph(graph, weights);
    expect(shapes.get("body.maxpool1")).toEqual([1, 4, 4, 4]);
    expect(shapes.get("fc")).toEqual([1, 2]);
  });

  it("duplicate node names and doubly produced values", () => {
    const dupNode = edit((g) => {
      node(g, "body.relu1").name = "body.bn1";
    });
    expect(() => validateGraph(dupNode)).toThrow(FormatError);
    expect(() => validateGraph(dupNode)).toThrow(
      'relu node "body.bn1" (scope "body"): node name is used twice',
    );
    const dupValue = edit((g) => {
      node(g, "body.relu1").outputs = ["body.bn1"];
    });
    expect(() => validateGraph(dupValue)).toThrow(
      'relu node "body.relu1" (scope "body"): output value "body.bn1" is already produced by batchNorm2d node "body.bn1" (scope "body")',
    );
    const shadowInput = edit((g) => {
      node(g, "body.conv1").outputs = ["x"];
    });
    expect(() => validateGraph(shadowInput)).toThrow('output value "x" is already produced by a graph input');
  });

  it("a dangling input names the node and the missing value", () => {
    const g = edit((h) => {
      node(h, "body.relu1").inputs = ["body.bn9"];
    });
    expect(() => validateGraph(g)).toThrow(
      'relu node "body.relu1" (scope "body"): input "body.bn9" is not produced by any node or graph input',
    );
    expect(() => inferShapes(g)).toThrow(
      'relu node "body.relu1" (scope "body"): input "body.bn9" is not defined before this node',
    );
    const badOutput = edit((h) => {
      h.outputs = ["logits"];
    });
    expect(() => validateGraph(badOutput)).toThrow(
      'graph "sample": output "logits" is not a value of the graph',
    );
  });

  it("a cycle is detected and its nodes named in data-flow order", () => {
    const g = edit((h) => {
      // bn reads relu's output, which reads bn's: bn1 -> relu1 -> bn1
      node(h, "body.bn1").inputs = ["body.relu1"];
    });
    expect(() => validateGraph(g)).toThrow('graph "sample": cycle: "body.bn1" -> "body.relu1" -> "body.bn1"');
    expect(() => topologicalSort(g)).toThrow(/cycle: "body.bn1" -> "body.relu1" -> "body.bn1"/);
    const longer = edit((h) => {
      node(h, "body.conv1").inputs = ["body.maxpool1"];
    });
    expect(() => validateGraph(longer)).toThrow(
      'graph "sample": cycle: "body.conv1" -> "body.bn1" -> "body.relu1" -> "body.maxpool1" -> "body.conv1"',
    );
  });

  it("nodes out of order are reported, and topologicalSort repairs them stably", () => {
    const { graph } = sample();
    const shuffled = structuredClone(graph);
    const [conv] = shuffled.nodes.splice(0, 1);
    shuffled.nodes.splice(2, 0, conv);
    expect(() => validateGraph(shuffled)).toThrow(
      'batchNorm2d node "body.bn1" (scope "body"): input "body.conv1" is produced later, by conv2d node "body.conv1" (scope "body"); nodes must be in topological order',
    );
    const sorted = topologicalSort(shuffled);
    expect(sorted.nodes.map((n) => n.name)).toEqual(graph.nodes.map((n) => n.name));
    expect(() => validateGraph(sorted)).not.toThrow();
  });

  it("parameters: wrong shape, missing, undeclared, unused, and weights of the wrong length", () => {
    const wrongShape = edit((g) => {
      g.params["body.conv1.weight"].shape = [4, 3, 5, 5];
    });
    expect(() => validateGraph(wrongShape)).toThrow(ShapeError);
    expect(() => validateGraph(wrongShape)).toThrow(
      'conv2d node "body.conv1" (scope "body"): parameter "body.conv1.weight" (weight): expected shape [4, 3, 3, 3], got [4,3,5,5]',
    );
    const missing = edit((g) => {
      const n = node(g, "fc");
      if (n.op === "linear") delete n.params.bias;
    });
    expect(() => validateGraph(missing)).toThrow(
      'linear node "fc": params.bias: missing (expected a parameter name)',
    );
    const undeclared = edit((g) => {
      delete g.params["fc.bias"];
    });
    expect(() => validateGraph(undeclared)).toThrow(
      'linear node "fc": params.bias: parameter "fc.bias" is not declared in graph.params',
    );
    const extraRole = edit((g) => {
      (node(g, "body.relu1").params as Record<string, string>).weight = "fc.weight";
    });
    expect(() => validateGraph(extraRole)).toThrow(
      'relu node "body.relu1" (scope "body"): params.weight: not used by this op with these attrs (expected no parameters)',
    );
    const unused = edit((g) => {
      g.params.orphan = { shape: [1], kind: "parameter" };
    });
    expect(() => validateGraph(unused)).toThrow(
      'graph "sample": parameter "orphan" is declared but no node uses it',
    );
    const wrongKind = edit((g) => {
      g.params["body.bn1.running_mean"].kind = "parameter";
    });
    expect(() => validateGraph(wrongKind)).toThrow(
      'parameter "body.bn1.running_mean" (runningMean): expected kind "buffer", got "parameter"',
    );
    const { graph, weights } = sample();
    const short = new Map(weights);
    short.set("fc.weight", new Float32Array(3));
    expect(() => validateGraph(graph, short)).toThrow(
      'graph "sample": weights: "fc.weight": expected 128 values (shape [2, 64]), got 3',
    );
    const absent = new Map(weights);
    absent.delete("fc.bias");
    expect(() => validateGraph(graph, absent)).toThrow(
      'graph "sample": weights: missing "fc.bias" (shape [2])',
    );
    const stray = new Map(weights);
    stray.set("nope", new Float32Array(1));
    expect(() => validateGraph(graph, stray)).toThrow(
      'graph "sample": weights: "nope" is not a parameter of the graph',
    );
  });

  it("attrs inconsistent with the shapes flowing in, or malformed", () => {
    const channels = edit((g) => {
      const n = node(g, "body.bn1");
      if (n.op === "batchNorm2d") n.attrs.numFeatures = 5;
      for (const k of ["weight", "bias", "running_mean", "running_var"])
        g.params[`body.bn1.${k}`].shape = [5];
    });
    expect(() => validateGraph(channels)).toThrow(
      'batchNorm2d node "body.bn1" (scope "body"): input channels: expected 5 (attrs.numFeatures), got [1, 4, 8, 8]',
    );
    const features = edit((g) => {
      const n = node(g, "fc");
      if (n.op === "linear") n.attrs.inFeatures = 63;
      g.params["fc.weight"].shape = [2, 63];
    });
    expect(() => validateGraph(features)).toThrow(
      'linear node "fc": input: expected last dimension 63 (attrs.inFeatures), got [1, 64]',
    );
    const stride = edit((g) => {
      const n = node(g, "body.conv1");
      if (n.op === "conv2d") n.attrs.stride = [0, 1];
    });
    expect(() => validateGraph(stride)).toThrow(ArgumentError);
    expect(() => validateGraph(stride)).toThrow(
      'conv2d node "body.conv1" (scope "body"): attrs.stride: expected a positive integer, got 0',
    );
    const unknown = edit((g) => {
      (node(g, "body.relu1") as { op: string }).op = "gelu";
    });
    expect(() => validateGraph(unknown)).toThrow(
      /node 2 \("body.relu1"\): op: expected one of conv2d, .*, got "gelu"/,
    );
    const arity = edit((g) => {
      node(g, "body.relu1").inputs = ["body.bn1", "x"];
    });
    expect(() => validateGraph(arity)).toThrow(
      'relu node "body.relu1" (scope "body"): inputs: expected 1 input value(s), got 2',
    );
  });

  it("format, version and top-level structure", () => {
    expect(() => validateGraph(edit((g) => ((g as { format: string }).format = "onnx")))).toThrow(
      'graph "sample": format: expected "convkit.graph", got "onnx"',
    );
    expect(() => validateGraph(edit((g) => ((g as { version: number }).version = 2)))).toThrow(
      'graph "sample": version: expected 1, got 2',
    );
    expect(() => validateGraph(edit((g) => (g.inputs[0].shape = ["N", -3, 8, 8])))).toThrow(
      'graph "sample": input "x": shape: expected integers or symbols, got ["N",-3,8,8]',
    );
    expect(() => validateGraph(edit((g) => (g.outputs = [])))).toThrow(
      'graph "sample": outputs: expected at least one output',
    );
  });
});

describe("inferShapes", () => {
  it("resolves symbolic dims from batch, named dims or explicit input shapes", () => {
    const { graph } = sample();
    expect(inferShapes(graph, { batch: 7 }).get("fc")).toEqual([7, 2]);
    expect(inferShapes(graph, { dims: { N: 3 } }).get("body.conv1")).toEqual([3, 4, 8, 8]);
    expect(inferShapes(graph, { inputShapes: { x: [2, 3, 8, 8] } }).get("fc")).toEqual([2, 2]);
    expect(() => inferShapes(graph, { inputShapes: { x: [2, 3, 9, 8] } })).toThrow(
      'graph "sample": input "x": expected shape [N, 3, 8, 8], got [2, 3, 9, 8]',
    );
  });
});
