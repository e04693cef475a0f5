import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { classCounts, subsetDataset } from "../../src/data/dataset.js";
import {
  embeddedFashionMnistDir,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_SYSTEM_DIR,
  hasIdxDataset,
  loadFashionMnist,
  loadMnist,
} from "../../src/data/fashion-mnist.js";
import { encodeIdx } from "../../src/data/idx.js";
import { DataError, FormatError } from "../../src/tensor/errors.js";

const tmp = mkdtempSync(join(tmpdir(), "convkit-fmnist-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Writes a tiny MNIST-format dataset: image i is filled with value i, label i % 10. */
function writeTinyDataset(dir: string, nTrain: number, nTest: number, gz: boolean): void {
  mkdirSync(dir, { recursive: true });
  const put = (name: string, bytes: Uint8Array) =>
    writeFileSync(join(dir, gz ? `${name}.gz` : name), gz ? gzipSync(bytes) : bytes);
  for (const [prefix, n] of [
    ["train", nTrain],
    ["t10k", nTest],
  ] as const) {
    const images = new Uint8Array(n * 4 * 4);
    for (let i = 0; i < n; i++) images.fill(i, i * 16, (i + 1) * 16);
    put(`${prefix}-images-idx3-ubyte`, encodeIdx("uint8", [n, 4, 4], images));
    put(
      `${prefix}-labels-idx1-ubyte`,
      encodeIdx(
        "uint8",
        [n],
        Array.from({ length: n }, (_, i) => i % 10),
      ),
    );
  }
}

describe("Fashion-MNIST loading", () => {
  it("loads the embedded subset: 500 train and 100 test images per class, [N, 1, 28, 28] uint8", () => {
    const { train, test, source } = loadFashionMnist({ embedded: true });
    expect(source).toBe("embedded");
    expect(train.shape).toEqual([5000, 1, 28, 28]);
    expect(test.shape).toEqual([1000, 1, 28, 28]);
    expect(train.images).toBeInstanceOf(Uint8Array);
    expect(classCounts(train)).toEqual(new Array(10).fill(500));
    expect(classCounts(test)).toEqual(new Array(10).fill(100));
    expect(train.classes).toEqual(FASHION_MNIST_CLASSES);
    // Real images, not padding: every image has ink and pixels span the full range.
    for (let i = 0; i < 5000; i += 499) {
      const img = train.images.subarray(i * 784, (i + 1) * 784);
      expect(Math.max(...img)).toBeGreaterThan(100);
    }
  });

  it("ships the SHA-256 of every embedded file in its README, and the files match", () => {
    const dir = embeddedFashionMnistDir();
    const readme = readFileSync(join(dir, "README.md"), "utf8");
    const names = [
      "train-images-idx3-ubyte.gz",
      "train-labels-idx1-ubyte.gz",
      "t10k-images-idx3-ubyte.gz",
      "t10k-labels-idx1-ubyte.gz",
    ];
    for (const name of names) {
      const digest = createHash("sha256")
        .update(readFileSync(join(dir, name)))
        .digest("hex");
      expect(readme, name).toMatch(new RegExp(`\\| \`${name}\` *\\|[^\\n]*\`${digest}\``));
    }
    expect(readme).toMatch(/MIT License/);
  });

  it("uses the full dataset when installed (and the subset is its first 500/100 per class), else the subset", () => {
    const auto = loadFashionMnist();
    if (hasIdxDataset(FASHION_MNIST_SYSTEM_DIR)) {
      expect(auto.source).toBe("system");
      expect(auto.train.shape).toEqual([60000, 1, 28, 28]);
      expect(auto.test.shape).toEqual([10000, 1, 28, 28]);
      const embedded = loadFashionMnist({ embedded: true });
      for (const [full, sub, quota] of [
        [auto.train, embedded.train, 500],
        [auto.test, embedded.test, 100],
      ] as const) {
        const counts = new Array(10).fill(0);
        const keep: number[] = [];
        full.labels.forEach((label, i) => {
          if (counts[label] < quota) {
            counts[label]++;
            keep.push(i);
          }
        });
        const expected = subsetDataset(full, keep);
        expect(Array.from(sub.labels)).toEqual(Array.from(expected.labels));
        expect(Buffer.from(sub.images).equals(Buffer.from(expected.images))).toBe(true);
      }
    } else {
      expect(auto.source).toBe("embedded");
      expect(auto.train.shape).toEqual([5000, 1, 28, 28]);
    }
  });

  it("prefers an explicit directory, then the system directories, then the embedded subset", () => {
    const mine = join(tmp, "mine");
    const system = join(tmp, "system");
    writeTinyDataset(mine, 12, 5, true);
    writeTinyDataset(system, 7, 3, false);
    const fromDir = loadFashionMnist({ dir: mine, systemDirs: [system] });
    expect(fromDir.source).toBe("dir");
    expect(fromDir.train.shape).toEqual([12, 1, 4, 4]);
    expect(Array.from(fromDir.train.labels)).toEqual(Array.from({ length: 12 }, (_, i) => i % 10));
    expect(Array.from(fromDir.train.images.subarray(16 * 11, 16 * 12))).toEqual(new Array(16).fill(11));
    const fromSystem = loadFashionMnist({ systemDirs: [join(tmp, "absent"), system] });
    expect(fromSystem.source).toBe("system");
    expect(fromSystem.test.shape).toEqual([3, 1, 4, 4]);
    const fallback = loadFashionMnist({ systemDirs: [join(tmp, "absent")] });
    expect(fallback.source).toBe("embedded");
    expect(fallback.test.shape).toEqual([1000, 1, 28, 28]);
    expect(loadMnist(mine).train.classes[3]).toBe("3");
  });

  it("does not fall back when an explicit directory lacks the files, and names what is missing", () => {
    const empty = join(tmp, "empty");
    mkdirSync(empty, { recursive: true });
    expect(() => loadFashionMnist({ dir: empty })).toThrow(DataError);
    expect(() => loadFashionMnist({ dir: empty })).toThrow(/train-images-idx3-ubyte\(\.gz\) in .*empty/);
  });

  it("rejects mismatched image and label counts and labels beyond the classes", () => {
    const bad = join(tmp, "bad");
    writeTinyDataset(bad, 6, 2, true);
    writeFileSync(
      join(bad, "train-labels-idx1-ubyte.gz"),
      gzipSync(encodeIdx("uint8", [5], [0, 1, 2, 3, 4])),
    );
    expect(() => loadFashionMnist({ dir: bad })).toThrow(FormatError);
    expect(() => loadFashionMnist({ dir: bad })).toThrow(/6 labels/);
    writeFileSync(
      join(bad, "train-labels-idx1-ubyte.gz"),
      gzipSync(encodeIdx("uint8", [6], [0, 1, 2, 3, 4, 10])),
    );
    expect(() => loadFashionMnist({ dir: bad })).toThrow(/label 5: expected a class in \[0, 9\], got 10/);
    writeFileSync(
      join(bad, "train-labels-idx1-ubyte.gz"),
      gzipSync(encodeIdx("int32", [6], [0, 1, 2, 3, 4, 5])),
    );
    expect(() => loadFashionMnist({ dir: bad })).toThrow(/expected uint8 \[N\], got "int32 \[6\]"/);
  });
});
