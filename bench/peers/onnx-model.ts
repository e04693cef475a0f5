import protobuf from "protobufjs";
import type { BenchShape } from "../shapes.js";

// Wire types of the protobuf encoding.
const VARINT = 0;
const LEN = 2;

type Writer = protobuf.Writer;

function str(w: Writer, field: number, s: string): void {
  w.uint32((field << 3) | LEN).string(s);
}
function int(w: Writer, field: number, v: number): void {
  w.uint32((field << 3) | VARINT).int64(v);
}
function nested(w: Writer, field: number, body: (w: Writer) => void): void {
  w.uint32((field << 3) | LEN).fork();
  body(w);
  w.ldelim();
}

/** AttributeProto: name = 1, i = 3, ints = 8, type = 20 (INT = 2, INTS = 7). */
function intsAttr(w: Writer, name: string, values: number[]): void {
  nested(w, 5, (a) => {
    str(a, 1, name);
    for (const v of values) int(a, 8, v);
    int(a, 20, 7);
  });
}
function intAttr(w: Writer, name: string, value: number): void {
  nested(w, 5, (a) => {
    str(a, 1, name);
    int(a, 3, value);
    int(a, 20, 2);
  });
}

/** ValueInfoProto with a float tensor type: name = 1, type = 2 -> TypeProto.tensor_type = 1 -> elem_type 1, shape 2. */
function valueInfo(w: Writer, field: number, name: string, dims: number[]): void {
  nested(w, field, (v) => {
    str(v, 1, name);
    nested(v, 2, (t) =>
      nested(t, 1, (tt) => {
        int(tt, 1, 1); // FLOAT
        nested(tt, 2, (shape) => {
          for (const d of dims) nested(shape, 1, (dim) => int(dim, 1, d));
        });
      }),
    );
  });
}

/**
 * The bytes of an ONNX model holding one Conv node (opset 13), weight as an initializer, no bias:
 * input "x" [batch, cIn, h, w] -> output "y"; for a deformable shape one DeformConv node (opset 19) with
 * the further inputs "offset" and "mask". Hand-encoded (ModelProto -> GraphProto -> NodeProto), the few
 * fields a node needs, so the benchmark does not depend on the library's own ONNX exporter.
 */
export function convModelBytes(
  s: BenchShape,
  batch: number,
  weight: Float32Array,
  outDims: number[],
): Uint8Array {
  const deform = s.deformable;
  const kk = s.k * s.k;
  const w = protobuf.Writer.create();
  int(w, 1, deform ? 9 : 8); // ir_version
  nested(w, 8, (o) => {
    str(o, 1, ""); // opset_import: default domain
    int(o, 2, deform ? 19 : 13);
  });
  nested(w, 7, (g) => {
    nested(g, 1, (n) => {
      // DeformConv's inputs: X, W, offset, B (absent: ""), mask.
      for (const input of deform ? ["x", "W", "offset", "", "mask"] : ["x", "W"]) str(n, 1, input);
      str(n, 2, "y");
      str(n, 3, "conv");
      str(n, 4, deform ? "DeformConv" : "Conv");
      if (deform) intAttr(n, "offset_group", deform.offsetGroups);
      intsAttr(n, "kernel_shape", [s.k, s.k]);
      intsAttr(n, "strides", [s.stride, s.stride]);
      intsAttr(n, "pads", [s.padding, s.padding, s.padding, s.padding]);
      intsAttr(n, "dilations", [s.dilation, s.dilation]);
      intAttr(n, "group", s.groups);
    });
    str(g, 2, "bench");
    nested(g, 5, (t) => {
      for (const d of [s.cOut, s.cIn / s.groups, s.k, s.k]) int(t, 1, d);
      int(t, 2, 1); // FLOAT
      str(t, 8, "W");
      t.uint32((9 << 3) | LEN).bytes(new Uint8Array(weight.buffer, weight.byteOffset, weight.byteLength));
    });
    valueInfo(g, 11, "x", [batch, s.cIn, s.h, s.w]);
    if (deform) {
      const [, , hOut, wOut] = outDims;
      valueInfo(g, 11, "offset", [batch, 2 * deform.offsetGroups * kk, hOut, wOut]);
      valueInfo(g, 11, "mask", [batch, deform.offsetGroups * kk, hOut, wOut]);
    }
    valueInfo(g, 12, "y", outDims);
  });
  return w.finish();
}
