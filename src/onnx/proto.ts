import protobuf from "protobufjs";
import { errorMessage, FormatError } from "../tensor/errors.js";
import { ONNX_SCHEMA } from "./schema.js";

/**
 * ONNX protobuf messages as plain, checked TypeScript objects: `decodeModel` turns file bytes into an
 * `OnnxModel` (or a FormatError that says why the bytes are not an ONNX model), `encodeModel` does the
 * reverse. Everything else in src/onnx works on these objects, never on protobufjs messages.
 *
 * Bounded work: protobufjs checks every length prefix against the bytes present (a truncated file fails at
 * the first field that runs past the end) and limits message nesting to 100 levels; `bytes` fields are views
 * into the input, not copies. Integers arrive as numbers (int64 beyond 2^53 lose precision, which only
 * matters for values that are absurd anyway and are refused later).
 */

const root = protobuf.Root.fromJSON(ONNX_SCHEMA);
const ModelType = root.lookupType("onnx.ModelProto");

/** TensorProto.DataType numbers used by convkit. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  BFLOAT16: 16,
} as const;

const DATA_TYPE_NAMES: Record<number, string> = {
  0: "UNDEFINED",
  1: "FLOAT",
  2: "UINT8",
  3: "INT8",
  4: "UINT16",
  5: "INT16",
  6: "INT32",
  7: "INT64",
  8: "STRING",
  9: "BOOL",
  10: "FLOAT16",
  11: "DOUBLE",
  12: "UINT32",
  13: "UINT64",
  14: "COMPLEX64",
  15: "COMPLEX128",
  16: "BFLOAT16",
};

/** "FLOAT", "INT64"... or "data type 42". */
export function dataTypeName(t: number): string {
  return DATA_TYPE_NAMES[t] ?? `data type ${t}`;
}

/** AttributeProto.AttributeType numbers. */
export const AttrType = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
} as const;

export interface OnnxTensorProto {
  name: string;
  dims: number[];
  dataType: number;
  rawData: Uint8Array | null;
  floatData: number[];
  int32Data: number[];
  int64Data: number[];
  doubleData: number[];
  uint64Data: number[];
  stringData: number;
  /** `external_data` entries (key -> value); non-empty means the data lives in another file. */
  externalData: Record<string, string>;
  /** 1 = EXTERNAL. */
  dataLocation: number;
  /** A `segment` (chunked tensor) is present. */
  segmented: boolean;
}

export interface OnnxAttribute {
  name: string;
  /** AttributeType, or 0 when the writer left it out (IR 1). */
  type: number;
  f: number | null;
  i: number | null;
  s: Uint8Array | null;
  t: OnnxTensorProto | null;
  floats: number[];
  ints: number[];
  strings: Uint8Array[];
  tensors: OnnxTensorProto[];
  /** A subgraph (`g` or `graphs`) is present; convkit does not run subgraphs. */
  hasGraph: boolean;
  /** Reference to a function attribute (only valid inside functions). */
  refAttrName: string;
}

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Map<string, OnnxAttribute>;
}

/** A dimension: a size, a symbol (dim_param), or null when unknown. */
export type OnnxDim = number | string | null;

export interface OnnxValueInfo {
  name: string;
  /** "tensor" for tensor types; otherwise what the type is (sequence, map...), or "none" when absent. */
  kind: "tensor" | "sequence" | "map" | "sparse" | "optional" | "none";
  elemType: number;
  /** Dimensions, or null when the shape is not given. */
  dims: OnnxDim[] | null;
}

export interface OnnxGraphProto {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensorProto[];
  sparseInitializers: number;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  valueInfo: OnnxValueInfo[];
  docString: string;
}

export interface OnnxOpset {
  domain: string;
  version: number;
}

export interface OnnxModel {
  irVersion: number;
  opsets: OnnxOpset[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  graph: OnnxGraphProto;
  metadata: Record<string, string>;
}

// ------------------------------------------------------------------------------------------------ decoding

type Raw = Record<string, unknown>;

const str = (v: unknown): string => (typeof v === "string" ? v : "");
const num = (v: unknown): number => (typeof v === "number" ? v : 0);
const arr = <T>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);
const obj = (v: unknown): Raw | null => (typeof v === "object" && v !== null ? (v as Raw) : null);

/** A short description of what the first bytes look like, for "not an ONNX model" messages. */
export function sniff(bytes: Uint8Array): string | null {
  const text = (n: number) => String.fromCharCode(...bytes.subarray(0, n));
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 3 && bytes[3] === 4) {
    return "a ZIP archive (a PyTorch .pt/.pth checkpoint or a Keras .keras file?)";
  }
  if (bytes.length >= 8 && text(8) === "\x89HDF\r\n\x1a\n") return "an HDF5 file (a Keras .h5 model?)";
  if (bytes.length >= 6 && text(6) === "\x93NUMPY") return "a NumPy .npy array";
  if (bytes.length >= 8 && String.fromCharCode(...bytes.subarray(4, 8)) === "TFL3")
    return "a TensorFlow Lite model";
  if (bytes.length >= 1 && (bytes[0] === 0x7b || bytes[0] === 0x5b))
    return "JSON or text, not a binary protobuf";
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] <= 5) return "a Python pickle";
  return null;
}

/**
 * Decodes ONNX model bytes. Throws FormatError (naming `source`) for bytes that are not a well-formed
 * ModelProto: truncated, garbage, another format, or missing the fields every model must have.
 */
export function decodeModel(bytes: Uint8Array, source = "ONNX model"): OnnxModel {
  if (!(bytes instanceof Uint8Array)) {
    throw new FormatError(`${source}: expected the file's bytes as a Uint8Array, got ${typeof bytes}`);
  }
  if (bytes.length === 0) throw new FormatError(`${source}: the file is empty`);
  const looksLike = sniff(bytes);
  if (looksLike !== null) throw new FormatError(`${source}: not an ONNX model: this looks like ${looksLike}`);
  let raw: Raw;
  try {
    const message = ModelType.decode(bytes);
    raw = ModelType.toObject(message, { longs: Number, arrays: true }) as Raw;
  } catch (e) {
    const why = errorMessage(e);
    throw new FormatError(
      `${source}: not a valid ONNX (protobuf) file: ${why} (${bytes.length} bytes; truncated or not ONNX?)`,
    );
  }
  const graphRaw = obj(raw.graph);
  const irVersion = num(raw.ir_version);
  const opsets = arr<Raw>(raw.opset_import).map((o) => ({ domain: str(o.domain), version: num(o.version) }));
  if (graphRaw === null || irVersion === 0 || opsets.length === 0) {
    const missing = [
      irVersion === 0 ? "ir_version" : null,
      opsets.length === 0 ? "opset_import" : null,
      graphRaw === null ? "graph" : null,
    ].filter((s) => s !== null);
    throw new FormatError(
      `${source}: not an ONNX model: required field(s) ${missing.join(", ")} missing (${bytes.length} bytes decoded as protobuf; wrong file?)`,
    );
  }
  // Keys are the file's: fromEntries makes a key such as "__proto__" an own property (assignment would not).
  const metadata = Object.fromEntries(arr<Raw>(raw.metadata_props).map((e) => [str(e.key), str(e.value)]));
  return {
    irVersion,
    opsets,
    producerName: str(raw.producer_name),
    producerVersion: str(raw.producer_version),
    domain: str(raw.domain),
    modelVersion: num(raw.model_version),
    docString: str(raw.doc_string),
    graph: graphFrom(graphRaw),
    metadata,
  };
}

function graphFrom(g: Raw): OnnxGraphProto {
  return {
    name: str(g.name),
    nodes: arr<Raw>(g.node).map(nodeFrom),
    initializers: arr<Raw>(g.initializer).map(tensorFrom),
    sparseInitializers: arr(g.sparse_initializer).length,
    inputs: arr<Raw>(g.input).map(valueInfoFrom),
    outputs: arr<Raw>(g.output).map(valueInfoFrom),
    valueInfo: arr<Raw>(g.value_info).map(valueInfoFrom),
    docString: str(g.doc_string),
  };
}

function nodeFrom(n: Raw): OnnxNode {
  const attributes = new Map<string, OnnxAttribute>();
  for (const a of arr<Raw>(n.attribute)) {
    const t = obj(a.t);
    const attr: OnnxAttribute = {
      name: str(a.name),
      type: num(a.type),
      f: typeof a.f === "number" ? a.f : null,
      i: typeof a.i === "number" ? a.i : null,
      s: a.s instanceof Uint8Array ? a.s : null,
      t: t === null ? null : tensorFrom(t),
      floats: arr<number>(a.floats),
      ints: arr<number>(a.ints),
      strings: arr<Uint8Array>(a.strings),
      tensors: arr<Raw>(a.tensors).map(tensorFrom),
      hasGraph: obj(a.g) !== null || arr(a.graphs).length > 0,
      refAttrName: str(a.ref_attr_name),
    };
    attributes.set(attr.name, attr);
  }
  return {
    name: str(n.name),
    opType: str(n.op_type),
    domain: str(n.domain),
    inputs: arr<string>(n.input),
    outputs: arr<string>(n.output),
    attributes,
  };
}

function tensorFrom(t: Raw): OnnxTensorProto {
  const externalData = Object.fromEntries(arr<Raw>(t.external_data).map((e) => [str(e.key), str(e.value)]));
  return {
    name: str(t.name),
    dims: arr<number>(t.dims),
    dataType: num(t.data_type),
    rawData: t.raw_data instanceof Uint8Array ? t.raw_data : null,
    floatData: arr<number>(t.float_data),
    int32Data: arr<number>(t.int32_data),
    int64Data: arr<number>(t.int64_data),
    doubleData: arr<number>(t.double_data),
    uint64Data: arr<number>(t.uint64_data),
    stringData: arr(t.string_data).length,
    externalData,
    dataLocation: num(t.data_location),
    segmented: obj(t.segment) !== null,
  };
}

function valueInfoFrom(v: Raw): OnnxValueInfo {
  const type = obj(v.type);
  const info: OnnxValueInfo = { name: str(v.name), kind: "none", elemType: 0, dims: null };
  if (type === null) return info;
  const tensor = obj(type.tensor_type);
  if (tensor !== null) {
    info.kind = "tensor";
    info.elemType = num(tensor.elem_type);
    const shape = obj(tensor.shape);
    if (shape !== null) {
      info.dims = arr<Raw>(shape.dim).map((d) => {
        if (typeof d.dim_value === "number") return d.dim_value;
        if (typeof d.dim_param === "string" && d.dim_param.length > 0) return d.dim_param;
        return null;
      });
    }
  } else if (obj(type.sequence_type) !== null) info.kind = "sequence";
  else if (obj(type.map_type) !== null) info.kind = "map";
  else if (obj(type.sparse_tensor_type) !== null) info.kind = "sparse";
  else if (obj(type.optional_type) !== null) info.kind = "optional";
  return info;
}

// ------------------------------------------------------------------------------------------------ encoding

/** What `encodeModel` needs: a tensor to store (float32 or int64 data, always as raw little-endian bytes). */
export interface TensorOut {
  name: string;
  dims: readonly number[];
  dataType: number;
  rawData: Uint8Array;
}

export type AttrOut =
  | { name: string; type: typeof AttrType.FLOAT; f: number }
  | { name: string; type: typeof AttrType.TENSOR; t: TensorOut }
  | { name: string; type: typeof AttrType.INT; i: number }
  | { name: string; type: typeof AttrType.STRING; s: string }
  | { name: string; type: typeof AttrType.FLOATS; floats: readonly number[] }
  | { name: string; type: typeof AttrType.INTS; ints: readonly number[] };

export interface NodeOut {
  name: string;
  opType: string;
  domain?: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes: readonly AttrOut[];
}

export interface ValueInfoOut {
  name: string;
  elemType: number;
  /** null: shape not stated. */
  dims: readonly (number | string)[] | null;
}

export interface ModelOut {
  irVersion: number;
  opsets: readonly OnnxOpset[];
  producerName: string;
  producerVersion: string;
  docString?: string;
  graph: {
    name: string;
    nodes: readonly NodeOut[];
    initializers: readonly TensorOut[];
    inputs: readonly ValueInfoOut[];
    outputs: readonly ValueInfoOut[];
  };
  metadata?: Record<string, string>;
}

/** Serialises a model to ONNX protobuf bytes. */
export function encodeModel(model: ModelOut): Uint8Array {
  const tensor = (t: TensorOut) => ({
    name: t.name,
    dims: [...t.dims],
    data_type: t.dataType,
    raw_data: t.rawData,
  });
  const valueInfo = (v: ValueInfoOut) => ({
    name: v.name,
    type: {
      tensor_type: {
        elem_type: v.elemType,
        ...(v.dims === null
          ? {}
          : {
              shape: {
                dim: v.dims.map((d) => (typeof d === "number" ? { dim_value: d } : { dim_param: d })),
              },
            }),
      },
    },
  });
  const attribute = (a: AttrOut) => {
    switch (a.type) {
      case AttrType.FLOAT:
        return { name: a.name, type: a.type, f: a.f };
      case AttrType.INT:
        return { name: a.name, type: a.type, i: a.i };
      case AttrType.STRING:
        return { name: a.name, type: a.type, s: new TextEncoder().encode(a.s) };
      case AttrType.FLOATS:
        return { name: a.name, type: a.type, floats: [...a.floats] };
      case AttrType.INTS:
        return { name: a.name, type: a.type, ints: [...a.ints] };
      case AttrType.TENSOR:
        return { name: a.name, type: a.type, t: tensor(a.t) };
    }
  };
  const plain = {
    ir_version: model.irVersion,
    opset_import: model.opsets.map((o) => ({ domain: o.domain, version: o.version })),
    producer_name: model.producerName,
    producer_version: model.producerVersion,
    doc_string: model.docString ?? "",
    graph: {
      name: model.graph.name,
      node: model.graph.nodes.map((n) => ({
        name: n.name,
        op_type: n.opType,
        domain: n.domain ?? "",
        input: [...n.inputs],
        output: [...n.outputs],
        attribute: n.attributes.map(attribute),
      })),
      initializer: model.graph.initializers.map(tensor),
      input: model.graph.inputs.map(valueInfo),
      output: model.graph.outputs.map(valueInfo),
    },
    metadata_props: Object.entries(model.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  return ModelType.encode(ModelType.fromObject(plain)).finish();
}
