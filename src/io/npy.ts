import { DataError, FormatError } from "../tensor/errors.js";

/**
 * NumPy's `.npy` format (what `np.save` writes and `np.load` reads; how PyTorch and NumPy users exchange
 * arrays), read and written without dependencies:
 *
 *   "\x93NUMPY" [major] [minor] [header length: uint16 LE (1.0) or uint32 LE (2.0, 3.0)]
 *   [header: a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 *    padded with spaces and ending in "\n"; latin-1 in 1.0 and 2.0, UTF-8 in 3.0] [data, C order]
 *
 * The reader checks the magic, version, header length against the file, the header's syntax and its exact
 * keys, the dtype (one of NPY_DTYPES, either byte order: big-endian data is converted), and that the shape's
 * byte count equals the data present, all before allocating anything. Fortran-order arrays are refused (the
 * message says how to re-save them). The writer produces the bytes `np.save` produces (version 1.0, or 2.0
 * when the header needs it; 64-byte alignment; numpy's spare header space for growing axis 0).
 *
 * Pure functions work on bytes (browser and Node); `readNpyFile` / `writeNpyFile` load `node:fs` on demand,
 * the writer atomically (src/io/atomic.ts).
 */

/** Element types: kind (f float, i signed, u unsigned, b bool) and size in bytes, as in numpy's descr. */
export type NpyDtype = "f2" | "f4" | "f8" | "i1" | "i2" | "i4" | "i8" | "u1" | "u2" | "u4" | "u8" | "b1";

/** Values of each dtype: float16 as its raw bits (Uint16Array), bool as 0/1 bytes. */
export type NpyData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

/** An array read from or to be written to a .npy file (C order, little-endian in memory). */
export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

/** The dtypes this module reads and writes. */
export const NPY_DTYPES: readonly NpyDtype[] = [
  "f2",
  "f4",
  "f8",
  "i1",
  "i2",
  "i4",
  "i8",
  "u1",
  "u2",
  "u4",
  "u8",
  "b1",
];

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const ARRAY_ALIGN = 64;
/** numpy leaves room in the header for axis 0 to grow to this many digits (np.save since 1.23). */
const GROWTH_AXIS_MAX_DIGITS = 21;
/** Largest header accepted: far above any real one (numpy's own default limit is 10,000 bytes). */
export const MAX_NPY_HEADER_BYTES = 1 << 20;
/** More dimensions than numpy itself allows (NPY_MAXDIMS is 32 in numpy 1.x, 64 in 2.x). */
const MAX_NDIM = 64;

const ITEM_SIZE: Record<NpyDtype, number> = {
  f2: 2,
  f4: 4,
  f8: 8,
  i1: 1,
  i2: 2,
  i4: 4,
  i8: 8,
  u1: 1,
  u2: 2,
  u4: 4,
  u8: 8,
  b1: 1,
};

type TypedCtor = new (buffer: ArrayBuffer, byteOffset?: number, length?: number) => NpyData;

const CTOR: Record<NpyDtype, TypedCtor> = {
  f2: Uint16Array,
  f4: Float32Array,
  f8: Float64Array,
  i1: Int8Array,
  i2: Int16Array,
  i4: Int32Array,
  i8: BigInt64Array,
  u1: Uint8Array,
  u2: Uint16Array,
  u4: Uint32Array,
  u8: BigUint64Array,
  b1: Uint8Array,
};

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ------------------------------------------------------------------------------------------------ reading

/** Parses .npy bytes. Throws FormatError naming `source` for anything that is not a valid, supported array. */
export function parseNpy(bytes: Uint8Array, source = "<npy>"): NpyArray {
  const where = `.npy ${JSON.stringify(source)}`;
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    const what = bytes.length === 0 ? "the file is empty" : "missing the \\x93NUMPY magic";
    throw new FormatError(`${where}: not a NumPy .npy file (${what})`);
  }
  const major = bytes[6];
  const minor = bytes[7];
  if (minor !== 0 || major < 1 || major > 3) {
    throw new FormatError(`${where}: format version ${major}.${minor} is not supported (1.0, 2.0 or 3.0)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) throw new FormatError(`${where}: truncated in the header length`);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lengthBytes;
  if (headerLength > MAX_NPY_HEADER_BYTES) {
    throw new FormatError(`${where}: header of ${headerLength} bytes is larger than ${MAX_NPY_HEADER_BYTES}`);
  }
  if (start + headerLength > bytes.length) {
    throw new FormatError(
      `${where}: truncated: the header claims ${headerLength} bytes, the file has ${bytes.length - start} after the magic`,
    );
  }
  const headerBytes = bytes.subarray(start, start + headerLength);
  let text: string;
  try {
    text = new TextDecoder(major === 3 ? "utf-8" : "latin1", { fatal: true }).decode(headerBytes);
  } catch {
    throw new FormatError(`${where}: the header is not valid UTF-8`);
  }
  const header = parseHeader(text, where);
  const dtype = header.dtype;
  const size = ITEM_SIZE[dtype];
  let count = 1;
  for (const d of header.shape) {
    count *= d;
    if (!Number.isSafeInteger(count * size)) {
      throw new FormatError(`${where}: shape (${header.shape.join(", ")}) is too large`);
    }
  }
  const dataStart = start + headerLength;
  const available = bytes.length - dataStart;
  if (count * size !== available) {
    throw new FormatError(
      `${where}: shape (${header.shape.join(", ")}) of ${header.descr} needs ${count * size} data bytes, the file has ${available}`,
    );
  }
  // A fresh, aligned copy (the input may sit at any offset of a pooled Buffer), byte-swapped if needed.
  const copy = new Uint8Array(count * size);
  copy.set(bytes.subarray(dataStart));
  if (size > 1 && header.littleEndian !== LITTLE_ENDIAN_HOST) swapBytes(copy, size);
  return { dtype, shape: header.shape, data: new CTOR[dtype](copy.buffer, 0, count) };
}

interface Header {
  descr: string;
  dtype: NpyDtype;
  littleEndian: boolean;
  shape: number[];
}

/** The header dict: exactly the keys descr, fortran_order and shape, as numpy requires. */
function parseHeader(text: string, where: string): Header {
  const body = text.replace(/[ \t\r\n\0]+$/, "");
  let value: PyValue;
  try {
    const parser = new PyLiteral(body);
    value = parser.value();
    parser.end();
  } catch (e) {
    if (e instanceof SyntaxError) throw new FormatError(`${where}: malformed header: ${e.message}`);
    throw e;
  }
  if (!(value instanceof Map)) throw new FormatError(`${where}: malformed header: expected a dict`);
  const keys = [...value.keys()].sort();
  if (keys.join() !== "descr,fortran_order,shape") {
    throw new FormatError(
      `${where}: header keys: expected descr, fortran_order, shape, got ${keys.join(", ") || "none"}`,
    );
  }
  const descr = value.get("descr");
  const fortran = value.get("fortran_order");
  const shape = value.get("shape");
  if (typeof descr !== "string") {
    throw new FormatError(`${where}: structured or record dtypes are not supported (descr must be a string)`);
  }
  if (typeof fortran !== "boolean") throw new FormatError(`${where}: fortran_order: expected True or False`);
  if (!(shape instanceof PyTuple) || shape.items.some((d) => typeof d !== "number")) {
    throw new FormatError(`${where}: shape: expected a tuple of integers`);
  }
  const dims = shape.items as number[];
  if (dims.length > MAX_NDIM)
    throw new FormatError(`${where}: ${dims.length} dimensions (at most ${MAX_NDIM})`);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new FormatError(`${where}: shape (${dims.join(", ")}): expected non-negative integers`);
  }
  const m = /^([<>|=])([fiub])(\d+)$/.exec(descr);
  const dtype = m === null ? null : `${m[2]}${m[3]}`;
  if (m === null || dtype === null || !(NPY_DTYPES as readonly string[]).includes(dtype)) {
    throw new FormatError(
      `${where}: dtype ${JSON.stringify(descr)} is not supported (float16/32/64, int8-64, uint8-64, bool)`,
    );
  }
  const order = m[1];
  if (order === "|" && ITEM_SIZE[dtype as NpyDtype] > 1) {
    throw new FormatError(`${where}: dtype ${JSON.stringify(descr)}: a multi-byte type needs a byte order`);
  }
  if (fortran) {
    throw new FormatError(
      `${where}: Fortran-order (column-major) arrays are not supported; save np.ascontiguousarray(a) instead`,
    );
  }
  const littleEndian = order === ">" ? false : order === "=" ? LITTLE_ENDIAN_HOST : true;
  return { descr, dtype: dtype as NpyDtype, littleEndian, shape: dims };
}

function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

// ------------------------------------------------------------------------ the header's Python literal

class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

type PyValue = string | number | boolean | null | PyTuple | PyValue[] | Map<string, PyValue>;

/**
 * The subset of Python literal syntax numpy headers use (what `ast.literal_eval` accepts of it): dicts,
 * tuples, lists, quoted strings without escapes, integers (Python 2's `3L` too), True, False, None.
 * Linear in the text; nesting is limited so a hostile header cannot exhaust the stack.
 */
class PyLiteral {
  private i = 0;
  private depth = 0;

  constructor(private readonly s: string) {}

  value(): PyValue {
    this.space();
    const c = this.s[this.i];
    if (c === "{" || c === "(" || c === "[") return this.container(c);
    if (c === "'" || c === '"') return this.string();
    if (c !== undefined && /[0-9-]/.test(c)) return this.integer();
    const word = /^[A-Za-z_]+/.exec(this.s.slice(this.i, this.i + 16))?.[0];
    if (word === "True" || word === "False" || word === "None") {
      this.i += word.length;
      return word === "None" ? null : word === "True";
    }
    throw new SyntaxError(this.unexpected("a value"));
  }

  end(): void {
    this.space();
    if (this.i !== this.s.length) throw new SyntaxError(this.unexpected("the end of the header"));
  }

  private container(open: string): PyValue {
    if (++this.depth > 16) throw new SyntaxError("nested too deeply");
    this.i++;
    const close = open === "{" ? "}" : open === "(" ? ")" : "]";
    const items: PyValue[] = [];
    const dict = new Map<string, PyValue>();
    let commas = 0;
    for (;;) {
      this.space();
      if (this.s[this.i] === close) {
        this.i++;
        break;
      }
      if (open === "{") {
        const key = this.value();
        if (typeof key !== "string") throw new SyntaxError("dict keys must be strings");
        this.space();
        this.expect(":");
        if (dict.has(key)) throw new SyntaxError(`key ${JSON.stringify(key)} given twice`);
        dict.set(key, this.value());
      } else {
        items.push(this.value());
      }
      this.space();
      if (this.s[this.i] === ",") {
        this.i++;
        commas++;
      } else if (this.s[this.i] !== close) {
        throw new SyntaxError(this.unexpected(`"," or "${close}"`));
      }
    }
    this.depth--;
    if (open === "{") return dict;
    if (open === "[") return items;
    // (x) is x in Python, (x,) a tuple.
    return items.length === 1 && commas === 0 ? items[0] : new PyTuple(items);
  }

  private string(): string {
    const quote = this.s[this.i];
    const end = this.s.indexOf(quote, this.i + 1);
    if (end < 0) throw new SyntaxError("unterminated string");
    const text = this.s.slice(this.i + 1, end);
    if (text.includes("\\")) throw new SyntaxError("escapes in strings are not supported");
    this.i = end + 1;
    return text;
  }

  private integer(): number {
    const m = /^-?\d+L?/.exec(this.s.slice(this.i, this.i + 40));
    if (m === null || m[0].replace(/[-L]/g, "").length > 30)
      throw new SyntaxError(this.unexpected("an integer"));
    this.i += m[0].length;
    return Number(m[0].replace("L", ""));
  }

  private expect(c: string): void {
    if (this.s[this.i] !== c) throw new SyntaxError(this.unexpected(`"${c}"`));
    this.i++;
  }

  private space(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i])) this.i++;
  }

  private unexpected(what: string): string {
    const got = this.i >= this.s.length ? "the end" : JSON.stringify(this.s.slice(this.i, this.i + 12));
    return `expected ${what} at character ${this.i}, got ${got}`;
  }
}

// ------------------------------------------------------------------------------------------------ writing

/** .npy bytes of an array, as `np.save` writes them (little-endian, C order). */
export function serializeNpy(array: NpyArray): Uint8Array {
  const { dtype, shape, data } = checkArray(array);
  const descr = `${ITEM_SIZE[dtype] === 1 ? "|" : "<"}${dtype}`;
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${tuple}, }`;
  if (shape.length > 0) header += " ".repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  // Version 1.0 unless the header does not fit its 16-bit length (numpy's own choice); always ASCII.
  const hlen = header.length + 1;
  const padding = (prefix: number) => ARRAY_ALIGN - ((prefix + hlen) % ARRAY_ALIGN);
  const major = hlen + padding(10) <= 0xffff ? 1 : 2;
  const prefix = major === 1 ? 10 : 12;
  const padlen = padding(prefix);
  const total = prefix + hlen + padlen;
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(total + body.length);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, hlen + padlen, true);
  else view.setUint32(8, hlen + padlen, true);
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
  out.fill(0x20, prefix + header.length, total - 1);
  out[total - 1] = 0x0a;
  out.set(body, total);
  if (!LITTLE_ENDIAN_HOST && ITEM_SIZE[dtype] > 1) swapBytes(out.subarray(total), ITEM_SIZE[dtype]);
  return out;
}

function checkArray(array: NpyArray): NpyArray {
  const { dtype, shape, data } = array;
  const op = "serializeNpy";
  if (!(NPY_DTYPES as readonly string[]).includes(dtype)) {
    throw new DataError(
      `${op}: dtype: expected one of ${NPY_DTYPES.join(", ")}, got ${JSON.stringify(dtype)}`,
    );
  }
  if (
    !Array.isArray(shape) ||
    shape.some((d) => !Number.isSafeInteger(d) || d < 0) ||
    shape.length > MAX_NDIM
  ) {
    throw new DataError(`${op}: shape: expected non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!(data instanceof CTOR[dtype])) {
    throw new DataError(
      `${op}: data: expected a ${CTOR[dtype].name} for dtype ${dtype}, got ${data?.constructor?.name}`,
    );
  }
  const count = shape.reduce((p, d) => p * d, 1);
  if (data.length !== count) {
    throw new DataError(`${op}: data: shape (${shape.join(", ")}) needs ${count} values, got ${data.length}`);
  }
  return array;
}

/** A float32 array as an NpyArray (no copy). */
export function npyFromFloat32(data: Float32Array, shape: readonly number[]): NpyArray {
  return checkArray({ dtype: "f4", shape: [...shape], data });
}

// ------------------------------------------------------------------------------------------- conversions

/** The values as float32, converted from any dtype (float16 decoded exactly, integers rounded to float32). */
export function npyToFloat32(array: NpyArray): Float32Array {
  const { dtype, data } = array;
  if (dtype === "f4") return data as Float32Array;
  const out = new Float32Array(data.length);
  if (dtype === "f2") {
    const bits = data as Uint16Array;
    for (let i = 0; i < bits.length; i++) out[i] = halfToFloat(bits[i]);
  } else if (dtype === "i8" || dtype === "u8") {
    const big = data as BigInt64Array | BigUint64Array;
    for (let i = 0; i < big.length; i++) out[i] = Number(big[i]);
  } else {
    out.set(data as Exclude<NpyData, BigInt64Array | BigUint64Array>);
  }
  return out;
}

/** IEEE 754 binary16 bits to a number (exact). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

// ------------------------------------------------------------------------------------------------- files

/** Reads and parses a .npy file (FormatError naming the file; the file's size bounds what is allocated). */
export async function readNpyFile(path: string): Promise<NpyArray> {
  const { readFile } = await import("node:fs/promises");
  return parseNpy(new Uint8Array(await readFile(path)), path);
}

/** Writes an array as a .npy file, atomically (a temporary file renamed into place). */
export async function writeNpyFile(path: string, array: NpyArray): Promise<void> {
  const bytes = serializeNpy(array);
  const { writeFileAtomic } = await import("./atomic.js");
  await writeFileAtomic(path, bytes);
}
