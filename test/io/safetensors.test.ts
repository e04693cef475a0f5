import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import {
  MAX_HEADER_SIZE,
  parseSafetensors,
  readSafetensorsFile,
  serializeSafetensors,
  writeSafetensorsFile,
} from "../../src/io/safetensors.js";
import { DataError, FormatError } from "../../src/tensor/errors.js";

const dir = mkdtempSync(join(tmpdir(), "convkit-safetensors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A file laid out by hand: header object as given (no padding), then `data`. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function bits(a: Float32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}

describe("safetensors writer and reader", () => {
  it("round-trips tensors, shapes and metadata; the data section starts 8-byte aligned", () => {
    const tensors = new Map([
      ["b.weight", { shape: [2, 3], data: Float32Array.of(1, -2, 3.5, 0, 1e-30, -7) }],
      ["a.scalar", { shape: [], data: Float32Array.of(42) }],
      ["empty", { shape: [0, 4], data: new Float32Array(0) }],
    ]);
    const bytes = serializeSafetensors(tensors, { format: "pt", note: "hello" });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const back = parseSafetensors(bytes, "mem");
    expect(back.metadata).toEqual({ format: "pt", note: "hello" });
    expect([...back.tensors.keys()].sort()).toEqual(["a.scalar", "b.weight", "empty"]);
    for (const [name, t] of tensors) {
      const got = back.tensors.get(name)!;
      expect(got.dtype).toBe("F32");
      expect(got.shape).toEqual(t.shape);
      expect(bits(got.data), name).toEqual(bits(t.data));
    }
  });

  it("property: any set of float32 tensors comes back bit for bit", () => {
    const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 });
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 5 }),
        fc.array(shapeArb, { minLength: 5, maxLength: 5 }),
        fc.integer(),
        (names, entries, seed) => {
          const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
          names.forEach((name, i) => {
            if (name === "__metadata__") return;
            const shape = entries[i];
            const count = shape.reduce((p, d) => p * d, 1);
            const data = new Float32Array(count);
            const u = new Uint32Array(data.buffer);
            for (let k = 0; k < count; k++) u[k] = Math.imul(seed + k, 2654435761) >>> 0; // any bit pattern, NaNs included
            tensors.set(name, { shape, data });
          });
          const back = parseSafetensors(serializeSafetensors(tensors));
          expect(back.tensors.size).toBe(tensors.size);
          for (const [name, t] of tensors) {
            expect(back.tensors.get(name)!.shape).toEqual(t.shape);
            expect(bits(back.tensors.get(name)!.data)).toEqual(bits(t.data));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("a file written by an independent Python writer (struct/json, every dtype, no padding) reads correctly", () => {
    const path = join(dir, "python.safetensors");
    // Written from the specification alone: header keys in a different order than the data, no alignment
    // padding, little-endian values of each dtype. The expected float values are printed as JSON.
    const script = `
import json, struct, sys
values = [1.5, -2.25, 0.0, 3.0]
specs = [
  ("f64", "F64", "<4d", values), ("f16", "F16", "<4e", values), ("i64", "I64", "<4q", [1, -2, 0, 3]),
  ("i32", "I32", "<4i", [7, -8, 9, 10]), ("i16", "I16", "<4h", [1, 2, -3, 4]), ("i8", "I8", "<4b", [-1, 2, 3, -4]),
  ("u8", "U8", "<4B", [0, 255, 3, 4]), ("bool", "BOOL", "<4?", [True, False, True, True]),
  ("u16", "U16", "<4H", [1, 65535, 3, 4]), ("u32", "U32", "<4I", [1, 4000000000, 3, 4]), ("u64", "U64", "<4Q", [1, 2, 3, 4]),
  ("f32", "F32", "<4f", values),
]
data, header = b"", {}
for name, dtype, fmt, vals in specs:
  chunk = struct.pack(fmt, *vals)
  header[name] = {"dtype": dtype, "shape": [2, 2], "data_offsets": [len(data), len(data) + len(chunk)]}
  data += chunk
bf = b"".join(struct.pack("<f", v)[2:] for v in values)  # bfloat16: the high half of each float32
header["bf16"] = {"dtype": "BF16", "shape": [4], "data_offsets": [len(data), len(data) + len(bf)]}
data += bf
header["__metadata__"] = {"source": "python"}
text = json.dumps(dict(reversed(list(header.items())))).encode()
with open(sys.argv[1], "wb") as f:
  f.write(struct.pack("<Q", len(text)) + text + data)
print(json.dumps({name: [float(v) for v in vals] for name, _, _, vals in specs} | {"bf16": values}))`;
    const expected = JSON.parse(
      execFileSync("/usr/bin/python3", ["-c", script, path], { encoding: "utf8" }),
    ) as Record<string, number[]>;
    const bytes = new Uint8Array(readFileSync(path));
    const content = parseSafetensors(bytes, path);
    expect(content.metadata).toEqual({ source: "python" });
    expect(Object.keys(expected).length).toBe(13);
    for (const [name, vals] of Object.entries(expected)) {
      const t = content.tensors.get(name)!;
      expect(Array.from(t.data), name).toEqual(vals);
    }
    expect(content.tensors.get("f64")!.dtype).toBe("F64");
    expect(content.tensors.get("bf16")!.shape).toEqual([4]);
  });

  it("our writer's bytes read correctly by an independent Python reader", () => {
    const path = join(dir, "ours.safetensors");
    const tensors = new Map([
      ["w", { shape: [2, 2], data: Float32Array.of(0.5, -1, 2, 1e-3) }],
      ["b", { shape: [3], data: Float32Array.of(7, 8, 9) }],
    ]);
    writeFileSync(path, serializeSafetensors(tensors, { format: "pt" }));
    const script = `
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
out = {"__metadata__": header.pop("__metadata__"), "aligned": (8 + n) % 8 == 0}
for name, info in header.items():
  a, b = info["data_offsets"]
  out[name] = {"dtype": info["dtype"], "shape": info["shape"], "values": list(struct.unpack("<%df" % ((b - a) // 4), data[a:b]))}
print(json.dumps(out))`;
    const read = JSON.parse(execFileSync("/usr/bin/python3", ["-c", script, path], { encoding: "utf8" }));
    expect(read.__metadata__).toEqual({ format: "pt" });
    expect(read.aligned).toBe(true);
    for (const [name, t] of tensors) {
      expect(read[name]).toEqual({ dtype: "F32", shape: t.shape, values: Array.from(t.data) });
    }
  });

  it("names that JavaScript objects treat specially (__proto__, constructor, ...) are ordinary names", () => {
    // Found by the property test above: a tensor named "__proto__" was dropped from the header.
    const special = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"];
    const tensors = new Map(special.map((name, i) => [name, { shape: [1], data: Float32Array.of(i + 0.5) }]));
    const metadata = Object.fromEntries(special.map((k) => [k, `m-${k}`]));
    const bytes = serializeSafetensors(tensors, metadata);
    const path = join(dir, "special.safetensors");
    writeFileSync(path, bytes);
    const script = `
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + n])
print(json.dumps({"names": sorted(k for k in header if k != "__metadata__"), "metadata": sorted(header["__metadata__"].items())}))`;
    const read = JSON.parse(execFileSync("/usr/bin/python3", ["-c", script, path], { encoding: "utf8" }));
    expect(read.names).toEqual([...special].sort());
    expect(read.metadata).toEqual(special.map((k) => [k, `m-${k}`]).sort((a, b) => (a[0] < b[0] ? -1 : 1)));
    const back = parseSafetensors(bytes);
    expect([...back.tensors.keys()].sort()).toEqual([...special].sort());
    for (const [i, name] of special.entries()) {
      expect(Array.from(back.tensors.get(name)!.data), name).toEqual([i + 0.5]);
    }
    expect(Object.entries(back.metadata).sort()).toEqual(Object.entries(metadata).sort());
    expect(Object.getPrototypeOf(back.metadata)).toBe(Object.prototype);
  });
  it("writes files atomically (no temporary left behind) and reads them back", async () => {
    const path = join(dir, "atomic.safetensors");
    await writeSafetensorsFile(path, [["x", { shape: [2], data: Float32Array.of(1, 2) }]]);
    await writeSafetensorsFile(path, [["x", { shape: [3], data: Float32Array.of(3, 4, 5) }]], { v: "2" });
    const back = await readSafetensorsFile(path);
    expect(back.metadata).toEqual({ v: "2" });
    expect(Array.from(back.tensors.get("x")!.data)).toEqual([3, 4, 5]);
    expect(readdirSync(dir).filter((f) => f.startsWith("atomic"))).toEqual(["atomic.safetensors"]);
    await expect(writeSafetensorsFile(join(dir, "no-such-dir", "f.safetensors"), [])).rejects.toThrow(
      /ENOENT/,
    );
  });

  it("the writer refuses bad input", () => {
    expect(() => serializeSafetensors([["x", { shape: [2, 2], data: new Float32Array(3) }]])).toThrow(
      DataError,
    );
    expect(() => serializeSafetensors([["x", { shape: [2, 2], data: new Float32Array(3) }]])).toThrow(
      'safetensors: tensor "x": shape [2, 2] needs 4 values, got 3',
    );
    const one = { shape: [1], data: new Float32Array(1) };
    expect(() =>
      serializeSafetensors([
        ["x", one],
        ["x", one],
      ]),
    ).toThrow('tensor "x" is given twice');
    expect(() => serializeSafetensors([["__metadata__", one]])).toThrow(/other than "__metadata__"/);
  });
});

describe("safetensors reader validation", () => {
  const f32 = (...v: number[]) => new Uint8Array(Float32Array.from(v).buffer);
  const cases: [string, Uint8Array, string][] = [
    [
      "shorter than the length field",
      new Uint8Array(5),
      'safetensors "bad.st": truncated: expected at least 8 bytes (header length), got 5',
    ],
    [
      "header longer than the file",
      rawFile({}, new Uint8Array(0), 100),
      "truncated: header of 100 bytes, but only 2 follow the length",
    ],
    [
      "header too large",
      rawFile({}, new Uint8Array(0), MAX_HEADER_SIZE + 1),
      `header too large: ${MAX_HEADER_SIZE + 1} bytes (at most ${MAX_HEADER_SIZE})`,
    ],
    ["header not JSON", rawFile("{nope"), "header is not valid JSON"],
    ["header not an object", rawFile("[1, 2]"), "header: expected a JSON object starting with '{'"],
    [
      "unknown dtype",
      rawFile({ t: { dtype: "F8_E4M3X", shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)),
      'tensor "t": dtype: expected one of BOOL, U8',
    ],
    [
      "bad shape",
      rawFile({ t: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, f32(1)),
      'tensor "t": shape: expected non-negative integers, got [-1]',
    ],
    [
      "offsets reversed",
      rawFile({ t: { dtype: "F32", shape: [1], data_offsets: [4, 0] } }, f32(1)),
      'tensor "t": data_offsets: expected [begin, end] with 0 <= begin <= end, got [4,0]',
    ],
    [
      "offsets out of range (truncated data)",
      rawFile({ t: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, f32(1)),
      'tensor "t": data_offsets [0, 8] out of range: the data section has 4 bytes',
    ],
    [
      "length not matching shape x dtype",
      rawFile({ t: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, f32(1)),
      'tensor "t": data_offsets [0, 4] span 4 bytes, expected 8 (F32 x shape [2])',
    ],
    [
      "overlapping tensors",
      rawFile(
        {
          a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
          b: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
        },
        f32(1, 2),
      ),
      'tensor "b" [4, 8] overlaps tensor "a" (which ends at 8)',
    ],
    [
      "a gap",
      rawFile({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, f32(1, 2)),
      'tensor "a" starts at 4, leaving a gap after byte 0',
    ],
    [
      "trailing bytes",
      rawFile({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, f32(1, 2)),
      "4 trailing bytes after the last tensor",
    ],
    [
      "metadata not strings",
      rawFile({ __metadata__: { epoch: 3 } }),
      "__metadata__.epoch: expected a string, got 3",
    ],
    ["invalid UTF-8 header", rawFile("{}").map((v, i) => (i === 8 ? 0xff : v)), "header is not valid UTF-8"],
  ];
  for (const [what, bytes, message] of cases) {
    it(what, () => {
      expect(() => parseSafetensors(bytes, "bad.st")).toThrow(FormatError);
      expect(() => parseSafetensors(bytes, "bad.st")).toThrow(message);
      expect(() => parseSafetensors(bytes, "bad.st")).toThrow('safetensors "bad.st"');
    });
  }
});
