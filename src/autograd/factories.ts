import { defaultRng, type Rng } from "../tensor/rng.js";
import { checkShape, numel, type Shape } from "../tensor/shape.js";
import { Tensor, type TensorOptions } from "./tensor.js";

export interface RandomOptions extends TensorOptions {
  /** Generator to draw from; the seeded default (`manualSeed`) when absent. */
  rng?: Rng;
}

export function zeros(shape: Shape, options: TensorOptions = {}): Tensor {
  const s = checkShape(shape, "zeros");
  return new Tensor(new Float32Array(numel(s)), s, options.requiresGrad ?? false);
}

export function ones(shape: Shape, options: TensorOptions = {}): Tensor {
  return full(shape, 1, options);
}

export function full(shape: Shape, value: number, options: TensorOptions = {}): Tensor {
  const s = checkShape(shape, "full");
  return new Tensor(new Float32Array(numel(s)).fill(value), s, options.requiresGrad ?? false);
}

export function zerosLike(t: Tensor, options: TensorOptions = {}): Tensor {
  return zeros(t.shape, options);
}

export function onesLike(t: Tensor, options: TensorOptions = {}): Tensor {
  return ones(t.shape, options);
}

/** Standard normal samples from a seeded generator. */
export function randn(shape: Shape, options: RandomOptions = {}): Tensor {
  const s = checkShape(shape, "randn");
  const rng = options.rng ?? defaultRng;
  const data = new Float32Array(numel(s));
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return new Tensor(data, s, options.requiresGrad ?? false);
}

/** Uniform samples in [low, high) from a seeded generator. */
export function rand(shape: Shape, options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  const s = checkShape(shape, "rand");
  const rng = options.rng ?? defaultRng;
  const low = options.low ?? 0;
  const span = (options.high ?? 1) - low;
  const data = new Float32Array(numel(s));
  for (let i = 0; i < data.length; i++) data[i] = low + span * rng.uniform();
  return new Tensor(data, s, options.requiresGrad ?? false);
}
