import { Tensor } from "../autograd/tensor.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { Rng } from "../tensor/rng.js";
import { checkPositiveInt } from "../tensor/shape.js";
import type { Dataset } from "./dataset.js";

/** Per-channel normalisation `(x - mean[c]) / std[c]`, applied after scaling uint8 pixels to [0, 1]. */
export interface Normalize {
  mean: readonly number[];
  std: readonly number[];
}

/**
 * Training-time augmentation, in torchvision's usual order: RandomCrop(size, padding) then
 * RandomHorizontalFlip(p), both on raw pixels (padding is filled with 0 before scaling and normalising,
 * like `RandomCrop(fill=0)` placed before `ToTensor`/`Normalize`).
 */
export interface Augment {
  /** Pad every side by `padding` zeros, then crop a random window of `size` (default: the image size). */
  crop?: { padding: number; size?: number | readonly [number, number] };
  /** Mirror left-right with this probability (`true` = 0.5). */
  hflip?: boolean | number;
}

export interface DataLoaderOptions {
  batchSize: number;
  /** Draw a new random order every epoch (default false: dataset order). */
  shuffle?: boolean;
  /** Drop the last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Seed of the order and augmentation streams (default 0). Ignored when `rng` is given. */
  seed?: number;
  /** Draw the seed from this generator instead (one draw, at construction). */
  rng?: Rng;
  normalize?: Normalize;
  augment?: Augment;
}

export interface Batch {
  /** [B, C, H, W] float32, scaled, augmented and normalised. */
  images: Tensor;
  labels: Int32Array;
  /** Which dataset images this batch holds, in batch order. */
  indices: Int32Array;
}

/** The loader's position, for checkpoints: the next epoch `[Symbol.iterator]` will start. */
export interface DataLoaderState {
  seed: number;
  epoch: number;
}

/** murmur3's 32-bit finaliser: a bijective mix so that nearby inputs give unrelated outputs. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hashSeed(...parts: number[]): number {
  let h = 0x2545f491;
  for (const p of parts) h = fmix32((h ^ (p >>> 0)) + 0x9e3779b9);
  return h;
}

const ORDER_STREAM = 1;
const AUGMENT_STREAM = 2;

/**
 * Batches of a Dataset as tensors, repeatable from a seed. Each epoch's order comes from a generator
 * seeded by (seed, epoch) and each batch's augmentation from one seeded by (seed, epoch, batch), so an
 * epoch can be replayed from any batch (resuming a checkpoint) with exactly the same batches; nothing
 * depends on how many batches were drawn before.
 *
 * Iterating the loader (`for (const batch of loader)`) runs the next epoch, like a PyTorch DataLoader
 * with a fresh shuffle per `iter()`; `epochBatches(e, start)` runs a given epoch from a given batch.
 */
export class DataLoader implements Iterable<Batch> {
  readonly dataset: Dataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly seed: number;
  /** The epoch the next `[Symbol.iterator]()` call runs. */
  epoch = 0;
  private readonly scale: number;
  private readonly mul: Float64Array;
  private readonly add: Float64Array;
  private readonly padding: number;
  private readonly outH: number;
  private readonly outW: number;
  private readonly flipProb: number;
  private readonly augmenting: boolean;

  constructor(dataset: Dataset, options: DataLoaderOptions) {
    const op = `DataLoader(${dataset.name})`;
    this.dataset = dataset;
    this.batchSize = checkPositiveInt(options.batchSize, op, "batchSize");
    this.shuffle = options.shuffle ?? false;
    this.dropLast = options.dropLast ?? false;
    if (options.rng !== undefined) this.seed = options.rng.nextUint32();
    else {
      const seed = options.seed ?? 0;
      if (!Number.isSafeInteger(seed) || seed < 0)
        throw new ArgumentError(describe(op, "seed", "a non-negative integer", seed));
      this.seed = seed >>> 0;
    }
    const [, c, h, w] = dataset.shape;
    this.scale = dataset.images instanceof Uint8Array ? 1 / 255 : 1;
    // (x * scale - mean) / std == x * mul + add, folded per channel.
    this.mul = new Float64Array(c).fill(this.scale);
    this.add = new Float64Array(c);
    if (options.normalize !== undefined) {
      const { mean, std } = options.normalize;
      const perChannel = (values: readonly number[], what: string): number[] => {
        if (values.length === 1) return new Array<number>(c).fill(values[0]);
        if (values.length !== c)
          throw new ArgumentError(
            describe(op, `normalize.${what}`, `1 or ${c} values (one per channel)`, values),
          );
        return [...values];
      };
      const m = perChannel(mean, "mean");
      const s = perChannel(std, "std");
      for (let k = 0; k < c; k++) {
        if (!Number.isFinite(m[k]))
          throw new ArgumentError(describe(op, "normalize.mean", "finite numbers", mean));
        if (!(s[k] > 0) || !Number.isFinite(s[k]))
          throw new ArgumentError(describe(op, "normalize.std", "positive finite numbers", std));
        this.mul[k] = this.scale / s[k];
        this.add[k] = -m[k] / s[k];
      }
    }
    const augment = options.augment ?? {};
    this.padding = 0;
    this.outH = h;
    this.outW = w;
    if (augment.crop !== undefined) {
      const { padding, size } = augment.crop;
      if (!Number.isSafeInteger(padding) || padding < 0) {
        throw new ArgumentError(describe(op, "augment.crop.padding", "a non-negative integer", padding));
      }
      this.padding = padding;
      const [sh, sw] = size === undefined ? [h, w] : typeof size === "number" ? [size, size] : size;
      for (const [v, limit] of [
        [sh, h + 2 * padding],
        [sw, w + 2 * padding],
      ] as const) {
        if (!Number.isSafeInteger(v) || v < 1 || v > limit) {
          throw new ArgumentError(
            describe(
              op,
              "augment.crop.size",
              `positive integers no larger than the padded image [${h + 2 * padding}, ${w + 2 * padding}]`,
              size,
            ),
          );
        }
      }
      this.outH = sh;
      this.outW = sw;
    }
    const flip =
      augment.hflip === true
        ? 0.5
        : augment.hflip === false || augment.hflip === undefined
          ? 0
          : augment.hflip;
    if (!(flip >= 0 && flip <= 1))
      throw new ArgumentError(
        describe(op, "augment.hflip", "a boolean or a probability in [0, 1]", augment.hflip),
      );
    this.flipProb = flip;
    this.augmenting = augment.crop !== undefined || flip > 0;
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.shape[0];
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Shape of every full batch's images. */
  get batchShape(): [number, number, number, number] {
    return [this.batchSize, this.dataset.shape[1], this.outH, this.outW];
  }

  /** The order in which epoch `epoch` visits the dataset. */
  order(epoch: number): Int32Array {
    const n = this.dataset.shape[0];
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    if (this.shuffle) new Rng(hashSeed(this.seed, ORDER_STREAM, epoch)).shuffle(order);
    return order;
  }

  /** Runs epoch `epoch` from batch `startBatch` (to resume mid-epoch with the same batches). */
  *epochBatches(epoch: number, startBatch = 0): Generator<Batch> {
    if (!Number.isSafeInteger(epoch) || epoch < 0)
      throw new ArgumentError(describe("DataLoader.epochBatches", "epoch", "a non-negative integer", epoch));
    if (!Number.isSafeInteger(startBatch) || startBatch < 0) {
      throw new ArgumentError(
        describe("DataLoader.epochBatches", "startBatch", "a non-negative integer", startBatch),
      );
    }
    const order = this.order(epoch);
    const batches = this.length;
    for (let b = startBatch; b < batches; b++) {
      const indices = order.subarray(b * this.batchSize, Math.min(order.length, (b + 1) * this.batchSize));
      yield this.makeBatch(Int32Array.from(indices), epoch, b);
    }
  }

  [Symbol.iterator](): Iterator<Batch> {
    const epoch = this.epoch++;
    return this.epochBatches(epoch);
  }

  getState(): DataLoaderState {
    return { seed: this.seed, epoch: this.epoch };
  }

  setState(state: DataLoaderState): void {
    if (state.seed !== this.seed) {
      throw new ArgumentError(
        describe("DataLoader.setState", "seed", `this loader's seed ${this.seed}`, state.seed),
      );
    }
    if (!Number.isSafeInteger(state.epoch) || state.epoch < 0) {
      throw new ArgumentError(
        describe("DataLoader.setState", "epoch", "a non-negative integer", state.epoch),
      );
    }
    this.epoch = state.epoch;
  }

  /** Builds one batch; `batch` seeds the augmentation so a replayed batch is identical. */
  private makeBatch(indices: Int32Array, epoch: number, batch: number): Batch {
    const [, c, h, w] = this.dataset.shape;
    const { outH, outW, padding } = this;
    const src = this.dataset.images;
    const plane = h * w;
    const outPlane = outH * outW;
    const out = new Float32Array(indices.length * c * outPlane);
    const labels = new Int32Array(indices.length);
    const rng = this.augmenting ? new Rng(hashSeed(this.seed, AUGMENT_STREAM, epoch, batch)) : null;
    for (let i = 0; i < indices.length; i++) {
      const j = indices[i];
      labels[i] = this.dataset.labels[j];
      const srcBase = j * c * plane;
      const outBase = i * c * outPlane;
      if (rng === null) {
        for (let k = 0; k < c; k++) {
          const mul = this.mul[k];
          const add = this.add[k];
          const s0 = srcBase + k * plane;
          const o0 = outBase + k * outPlane;
          for (let p = 0; p < plane; p++) out[o0 + p] = src[s0 + p] * mul + add;
        }
        continue;
      }
      // One crop window and one flip decision per image, shared by its channels.
      const top = padding > 0 || outH !== h ? rng.int(h + 2 * padding - outH + 1) : 0;
      const left = padding > 0 || outW !== w ? rng.int(w + 2 * padding - outW + 1) : 0;
      const flip = this.flipProb > 0 && rng.uniform() < this.flipProb;
      for (let k = 0; k < c; k++) {
        const mul = this.mul[k];
        const add = this.add[k];
        const s0 = srcBase + k * plane;
        const o0 = outBase + k * outPlane;
        for (let y = 0; y < outH; y++) {
          const sy = y + top - padding;
          const rowOut = o0 + y * outW;
          if (sy < 0 || sy >= h) {
            out.fill(add, rowOut, rowOut + outW);
            continue;
          }
          const rowSrc = s0 + sy * w;
          for (let x = 0; x < outW; x++) {
            const sx = (flip ? outW - 1 - x : x) + left - padding;
            out[rowOut + x] = sx < 0 || sx >= w ? add : src[rowSrc + sx] * mul + add;
          }
        }
      }
    }
    return { images: new Tensor(out, [indices.length, c, outH, outW]), labels, indices };
  }
}

/** Per-channel mean and standard deviation of a dataset's scaled pixels (for `normalize`). */
export function channelStats(dataset: Dataset): Normalize {
  const [n, c, h, w] = dataset.shape;
  const scale = dataset.images instanceof Uint8Array ? 1 / 255 : 1;
  const plane = h * w;
  const mean: number[] = [];
  const std: number[] = [];
  for (let k = 0; k < c; k++) {
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const base = (i * c + k) * plane;
      for (let p = 0; p < plane; p++) {
        const v = dataset.images[base + p] * scale;
        sum += v;
        sq += v * v;
      }
    }
    const count = n * plane;
    const m = count > 0 ? sum / count : 0;
    mean.push(m);
    // Population standard deviation, like torchvision recipes computing dataset statistics.
    std.push(count > 0 ? Math.sqrt(Math.max(0, sq / count - m * m)) : 1);
  }
  return { mean, std };
}
