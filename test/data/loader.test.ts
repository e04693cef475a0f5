import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Dataset, makeDataset } from "../../src/data/dataset.js";
import { channelStats, DataLoader } from "../../src/data/loader.js";
import { ArgumentError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";

/** n random uint8 images [n, c, h, w] with labels i % classes. */
function randomDataset(n: number, c: number, h: number, w: number, seed = 1, classes = 3): Dataset {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * c * h * w);
  for (let i = 0; i < images.length; i++) images[i] = rng.int(256);
  const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
  return makeDataset({
    name: "random",
    images,
    shape: [n, c, h, w],
    labels,
    classes: Array.from({ length: classes }, (_, i) => `c${i}`),
  });
}

function collect(loader: Iterable<{ images: { data: Float32Array }; indices: Int32Array }>): {
  data: number[];
  indices: number[];
} {
  const data: number[] = [];
  const indices: number[] = [];
  for (const batch of loader) {
    data.push(...batch.images.data);
    indices.push(...batch.indices);
  }
  return { data, indices };
}

describe("DataLoader", () => {
  it("visits every index exactly once per epoch, in a new seeded order each epoch", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 0, max: 1e6 }),
        (n, batchSize, seed) => {
          const loader = new DataLoader(randomDataset(n, 1, 2, 2), { batchSize, shuffle: true, seed });
          expect(loader.length).toBe(Math.ceil(n / batchSize));
          for (let epoch = 0; epoch < 2; epoch++) {
            const seen: number[] = [];
            let batches = 0;
            for (const batch of loader) {
              batches++;
              expect(batch.images.shape).toEqual([batch.indices.length, 1, 2, 2]);
              expect(batch.indices.length).toBe(
                batches < loader.length ? batchSize : n - batchSize * (loader.length - 1),
              );
              seen.push(...batch.indices);
            }
            expect(batches).toBe(loader.length);
            expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
          }
          expect(loader.epoch).toBe(2);
        },
      ),
      { numRuns: 50 },
    );
  });

  it("is repeatable from a seed, differs across seeds and epochs, and keeps dataset order without shuffle", () => {
    const ds = randomDataset(50, 1, 3, 3);
    const a = new DataLoader(ds, { batchSize: 8, shuffle: true, seed: 7 });
    const b = new DataLoader(ds, { batchSize: 8, shuffle: true, seed: 7 });
    const c = new DataLoader(ds, { batchSize: 8, shuffle: true, seed: 8 });
    const a0 = collect(a);
    expect(collect(b)).toEqual(a0);
    expect(collect(c).indices).not.toEqual(a0.indices);
    expect(collect(a).indices).not.toEqual(a0.indices); // epoch 1 reshuffles
    const plain = new DataLoader(ds, { batchSize: 8 });
    expect(collect(plain).indices).toEqual(Array.from({ length: 50 }, (_, i) => i));
    // Seeding from an Rng is one draw: the same Rng state gives the same loader.
    const r1 = new Rng(3);
    const r2 = new Rng(3);
    expect(new DataLoader(ds, { batchSize: 4, rng: r1 }).seed).toBe(
      new DataLoader(ds, { batchSize: 4, rng: r2 }).seed,
    );
  });

  it("drops the last partial batch only when asked", () => {
    const ds = randomDataset(10, 1, 2, 2);
    const sizes = (dropLast: boolean) =>
      [...new DataLoader(ds, { batchSize: 4, dropLast })].map((b) => b.indices.length);
    expect(sizes(false)).toEqual([4, 4, 2]);
    expect(sizes(true)).toEqual([4, 4]);
    expect(new DataLoader(ds, { batchSize: 20, dropLast: true }).length).toBe(0);
  });

  it("scales uint8 by 1/255 and normalises per channel; float32 images are used as they are", () => {
    const ds = randomDataset(5, 3, 2, 2);
    const mean = [0.5, 0.25, 0.1];
    const std = [0.2, 0.5, 0.3];
    const [batch] = new DataLoader(ds, { batchSize: 5, normalize: { mean, std } });
    for (let i = 0; i < ds.images.length; i++) {
      const ch = Math.floor(i / 4) % 3;
      expect(batch.images.data[i]).toBeCloseTo((ds.images[i] / 255 - mean[ch]) / std[ch], 5);
    }
    expect(batch.labels).toEqual(ds.labels);
    const floats = makeDataset({ ...ds, name: "f", images: Float32Array.from(ds.images, (v) => v - 100) });
    const [fb] = new DataLoader(floats, { batchSize: 5, normalize: { mean: [1], std: [2] } });
    for (let i = 0; i < floats.images.length; i++)
      expect(fb.images.data[i]).toBeCloseTo((floats.images[i] - 1) / 2, 5);
  });

  it("channelStats gives each channel's mean and population std", () => {
    const ds = randomDataset(4, 2, 3, 3);
    const { mean, std } = channelStats(ds);
    for (let ch = 0; ch < 2; ch++) {
      const values: number[] = [];
      for (let i = 0; i < 4; i++)
        for (let p = 0; p < 9; p++) values.push(ds.images[(i * 2 + ch) * 9 + p] / 255);
      const m = values.reduce((s, v) => s + v, 0) / values.length;
      const v = values.reduce((s, x) => s + (x - m) ** 2, 0) / values.length;
      expect(mean[ch]).toBeCloseTo(m, 10);
      expect(std[ch]).toBeCloseTo(Math.sqrt(v), 10);
    }
  });

  it("augments with a padded random crop and a flip: each image is one such view of its source (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 2, max: 6 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 1e6 }),
        (h, w, padding, seed) => {
          const ds = randomDataset(6, 2, h, w, seed);
          const loader = new DataLoader(ds, {
            batchSize: 4,
            shuffle: true,
            seed,
            augment: { crop: { padding }, hflip: true },
          });
          for (const batch of loader) {
            expect(batch.images.shape).toEqual([batch.indices.length, 2, h, w]);
            batch.indices.forEach((j, i) => {
              const got = Array.from(batch.images.data.subarray(i * 2 * h * w, (i + 1) * 2 * h * w));
              expect(candidateViews(ds, j, h, w, padding).some((view) => sameView(view, got))).toBe(true);
            });
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it("augmentation is seeded, varies between images, flips about half, and replays from any batch", () => {
    const ds = randomDataset(64, 1, 8, 8, 5);
    const options = {
      batchSize: 16,
      shuffle: true,
      seed: 11,
      augment: { crop: { padding: 2 }, hflip: true },
    };
    const a = new DataLoader(ds, options);
    const b = new DataLoader(ds, options);
    const epoch0 = [...a.epochBatches(0)];
    expect([...b.epochBatches(0)].map((x) => Array.from(x.images.data))).toEqual(
      epoch0.map((x) => Array.from(x.images.data)),
    );
    // Resuming at batch 2 of epoch 0 gives exactly batches 2 and 3.
    const tail = [...b.epochBatches(0, 2)];
    expect(tail.map((x) => Array.from(x.images.data))).toEqual(
      epoch0.slice(2).map((x) => Array.from(x.images.data)),
    );
    // Count the views used over a few epochs: several distinct shifts, and flips near 1/2.
    let flips = 0;
    let total = 0;
    const shifts = new Set<string>();
    for (let e = 0; e < 4; e++) {
      for (const batch of a.epochBatches(e)) {
        batch.indices.forEach((j, i) => {
          const got = Array.from(batch.images.data.subarray(i * 64, (i + 1) * 64));
          const views = candidateViews(ds, j, 8, 8, 2);
          const k = views.findIndex((v) => sameView(v, got));
          expect(k).toBeGreaterThanOrEqual(0);
          const { top, left, flip } = viewParams(k, 8, 8, 2);
          flips += flip ? 1 : 0;
          shifts.add(`${top},${left}`);
          total++;
        });
      }
    }
    expect(flips / total).toBeGreaterThan(0.35);
    expect(flips / total).toBeLessThan(0.65);
    expect(shifts.size).toBeGreaterThan(15); // 25 possible windows
  });

  it("crops to a smaller size when asked, and rejects bad options", () => {
    const ds = randomDataset(3, 1, 6, 6);
    const [batch] = new DataLoader(ds, { batchSize: 3, augment: { crop: { padding: 0, size: [4, 5] } } });
    expect(batch.images.shape).toEqual([3, 1, 4, 5]);
    expect(() => new DataLoader(ds, { batchSize: 0 })).toThrow(ArgumentError);
    expect(() => new DataLoader(ds, { batchSize: 2, normalize: { mean: [0, 0], std: [1, 1] } })).toThrow(
      /1 or 1 values/,
    );
    expect(() => new DataLoader(ds, { batchSize: 2, normalize: { mean: [0], std: [0] } })).toThrow(/std/);
    expect(() => new DataLoader(ds, { batchSize: 2, augment: { crop: { padding: 1, size: 9 } } })).toThrow(
      /crop\.size/,
    );
    expect(() => new DataLoader(ds, { batchSize: 2, augment: { hflip: 2 } })).toThrow(/hflip/);
    const loader = new DataLoader(ds, { batchSize: 2, seed: 4 });
    expect(() => loader.setState({ seed: 5, epoch: 1 })).toThrow(/seed/);
    loader.setState({ seed: 4, epoch: 3 });
    expect(loader.getState()).toEqual({ seed: 4, epoch: 3 });
  });
});

/** All (top, left, flip) views of image j, built directly: zero-pad, crop, mirror, scale by 1/255. */
function candidateViews(ds: Dataset, j: number, h: number, w: number, padding: number): number[][] {
  const c = ds.shape[1];
  const views: number[][] = [];
  for (let top = 0; top <= 2 * padding; top++) {
    for (let left = 0; left <= 2 * padding; left++) {
      for (const flip of [false, true]) {
        const view: number[] = [];
        for (let ch = 0; ch < c; ch++) {
          const padded = (y: number, x: number) =>
            y < padding || y >= h + padding || x < padding || x >= w + padding
              ? 0
              : ds.images[((j * c + ch) * h + y - padding) * w + x - padding];
          for (let y = 0; y < h; y++) {
            const row: number[] = [];
            for (let x = 0; x < w; x++) row.push(padded(top + y, left + x) / 255);
            if (flip) row.reverse();
            view.push(...row);
          }
        }
        views.push(view);
      }
    }
  }
  return views;
}

function viewParams(
  k: number,
  _h: number,
  _w: number,
  padding: number,
): { top: number; left: number; flip: boolean } {
  const side = 2 * padding + 1;
  return { top: Math.floor(k / (2 * side)), left: Math.floor(k / 2) % side, flip: k % 2 === 1 };
}

function sameView(view: number[], got: number[]): boolean {
  return view.every((v, i) => Math.abs(v - got[i]) < 1e-6);
}
