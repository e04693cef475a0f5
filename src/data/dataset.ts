import { ArgumentError, DataError, describe, ShapeError } from "../tensor/errors.js";

/**
 * An image classification dataset held in memory: images `[N, C, H, W]` (row-major) and one integer
 * label per image. Uint8 images are raw pixels (0..255, scaled by 1/255 by the loader, like
 * torchvision's ToTensor); float32 images are used as they are.
 */
export interface Dataset {
  /** A short name for reports ("fashion-mnist/train"). */
  readonly name: string;
  readonly images: Uint8Array | Float32Array;
  /** [N, C, H, W]. */
  readonly shape: readonly [number, number, number, number];
  readonly labels: Int32Array;
  /** Class names, indexed by label. */
  readonly classes: readonly string[];
}

/** Checks that the parts agree (lengths, label range) and freezes them into a Dataset. */
export function makeDataset(parts: {
  name: string;
  images: Uint8Array | Float32Array;
  shape: readonly number[];
  labels: Int32Array;
  classes: readonly string[];
}): Dataset {
  const { name, images, shape, labels, classes } = parts;
  const op = `Dataset(${name})`;
  if (shape.length !== 4 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new ShapeError(describe(op, "shape", "[N, C, H, W] of non-negative integers", shape));
  }
  const [n, c, h, w] = shape;
  if (images.length !== n * c * h * w) {
    throw new DataError(
      describe(op, "images", `${n * c * h * w} values for shape [${shape.join(", ")}]`, images.length),
    );
  }
  if (labels.length !== n)
    throw new DataError(describe(op, "labels", `${n} labels (one per image)`, labels.length));
  if (classes.length === 0)
    throw new ArgumentError(describe(op, "classes", "at least one class name", classes));
  for (let i = 0; i < n; i++) {
    const label = labels[i];
    if (label < 0 || label >= classes.length) {
      throw new DataError(describe(op, `labels[${i}]`, `a class in [0, ${classes.length - 1}]`, label));
    }
  }
  return Object.freeze({
    name,
    images,
    shape: [n, c, h, w] as const,
    labels,
    classes: Object.freeze([...classes]),
  });
}

/** The images at `indices` (in that order), as a new Dataset sharing nothing with the original. */
export function subsetDataset(
  dataset: Dataset,
  indices: ArrayLike<number>,
  name = `${dataset.name}[subset]`,
): Dataset {
  const [n, c, h, w] = dataset.shape;
  const stride = c * h * w;
  const images =
    dataset.images instanceof Uint8Array
      ? new Uint8Array(indices.length * stride)
      : new Float32Array(indices.length * stride);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    if (!Number.isInteger(j) || j < 0 || j >= n) {
      throw new ArgumentError(
        describe(`subsetDataset(${dataset.name})`, `indices[${i}]`, `an index in [0, ${n - 1}]`, j),
      );
    }
    images.set(dataset.images.subarray(j * stride, (j + 1) * stride), i * stride);
    labels[i] = dataset.labels[j];
  }
  return makeDataset({ name, images, shape: [indices.length, c, h, w], labels, classes: dataset.classes });
}

/** Number of images per class. */
/** The first `limit` samples (all of them when `limit` is undefined or not smaller): quick runs. */
export function headDataset(dataset: Dataset, limit: number | undefined): Dataset {
  if (limit === undefined || limit >= dataset.shape[0]) return dataset;
  return subsetDataset(
    dataset,
    Array.from({ length: limit }, (_, i) => i),
    `${dataset.name}[:${limit}]`,
  );
}

export function classCounts(dataset: Dataset): number[] {
  const counts = new Array<number>(dataset.classes.length).fill(0);
  for (const label of dataset.labels) counts[label]++;
  return counts;
}
