import { describe, expect, it } from "vitest";
import { importOnnx } from "../../src/onnx/import.js";
import { FormatError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";
import { A, encode, f32, graphModel, i64, info, type ModelSpec, model, node, type Plain } from "./helpers.js";

/**
 * Broken and hostile files: every one must fail with a FormatError that names the problem, quickly and
 * without allocating what the file claims. Each case is a tiny hand-made byte string.
 */

/** Runs `fn`, expects a FormatError matching `pattern`, and checks it came back within `ms`. */
function expectFormatError(fn: () => unknown, pattern: RegExp, ms = 2000): FormatError {
  const t0 = performance.now();
  let caught: unknown = null;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  const elapsed = performance.now() - t0;
  expect(caught, "expected an error").toBeInstanceOf(FormatError);
  expect((caught as Error).message).toMatch(pattern);
  expect(elapsed, "time to refuse").toBeLessThan(ms);
  return caught as FormatError;
}

/** A valid model: y = relu(conv(x)). */
function validSpec(): ModelSpec {
  return {
    inputs: [info("x", [1, 2, 4, 4])],
    outputs: [info("y", null)],
    nodes: [node("Conv", ["x", "w"], ["c"], [], "conv"), node("Relu", ["c"], ["y"], [], "relu")],
    inits: [f32("w", [3, 2, 1, 1], [1, 2, 3, 4, 5, 6])],
  };
}

/** The model with one initializer replaced. */
function withInit(init: Plain): Uint8Array {
  return model({ ...validSpec(), inits: [init] });
}

describe("hostile bytes: not an ONNX model", () => {
  it("the valid reference model imports", () => {
    expect(importOnnx(model(validSpec())).graph.nodes.map((n) => n.op)).toEqual(["conv2d", "relu"]);
  });

  it("empty file", () => {
    expectFormatError(() => importOnnx(new Uint8Array(0)), /empty/);
  });

  it("truncated at every 37th byte: a named error each time", () => {
    const bytes = model(validSpec());
    for (let cut = 1; cut < bytes.length; cut += 37) {
      expectFormatError(() => importOnnx(bytes.subarray(0, cut), { source: "cut.onnx" }), /cut\.onnx/);
    }
  });

  it("random garbage", () => {
    const rng = new Rng(5);
    for (let k = 0; k < 20; k++) {
      const junk = new Uint8Array(64 + k * 50);
      for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(rng.uniform() * 256);
      expectFormatError(() => importOnnx(junk), /ONNX/);
    }
  });

  it("other formats are recognised by their magic bytes", () => {
    const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
    expectFormatError(() => importOnnx(bytes("PK\x03\x04rest of a zip")), /ZIP archive.*PyTorch/);
    expectFormatError(() => importOnnx(bytes("\x89HDF\r\n\x1a\n....")), /HDF5/);
    expectFormatError(() => importOnnx(bytes('{"format": "convkit.graph"}')), /JSON/);
    expectFormatError(() => importOnnx(bytes("\x93NUMPY\x01\x00")), /NumPy/);
  });

  it("a protobuf without the required fields", () => {
    expectFormatError(
      () => importOnnx(encode({ producer_name: "x" })),
      /ir_version, opset_import, graph missing/,
    );
  });

  it("a length prefix far past the end of the file", () => {
    // field 7 (graph), wire type 2, length 2^31 - 1, then 3 bytes.
    const bytes = Uint8Array.of(0x08, 0x07, 0x3a, 0xff, 0xff, 0xff, 0xff, 0x07, 1, 2, 3);
    expectFormatError(() => importOnnx(bytes), /not a valid ONNX \(protobuf\) file/);
  });

  it("groups nested a million deep fail fast instead of overflowing the stack", () => {
    const bytes = new Uint8Array(1_000_000).fill(0x0b); // start-group tag of field 1, repeated
    expectFormatError(() => importOnnx(bytes), /not a valid ONNX/);
  });
});

describe("hostile tensors: sizes checked before allocation", () => {
  it("a 2^40-element initializer", () => {
    expectFormatError(
      () => importOnnx(withInit(f32("w", [2 ** 40], [1]))),
      /initializer "w".*more than 2147483647 elements/,
    );
  });

  it("dims whose product overflows", () => {
    expectFormatError(() => importOnnx(withInit(f32("w", [2 ** 20, 2 ** 20, 2 ** 20], [1]))), /absurd size/);
  });

  it("plausible dims, too few bytes", () => {
    expectFormatError(
      () => importOnnx(withInit(f32("w", [1000, 1000], [1, 2, 3, 4]))),
      /need 4000000 bytes, the file holds 16/,
    );
  });

  it("typed float_data shorter than the dims", () => {
    const init = { name: "w", dims: [3, 2, 1, 1], data_type: 1, float_data: [1, 2, 3] };
    expectFormatError(() => importOnnx(withInit(init)), /describe 6 elements, the file holds 3/);
  });

  it("a negative dimension", () => {
    expectFormatError(
      () => importOnnx(withInit(f32("w", [-3, 2, 1, 1], []))),
      /non-negative integers, got -3/,
    );
  });

  it("external data is refused with the file it points to", () => {
    const init = {
      name: "w",
      dims: [3, 2, 1, 1],
      data_type: 1,
      data_location: 1,
      external_data: [
        { key: "location", value: "weights.bin" },
        { key: "offset", value: "0" },
      ],
    };
    expectFormatError(
      () => importOnnx(withInit(init)),
      /"weights\.bin".*self-contained.*save_as_external_data=False/,
    );
  });

  it("an unsupported element type", () => {
    expectFormatError(
      () => importOnnx(withInit({ name: "w", dims: [1], data_type: 8, string_data: [new Uint8Array(1)] })),
      /STRING is not supported/,
    );
  });

  it("sparse initializers are refused", () => {
    const plain = graphModel(validSpec());
    (plain.graph as Plain).sparse_initializer = [{}];
    expectFormatError(() => importOnnx(encode(plain)), /sparse initializer/);
  });

  it("a declared input of absurd size", () => {
    const spec = { ...validSpec(), inputs: [info("x", [1, 2, 100000, 100000])] };
    expectFormatError(() => importOnnx(model(spec)), /more than 2147483647 elements/);
  });

  it("constant folding that would blow up (Expand to 2^30 elements)", () => {
    const spec: ModelSpec = {
      inputs: [info("x", [1, 2])],
      outputs: [info("y", null)],
      nodes: [node("Expand", ["one", "shape"], ["big"], [], "expand"), node("Reshape", ["x", "big"], ["y"])],
      inits: [i64("one", [1]), i64("shape", [1024, 1024, 1024])],
    };
    expectFormatError(() => importOnnx(model(spec)), /expand.*limit/);
  });
});

describe("hostile graphs: structure", () => {
  it("a cycle names the nodes involved", () => {
    const spec: ModelSpec = {
      inputs: [info("x", [1, 2])],
      outputs: [info("y", null)],
      nodes: [
        node("Add", ["x", "b"], ["a"], [], "first"),
        node("Relu", ["a"], ["b"], [], "second"),
        node("Relu", ["a"], ["y"], [], "third"),
      ],
    };
    expectFormatError(() => importOnnx(model(spec)), /cycle.*"first".*"second"/);
  });

  it("a dangling input name", () => {
    const spec = { ...validSpec(), nodes: [node("Relu", ["nowhere"], ["y"], [], "lost")] };
    expectFormatError(
      () => importOnnx(model(spec)),
      /"lost" reads "nowhere", which no node, input or initializer defines/,
    );
  });

  it("a value produced twice", () => {
    const spec = {
      ...validSpec(),
      nodes: [node("Relu", ["x"], ["y"], [], "one"), node("Sigmoid", ["x"], ["y"], [], "two")],
    };
    expectFormatError(
      () => importOnnx(model(spec)),
      /"y" is produced twice, by Relu node "one" and Sigmoid node "two"/,
    );
  });

  it("an output nothing computes", () => {
    const spec = { ...validSpec(), outputs: [info("ghost", null)] };
    expectFormatError(() => importOnnx(model(spec)), /output "ghost" is never computed/);
  });

  it("opsets outside 11..21 and a missing default opset", () => {
    expectFormatError(
      () => importOnnx(model({ ...validSpec(), opset: 10 })),
      /opset 10 is not supported \(convkit imports opsets 11 to 21\)/,
    );
    expectFormatError(() => importOnnx(model({ ...validSpec(), opset: 22 })), /opset 22 is not supported/);
    const plain = graphModel(validSpec());
    plain.opset_import = [{ domain: "com.microsoft", version: 1 }];
    expectFormatError(() => importOnnx(encode(plain)), /no opset for the default ONNX domain/);
  });

  it("non-float inputs", () => {
    const spec = { ...validSpec(), inputs: [info("x", [1, 2, 4, 4], 2)] };
    expectFormatError(() => importOnnx(model(spec)), /input "x": element type UINT8 is not supported/);
  });

  it("all unsupported operators in one error, each with its node name", () => {
    const spec: ModelSpec = {
      inputs: [info("x", [1, 2, 4, 4])],
      outputs: [info("y", null), info("d", null)],
      nodes: [
        node("Resize", ["x", "", "scales"], ["a"], [], "/up/Resize"),
        node("Erf", ["a"], ["b"], [], "/gelu/Erf"),
        node("Resize", ["b", "", "scales"], ["c"], [], "/up2/Resize"),
        { ...node("Custom", ["c"], ["d"], [], "mine"), domain: "com.example" },
        node("If", ["c"], ["y"], [A.t("then_branch", {})], "branch"),
      ],
      inits: [f32("scales", [4], [1, 1, 2, 2])],
    };
    // `If` with a subgraph: mark its attribute as a graph (type 5) with an empty GraphProto.
    (spec.nodes[4] as Plain).attribute = [{ name: "then_branch", type: 5, g: {} }];
    const e = expectFormatError(
      () => importOnnx(model(spec)),
      /5 node\(s\) use operators convkit does not support/,
    );
    expect(e.message).toContain('Resize (nodes "/up/Resize", "/up2/Resize")');
    expect(e.message).toContain('Erf (node "/gelu/Erf")');
    expect(e.message).toContain('com.example.Custom (node "mine")');
    expect(e.message).toContain('If (node "branch")');
  });

  it("all conversion problems in one error, each naming its node", () => {
    const spec: ModelSpec = {
      inputs: [info("x", [1, 4, 6, 6])],
      outputs: [info("y", null), info("z", null)],
      nodes: [
        node("MatMul", ["x", "x"], ["y"], [], "attention"),
        node("Slice", ["x", "s", "e", "a", "st"], ["z"], [], "strided"),
      ],
      inits: [i64("s", [0]), i64("e", [6]), i64("a", [2]), i64("st", [2])],
    };
    const e = expectFormatError(() => importOnnx(model(spec)), /2 node\(s\) cannot be imported/);
    expect(e.message).toMatch(/MatMul node "attention": MatMul of two computed tensors/);
    expect(e.message).toMatch(/Slice node "strided": step 2 on axis 2 is not supported/);
  });

  it("a Pad the graph cannot absorb", () => {
    const spec: ModelSpec = {
      inputs: [info("x", [1, 2, 4, 4])],
      outputs: [info("y", null)],
      nodes: [node("Pad", ["x", "p"], ["q"], [], "pad"), node("Relu", ["q"], ["y"], [], "relu")],
      inits: [i64("p", [0, 0, 1, 1, 0, 0, 1, 1])],
    };
    expectFormatError(
      () => importOnnx(model(spec)),
      /Pad node "pad": a padded tensor is only supported as the input of Conv, MaxPool or AveragePool/,
    );
  });

  it("a 1-D convolution", () => {
    const spec: ModelSpec = {
      inputs: [info("x", [1, 2, 8])],
      outputs: [info("y", null)],
      nodes: [node("Conv", ["x", "w"], ["y"], [], "conv1d")],
      inits: [f32("w", [1, 2, 3], [1, 2, 3, 4, 5, 6])],
    };
    expectFormatError(() => importOnnx(model(spec)), /conv1d.*expects a 4-D input/);
  });
});

describe("hostile graphs: size", () => {
  it("forty thousand nodes with the same name import in linear time", () => {
    const n = 40_000;
    const nodes: Plain[] = [];
    for (let i = 0; i < n; i++)
      nodes.push(node("Relu", [i === 0 ? "x" : `v${i - 1}`], [i === n - 1 ? "y" : `v${i}`], [], "same"));
    const bytes = model({ inputs: [info("x", [1, 2])], outputs: [info("y", null)], nodes });
    const t0 = performance.now();
    const g = importOnnx(bytes).graph;
    expect(g.nodes.length).toBe(n);
    expect(g.nodes[n - 1].name).toBe(`same_${n - 1}`);
    expect(performance.now() - t0).toBeLessThan(10_000);
  });
});
