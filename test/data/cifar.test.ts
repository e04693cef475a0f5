import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CIFAR10_CLASSES, loadCifar10, readCifar10Files } from "../../src/data/cifar.js";
import { DataError, FormatError } from "../../src/tensor/errors.js";

const tmp = mkdtempSync(join(tmpdir(), "convkit-cifar-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** n records: label (first + i) % 10, then red = i, green = 100 + i, blue = pixel index % 251. */
function records(n: number, first: number): Buffer {
  const out = Buffer.alloc(n * 3073);
  for (let i = 0; i < n; i++) {
    const at = i * 3073;
    out[at] = (first + i) % 10;
    for (let p = 0; p < 1024; p++) {
      out[at + 1 + p] = i;
      out[at + 1 + 1024 + p] = 100 + i;
      out[at + 1 + 2048 + p] = p % 251;
    }
  }
  return out;
}

describe("CIFAR-10 binary reader", () => {
  it("reads records as [N, 3, 32, 32] planes with their labels, across files in order", () => {
    const a = join(tmp, "a.bin");
    const b = join(tmp, "b.bin");
    writeFileSync(a, records(3, 0));
    writeFileSync(b, records(2, 7));
    const ds = readCifar10Files([a, b]);
    expect(ds.shape).toEqual([5, 3, 32, 32]);
    expect(Array.from(ds.labels)).toEqual([0, 1, 2, 7, 8]);
    expect(ds.classes).toEqual(CIFAR10_CLASSES);
    // Image 4 is record 1 of b: red plane 1, green 101, blue p % 251 at pixel p = y * 32 + x.
    const img = ds.images.subarray(4 * 3072, 5 * 3072);
    expect(img[0]).toBe(1);
    expect(img[1024 + 500]).toBe(101);
    expect(img[2048 + 5 * 32 + 7]).toBe((5 * 32 + 7) % 251);
  });

  it("loads train (data_batch_1..5) and test splits from the archive's folder, with batches.meta.txt names", () => {
    const base = join(tmp, "dl", "cifar-10-batches-bin");
    mkdirSync(base, { recursive: true });
    for (let k = 1; k <= 5; k++) writeFileSync(join(base, `data_batch_${k}.bin`), records(2, k));
    writeFileSync(join(base, "test_batch.bin"), records(4, 3));
    const names = CIFAR10_CLASSES.map((c) => c.toUpperCase());
    writeFileSync(join(base, "batches.meta.txt"), `${names.join("\n")}\n\n`);
    const train = loadCifar10(join(tmp, "dl"), "train");
    expect(train.shape[0]).toBe(10);
    expect(Array.from(train.labels)).toEqual([1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
    expect(train.classes).toEqual(names);
    const test = loadCifar10(base, "test");
    expect(Array.from(test.labels)).toEqual([3, 4, 5, 6]);
  });

  it("rejects sizes that are not whole records and labels beyond 9, naming the file", () => {
    const cut = join(tmp, "cut.bin");
    writeFileSync(cut, records(2, 0).subarray(0, 3073 + 100));
    expect(() => readCifar10Files([cut])).toThrow(FormatError);
    expect(() => readCifar10Files([cut])).toThrow(new RegExp(`${cut}.*multiple of 3073 bytes.*3173 bytes`));
    const badLabel = join(tmp, "label.bin");
    const bytes = records(3, 0);
    bytes[2 * 3073] = 12;
    writeFileSync(badLabel, bytes);
    expect(() => readCifar10Files([badLabel])).toThrow(
      /label\.bin\).*record 2: expected a class in \[0, 9\], got 12/,
    );
    expect(() => readCifar10Files([join(tmp, "none.bin")])).toThrow(/none\.bin\): cannot read/);
    expect(() => loadCifar10(join(tmp, "nowhere"), "test")).toThrow(DataError);
  });
});
