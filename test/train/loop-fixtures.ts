/**
 * Shared by the loop, resume and CLI tests (not a test itself): a tiny conv net and a few hundred
 * embedded Fashion-MNIST images, small enough that a few epochs take well under a second.
 */
import { type Dataset, subsetDataset } from "../../src/data/dataset.js";
import { loadFashionMnist } from "../../src/data/fashion-mnist.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import type { Graph, Weights } from "../../src/graph/types.js";

/** conv(1->6, 3x3) - batch norm - relu - maxpool 4 - dropout - linear(->classes). */
export function tinyNet(options: { seed?: number; dropout?: number; classes?: number } = {}): {
  graph: Graph;
  weights: Weights;
} {
  const b = new GraphBuilder("tiny", { seed: options.seed ?? 1 });
  let x = b.input("image", [1, 28, 28]);
  x = b.scope("features", () => {
    let y = b.conv2d(x, { outChannels: 6, kernelSize: 3, padding: 1 });
    y = b.relu(b.batchNorm2d(y));
    return b.maxPool2d(y, { kernelSize: 4 });
  });
  x = b.flatten(x);
  if ((options.dropout ?? 0) > 0) x = b.dropout(x, options.dropout);
  x = b.linear(x, { outFeatures: options.classes ?? 10, name: "head" });
  b.output(x);
  return b.build();
}

let cache: { train: Dataset; test: Dataset } | null = null;

/** The first `nTrain` / `nTest` images of the embedded subset. */
export function tinyData(nTrain = 320, nTest = 200): { train: Dataset; test: Dataset } {
  cache ??= loadFashionMnist({ embedded: true });
  const first = (n: number) => Array.from({ length: n }, (_, i) => i);
  return {
    train: subsetDataset(cache.train, first(nTrain), `fmnist-train[:${nTrain}]`),
    test: subsetDataset(cache.test, first(nTest), `fmnist-test[:${nTest}]`),
  };
}
