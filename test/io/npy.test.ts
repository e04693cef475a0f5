import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  halfToFloat,
  NPY_DTYPES,
  type NpyArray,
  type NpyDtype,
  npyFromFloat32,
  npyToFloat32,
  parseNpy,
  readNpyFile,
  serializeNpy,
  writeNpyFile,
} from "../../src/io/npy.js";
import { DataError, FormatError } from "../../src/tensor/errors.js";

/**
 * The .npy reader and writer against NumPy itself (/usr/bin/python3 with numpy): files numpy writes in every
 * dtype, both byte orders and format versions 1.0, 2.0 and 3.0 are read to numpy's values; files we write are
 * read back by numpy to the same values, byte for byte what np.save writes; hostile headers are refused.
 */

const PYTHON = "/usr/bin/python3";

function python(script: string, cwd: string): string {
  const r = spawnSync(PYTHON, ["-c", script], { cwd, encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return r.stdout;
}

let dir: string;
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "convkit-npy-"));
});

/** Values as numpy reports them: floats as JSON numbers (NaN/inf as strings), 64-bit integers as strings. */
type Expected = { descr: string; shape: number[]; values: (number | string)[] };

function values(a: NpyArray): (number | string)[] {
  if (a.dtype === "i8" || a.dtype === "u8") return Array.from(a.data as BigInt64Array, (v) => String(v));
  const f = a.dtype === "f2" ? npyToFloat32(a) : a.data;
  return Array.from(f as ArrayLike<number>, (v) => (Number.isFinite(v) ? v : String(v)));
}

describe("reading files numpy wrote", () => {
  let cases: Record<string, Expected>;

  beforeAll(() => {
    // Every dtype, both byte orders, versions 1.0 / 2.0 / 3.0, 0-d, empty and 1-d shapes, extreme values.
    const out = python(
      `
import json, numpy as np
rng = np.random.default_rng(5)
cases = {}
def put(name, a, version=None):
    with open(name + ".npy", "wb") as f:
        np.lib.format.write_array(f, a, version=version)
    flat = a.ravel()
    if a.dtype.kind in "iu" and a.dtype.itemsize == 8:
        vals = [str(int(v)) for v in flat]
    elif a.dtype.kind == "f":
        vals = [float(v) if np.isfinite(v) else "NaN" if np.isnan(v) else str(float(v)).replace("inf", "Infinity") for v in flat.astype(np.float64)]
    else:
        vals = [int(v) for v in flat]
    cases[name] = {"descr": a.dtype.str, "shape": list(a.shape), "values": vals}
for t in ["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"]:
    info = np.iinfo(t) if t[0] in "iu" else None
    if t[0] == "f":
        a = (rng.standard_normal((2, 3, 4)) * 100).astype(t)
        a.flat[0] = np.inf; a.flat[1] = -np.inf; a.flat[2] = np.finfo(t).tiny; a.flat[3] = np.finfo(t).max
    elif t == "b1":
        a = rng.integers(0, 2, (2, 3, 4)).astype(bool)
    else:
        a = rng.integers(info.min, info.max, (2, 3, 4), dtype=t, endpoint=True)
        a.flat[0] = info.min; a.flat[1] = info.max
    for order in ["<", ">"]:
        put(f"{t}_{order == '<' and 'le' or 'be'}", a.astype(a.dtype.newbyteorder(order)))
a = rng.standard_normal((3, 5)).astype("<f4")
for v in [(1, 0), (2, 0), (3, 0)]:
    put(f"version{v[0]}", a, v)
put("scalar", np.array(2.5, dtype="<f8"))
put("empty", np.zeros((0, 3), dtype="<f4"))
put("vector", np.arange(7, dtype="<i4"))
put("nan", np.array([np.nan, 1.0], dtype="<f4"))
print(json.dumps(cases))
`,
      dir,
    );
    cases = JSON.parse(out);
  });

  it("reads every dtype in both byte orders to numpy's values", () => {
    const names = Object.keys(cases).filter((n) => /_(le|be)$/.test(n));
    expect(names).toHaveLength(NPY_DTYPES.length * 2);
    for (const name of names) {
      const expected = cases[name];
      const a = parseNpy(new Uint8Array(readFileSync(join(dir, `${name}.npy`))), name);
      expect(a.dtype, name).toBe(expected.descr.slice(1));
      expect(a.shape, name).toEqual(expected.shape);
      expect(values(a), name).toEqual(expected.values);
    }
  });

  it("reads format versions 1.0, 2.0 and 3.0, 0-d, empty and 1-d arrays, NaN", async () => {
    for (const name of ["version1", "version2", "version3", "scalar", "empty", "vector", "nan"]) {
      const bytes = readFileSync(join(dir, `${name}.npy`));
      if (name.startsWith("version")) expect(bytes[6], name).toBe(Number(name.slice(-1)));
      const a = await readNpyFile(join(dir, `${name}.npy`));
      expect(a.shape, name).toEqual(cases[name].shape);
      expect(values(a), name).toEqual(cases[name].values);
    }
  });

  it("decodes every float16 bit pattern as numpy does", () => {
    python(
      `
import numpy as np
bits = np.arange(65536, dtype=np.uint32).astype(np.uint16)
np.save("half.npy", bits.view(np.float16))
np.save("half_as_f4.npy", bits.view(np.float16).astype(np.float32))
`,
      dir,
    );
    const half = parseNpy(new Uint8Array(readFileSync(join(dir, "half.npy"))));
    const ref = parseNpy(new Uint8Array(readFileSync(join(dir, "half_as_f4.npy"))));
    expect(half.dtype).toBe("f2");
    const ours = npyToFloat32(half);
    const theirs = ref.data as Float32Array;
    let mismatches = 0;
    for (let i = 0; i < 65536; i++) {
      const same = Number.isNaN(theirs[i]) ? Number.isNaN(ours[i]) : Object.is(ours[i], theirs[i]);
      if (!same) mismatches++;
    }
    expect(mismatches).toBe(0);
    expect(halfToFloat(0x3c00)).toBe(1);
  });

  it("refuses Fortran-order arrays, structured and unsupported dtypes, naming the file", () => {
    python(
      `
import numpy as np
np.save("fortran.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
np.save("record.npy", np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")]))
np.save("complex.npy", np.zeros(2, dtype="<c8"))
np.save("text.npy", np.array(["ab"]))
`,
      dir,
    );
    const read = (name: string) => () => parseNpy(new Uint8Array(readFileSync(join(dir, name))), name);
    expect(read("fortran.npy")).toThrowError(/fortran\.npy.*Fortran-order.*np\.ascontiguousarray/);
    expect(read("record.npy")).toThrowError(/record\.npy.*structured or record dtypes/);
    expect(read("complex.npy")).toThrowError(/dtype "<c8" is not supported/);
    expect(read("text.npy")).toThrowError(/dtype "<U2" is not supported/);
  });
});

describe("writing files numpy reads", () => {
  it("writes np.save's exact bytes, and numpy reads every dtype back to the same values", async () => {
    const arrays: Record<string, NpyArray> = {
      f4: npyFromFloat32(Float32Array.of(1.5, -2.25, 3e-8, 1e30, 0, -0), [2, 3]),
      f8: { dtype: "f8", shape: [3], data: Float64Array.of(Math.PI, -1e-300, 1e300) },
      f2: { dtype: "f2", shape: [2], data: Uint16Array.of(0x3c00, 0xc500) },
      i1: { dtype: "i1", shape: [2], data: Int8Array.of(-128, 127) },
      i4: { dtype: "i4", shape: [1, 2, 1], data: Int32Array.of(-2147483648, 2147483647) },
      i8: { dtype: "i8", shape: [2], data: BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n) },
      u1: { dtype: "u1", shape: [3], data: Uint8Array.of(0, 128, 255) },
      u8: { dtype: "u8", shape: [1], data: BigUint64Array.of(2n ** 64n - 1n) },
      b1: { dtype: "b1", shape: [2], data: Uint8Array.of(1, 0) },
      scalar: { dtype: "f8", shape: [], data: Float64Array.of(2.5) },
      empty: { dtype: "f4", shape: [0, 4], data: new Float32Array(0) },
      wide: npyFromFloat32(new Float32Array(12345), [12345]),
    };
    for (const [name, a] of Object.entries(arrays)) await writeNpyFile(join(dir, `out_${name}.npy`), a);
    const out = python(
      `
import io, json, numpy as np
res = {}
for name in ${JSON.stringify(Object.keys(arrays))}:
    raw = open(f"out_{name}.npy", "rb").read()
    a = np.load(f"out_{name}.npy")
    buf = io.BytesIO(); np.save(buf, a)
    flat = a.ravel()
    vals = [str(int(v)) for v in flat] if a.dtype.kind in "iu" and a.dtype.itemsize == 8 else [float(v) for v in flat.astype(np.float64)]
    res[name] = {"descr": a.dtype.str, "shape": list(a.shape), "values": vals[:50], "same_bytes": buf.getvalue() == raw}
print(json.dumps(res))
`,
      dir,
    );
    const res = JSON.parse(out) as Record<string, Expected & { same_bytes: boolean }>;
    for (const [name, a] of Object.entries(arrays)) {
      const r = res[name];
      expect(r.same_bytes, name).toBe(true);
      expect(r.descr.slice(1), name).toBe(a.dtype);
      expect(r.shape, name).toEqual(a.shape);
      expect(r.values, name).toEqual(values(a).slice(0, 50));
    }
    // Atomic: no temporary files left beside the outputs.
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });

  it("round-trips random arrays of every dtype (property)", () => {
    const makers: Record<NpyDtype, (n: number, seed: number) => NpyArray["data"]> = {
      f2: (n, s) => Uint16Array.from({ length: n }, (_, i) => ((i + 1) * 7919 * (s + 1)) & 0x7bff),
      f4: (n, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i + s) * 1e3),
      f8: (n, s) => Float64Array.from({ length: n }, (_, i) => Math.cos(i * s) / 7),
      i1: (n, s) => Int8Array.from({ length: n }, (_, i) => (i * 37 + s) % 256),
      i2: (n, s) => Int16Array.from({ length: n }, (_, i) => i * 1031 - s),
      i4: (n, s) => Int32Array.from({ length: n }, (_, i) => i * 1_000_003 - s),
      i8: (n, s) => BigInt64Array.from({ length: n }, (_, i) => BigInt(i - s) * 2n ** 40n),
      u1: (n, s) => Uint8Array.from({ length: n }, (_, i) => i + s),
      u2: (n, s) => Uint16Array.from({ length: n }, (_, i) => i * 257 + s),
      u4: (n, s) => Uint32Array.from({ length: n }, (_, i) => i * 4_000_037 + s),
      u8: (n, s) => BigUint64Array.from({ length: n }, (_, i) => BigInt(i + s) * 2n ** 50n),
      b1: (n, s) => Uint8Array.from({ length: n }, (_, i) => (i + s) % 2),
    };
    fc.assert(
      fc.property(
        fc.constantFrom(...NPY_DTYPES),
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 4 }),
        fc.integer({ min: 0, max: 1000 }),
        (dtype, shape, seed) => {
          const n = shape.reduce((p, d) => p * d, 1);
          const a: NpyArray = { dtype, shape, data: makers[dtype](n, seed) };
          const bytes = serializeNpy(a);
          expect(bytes.length % 64).toBe(a.data.byteLength % 64);
          const b = parseNpy(bytes);
          expect(b.dtype).toBe(dtype);
          expect(b.shape).toEqual(shape);
          expect(Array.from(b.data as ArrayLike<number>)).toEqual(Array.from(a.data as ArrayLike<number>));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("refuses arrays whose data does not match dtype or shape", () => {
    expect(() => serializeNpy({ dtype: "f4", shape: [3], data: new Float32Array(2) })).toThrowError(
      /shape \(3\) needs 3 values, got 2/,
    );
    expect(() => serializeNpy({ dtype: "f8", shape: [2], data: new Float32Array(2) })).toThrowError(
      DataError,
    );
    expect(() => serializeNpy({ dtype: "f4", shape: [-1], data: new Float32Array(0) })).toThrowError(
      DataError,
    );
  });
});

describe("hostile and broken files", () => {
  /** A valid f4 file around a given header text, version and data length. */
  function file(header: string, dataBytes: number, version = 1): Uint8Array {
    const h = new TextEncoder().encode(`${header}\n`);
    const prefix = version === 1 ? 10 : 12;
    const out = new Uint8Array(prefix + h.length + dataBytes);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
    const view = new DataView(out.buffer);
    if (version === 1) view.setUint16(8, h.length, true);
    else view.setUint32(8, h.length, true);
    out.set(h, prefix);
    return out;
  }
  const dict = (shape: string, descr = "<f4", fortran = "False") =>
    `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;

  it("accepts the hand-made control file", () => {
    expect(parseNpy(file(dict("(2, 3)"), 24)).shape).toEqual([2, 3]);
    expect(parseNpy(file(dict("(4,)"), 16, 2)).shape).toEqual([4]);
    expect(parseNpy(file("{'shape': (2L,), 'fortran_order': False, 'descr': '<f4'}", 8)).shape).toEqual([2]);
  });

  it("refuses bad magic, versions, lengths, truncation and size mismatches with a FormatError", () => {
    const good = file(dict("(2, 3)"), 24);
    const bad: [string, Uint8Array, RegExp][] = [
      ["empty", new Uint8Array(0), /the file is empty/],
      ["magic", Uint8Array.from(good, (b, i) => (i === 1 ? 0x4f : b)), /not a NumPy \.npy file/],
      ["version", Uint8Array.from(good, (b, i) => (i === 6 ? 4 : b)), /format version 4\.0 is not supported/],
      ["header length", good.subarray(0, 9), /not a NumPy|truncated/],
      ["header cut", good.subarray(0, 40), /truncated: the header claims/],
      ["data short", good.subarray(0, good.length - 1), /needs 24 data bytes, the file has 23/],
      ["data long", file(dict("(2, 3)"), 28), /needs 24 data bytes, the file has 28/],
      [
        "2^40 elements",
        file(dict("(1048576, 1048576)"), 16),
        /needs 4398046511104 data bytes, the file has 16/,
      ],
      ["overflow", file(dict("(4294967296, 4294967296, 4294967296)"), 16), /too large/],
      ["negative", file(dict("(-2, 3)"), 24), /expected non-negative integers/],
      ["syntax", file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3}", 24), /malformed header/],
      ["not a dict", file("[1, 2]", 0), /expected a dict/],
      [
        "missing key",
        file("{'descr': '<f4', 'shape': (2,)}", 8),
        /header keys: expected descr, fortran_order, shape/,
      ],
      ["extra key", file(`${dict("(2,)").slice(0, -1)}'x': 1}`, 8), /header keys/],
      [
        "duplicate key",
        file("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8),
        /twice/,
      ],
      ["shape type", file(dict("[2, 3]"), 24), /shape: expected a tuple of integers/],
      ["byte order", file(dict("(2,)", "|f4"), 8), /needs a byte order/],
      ["dtype", file(dict("(2,)", "<f16"), 32), /dtype "<f16" is not supported/],
      ["object", file(dict("(2,)", "|O"), 16), /dtype "\|O" is not supported/],
      ["deep", file(`${"(".repeat(5000)}${")".repeat(5000)}`, 0), /nested too deeply/],
      ["huge header", file(dict("(2,)"), 8, 2).map((b, i) => (i === 11 ? 0x7f : b)), /larger than|truncated/],
    ];
    for (const [label, bytes, pattern] of bad) {
      expect(() => parseNpy(bytes, label), label).toThrowError(FormatError);
      expect(() => parseNpy(bytes, label), label).toThrowError(pattern);
    }
  });

  it("readNpyFile names the file; a bad file on disk is refused before allocating", async () => {
    const path = join(dir, "bogus.npy");
    writeFileSync(path, file(dict("(1048576, 1048576, 1024)"), 64));
    await expect(readNpyFile(path)).rejects.toThrowError(/bogus\.npy.*needs 4503599627370496 data bytes/);
  });
});
