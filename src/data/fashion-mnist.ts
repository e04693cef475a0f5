import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DataError, describe, FormatError } from "../tensor/errors.js";
import { type Dataset, makeDataset } from "./dataset.js";
import { type IdxArray, readIdxFile } from "./idx.js";

export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
]);

export const MNIST_CLASSES: readonly string[] = Object.freeze([
  "0",
  "1",
  "2",
  "3",
  "4",
  "5",
  "6",
  "7",
  "8",
  "9",
]);

/** Where Debian's `dataset-fashion-mnist` package installs the full dataset. */
export const FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist";

/**
 * The embedded subset shipped in the package (see data/fashion-mnist-subset/README.md). Resolved from
 * this module's URL: src/data/ and dist/data/ are both two levels below the package root.
 */
export function embeddedFashionMnistDir(): string {
  return fileURLToPath(new URL("../../data/fashion-mnist-subset", import.meta.url));
}

export type Split = "train" | "test";

/** The file stems of each split, as distributed (`t10k` is the test split's historic name). */
const STEMS: Record<Split, { images: string; labels: string }> = {
  train: { images: "train-images-idx3-ubyte", labels: "train-labels-idx1-ubyte" },
  test: { images: "t10k-images-idx3-ubyte", labels: "t10k-labels-idx1-ubyte" },
};

/** Finds `stem` in `dir` under the spellings in circulation: `-idx`/`.idx`, raw or `.gz`. */
export function findIdxFile(dir: string, stem: string): string | null {
  const dotted = stem.replace("-idx", ".idx");
  for (const name of [`${stem}.gz`, stem, `${dotted}.gz`, dotted]) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  return null;
}

/** True when `dir` holds all four files of an MNIST-style dataset. */
export function hasIdxDataset(dir: string): boolean {
  return (["train", "test"] as const).every(
    (split) =>
      findIdxFile(dir, STEMS[split].images) !== null && findIdxFile(dir, STEMS[split].labels) !== null,
  );
}

/**
 * Loads one split of an MNIST-format dataset (images `[N, 28, 28]` uint8, labels `[N]` uint8) from
 * `dir` as a Dataset `[N, 1, H, W]`.
 */
export function loadIdxSplit(dir: string, split: Split, classes: readonly string[], name: string): Dataset {
  const stems = STEMS[split];
  const imagesPath = findIdxFile(dir, stems.images);
  const labelsPath = findIdxFile(dir, stems.labels);
  if (imagesPath === null || labelsPath === null) {
    const missing = imagesPath === null ? stems.images : stems.labels;
    throw new DataError(
      describe(`load ${name}`, "data directory", `${missing}(.gz) in ${dir}`, "no such file"),
    );
  }
  const images = readIdxFile(imagesPath);
  const labels = readIdxFile(labelsPath);
  expectKind(images, imagesPath, 3, "[N, H, W]");
  expectKind(labels, labelsPath, 1, "[N]");
  const [n, h, w] = images.dims;
  if (labels.dims[0] !== n) {
    throw new FormatError(
      describe(`load ${name}`, labelsPath, `${n} labels (one per image in ${imagesPath})`, labels.dims[0]),
    );
  }
  const labelArray = Int32Array.from(labels.data as Uint8Array);
  for (let i = 0; i < n; i++) {
    if (labelArray[i] >= classes.length) {
      throw new FormatError(
        describe(
          `readIdx(${labelsPath})`,
          `label ${i}`,
          `a class in [0, ${classes.length - 1}]`,
          labelArray[i],
        ),
      );
    }
  }
  return makeDataset({
    name: `${name}/${split}`,
    images: images.data as Uint8Array,
    shape: [n, 1, h, w],
    labels: labelArray,
    classes,
  });
}

function expectKind(array: IdxArray, file: string, rank: number, what: string): void {
  if (array.dtype !== "uint8" || array.dims.length !== rank) {
    throw new FormatError(
      describe(`readIdx(${file})`, "contents", `uint8 ${what}`, `${array.dtype} [${array.dims.join(", ")}]`),
    );
  }
}

export interface FashionMnistOptions {
  /** Directory holding the IDX files (like `--data DIR`). When given it must hold them: no fallback. */
  dir?: string;
  /** Use the embedded subset even when the full dataset is installed (quick runs, tests). */
  embedded?: boolean;
  /** Directories searched when `dir` is not given, before the embedded subset. Default: Debian's. */
  systemDirs?: readonly string[];
}

export interface FashionMnist {
  train: Dataset;
  test: Dataset;
  /** Where the data came from: the directory read, and whether it was the embedded subset. */
  dir: string;
  source: "dir" | "system" | "embedded";
}

/**
 * Fashion-MNIST from, in order: `dir` (required to hold the files when given), the system directories
 * (Debian's `dataset-fashion-mnist`), else the embedded 5,000/1,000-image subset shipped in the package.
 */
export function loadFashionMnist(options: FashionMnistOptions = {}): FashionMnist {
  let dir: string;
  let source: FashionMnist["source"];
  if (options.embedded) {
    dir = embeddedFashionMnistDir();
    source = "embedded";
  } else if (options.dir !== undefined) {
    dir = options.dir;
    source = "dir";
  } else {
    const found = (options.systemDirs ?? [FASHION_MNIST_SYSTEM_DIR]).find(hasIdxDataset);
    dir = found ?? embeddedFashionMnistDir();
    source = found === undefined ? "embedded" : "system";
  }
  const name = source === "embedded" ? "fashion-mnist-subset" : "fashion-mnist";
  return {
    train: loadIdxSplit(dir, "train", FASHION_MNIST_CLASSES, name),
    test: loadIdxSplit(dir, "test", FASHION_MNIST_CLASSES, name),
    dir,
    source,
  };
}

/** MNIST digits from `dir` (same file names as Fashion-MNIST; no embedded copy). */
export function loadMnist(dir: string): { train: Dataset; test: Dataset } {
  return {
    train: loadIdxSplit(dir, "train", MNIST_CLASSES, "mnist"),
    test: loadIdxSplit(dir, "test", MNIST_CLASSES, "mnist"),
  };
}
