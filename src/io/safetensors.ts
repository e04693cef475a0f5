import { DataError, FormatError } from "../tensor/errors.js";

/**
 * The safetensors format (Hugging Face; what PyTorch checkpoints are shared in), read and written without
 * dependencies:
 *
 *   [8 bytes: N, unsigned 64-bit little-endian] [N bytes: UTF-8 JSON header] [data bytes]
 *
 * The header maps each tensor name to `{dtype, shape, data_offsets: [begin, end]}` (byte offsets into the
 * data section, row-major, little-endian) and may hold `"__metadata__": {string: string}`. The reader checks
 * everything the reference implementation checks: header size within the file and at most 100 MB, valid UTF-8
 * JSON object, known dtypes, shapes of non-negative integers, byte lengths matching shape x dtype size,
 * tensors covering the data section exactly (no overlap, no gap, no trailing bytes). Every value is returned
 * as float32 (convkit's one dtype), converted from the stored dtype; the writer writes F32 and pads the
 * header with spaces so the data starts 8-byte aligned, as the reference writer does.
 *
 * Pure functions work on bytes (browser and Node); `readSafetensorsFile` / `writeSafetensorsFile` load
 * `node:fs` on demand, the writer atomically (temporary file, then rename).
 */

/** Largest header accepted (the reference implementation's limit). */
export const MAX_HEADER_SIZE = 100_000_000;

/** Element size in bytes of each dtype the reader understands. */
const DTYPE_SIZE: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

export type SafetensorsDtype = keyof typeof DTYPE_SIZE;

/** One tensor as read: its stored dtype and shape, values converted to float32. */
export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsContent {
  /** Tensors in file order (by data offset). */
  tensors: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

/** A tensor to write: shape and float32 values. */
export interface TensorToWrite {
  shape: readonly number[];
  data: Float32Array;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Parses a safetensors byte buffer. `source` names the file in error messages.
 * Throws FormatError naming the file and tensor on anything malformed.
 */
export function parseSafetensors(bytes: Uint8Array, source = "<buffer>"): SafetensorsContent {
  const where = `safetensors ${JSON.stringify(source)}`;
  if (bytes.length < 8) {
    throw new FormatError(
      `${where}: truncated: expected at least 8 bytes (header length), got ${bytes.length}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE)) {
    throw new FormatError(`${where}: header too large: ${n} bytes (at most ${MAX_HEADER_SIZE})`);
  }
  const headerSize = Number(n);
  if (8 + headerSize > bytes.length) {
    throw new FormatError(
      `${where}: truncated: header of ${headerSize} bytes, but only ${bytes.length - 8} follow the length`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerSize));
  } catch {
    throw new FormatError(`${where}: header is not valid UTF-8`);
  }
  if (!text.startsWith("{"))
    throw new FormatError(`${where}: header: expected a JSON object starting with '{'`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new FormatError(`${where}: header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new FormatError(`${where}: header: expected a JSON object`);
  }
  const dataStart = 8 + headerSize;
  const dataLength = bytes.length - dataStart;
  // Keys are the file's: built with fromEntries so that a key such as "__proto__" is an own property.
  const metadataEntries: [string, string][] = [];
  const entries: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
        throw new FormatError(`${where}: __metadata__: expected an object of strings`);
      }
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== "string")
          throw new FormatError(`${where}: __metadata__.${k}: expected a string, got ${JSON.stringify(v)}`);
        metadataEntries.push([k, v]);
      }
      continue;
    }
    const t = `${where}: tensor ${JSON.stringify(name)}`;
    if (typeof raw !== "object" || raw === null)
      throw new FormatError(`${t}: expected {dtype, shape, data_offsets}`);
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof dtype !== "string" || DTYPE_SIZE[dtype] === undefined) {
      throw new FormatError(
        `${t}: dtype: expected one of ${Object.keys(DTYPE_SIZE).join(", ")}, got ${JSON.stringify(dtype)}`,
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new FormatError(`${t}: shape: expected non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      throw new FormatError(
        `${t}: data_offsets: expected [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offsets)}`,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLength) {
      throw new FormatError(
        `${t}: data_offsets [${begin}, ${end}] out of range: the data section has ${dataLength} bytes (file truncated?)`,
      );
    }
    const count = shape.reduce((p: number, d: number) => p * d, 1);
    const expected = count * DTYPE_SIZE[dtype];
    if (end - begin !== expected) {
      throw new FormatError(
        `${t}: data_offsets [${begin}, ${end}] span ${end - begin} bytes, expected ${expected} (${dtype} x shape [${shape.join(", ")}])`,
      );
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  // Tensors must tile the data section: sorted by offset, each starts where the previous ended.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous = "";
  for (const e of entries) {
    if (e.begin < cursor) {
      throw new FormatError(
        `${where}: tensor ${JSON.stringify(e.name)} [${e.begin}, ${e.end}] overlaps tensor ${JSON.stringify(previous)} (which ends at ${cursor})`,
      );
    }
    if (e.begin > cursor) {
      throw new FormatError(
        `${where}: tensor ${JSON.stringify(e.name)} starts at ${e.begin}, leaving a gap after byte ${cursor}`,
      );
    }
    cursor = e.end;
    previous = e.name;
  }
  if (cursor !== dataLength) {
    throw new FormatError(
      `${where}: ${dataLength - cursor} trailing bytes after the last tensor (data section ${dataLength} bytes, tensors end at ${cursor})`,
    );
  }
  const tensors = new Map<string, SafetensorsEntry>();
  for (const e of entries) {
    const data = decode(bytes, dataStart + e.begin, e.end - e.begin, e.dtype);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata: Object.fromEntries(metadataEntries) };
}

/** Converts stored little-endian values to float32. */
function decode(bytes: Uint8Array, offset: number, length: number, dtype: string): Float32Array {
  const size = DTYPE_SIZE[dtype];
  const count = length / size;
  if (dtype === "F32" && LITTLE_ENDIAN_HOST) {
    // ArrayBuffer.slice copies into a fresh, aligned buffer whatever the file offset.
    const start = bytes.byteOffset + offset;
    return new Float32Array(bytes.buffer.slice(start, start + length) as ArrayBuffer);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, length);
  const out = new Float32Array(count);
  const read: (i: number) => number = (() => {
    switch (dtype) {
      case "F32":
        return (i: number) => view.getFloat32(i * 4, true);
      case "F64":
        return (i: number) => view.getFloat64(i * 8, true);
      case "F16":
        return (i: number) => halfToFloat(view.getUint16(i * 2, true));
      case "BF16":
        return (i: number) => bf16ToFloat(view.getUint16(i * 2, true));
      case "I64":
        return (i: number) => Number(view.getBigInt64(i * 8, true));
      case "U64":
        return (i: number) => Number(view.getBigUint64(i * 8, true));
      case "I32":
        return (i: number) => view.getInt32(i * 4, true);
      case "U32":
        return (i: number) => view.getUint32(i * 4, true);
      case "I16":
        return (i: number) => view.getInt16(i * 2, true);
      case "U16":
        return (i: number) => view.getUint16(i * 2, true);
      case "I8":
        return (i: number) => view.getInt8(i);
      case "U8":
        return (i: number) => view.getUint8(i);
      default: // BOOL
        return (i: number) => (view.getUint8(i) !== 0 ? 1 : 0);
    }
  })();
  for (let i = 0; i < count; i++) out[i] = read(i);
  return out;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function bf16ToFloat(bits: number): number {
  u32[0] = bits << 16;
  return f32[0];
}

/** IEEE 754 binary16 -> number (subnormals, infinities and NaN included). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Serialises float32 tensors (in the given order) with optional string metadata. Names must be non-empty
 * and not `__metadata__`; each data length must match its shape.
 */
export function serializeSafetensors(
  tensors: Iterable<[string, TensorToWrite]> | Map<string, TensorToWrite>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const list = [...tensors];
  // Names are the caller's: a null-prototype header keeps a name such as "__proto__" or "constructor" an
  // ordinary key (on a plain object, assigning "__proto__" would set the prototype and drop the tensor).
  const header: Record<string, unknown> = Object.create(null);
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string")
        throw new DataError(`safetensors: __metadata__.${k}: expected a string, got ${typeof v}`);
    }
    header.__metadata__ = { ...metadata };
  }
  let offset = 0;
  for (const [name, t] of list) {
    if (typeof name !== "string" || name.length === 0 || name === "__metadata__") {
      throw new DataError(
        `safetensors: tensor name: expected a non-empty name other than "__metadata__", got ${JSON.stringify(name)}`,
      );
    }
    if (Object.hasOwn(header, name))
      throw new DataError(`safetensors: tensor ${JSON.stringify(name)} is given twice`);
    const count = t.shape.reduce((p, d) => p * d, 1);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || count !== t.data.length) {
      throw new DataError(
        `safetensors: tensor ${JSON.stringify(name)}: shape [${t.shape.join(", ")}] needs ${count} values, got ${t.data.length}`,
      );
    }
    header[name] = { dtype: "F32", shape: [...t.shape], data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  // Pad with spaces so that the data section starts at a multiple of 8 bytes (as the reference writer does).
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const [, t] of list) {
    if (LITTLE_ENDIAN_HOST) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    } else {
      for (let i = 0; i < t.data.length; i++) view.setFloat32(at + 4 * i, t.data[i], true);
    }
    at += t.data.byteLength;
  }
  return out;
}

/** Reads and parses a safetensors file (Node). */
export async function readSafetensorsFile(path: string): Promise<SafetensorsContent> {
  const { readFile } = await import("node:fs/promises");
  const bytes = await readFile(path);
  return parseSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}

/** Writes a safetensors file atomically: a temporary file in the same folder, then a rename (Node). */
export async function writeSafetensorsFile(
  path: string,
  tensors: Iterable<[string, TensorToWrite]> | Map<string, TensorToWrite>,
  metadata: Record<string, string> = {},
): Promise<void> {
  const { writeFileAtomic } = await import("./atomic.js");
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}
