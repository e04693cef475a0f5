import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { importOnnx, type OnnxImport, type OnnxImportOptions } from "../../src/onnx/import.js";
import { Rng } from "../../src/tensor/rng.js";
import {
  A,
  expectSameAsOrt,
  f32,
  f32r,
  i64,
  info,
  type ModelSpec,
  model,
  node,
  type Plain,
} from "./helpers.js";

/**
 * Every supported ONNX op (and its attribute variants) in a small model built here, imported and run by
 * convkit, compared with ONNX Runtime on the same seeded input (within 1e-4 relative; most agree to 1e-6).
 */

const rng = new Rng(1234);
const INT64_MAX = 9223372036854775807n;

interface Case {
  label: string;
  spec: ModelSpec;
  /** Runtime input shapes (default: the declared ones). */
  inputs: { name: string; dims: number[] }[];
  /** Extra checks on the imported graph. */
  check?: (g: OnnxImport) => void;
  importOptions?: OnnxImportOptions;
}

/** One input "x" of `dims`, output "y", the given nodes and initializers. */
function single(
  label: string,
  dims: number[],
  nodes: Plain[],
  inits: Plain[] = [],
  opset = 13,
  check?: Case["check"],
): Case {
  return {
    label,
    spec: { nodes, inits, inputs: [info("x", dims)], outputs: [info("y", null)], opset },
    inputs: [{ name: "x", dims }],
    check,
  };
}

const ops = (c: OnnxImport) => c.graph.nodes.map((n) => n.op);

const conv = (attrs: Plain[], w = "w", b?: string) => node("Conv", b ? ["x", w, b] : ["x", w], ["y"], attrs);

const CASES: Case[] = [
  single(
    "Conv 3x3 pad 1 with bias, named after its weight",
    [1, 4, 9, 9],
    [node("Conv", ["x", "layer.conv.weight", "layer.conv.bias"], ["y"], [A.ints("pads", [1, 1, 1, 1])])],
    [f32r("layer.conv.weight", [6, 4, 3, 3], rng), f32r("layer.conv.bias", [6], rng)],
    13,
    (c) => {
      const n = c.graph.nodes[0];
      expect(n.name).toBe("layer.conv");
      expect(n.scope).toBe("layer");
      expect(n.params).toEqual({ weight: "layer.conv.weight", bias: "layer.conv.bias" });
    },
  ),
  single(
    "Conv groups 2, dilation [2, 1], stride [2, 3], asymmetric pads, no bias",
    [2, 4, 11, 10],
    [
      conv([
        A.i("group", 2),
        A.ints("dilations", [2, 1]),
        A.ints("strides", [2, 3]),
        A.ints("pads", [0, 1, 2, 1]),
      ]),
    ],
    [f32r("w", [6, 2, 3, 2], rng)],
  ),
  single(
    "Conv depthwise with kernel_shape",
    [1, 5, 7, 7],
    [conv([A.i("group", 5), A.ints("kernel_shape", [3, 3]), A.ints("pads", [1, 1, 1, 1])])],
    [f32r("w", [5, 1, 3, 3], rng)],
  ),
  single(
    "Conv auto_pad SAME_UPPER stride 2 on odd sizes",
    [1, 3, 9, 8],
    [conv([A.s("auto_pad", "SAME_UPPER"), A.ints("strides", [2, 2])])],
    [f32r("w", [4, 3, 4, 3], rng)],
  ),
  single(
    "Conv auto_pad SAME_LOWER stride 2 (ONNX Runtime has no dilated SAME)",
    [1, 3, 7, 8],
    [conv([A.s("auto_pad", "SAME_LOWER"), A.ints("strides", [2, 2])])],
    [f32r("w", [4, 3, 2, 3], rng)],
  ),
  single(
    "Conv auto_pad VALID",
    [1, 3, 6, 6],
    [conv([A.s("auto_pad", "VALID")])],
    [f32r("w", [2, 3, 3, 3], rng)],
    11,
  ),
  single(
    "BatchNormalization (opset 15, training_mode 0)",
    [2, 3, 5, 4],
    [
      node(
        "BatchNormalization",
        ["x", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"],
        ["y"],
        [A.f("epsilon", 1e-3), A.i("training_mode", 0)],
      ),
    ],
    [
      f32r("bn.weight", [3], rng),
      f32r("bn.bias", [3], rng),
      f32r("bn.running_mean", [3], rng),
      f32("bn.running_var", [3], [0.5, 1.5, 2]),
    ],
    15,
    (c) => {
      const n = c.graph.nodes[0];
      expect(n.op).toBe("batchNorm2d");
      expect(n.params).toMatchObject({
        runningMean: "bn.running_mean",
        numBatchesTracked: "bn.num_batches_tracked",
      });
      expect(c.graph.params["bn.running_var"].kind).toBe("buffer");
    },
  ),
  single(
    "BatchNormalization on [N, C] (BatchNorm1d)",
    [3, 4],
    [node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])],
    [f32r("s", [4], rng), f32r("b", [4], rng), f32r("m", [4], rng), f32("v", [4], [1, 2, 0.5, 0.25])],
  ),
  single(
    "Gemm transB=1 with bias -> linear",
    [2, 6],
    [node("Gemm", ["x", "fc.weight", "fc.bias"], ["y"], [A.i("transB", 1)])],
    [f32r("fc.weight", [4, 6], rng), f32r("fc.bias", [4], rng)],
    13,
    (c) => {
      expect(ops(c)).toEqual(["linear"]);
      expect(c.graph.nodes[0].params).toEqual({ weight: "fc.weight", bias: "fc.bias" });
    },
  ),
  single(
    "Gemm transB=0 alpha 0.5 beta 2, C [1, N]",
    [3, 5],
    [node("Gemm", ["x", "w", "c"], ["y"], [A.f("alpha", 0.5), A.f("beta", 2)])],
    [f32r("w", [5, 4], rng), f32r("c", [1, 4], rng)],
  ),
  single(
    "Gemm without C",
    [2, 3],
    [node("Gemm", ["x", "w"], ["y"], [A.i("transB", 1)])],
    [f32r("w", [2, 3], rng)],
  ),
  single(
    "MatMul + Add on a 3-D input -> one linear",
    [2, 3, 5],
    [node("MatMul", ["x", "w"], ["t"], [], "/fc/MatMul"), node("Add", ["t", "b"], ["y"], [], "/fc/Add")],
    [f32r("w", [5, 4], rng), f32r("b", [4], rng)],
    13,
    (c) => {
      expect(ops(c)).toEqual(["linear"]);
      expect(c.graph.nodes[0].name).toBe("fc");
      expect(c.info.patterns.matMulAdd).toBe(1);
    },
  ),
  single("MatMul alone", [2, 5], [node("MatMul", ["x", "w"], ["y"])], [f32r("w", [5, 3], rng)]),
  single("Relu", [2, 3, 4], [node("Relu", ["x"], ["y"])]),
  single("LeakyRelu alpha 0.2", [2, 7], [node("LeakyRelu", ["x"], ["y"], [A.f("alpha", 0.2)])]),
  single("Sigmoid", [3, 4], [node("Sigmoid", ["x"], ["y"])]),
  single("Tanh", [3, 4], [node("Tanh", ["x"], ["y"])]),
  single(
    "HardSigmoid defaults (0.2, 0.5) -> decomposition",
    [4, 9],
    [node("HardSigmoid", ["x"], ["y"])],
    [],
    13,
    (c) => expect(ops(c)).toContain("relu6"),
  ),
  single(
    "HardSigmoid PyTorch (1/6, 1/2) -> hardSigmoid",
    [4, 9],
    [node("HardSigmoid", ["x"], ["y"], [A.f("alpha", 1 / 6), A.f("beta", 0.5)])],
    [],
    13,
    (c) => expect(ops(c)).toEqual(["hardSigmoid"]),
  ),
  single("HardSwish (opset 14)", [4, 9], [node("HardSwish", ["x"], ["y"])], [], 14),
  single(
    "x * HardSigmoid(x) -> hardSwish",
    [4, 9],
    [
      node("HardSigmoid", ["x"], ["h"], [A.f("alpha", 1 / 6), A.f("beta", 0.5)]),
      node("Mul", ["x", "h"], ["y"]),
    ],
    [],
    13,
    (c) => expect(ops(c)).toEqual(["hardSwish"]),
  ),
  single(
    "x * Sigmoid(x) -> silu",
    [2, 3, 4],
    [node("Sigmoid", ["x"], ["s"], [], "/act/Sigmoid"), node("Mul", ["s", "x"], ["y"], [], "/act/Mul")],
    [],
    13,
    (c) => {
      expect(ops(c)).toEqual(["silu"]);
      expect(c.graph.nodes[0].name).toBe("act");
    },
  ),
  single(
    "Clip(0, 6) -> relu6",
    [3, 8],
    [node("Clip", ["x", "lo", "hi"], ["y"])],
    [f32("lo", [], [0]), f32("hi", [], [6])],
    13,
    (c) => expect(ops(c)).toEqual(["relu6"]),
  ),
  single("Clip(0) -> relu", [3, 8], [node("Clip", ["x", "lo"], ["y"])], [f32("lo", [], [0])], 12, (c) =>
    expect(ops(c)).toEqual(["relu"]),
  ),
  single(
    "Clip(-1, 2)",
    [3, 8],
    [node("Clip", ["x", "lo", "hi"], ["y"])],
    [f32("lo", [], [-1]), f32("hi", [], [2])],
  ),
  single("Clip(min 0.5)", [3, 8], [node("Clip", ["x", "lo"], ["y"])], [f32("lo", [], [0.5])]),
  single("Clip(max 1.5)", [3, 8], [node("Clip", ["x", "", "hi"], ["y"])], [f32("hi", [], [1.5])]),
  single(
    "Add a per-channel constant",
    [2, 3, 4, 4],
    [node("Add", ["x", "c"], ["y"])],
    [f32r("c", [3, 1, 1], rng)],
  ),
  single("Mul by a scalar", [2, 5], [node("Mul", ["x", "c"], ["y"])], [f32("c", [], [2.5])]),
  single("Sub: constant minus x", [2, 5], [node("Sub", ["c", "x"], ["y"])], [f32r("c", [5], rng)]),
  single("Div by a constant", [2, 5], [node("Div", ["x", "c"], ["y"])], [f32("c", [5], [1, 2, 4, -2, 0.5])]),
  single("Sum of three", [2, 3], [node("Sum", ["x", "x", "c"], ["y"])], [f32r("c", [3], rng)]),
  single(
    "Concat with itself on channels",
    [1, 2, 3, 3],
    [node("Relu", ["x"], ["r"]), node("Concat", ["x", "r", "x"], ["y"], [A.i("axis", -3)])],
  ),
  single(
    "Split opset 11 (attribute), Concat back in reverse",
    [1, 4, 3, 3],
    [
      node("Split", ["x"], ["a", "b"], [A.i("axis", 1), A.ints("split", [1, 3])]),
      node("Concat", ["b", "a"], ["y"], [A.i("axis", 1)]),
    ],
    [],
    11,
  ),
  single(
    "Split opset 13 (input), equal parts",
    [1, 6, 2, 2],
    [node("Split", ["x"], ["a", "b", "c"], [A.i("axis", 1)]), node("Sub", ["a", "c"], ["y"])],
  ),
  single(
    "Split opset 18 num_outputs with a short last piece",
    [1, 7, 2],
    [
      node("Split", ["x"], ["a", "b", "c"], [A.i("axis", 1), A.i("num_outputs", 3)]),
      node("Concat", ["c", "b", "a"], ["y"], [A.i("axis", 1)]),
    ],
    [],
    18,
  ),
  single(
    "Slice channels [1, 3)",
    [2, 5, 3, 3],
    [node("Slice", ["x", "s", "e", "a"], ["y"])],
    [i64("s", [1]), i64("e", [3]), i64("a", [1])],
  ),
  single(
    "Slice negative start, INT64_MAX end, on two axes",
    [2, 5, 6, 3],
    [node("Slice", ["x", "s", "e", "a", "st"], ["y"])],
    [i64("s", [-2, 1]), i64("e", [INT64_MAX, 5]), i64("a", [1, 2]), i64("st", [1, 1])],
  ),
  single(
    "MaxPool 3x3 stride 2 pad 1",
    [1, 2, 9, 9],
    [
      node(
        "MaxPool",
        ["x"],
        ["y"],
        [A.ints("kernel_shape", [3, 3]), A.ints("strides", [2, 2]), A.ints("pads", [1, 1, 1, 1])],
      ),
    ],
  ),
  single(
    "MaxPool ceil_mode with the last window starting in the padding",
    [1, 2, 5, 6],
    [
      node(
        "MaxPool",
        ["x"],
        ["y"],
        [
          A.ints("kernel_shape", [2, 2]),
          A.ints("strides", [2, 2]),
          A.ints("pads", [1, 1, 1, 1]),
          A.i("ceil_mode", 1),
        ],
      ),
    ],
  ),
  single(
    "MaxPool dilation 2, default strides 1",
    [1, 2, 7, 7],
    [node("MaxPool", ["x"], ["y"], [A.ints("kernel_shape", [3, 2]), A.ints("dilations", [2, 2])])],
  ),
  single(
    "MaxPool auto_pad SAME_UPPER",
    [1, 1, 7, 6],
    [
      node(
        "MaxPool",
        ["x"],
        ["y"],
        [A.ints("kernel_shape", [3, 3]), A.ints("strides", [2, 2]), A.s("auto_pad", "SAME_UPPER")],
      ),
    ],
  ),
  single(
    "AveragePool pad 1 count_include_pad 0",
    [1, 2, 6, 6],
    [
      node(
        "AveragePool",
        ["x"],
        ["y"],
        [A.ints("kernel_shape", [3, 3]), A.ints("strides", [2, 2]), A.ints("pads", [1, 1, 1, 1])],
      ),
    ],
  ),
  single(
    "AveragePool pad 1 count_include_pad 1",
    [1, 2, 6, 6],
    [
      node(
        "AveragePool",
        ["x"],
        ["y"],
        [
          A.ints("kernel_shape", [3, 3]),
          A.ints("strides", [2, 2]),
          A.ints("pads", [1, 1, 1, 1]),
          A.i("count_include_pad", 1),
        ],
      ),
    ],
  ),
  single(
    "AveragePool ceil_mode",
    [1, 2, 6, 7],
    [
      node(
        "AveragePool",
        ["x"],
        ["y"],
        [A.ints("kernel_shape", [3, 3]), A.ints("strides", [2, 2]), A.i("ceil_mode", 1)],
      ),
    ],
  ),
  single("GlobalAveragePool", [2, 3, 5, 4], [node("GlobalAveragePool", ["x"], ["y"])]),
  single("GlobalMaxPool", [2, 3, 5, 4], [node("GlobalMaxPool", ["x"], ["y"])]),
  single(
    "ReduceMean H, W keepdims (opset 13 attribute)",
    [2, 3, 4, 5],
    [node("ReduceMean", ["x"], ["y"], [A.ints("axes", [-1, 2])])],
    [],
    13,
    (c) => {
      expect(c.graph.nodes[0]).toMatchObject({ op: "mean", attrs: { dims: [2, 3], keepdim: true } });
    },
  ),
  single(
    "ReduceMean keepdims 0",
    [2, 3, 4, 5],
    [node("ReduceMean", ["x"], ["y"], [A.ints("axes", [2, 3]), A.i("keepdims", 0)])],
  ),
  single(
    "ReduceMean opset 18 (axes input)",
    [2, 3, 4],
    [node("ReduceMean", ["x", "ax"], ["y"])],
    [i64("ax", [1])],
    18,
  ),
  single(
    "ReduceSum opset 13 (axes input)",
    [2, 3, 4],
    [node("ReduceSum", ["x", "ax"], ["y"], [A.i("keepdims", 0)])],
    [i64("ax", [0, 2])],
  ),
  single("Flatten axis 1", [2, 3, 4, 5], [node("Flatten", ["x"], ["y"])]),
  single("Flatten axis 0", [2, 3, 4], [node("Flatten", ["x"], ["y"], [A.i("axis", 0)])]),
  single("Flatten axis 2", [2, 3, 4, 5], [node("Flatten", ["x"], ["y"], [A.i("axis", 2)])]),
  single("Flatten axis -1", [2, 3, 4], [node("Flatten", ["x"], ["y"], [A.i("axis", -1)])]),
  single("Reshape [0, -1]", [2, 3, 4], [node("Reshape", ["x", "s"], ["y"])], [i64("s", [0, -1])]),
  single(
    "Transpose perm [0, 2, 3, 1] -> permute",
    [2, 3, 4, 5],
    [node("Transpose", ["x"], ["y"], [A.ints("perm", [0, 2, 3, 1])])],
  ),
  single(
    "Transpose swap of two -> transpose",
    [2, 3, 4, 5],
    [node("Transpose", ["x"], ["y"], [A.ints("perm", [0, 1, 3, 2])])],
    [],
    13,
    (c) => expect(ops(c)).toEqual(["transpose"]),
  ),
  single(
    "channel shuffle with constant shapes",
    [1, 6, 2, 3],
    [
      node("Reshape", ["x", "s1"], ["r"]),
      node("Transpose", ["r"], ["t"], [A.ints("perm", [0, 2, 1, 3, 4])]),
      node("Reshape", ["t", "s2"], ["y"]),
    ],
    [i64("s1", [1, 3, 2, 2, 3]), i64("s2", [1, -1, 2, 3])],
    13,
    (c) =>
      expect(c.graph.nodes.map((n) => [n.op, n.op === "channelShuffle" ? n.attrs.groups : 0])).toEqual([
        ["channelShuffle", 3],
      ]),
  ),
  single("Identity", [2, 3], [node("Identity", ["x"], ["y"])]),
  single(
    "Dropout (opset 13, ratio input)",
    [2, 3],
    [node("Dropout", ["x", "r"], ["y"])],
    [f32("r", [], [0.3])],
    13,
    (c) => expect(c.graph.nodes[0]).toMatchObject({ op: "dropout", attrs: { p: 0.3 } }),
  ),
  single("Cast to float", [2, 3], [node("Cast", ["x"], ["y"], [A.i("to", 1)])]),
  single("Softmax opset 13 axis 1", [2, 5, 3], [node("Softmax", ["x"], ["y"], [A.i("axis", 1)])]),
  single(
    "Softmax opset 11 axis 1 over trailing dims (coerced to 2-D)",
    [2, 3, 4],
    [node("Softmax", ["x"], ["y"])],
    [],
    11,
  ),
  single("LogSoftmax opset 13 default axis", [2, 5], [node("LogSoftmax", ["x"], ["y"])]),
  single(
    "Constant node feeding Add",
    [2, 3],
    [node("Constant", [], ["c"], [A.t("value", f32("", [3], [1, -2, 0.5]))]), node("Add", ["x", "c"], ["y"])],
  ),
  single(
    "Pad then Conv -> conv padding",
    [1, 2, 5, 5],
    [node("Pad", ["x", "p"], ["q"]), node("Conv", ["q", "w"], ["y"])],
    [i64("p", [0, 0, 1, 2, 0, 0, 3, 1]), f32r("w", [3, 2, 3, 3], rng)],
    13,
    (c) => expect(c.graph.nodes[0]).toMatchObject({ op: "conv2d", attrs: { padding: [1, 2, 3, 1] } }),
  ),
  single(
    "Pad then AveragePool -> count_include_pad",
    [1, 2, 5, 5],
    [
      node("Pad", ["x", "p"], ["q"]),
      node("AveragePool", ["q"], ["y"], [A.ints("kernel_shape", [3, 3]), A.ints("strides", [2, 2])]),
    ],
    [i64("p", [0, 0, 1, 1, 0, 0, 1, 1])],
  ),
  single(
    "zero Pad (PyTorch's avg_pool2d export) -> nothing",
    [1, 2, 4, 4],
    [
      node("Pad", ["x", "p"], ["q"]),
      node("AveragePool", ["q"], ["y"], [A.ints("kernel_shape", [2, 2]), A.ints("strides", [2, 2])]),
    ],
    [i64("p", [0, 0, 0, 0, 0, 0, 0, 0])],
    13,
    (c) => expect(ops(c)).toEqual(["avgPool2d"]),
  ),
  single(
    "GlobalAveragePool, Squeeze, Gemm, Unsqueeze",
    [2, 3, 4, 4],
    [
      node("GlobalAveragePool", ["x"], ["g"]),
      node("Squeeze", ["g", "ax"], ["s"]),
      node("Gemm", ["s", "w"], ["f"], [A.i("transB", 1)]),
      node("Unsqueeze", ["f", "ax"], ["y"]),
    ],
    [i64("ax", [2, 3]), f32r("w", [5, 3], rng)],
  ),
  single(
    "DeformConv (opset 19) with bias and mask",
    [1, 2, 5, 5],
    [
      node("Conv", ["x", "ow", "ob"], ["off"], [A.ints("pads", [1, 1, 1, 1])]),
      node("Conv", ["x", "mw"], ["mr"], [A.ints("pads", [1, 1, 1, 1])]),
      node("Sigmoid", ["mr"], ["m"]),
      node("DeformConv", ["x", "dw", "off", "db", "m"], ["y"], [A.ints("pads", [1, 1, 1, 1])]),
    ],
    [
      f32r("ow", [18, 2, 3, 3], rng, 0.3),
      f32r("ob", [18], rng),
      f32r("mw", [9, 2, 3, 3], rng),
      f32r("dw", [4, 2, 3, 3], rng),
      f32r("db", [4], rng),
    ],
    19,
    (c) => expect(ops(c)).toContain("deformConv2d"),
  ),
];

describe("importOnnx: each operator against ONNX Runtime", () => {
  for (const c of CASES) {
    it(c.label, async () => {
      const bytes = model(c.spec);
      const { imported } = await expectSameAsOrt(bytes, c.inputs, {
        label: c.label,
        importOptions: c.importOptions,
      });
      c.check?.(imported);
    });
  }
});

/** Torch-style shape arithmetic: y = x.view(x.size(0), -1) and a channel shuffle built from Shape. */
function shapeChainModel(opset: number): Uint8Array {
  return model({
    opset,
    inputs: [info("x", ["N", 6, 2, 2])],
    outputs: [info("y", null)],
    nodes: [
      node("Shape", ["x"], ["shp"]),
      node("Gather", ["shp", "i0"], ["n"], [A.i("axis", 0)]),
      node("Gather", ["shp", "i1"], ["c"], [A.i("axis", 0)]),
      node("Div", ["c", "g"], ["cg"]),
      node("Unsqueeze", ["n", "ax0"], ["n1"]),
      node("Unsqueeze", ["cg", "ax0"], ["cg1"]),
      node("Concat", ["n1", "g1", "cg1", "hw"], ["s1"], [A.i("axis", 0)]),
      node("Reshape", ["x", "s1"], ["r"], [], "/stage/Reshape"),
      node("Transpose", ["r"], ["t"], [A.ints("perm", [0, 2, 1, 3, 4])], "/stage/Transpose"),
      node("Concat", ["n1", "minus1"], ["s2"], [A.i("axis", 0)]),
      node("Reshape", ["t", "s2"], ["y"], [], "/stage/Reshape_1"),
    ],
    inits: [
      i64("i0", [0], []),
      i64("i1", [1], []),
      i64("g", [2], []),
      i64("ax0", [0]),
      i64("g1", [2]),
      i64("hw", [2, 2]),
      i64("minus1", [-1]),
    ],
  });
}

describe("importOnnx: symbolic batch and folded shape chains", () => {
  it("keeps the batch symbolic where exact and runs at another batch size", async () => {
    const bytes = shapeChainModel(13);
    // Imported at the default batch 1, run at batch 3: the graph must not have baked 1 in.
    const { imported } = await expectSameAsOrt(bytes, [{ name: "x", dims: [3, 6, 2, 2] }], {
      label: "shape chain",
    });
    expect(imported.graph.inputs[0].shape).toEqual(["N", 6, 2, 2]);
    expect(imported.info.fixedDims).toBeNull();
    expect(imported.info.foldedNodes).toBeGreaterThan(5);
    // The second Reshape's [N, -1] became [0, -1]: a flatten that works for any batch.
    const last = imported.graph.nodes[imported.graph.nodes.length - 1];
    expect(last).toMatchObject({ op: "reshape", attrs: { shape: [0, -1] } });
  });

  it("turns Reshape-Transpose-Reshape from Shape chains into channelShuffle", async () => {
    const bytes = model({
      inputs: [info("x", ["batch", 6, "H", "W"])],
      outputs: [info("y", null)],
      nodes: [
        node("Shape", ["x"], ["shp"]),
        node("Gather", ["shp", "i0"], ["n"]),
        node("Gather", ["shp", "i2"], ["h"]),
        node("Gather", ["shp", "i3"], ["w"]),
        node("Unsqueeze", ["n", "ax0"], ["n1"]),
        node("Unsqueeze", ["h", "ax0"], ["h1"]),
        node("Unsqueeze", ["w", "ax0"], ["w1"]),
        node("Concat", ["n1", "g", "h1", "w1"], ["s1"], [A.i("axis", 0)]),
        node("Reshape", ["x", "s1"], ["r"], [], "/stage2/stage2.0/Reshape"),
        node("Transpose", ["r"], ["t"], [A.ints("perm", [0, 2, 1, 3, 4])]),
        node("Concat", ["n1", "m1", "h1", "w1"], ["s2"], [A.i("axis", 0)]),
        node("Reshape", ["t", "s2"], ["y"]),
      ],
      inits: [
        i64("i0", [0], []),
        i64("i2", [2], []),
        i64("i3", [3], []),
        i64("ax0", [0]),
        i64("g", [2, 3]),
        i64("m1", [-1]),
      ],
    });
    const { imported } = await expectSameAsOrt(bytes, [{ name: "x", dims: [2, 6, 3, 4] }], {
      label: "channel shuffle from Shape",
      importOptions: { dims: { H: 3, W: 4 } },
    });
    expect(imported.graph.nodes.map((n) => n.op)).toEqual(["channelShuffle"]);
    expect(imported.graph.nodes[0].name).toBe("stage2.0.channel_shuffle");
    expect(imported.graph.inputs[0].shape).toEqual(["batch", 6, 3, 4]);
  });

  it("fixes the batch when a folded size would bake it in, and says why", async () => {
    // y = x.reshape(1, N * 6): the second entry depends on the batch and is not a copy of one dimension.
    const bytes = model({
      inputs: [info("x", ["N", 6])],
      outputs: [info("y", null)],
      nodes: [
        node("Shape", ["x"], ["shp"]),
        node("Gather", ["shp", "i0"], ["n"]),
        node("Mul", ["n", "six"], ["n6"]),
        node("Unsqueeze", ["n6", "ax0"], ["n61"]),
        node("Concat", ["one", "n61"], ["s"], [A.i("axis", 0)]),
        node("Reshape", ["x", "s"], ["y"], [], "reshape_it"),
      ],
      inits: [i64("i0", [0], []), i64("six", [6], []), i64("ax0", [0]), i64("one", [1])],
    });
    const { imported } = await expectSameAsOrt(bytes, [{ name: "x", dims: [2, 6] }], {
      label: "pinned batch",
      importOptions: { dims: { N: 2 } },
    });
    expect(imported.graph.inputs[0].shape).toEqual([2, 6]);
    expect(imported.info.fixedDims).toMatch(/reshape_it.*depends on the input size/);
  });

  it("takes sizes for symbolic spatial dims from options and says which are missing", () => {
    const bytes = model({
      inputs: [info("img", ["N", 3, "H", "W"])],
      outputs: [info("y", null)],
      nodes: [node("Relu", ["img"], ["y"])],
    });
    expect(() => importOnnx(bytes)).toThrow(
      /"H" \(input "img" axis 2\), "W" \(input "img" axis 3\) need a size/,
    );
    const g = importOnnx(bytes, { inputShapes: { img: [1, 3, 8, 9] } }).graph;
    expect(g.inputs[0].shape).toEqual(["N", 3, 8, 9]);
  });
});

describe("importOnnx: naming from PyTorch exports", () => {
  it("uses module paths for node names and scopes; containers name their functional ops", () => {
    const bytes = model({
      inputs: [info("x", [1, 2, 4, 4])],
      outputs: [info("y", null)],
      nodes: [
        node(
          "Conv",
          ["x", "layer1.0.conv1.weight"],
          ["c"],
          [A.ints("pads", [1, 1, 1, 1])],
          "/layer1/layer1.0/conv1/Conv",
        ),
        node("Relu", ["c"], ["r"], [], "/layer1/layer1.0/relu/Relu"),
        node("Add", ["r", "x"], ["a"], [], "/layer1/layer1.0/Add"),
        node("Relu", ["a"], ["y"], [], "/layer1/layer1.0/relu_1/Relu"),
      ],
      inits: [f32r("layer1.0.conv1.weight", [2, 2, 3, 3], rng)],
    });
    const g = importOnnx(bytes).graph;
    expect(g.nodes.map((n) => [n.name, n.scope])).toEqual([
      ["layer1.0.conv1", "layer1.0"],
      ["layer1.0.relu", "layer1.0"],
      ["layer1.0.add", "layer1.0"],
      ["layer1.0.relu_1", "layer1.0"],
    ]);
    expect(g.outputs).toEqual(["y"]);
  });

  it("names parameters behind opaque initializer names after their node", () => {
    const bytes = model({
      inputs: [info("x", [1, 2, 4, 4])],
      outputs: [info("y", null)],
      nodes: [node("Conv", ["x", "onnx::Conv_12", "onnx::Conv_13"], ["y"], [], "/features/features.0/Conv")],
      inits: [f32r("onnx::Conv_12", [3, 2, 1, 1], rng), f32r("onnx::Conv_13", [3], rng)],
    });
    const g = importOnnx(bytes).graph;
    expect(g.nodes[0].name).toBe("features.0");
    expect(Object.keys(g.params)).toEqual(["features.0.weight", "features.0.bias"]);
  });
});

describe("importOnnx: random Conv configurations (property)", () => {
  it("matches ONNX Runtime for random kernel, stride, dilation, groups, padding and opset", async () => {
    const config = fc.record({
      groups: fc.constantFrom(1, 2, 3),
      cPer: fc.integer({ min: 1, max: 2 }),
      oPer: fc.integer({ min: 1, max: 2 }),
      kh: fc.integer({ min: 1, max: 4 }),
      kw: fc.integer({ min: 1, max: 4 }),
      sh: fc.integer({ min: 1, max: 3 }),
      sw: fc.integer({ min: 1, max: 3 }),
      dh: fc.integer({ min: 1, max: 2 }),
      dw: fc.integer({ min: 1, max: 2 }),
      pads: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 4, maxLength: 4 }),
      autoPad: fc.constantFrom("NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"),
      h: fc.integer({ min: 7, max: 12 }),
      w: fc.integer({ min: 7, max: 12 }),
      bias: fc.boolean(),
      opset: fc.constantFrom(11, 13, 17, 21),
    });
    await fc.assert(
      fc.asyncProperty(config, async (c) => {
        const cin = c.groups * c.cPer;
        const cout = c.groups * c.oPer;
        const r = new Rng(c.h * 31 + c.w);
        const attrs = [
          A.i("group", c.groups),
          A.ints("strides", [c.sh, c.sw]),
          // ONNX Runtime refuses dilation with SAME_* padding.
          A.ints("dilations", c.autoPad.startsWith("SAME") ? [1, 1] : [c.dh, c.dw]),
          c.autoPad === "NOTSET" ? A.ints("pads", c.pads) : A.s("auto_pad", c.autoPad),
        ];
        const inits = [f32r("w", [cout, c.cPer, c.kh, c.kw], r)];
        if (c.bias) inits.push(f32r("b", [cout], r));
        const bytes = model({
          opset: c.opset,
          inputs: [info("x", [1, cin, c.h, c.w])],
          outputs: [info("y", null)],
          nodes: [node("Conv", c.bias ? ["x", "w", "b"] : ["x", "w"], ["y"], attrs)],
          inits,
        });
        await expectSameAsOrt(bytes, [{ name: "x", dims: [1, cin, c.h, c.w] }], { label: JSON.stringify(c) });
      }),
      { numRuns: 25, seed: 42 },
    );
  });
});

describe("importOnnx: initializer encodings", () => {
  /** x + Cast(c) for an initializer c stored in the given way; ONNX Runtime decodes c independently. */
  async function castAdd(label: string, c: Plain, opset = 13) {
    const bytes = model({
      opset,
      inputs: [info("x", [2, 4])],
      outputs: [info("y", null)],
      nodes: [node("Cast", ["c"], ["cf"], [A.i("to", 1)]), node("Add", ["x", "cf"], ["y"])],
      inits: [c],
    });
    await expectSameAsOrt(bytes, [{ name: "x", dims: [2, 4] }], { label });
  }

  it("float_data (typed field)", () =>
    castAdd("float_data", { name: "c", dims: [4], data_type: 1, float_data: [0.1, -2.5, 3e-3, 7] }));
  it("double_data", () =>
    castAdd("double_data", { name: "c", dims: [4], data_type: 11, double_data: [0.1, -2.5, 3e-3, 7] }));
  it("DOUBLE raw_data", () =>
    castAdd("double raw", {
      name: "c",
      dims: [4],
      data_type: 11,
      raw_data: new Uint8Array(Float64Array.of(1.5, -0.25, 1e-4, 3).buffer),
    }));
  it("int64_data", () =>
    castAdd("int64_data", { name: "c", dims: [4], data_type: 7, int64_data: [1, -2, 3, 40000000000] }));
  it("int32_data", () =>
    castAdd("int32_data", { name: "c", dims: [4], data_type: 6, int32_data: [1, -2, 3, 4] }));
  it("FLOAT16 raw_data", () =>
    // IEEE half bit patterns of 1, -2, 0.5 and 65504 (the largest half).
    castAdd("float16 raw", {
      name: "c",
      dims: [4],
      data_type: 10,
      raw_data: new Uint8Array(Uint16Array.of(0x3c00, 0xc000, 0x3800, 0x7bff).buffer),
    }));
  it("FLOAT16 in int32_data with a subnormal", () =>
    castAdd("float16 int32_data", {
      name: "c",
      dims: [4],
      data_type: 10,
      int32_data: [0x0001, 0x8200, 0x3555, 0x4248],
    }));
  it("BFLOAT16 raw_data", () =>
    castAdd("bfloat16 raw", {
      name: "c",
      dims: [4],
      data_type: 16,
      raw_data: new Uint8Array(Uint16Array.of(0x3f80, 0xc020, 0x3e4d, 0x4049).buffer),
    }));
  it("INT8 and BOOL raw_data", async () => {
    await castAdd("int8 raw", {
      name: "c",
      dims: [4],
      data_type: 3,
      raw_data: Int8Array.of(-128, -1, 0, 127),
    });
    await castAdd("bool raw", { name: "c", dims: [4], data_type: 9, raw_data: Uint8Array.of(1, 0, 1, 1) });
  });

  it("initializers also listed as graph inputs (IR 3 style) are constants, not inputs", async () => {
    const bytes = model({
      irVersion: 3,
      inputs: [info("x", [1, 3]), info("w", [2, 3])],
      outputs: [info("y", null)],
      nodes: [node("Gemm", ["x", "w"], ["y"], [A.i("transB", 1)])],
      inits: [f32r("w", [2, 3], rng)],
    });
    const { imported } = await expectSameAsOrt(bytes, [{ name: "x", dims: [1, 3] }], { label: "IR 3" });
    expect(imported.graph.inputs.map((i) => i.name)).toEqual(["x"]);
  });
});
