import { describe, FormatError } from "../tensor/errors.js";
import { type Dataset, makeDataset } from "./dataset.js";
import { type IdxArray, parseIdx } from "./idx.js";

/**
 * An MNIST-format split from bytes already in memory (fetched by a web page, read from an archive): the
 * images file (uint8 [N, H, W], gzipped or not) and the labels file (uint8 [N]) as a Dataset [N, 1, H, W].
 * The same checks as loading the files from a folder (`loadIdxSplit`), without touching a file system.
 */
export interface IdxDatasetOptions {
  /** Class names, indexed by label (labels must be below their count). */
  classes: readonly string[];
  /** Dataset name for reports and messages ("fashion-mnist-subset/test"). */
  name: string;
  /** How messages name the two inputs (default: the name with "images" / "labels"). */
  imagesSource?: string;
  labelsSource?: string;
}

function expectKind(array: IdxArray, source: string, rank: number, what: string): void {
  if (array.dtype !== "uint8" || array.dims.length !== rank) {
    throw new FormatError(
      describe(
        `readIdx(${source})`,
        "contents",
        `uint8 ${what}`,
        `${array.dtype} [${array.dims.join(", ")}]`,
      ),
    );
  }
}

export function idxDataset(images: Uint8Array, labels: Uint8Array, options: IdxDatasetOptions): Dataset {
  const imagesSource = options.imagesSource ?? `${options.name} images`;
  const labelsSource = options.labelsSource ?? `${options.name} labels`;
  const x = parseIdx(images, imagesSource);
  const y = parseIdx(labels, labelsSource);
  expectKind(x, imagesSource, 3, "[N, H, W]");
  expectKind(y, labelsSource, 1, "[N]");
  const [n, h, w] = x.dims;
  if (y.dims[0] !== n) {
    throw new FormatError(
      describe(
        `load ${options.name}`,
        labelsSource,
        `${n} labels (one per image in ${imagesSource})`,
        y.dims[0],
      ),
    );
  }
  // makeDataset checks every label against the class count.
  return makeDataset({
    name: options.name,
    images: x.data as Uint8Array,
    shape: [n, 1, h, w],
    labels: Int32Array.from(y.data as Uint8Array),
    classes: options.classes,
  });
}
