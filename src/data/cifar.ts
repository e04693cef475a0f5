import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DataError, describe, FormatError } from "../tensor/errors.js";
import { type Dataset, makeDataset } from "./dataset.js";
import type { Split } from "./fashion-mnist.js";

/**
 * CIFAR-10 binary version (https://www.cs.toronto.edu/~kriz/cifar.html): each record is one label byte
 * (0..9) then 3072 pixel bytes, the 1024 red, 1024 green and 1024 blue values of a 32x32 image in
 * row-major order, which is exactly one [3, 32, 32] NCHW image.
 */
export const CIFAR10_CLASSES: readonly string[] = Object.freeze([
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
]);

const PIXELS = 3 * 32 * 32;
const RECORD = 1 + PIXELS;

/** Parses records from one or more batch files' bytes into a Dataset [N, 3, 32, 32] (uint8). */
export function parseCifar10(
  files: readonly { bytes: Uint8Array; file: string }[],
  name = "cifar-10",
  classes: readonly string[] = CIFAR10_CLASSES,
): Dataset {
  let n = 0;
  for (const { bytes, file } of files) {
    if (bytes.length === 0 || bytes.length % RECORD !== 0) {
      throw new FormatError(
        describe(
          `readCifar10(${file})`,
          "file size",
          `a positive multiple of ${RECORD} bytes (1 label + ${PIXELS} pixels per record)`,
          `${bytes.length} bytes`,
        ),
      );
    }
    n += bytes.length / RECORD;
  }
  const images = new Uint8Array(n * PIXELS);
  const labels = new Int32Array(n);
  let i = 0;
  for (const { bytes, file } of files) {
    for (let at = 0; at < bytes.length; at += RECORD, i++) {
      const label = bytes[at];
      if (label >= classes.length) {
        throw new FormatError(
          describe(
            `readCifar10(${file})`,
            `label of record ${at / RECORD}`,
            `a class in [0, ${classes.length - 1}]`,
            label,
          ),
        );
      }
      labels[i] = label;
      images.set(bytes.subarray(at + 1, at + RECORD), i * PIXELS);
    }
  }
  return makeDataset({ name, images, shape: [n, 3, 32, 32], labels, classes });
}

/** Reads CIFAR-10 batch files (data_batch_*.bin or test_batch.bin). */
export function readCifar10Files(paths: readonly string[], name = "cifar-10"): Dataset {
  const files = paths.map((file) => {
    try {
      return { bytes: readFileSync(file) as Uint8Array, file };
    } catch (error) {
      throw new FormatError(`readCifar10(${file}): cannot read file (${(error as Error).message})`);
    }
  });
  return parseCifar10(files, name, readClassNames(paths[0]));
}

/** Class names from batches.meta.txt beside the batches when present (one per line), else the standard ones. */
function readClassNames(batchPath: string | undefined): readonly string[] {
  if (batchPath === undefined) return CIFAR10_CLASSES;
  const meta = join(batchPath, "..", "batches.meta.txt");
  if (!existsSync(meta)) return CIFAR10_CLASSES;
  const names = readFileSync(meta, "utf8")
    .split("\n")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return names.length === 10 ? names : CIFAR10_CLASSES;
}

/**
 * Loads a split of CIFAR-10 from `dir` (or its `cifar-10-batches-bin` subfolder, as the archive
 * unpacks): train = data_batch_1..5.bin, test = test_batch.bin.
 */
export function loadCifar10(dir: string, split: Split): Dataset {
  const base = existsSync(join(dir, "cifar-10-batches-bin")) ? join(dir, "cifar-10-batches-bin") : dir;
  const names = split === "train" ? [1, 2, 3, 4, 5].map((k) => `data_batch_${k}.bin`) : ["test_batch.bin"];
  const paths = names.map((n) => join(base, n));
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length > 0) {
    throw new DataError(
      describe(`loadCifar10(${dir})`, split, `files ${names.join(", ")}`, `missing ${missing.join(", ")}`),
    );
  }
  return readCifar10Files(paths, `cifar-10/${split}`);
}
