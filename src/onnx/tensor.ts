import { FormatError } from "../tensor/errors.js";
import { DataType, dataTypeName, type OnnxTensorProto, type TensorOut } from "./proto.js";

/**
 * ONNX tensors (initializers, Constant values, attribute tensors) as convkit constants, and back.
 *
 * A `Const` holds its numbers in a Float32Array (FLOAT tensors: weights stay float32) or a Float64Array
 * (exact for every integer below 2^53), with a flag saying whether ONNX typed it as floating point.
 *
 * Reading is bounded: the element count implied by `dims` is checked against the bytes (or typed values)
 * actually present in the file *before* anything is allocated, so a header claiming 2^40 elements costs
 * nothing but an error message.
 */

export interface Const {
  dims: number[];
  /** Floating-point ONNX type (FLOAT, DOUBLE, FLOAT16, BFLOAT16); otherwise integer or bool. */
  float: boolean;
  /** Float32Array for FLOAT tensors (weights, no widening copy), Float64Array otherwise. */
  data: Float32Array | Float64Array;
}

/** Largest element count convkit accepts for one tensor (also the largest typed array it will allocate). */
export const MAX_ELEMENTS = 2 ** 31 - 1;

const ITEM_SIZE: Record<number, number> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.UINT16]: 2,
  [DataType.INT16]: 2,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  [DataType.BOOL]: 1,
  [DataType.FLOAT16]: 2,
  [DataType.DOUBLE]: 8,
  [DataType.UINT32]: 4,
  [DataType.UINT64]: 8,
  [DataType.BFLOAT16]: 2,
};

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

/** Element count of `dims`, or a FormatError naming the tensor when a dim is invalid or the count absurd. */
export function checkedNumel(dims: readonly number[], where: string): number {
  let n = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new FormatError(`${where}: dims [${dims.join(", ")}]: expected non-negative integers, got ${d}`);
    }
    n *= d;
    if (n > MAX_ELEMENTS) {
      throw new FormatError(
        `${where}: dims [${dims.join(", ")}] describe more than ${MAX_ELEMENTS} elements (absurd size; corrupt or hostile file)`,
      );
    }
  }
  return n;
}

/**
 * Checks a TensorProto's storage without decoding it: supported type, data inside this file, element count
 * equal to what is stored. Returns the element count.
 */
export function checkTensor(t: OnnxTensorProto, where: string): number {
  if (t.dataLocation === 1 || Object.keys(t.externalData).length > 0) {
    const file = t.externalData.location ?? "(no location given)";
    throw new FormatError(
      `${where}: its data is stored outside the model file ("${file}"); convkit reads self-contained .onnx files only. Re-save the model with all data inside, e.g. in Python: onnx.save_model(onnx.load("model.onnx"), "single.onnx", save_as_external_data=False)`,
    );
  }
  if (t.segmented) throw new FormatError(`${where}: segmented (chunked) tensors are not supported`);
  const size = ITEM_SIZE[t.dataType];
  if (size === undefined) {
    throw new FormatError(
      `${where}: data type ${dataTypeName(t.dataType)} is not supported (expected FLOAT, DOUBLE, FLOAT16, BFLOAT16 or an integer/bool type)`,
    );
  }
  const n = checkedNumel(t.dims, where);
  const shape = `[${t.dims.join(", ")}]`;
  if (t.rawData !== null && t.rawData.length > 0) {
    if (t.rawData.length !== n * size) {
      throw new FormatError(
        `${where}: dims ${shape} of ${dataTypeName(t.dataType)} need ${n * size} bytes, the file holds ${t.rawData.length} (truncated or corrupt)`,
      );
    }
    return n;
  }
  const stored = typedCount(t);
  if (stored !== n) {
    throw new FormatError(
      `${where}: dims ${shape} describe ${n} elements, the file holds ${stored} (truncated or corrupt)`,
    );
  }
  return n;
}

function typedCount(t: OnnxTensorProto): number {
  switch (t.dataType) {
    case DataType.FLOAT:
      return t.floatData.length;
    case DataType.DOUBLE:
      return t.doubleData.length;
    case DataType.INT64:
      return t.int64Data.length;
    case DataType.UINT32:
    case DataType.UINT64:
      return t.uint64Data.length;
    default:
      // INT32, INT16, INT8, UINT16, UINT8, BOOL, FLOAT16 and BFLOAT16 travel in int32_data.
      return t.int32Data.length;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Decodes a TensorProto (checked first by `checkTensor`). */
export function readTensor(t: OnnxTensorProto, where: string): Const {
  const n = checkTensor(t, where);
  const out = t.dataType === DataType.FLOAT ? new Float32Array(n) : new Float64Array(n);
  const float = FLOAT_TYPES.has(t.dataType);
  if (t.rawData !== null && t.rawData.length > 0) {
    readRaw(t.rawData, t.dataType, out);
  } else {
    const src = typedSource(t);
    for (let i = 0; i < n; i++) out[i] = src[i];
    if (t.dataType === DataType.FLOAT16) for (let i = 0; i < n; i++) out[i] = halfToFloat(out[i] & 0xffff);
    if (t.dataType === DataType.BFLOAT16) for (let i = 0; i < n; i++) out[i] = bfloatToFloat(out[i] & 0xffff);
  }
  return { dims: [...t.dims], float, data: out };
}

function typedSource(t: OnnxTensorProto): number[] {
  switch (t.dataType) {
    case DataType.FLOAT:
      return t.floatData;
    case DataType.DOUBLE:
      return t.doubleData;
    case DataType.INT64:
      return t.int64Data;
    case DataType.UINT32:
    case DataType.UINT64:
      return t.uint64Data;
    default:
      return t.int32Data;
  }
}

function readRaw(raw: Uint8Array, type: number, out: Float32Array | Float64Array): void {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const n = out.length;
  switch (type) {
    case DataType.FLOAT:
      if (LITTLE_ENDIAN) {
        // A byte copy: raw_data may sit at any offset of the file, so it cannot be viewed as float32 in place.
        new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(raw);
      } else {
        for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      }
      return;
    case DataType.DOUBLE:
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      return;
    case DataType.FLOAT16:
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
      return;
    case DataType.BFLOAT16:
      for (let i = 0; i < n; i++) out[i] = bfloatToFloat(view.getUint16(2 * i, true));
      return;
    case DataType.INT64:
      for (let i = 0; i < n; i++) out[i] = Number(view.getBigInt64(8 * i, true));
      return;
    case DataType.UINT64:
      for (let i = 0; i < n; i++) out[i] = Number(view.getBigUint64(8 * i, true));
      return;
    case DataType.INT32:
      for (let i = 0; i < n; i++) out[i] = view.getInt32(4 * i, true);
      return;
    case DataType.UINT32:
      for (let i = 0; i < n; i++) out[i] = view.getUint32(4 * i, true);
      return;
    case DataType.INT16:
      for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * i, true);
      return;
    case DataType.UINT16:
      for (let i = 0; i < n; i++) out[i] = view.getUint16(2 * i, true);
      return;
    case DataType.INT8:
      for (let i = 0; i < n; i++) out[i] = view.getInt8(i);
      return;
    default:
      // UINT8, BOOL
      for (let i = 0; i < n; i++) out[i] = raw[i];
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

function bfloatToFloat(b: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, b << 16);
  return view.getFloat32(0);
}

// ------------------------------------------------------------------------------------------------ writing

/** A float32 tensor for the writer (raw little-endian bytes). */
export function floatTensor(name: string, dims: readonly number[], data: Float32Array): TensorOut {
  const bytes = new Uint8Array(data.length * 4);
  if (LITTLE_ENDIAN) bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  else {
    const view = new DataView(bytes.buffer);
    data.forEach((v, i) => {
      view.setFloat32(4 * i, v, true);
    });
  }
  return { name, dims: [...dims], dataType: DataType.FLOAT, rawData: bytes };
}

/** An int64 tensor for the writer. */
export function int64Tensor(name: string, dims: readonly number[], data: readonly number[]): TensorOut {
  const bytes = new Uint8Array(data.length * 8);
  const view = new DataView(bytes.buffer);
  data.forEach((v, i) => {
    view.setBigInt64(8 * i, BigInt(v), true);
  });
  return { name, dims: [...dims], dataType: DataType.INT64, rawData: bytes };
}

/** Row-major float32 copy of a constant's data. */
export function toFloat32(c: Const): Float32Array {
  return c.data instanceof Float32Array ? c.data.slice() : Float32Array.from(c.data);
}
