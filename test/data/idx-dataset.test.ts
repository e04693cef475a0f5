import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  embeddedFashionMnistDir,
  FASHION_MNIST_CLASSES,
  loadIdxSplit,
} from "../../src/data/fashion-mnist.js";
import { encodeIdx } from "../../src/data/idx.js";
import { idxDataset } from "../../src/data/idx-dataset.js";
import { DataError, FormatError } from "../../src/tensor/errors.js";

describe("idxDataset", () => {
  it("reads the embedded gzipped files exactly as loading them from the folder does", () => {
    const dir = embeddedFashionMnistDir();
    const images = new Uint8Array(readFileSync(join(dir, "t10k-images-idx3-ubyte.gz")));
    const labels = new Uint8Array(readFileSync(join(dir, "t10k-labels-idx1-ubyte.gz")));
    const ours = idxDataset(images, labels, {
      classes: FASHION_MNIST_CLASSES,
      name: "fashion-mnist-subset/test",
    });
    const ref = loadIdxSplit(dir, "test", FASHION_MNIST_CLASSES, "fashion-mnist-subset");
    expect(ours.name).toBe(ref.name);
    expect(ours.shape).toEqual(ref.shape);
    expect(ours.classes).toEqual(ref.classes);
    expect(Buffer.from(ours.images).equals(Buffer.from(ref.images))).toBe(true);
    expect(Array.from(ours.labels)).toEqual(Array.from(ref.labels));
  });

  it("rejects wrong kinds, mismatched counts and labels beyond the classes, naming the input", () => {
    const images = encodeIdx("uint8", [2, 3, 3], new Uint8Array(18));
    const labels = encodeIdx("uint8", [2], [0, 1]);
    const classes = ["a", "b"];
    expect(idxDataset(images, labels, { classes, name: "toy" }).shape).toEqual([2, 1, 3, 3]);
    expect(() => idxDataset(labels, labels, { classes, name: "toy" })).toThrow(/toy images.*\[N, H, W\]/);
    expect(() => idxDataset(images, encodeIdx("float32", [2], [0, 1]), { classes, name: "toy" })).toThrow(
      FormatError,
    );
    expect(() => idxDataset(images, encodeIdx("uint8", [3], [0, 1, 1]), { classes, name: "toy" })).toThrow(
      /2 labels/,
    );
    expect(() => idxDataset(images, encodeIdx("uint8", [2], [0, 2]), { classes, name: "toy" })).toThrow(
      DataError,
    );
    expect(() =>
      idxDataset(images.subarray(0, 10), labels, { classes, name: "toy", imagesSource: "x.gz" }),
    ).toThrow(/x\.gz/);
  });
});
