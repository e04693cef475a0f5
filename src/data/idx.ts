import { readFileSync } from "node:fs";
import { Gunzip } from "fflate";
import { ArgumentError, describe, errorMessage, FormatError } from "../tensor/errors.js";

/**
 * IDX files (the MNIST / Fashion-MNIST format, http://yann.lecun.com/exdb/mnist/): a 4-byte magic
 * `0x00 0x00 <dtype> <ndim>`, then `ndim` big-endian uint32 dimensions, then the values, big-endian,
 * row-major. Files may be gzipped (detected by the gzip magic `1f 8b`, not by the name).
 *
 * Every header is checked against the bytes actually present before anything is allocated from it,
 * so a corrupt or hostile file gives a FormatError naming the file rather than an out-of-memory crash
 * or a silent short read.
 */

/** IDX element types by their magic byte, and the typed array each is read into. */
export type IdxDtype = "uint8" | "int8" | "int16" | "int32" | "float32" | "float64";

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dtype: IdxDtype;
  dims: number[];
  data: IdxData;
}

const DTYPE_BY_CODE: Record<number, IdxDtype> = {
  8: "uint8",
  9: "int8",
  11: "int16",
  12: "int32",
  13: "float32",
  14: "float64",
};

const CODE_BY_DTYPE: Record<IdxDtype, number> = {
  uint8: 0x08,
  int8: 0x09,
  int16: 0x0b,
  int32: 0x0c,
  float32: 0x0d,
  float64: 0x0e,
};

const ELEMENT_SIZE: Record<IdxDtype, number> = {
  uint8: 1,
  int8: 1,
  int16: 2,
  int32: 4,
  float32: 4,
  float64: 8,
};

/**
 * Deflate cannot expand data by more than about 1032:1, so a gzip file of n bytes holds at most
 * ~1032·n bytes; a header promising more is corrupt, and is rejected before allocating.
 */
const MAX_DEFLATE_RATIO = 1032;

interface Header {
  dtype: IdxDtype;
  dims: number[];
  headerBytes: number;
  payloadBytes: number;
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Parses the header from the first bytes; returns null when more bytes are needed to finish it. */
function parseHeader(bytes: Uint8Array, file: string): Header | null {
  if (bytes.length < 4) return null;
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new FormatError(
      describe(
        `readIdx(${file})`,
        "magic",
        "two zero bytes then dtype and rank (00 00 xx xx)",
        hex(bytes, 4),
      ),
    );
  }
  const dtype = DTYPE_BY_CODE[bytes[2]];
  if (dtype === undefined) {
    throw new FormatError(
      describe(
        `readIdx(${file})`,
        "dtype byte",
        "0x08 (uint8), 0x09 (int8), 0x0b (int16), 0x0c (int32), 0x0d (float32) or 0x0e (float64)",
        `0x${bytes[2].toString(16).padStart(2, "0")}`,
      ),
    );
  }
  const ndim = bytes[3];
  if (ndim === 0) throw new FormatError(describe(`readIdx(${file})`, "rank", "at least 1 dimension", 0));
  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, headerBytes);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    count *= d;
  }
  // count is exact below 2^53; anything beyond is rejected by the size checks that follow anyway.
  return { dtype, dims, headerBytes, payloadBytes: count * ELEMENT_SIZE[dtype] };
}

function hex(bytes: Uint8Array, n: number): string {
  return Array.from(bytes.subarray(0, n), (b) => b.toString(16).padStart(2, "0")).join(" ");
}

function incomplete(file: string, what: string, got: string): FormatError {
  return new FormatError(describe(`readIdx(${file})`, "header", what, got));
}

const CRC_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** Continues a CRC-32 (the gzip trailer's checksum); start with crc = 0. */
function crc32(crc: number, bytes: Uint8Array): number {
  let c = ~crc;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** Decodes big-endian values into a native typed array. */
function decodePayload(header: Header, payload: Uint8Array): IdxData {
  const n = header.payloadBytes / ELEMENT_SIZE[header.dtype];
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  switch (header.dtype) {
    case "uint8":
      return payload;
    case "int8":
      return new Int8Array(payload.buffer, payload.byteOffset, payload.byteLength);
    case "int16": {
      const out = new Int16Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * i, false);
      return out;
    }
    case "int32": {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt32(4 * i, false);
      return out;
    }
    case "float32": {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, false);
      return out;
    }
    case "float64": {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, false);
      return out;
    }
  }
}

function parseRaw(bytes: Uint8Array, file: string): IdxArray {
  const header = parseHeader(bytes, file);
  if (header === null) {
    const ndim = bytes.length >= 4 ? bytes[3] : 0;
    throw incomplete(
      file,
      `at least ${ndim > 0 ? 4 + 4 * ndim : 4} bytes of header`,
      `a file of ${bytes.length} bytes`,
    );
  }
  const present = bytes.length - header.headerBytes;
  if (present !== header.payloadBytes) {
    throw new FormatError(
      describe(
        `readIdx(${file})`,
        "data length",
        `${header.payloadBytes} bytes for ${header.dtype} dims [${header.dims.join(", ")}]`,
        `${present} bytes after the ${header.headerBytes}-byte header`,
      ),
    );
  }
  // Copy (Buffer.slice would not) so the result is a plain Uint8Array that does not pin the file buffer.
  const payload = new Uint8Array(bytes.subarray(header.headerBytes));
  return { dtype: header.dtype, dims: header.dims, data: decodePayload(header, payload) };
}

/**
 * Inflates in chunks: the header is read from the first output bytes, checked against what a gzip
 * file of this size can hold, and only then is the exact payload buffer allocated. Output beyond the
 * announced size stops the inflation with an error instead of growing without bound. fflate does not
 * check the gzip trailer, so for the usual single-member file the CRC-32 and length in the last 8
 * bytes are checked here: that is what catches a file cut inside its trailer.
 */
function parseGzip(bytes: Uint8Array, file: string): IdxArray {
  // A 10-byte header and an 8-byte trailer around the deflate data: anything shorter is not gzip.
  if (bytes.length < 18) {
    throw new FormatError(
      describe(
        `readIdx(${file})`,
        "gzip file",
        "at least 18 bytes (header and trailer)",
        `${bytes.length} bytes`,
      ),
    );
  }
  const maxOutput = bytes.length * MAX_DEFLATE_RATIO;
  let head = new Uint8Array(0);
  let header: Header | null = null;
  let payload: Uint8Array | null = null;
  let filled = 0;
  let ended = false;
  let crc = 0;
  let total = 0;
  let members = 1;
  const accept = (chunk: Uint8Array): void => {
    crc = crc32(crc, chunk);
    total += chunk.length;
    let rest = chunk;
    if (header === null) {
      const joined = new Uint8Array(head.length + rest.length);
      joined.set(head);
      joined.set(rest, head.length);
      header = parseHeader(joined, file);
      if (header === null) {
        head = joined;
        return;
      }
      if (header.headerBytes + header.payloadBytes > maxOutput) {
        throw new FormatError(
          describe(
            `readIdx(${file})`,
            "dims",
            `at most ${maxOutput} bytes of data in a gzip file of ${bytes.length} bytes`,
            `[${header.dims.join(", ")}] (${header.payloadBytes} bytes of ${header.dtype})`,
          ),
        );
      }
      payload = new Uint8Array(header.payloadBytes);
      rest = joined.subarray(header.headerBytes);
      head = new Uint8Array(0);
    }
    const target = payload as Uint8Array;
    if (filled + rest.length > target.length) {
      const h = header as Header;
      throw new FormatError(
        describe(
          `readIdx(${file})`,
          "data length",
          `${h.payloadBytes} bytes for ${h.dtype} dims [${h.dims.join(", ")}]`,
          "more data after the announced end",
        ),
      );
    }
    target.set(rest, filled);
    filled += rest.length;
  };
  const gunzip = new Gunzip((chunk, final) => {
    accept(chunk);
    if (final) ended = true;
  });
  gunzip.onmember = () => {
    members++;
  };
  const step = 1 << 16;
  try {
    for (let at = 0; at < bytes.length; at += step) {
      const end = Math.min(bytes.length, at + step);
      gunzip.push(bytes.subarray(at, end), end === bytes.length);
    }
  } catch (error) {
    if (error instanceof FormatError) throw error;
    throw new FormatError(`readIdx(${file}): corrupt gzip stream (${errorMessage(error)})`);
  }
  if (!ended) throw new FormatError(`readIdx(${file}): gzip stream ends early (truncated file)`);
  const h = header as Header | null;
  if (h === null) {
    const ndim = head.length >= 4 ? head[3] : 0;
    throw incomplete(
      file,
      `at least ${ndim > 0 ? 4 + 4 * ndim : 4} bytes of header`,
      `${head.length} bytes after decompression`,
    );
  }
  if (filled !== h.payloadBytes) {
    throw new FormatError(
      describe(
        `readIdx(${file})`,
        "data length",
        `${h.payloadBytes} bytes for ${h.dtype} dims [${h.dims.join(", ")}]`,
        `${filled} bytes after the header (decompressed)`,
      ),
    );
  }
  if (members === 1) {
    const trailer = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 8, 8);
    const storedCrc = trailer.getUint32(0, true);
    const storedSize = trailer.getUint32(4, true);
    if (storedCrc !== crc || storedSize !== total % 2 ** 32) {
      throw new FormatError(
        describe(
          `readIdx(${file})`,
          "gzip trailer",
          `CRC-32 ${crc.toString(16)} and length ${total % 2 ** 32} of the decompressed data`,
          `CRC-32 ${storedCrc.toString(16)} and length ${storedSize} (truncated or corrupt file)`,
        ),
      );
    }
  }
  return { dtype: h.dtype, dims: h.dims, data: decodePayload(h, payload as unknown as Uint8Array) };
}

/** Parses IDX bytes (gzipped or raw); `file` names the source in error messages. */
export function parseIdx(bytes: Uint8Array, file = "<bytes>"): IdxArray {
  return isGzip(bytes) ? parseGzip(bytes, file) : parseRaw(bytes, file);
}

/** Reads an IDX file, gzipped or raw. */
export function readIdxFile(path: string): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new FormatError(`readIdx(${path}): cannot read file (${(error as Error).message})`);
  }
  return parseIdx(bytes, path);
}

/** Encodes an IDX file (raw, not gzipped): for tests and tools that write datasets. */
export function encodeIdx(dtype: IdxDtype, dims: readonly number[], data: ArrayLike<number>): Uint8Array {
  let count = 1;
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) {
      throw new ArgumentError(describe("encodeIdx", "dims", "integers in [0, 2^32)", dims));
    }
    count *= d;
  }
  if (dims.length === 0 || dims.length > 255) {
    throw new ArgumentError(describe("encodeIdx", "dims", "1 to 255 dimensions", dims));
  }
  if (data.length !== count) {
    throw new ArgumentError(
      describe("encodeIdx", "data", `${count} values for dims [${dims.join(", ")}]`, data.length),
    );
  }
  const size = ELEMENT_SIZE[dtype];
  const headerBytes = 4 + 4 * dims.length;
  const out = new Uint8Array(headerBytes + count * size);
  const view = new DataView(out.buffer);
  out[2] = CODE_BY_DTYPE[dtype];
  out[3] = dims.length;
  dims.forEach((d, i) => {
    view.setUint32(4 + 4 * i, d, false);
  });
  for (let i = 0; i < count; i++) {
    const at = headerBytes + i * size;
    const v = data[i];
    switch (dtype) {
      case "uint8":
        view.setUint8(at, v);
        break;
      case "int8":
        view.setInt8(at, v);
        break;
      case "int16":
        view.setInt16(at, v, false);
        break;
      case "int32":
        view.setInt32(at, v, false);
        break;
      case "float32":
        view.setFloat32(at, v, false);
        break;
      case "float64":
        view.setFloat64(at, v, false);
        break;
    }
  }
  return out;
}
