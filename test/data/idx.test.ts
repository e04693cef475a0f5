import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { encodeIdx, type IdxDtype, parseIdx, readIdxFile } from "../../src/data/idx.js";
import { FormatError } from "../../src/tensor/errors.js";

const dir = mkdtempSync(join(tmpdir(), "convkit-idx-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An IDX file built by hand with Buffer's big-endian writers (independent of encodeIdx). */
function handMade(dtypeByte: number, dims: number[], payload: Buffer): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = dtypeByte;
  header[3] = dims.length;
  dims.forEach((d, i) => {
    header.writeUInt32BE(d, 4 + 4 * i);
  });
  return Buffer.concat([header, payload]);
}

function write(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

function expectFormatError(fn: () => unknown, file: string, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(FormatError);
  const message = (caught as Error).message;
  expect(message).toContain(file);
  expect(message).toMatch(pattern);
}

describe("IDX reader", () => {
  it("reads hand-made uint8 files, raw and gzipped, into [N, H, W] arrays", () => {
    const pixels = Buffer.from(Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 37) % 256));
    const raw = handMade(0x08, [2, 3, 4], pixels);
    for (const path of [write("u8", raw), write("u8.gz", gzipSync(raw))]) {
      const idx = readIdxFile(path);
      expect(idx.dtype).toBe("uint8");
      expect(idx.dims).toEqual([2, 3, 4]);
      expect(Array.from(idx.data)).toEqual(Array.from(pixels));
      expect(Buffer.isBuffer(idx.data)).toBe(false); // a copy, not a view of the file's Buffer
    }
  });

  it("decodes big-endian int16, int32, float32 and float64 written by Buffer", () => {
    const values = [1.5, -2.25, 1e6, -7];
    const cases: [number, IdxDtype, number, (b: Buffer, v: number, at: number) => void][] = [
      [0x0b, "int16", 2, (b, v, at) => b.writeInt16BE(Math.trunc(v) % 32768, at)],
      [0x0c, "int32", 4, (b, v, at) => b.writeInt32BE(Math.trunc(v), at)],
      [0x0d, "float32", 4, (b, v, at) => b.writeFloatBE(v, at)],
      [0x0e, "float64", 8, (b, v, at) => b.writeDoubleBE(v, at)],
    ];
    for (const [code, dtype, size, put] of cases) {
      const payload = Buffer.alloc(values.length * size);
      values.forEach((v, i) => {
        put(payload, v, i * size);
      });
      const idx = parseIdx(gzipSync(handMade(code, [values.length], payload)), dtype);
      expect(idx.dtype).toBe(dtype);
      const expected = Array.from({ length: values.length }, (_, i) =>
        size === 2
          ? payload.readInt16BE(2 * i)
          : dtype === "int32"
            ? payload.readInt32BE(4 * i)
            : size === 4
              ? payload.readFloatBE(4 * i)
              : payload.readDoubleBE(8 * i),
      );
      expect(Array.from(idx.data)).toEqual(expected);
    }
  });

  it("round-trips encodeIdx for every dtype, raw and gzipped (property)", () => {
    const dtypes: IdxDtype[] = ["uint8", "int8", "int16", "int32", "float32", "float64"];
    fc.assert(
      fc.property(
        fc.constantFrom(...dtypes),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 1000 }),
        (dtype, dims, gz, seed) => {
          const n = dims.reduce((a, b) => a * b, 1);
          const data = Array.from({ length: n }, (_, i) => {
            const v = ((seed + i * 7919) % 200) - 100;
            return dtype === "uint8" ? v + 100 : dtype.startsWith("float") ? v / 8 : v;
          });
          const bytes = encodeIdx(dtype, dims, data);
          const idx = parseIdx(gz ? gzipSync(bytes) : bytes);
          expect(idx.dtype).toBe(dtype);
          expect(idx.dims).toEqual(dims);
          expect(Array.from(idx.data)).toEqual(data);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("rejects a wrong magic, naming the file", () => {
    const good = handMade(0x08, [2], Buffer.from([1, 2]));
    const bad = Buffer.from(good);
    bad[0] = 0x50;
    expectFormatError(() => readIdxFile(write("magic", bad)), join(dir, "magic"), /magic/);
    const badType = Buffer.from(good);
    badType[2] = 0x07;
    expectFormatError(
      () => readIdxFile(write("dtype.gz", gzipSync(badType))),
      join(dir, "dtype.gz"),
      /dtype.*0x07/,
    );
  });

  it("rejects truncated files, raw and gzipped", () => {
    const good = handMade(0x08, [10, 5, 5], Buffer.alloc(250, 9));
    expectFormatError(
      () => readIdxFile(write("short", good.subarray(0, good.length - 1))),
      join(dir, "short"),
      /expected 250 bytes.*got "249 bytes/,
    );
    expectFormatError(
      () => readIdxFile(write("head", good.subarray(0, 9))),
      join(dir, "head"),
      /16 bytes of header/,
    );
    const gz = gzipSync(good);
    expectFormatError(
      () => readIdxFile(write("short.gz", gz.subarray(0, gz.length - 12))),
      join(dir, "short.gz"),
      /gzip|data length/,
    );
    // A complete gzip stream whose content is short: caught by the length check after inflating.
    expectFormatError(
      () => readIdxFile(write("content.gz", gzipSync(good.subarray(0, 100)))),
      join(dir, "content.gz"),
      /expected 250 bytes.*got "84 bytes/,
    );
    // Trailing data beyond what the header announces is corruption too.
    expectFormatError(
      () => readIdxFile(write("long", Buffer.concat([good, Buffer.alloc(3)]))),
      join(dir, "long"),
      /got "253 bytes/,
    );
    expectFormatError(
      () => readIdxFile(write("long.gz", gzipSync(Buffer.concat([good, Buffer.alloc(3)])))),
      join(dir, "long.gz"),
      /more data/,
    );
  });

  it("rejects dims larger than the file before allocating them", () => {
    const huge = handMade(0x08, [0xffffffff, 0xffffffff, 0xffffffff], Buffer.alloc(16));
    expectFormatError(
      () => readIdxFile(write("huge", huge)),
      join(dir, "huge"),
      /expected 7.92\d*e\+28 bytes/,
    );
    expectFormatError(
      () => readIdxFile(write("huge.gz", gzipSync(huge))),
      join(dir, "huge.gz"),
      /at most \d+ bytes of data in a gzip file/,
    );
    const big = handMade(0x0e, [60000, 28, 28], Buffer.alloc(64));
    expectFormatError(
      () => readIdxFile(write("big", big)),
      join(dir, "big"),
      /376320000 bytes for float64 dims \[60000, 28, 28\]/,
    );
  });

  it("checks the gzip trailer (fflate does not): a cut trailer or a wrong CRC is an error", () => {
    const gz = gzipSync(handMade(0x08, [4, 4], Buffer.alloc(16, 3)));
    for (const cut of [1, 4, 8]) {
      const name = `trailer${cut}.gz`;
      expectFormatError(
        () => readIdxFile(write(name, gz.subarray(0, gz.length - cut))),
        join(dir, name),
        /gzip trailer|gzip stream/,
      );
    }
    const flipped = Buffer.from(gz);
    flipped[flipped.length - 6] ^= 0x10;
    expectFormatError(
      () => readIdxFile(write("crc.gz", flipped)),
      join(dir, "crc.gz"),
      /gzip trailer: expected CRC-32/,
    );
  });

  it("reads multi-member gzip files (concatenated streams)", () => {
    const raw = handMade(0x08, [3, 5], Buffer.from(Array.from({ length: 15 }, (_, i) => i * 3)));
    const path = write("multi.gz", Buffer.concat([gzipSync(raw.subarray(0, 9)), gzipSync(raw.subarray(9))]));
    const idx = readIdxFile(path);
    expect(idx.dims).toEqual([3, 5]);
    expect(Array.from(idx.data)).toEqual(Array.from(raw.subarray(12)));
  });

  it("rejects a missing file and garbage that only looks gzipped", () => {
    expectFormatError(() => readIdxFile(join(dir, "nope.gz")), join(dir, "nope.gz"), /cannot read/);
    const garbage = Buffer.from([
      0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    expectFormatError(
      () => readIdxFile(write("garbage.gz", garbage)),
      join(dir, "garbage.gz"),
      /gzip|header/,
    );
  });
});
