import type { Dataset } from "../../src/data/dataset.js";
import { FASHION_MNIST_CLASSES } from "../../src/data/fashion-mnist.js";
import { idxDataset } from "../../src/data/idx-dataset.js";

/**
 * The embedded Fashion-MNIST subset (5,000 training and 1,000 test images), fetched from the page's own origin
 * (the build copies data/fashion-mnist-subset into the site) and parsed with the library's IDX reader.
 */

export const FASHION_MNIST_FOLDER = "data/fashion-mnist-subset/";

export interface FashionMnistSubset {
  train: Dataset;
  test: Dataset;
}

async function bytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`could not load ${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function split(base: string, images: string, labels: string, name: string): Promise<Dataset> {
  const [x, y] = await Promise.all([bytes(base + images), bytes(base + labels)]);
  return idxDataset(x, y, {
    classes: FASHION_MNIST_CLASSES,
    name,
    imagesSource: images,
    labelsSource: labels,
  });
}

const cache = new Map<string, Promise<Dataset>>();

/** One split, fetched once per page or worker. `base` is an absolute URL of the folder. */
export function loadSplit(base: string, which: "train" | "test"): Promise<Dataset> {
  const key = `${base}|${which}`;
  let p = cache.get(key);
  if (!p) {
    p =
      which === "train"
        ? split(
            base,
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "fashion-mnist-subset/train",
          )
        : split(base, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "fashion-mnist-subset/test");
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return p;
}

/** The folder's absolute URL as seen from the page (workers resolve relative URLs against their own script). */
export function dataUrl(): string {
  return new URL(FASHION_MNIST_FOLDER, location.href).href;
}

/** Image `index` of a dataset as a grey image (raw pixels 0..255). */
export function greyImage(
  dataset: Dataset,
  index: number,
): { data: Float32Array; height: number; width: number } {
  const [, c, h, w] = dataset.shape;
  const data = new Float32Array(h * w);
  const start = index * c * h * w;
  for (let k = 0; k < h * w; k++) {
    let s = 0;
    for (let ch = 0; ch < c; ch++) s += dataset.images[start + ch * h * w + k];
    data[k] = s / c;
  }
  return { data, height: h, width: w };
}
