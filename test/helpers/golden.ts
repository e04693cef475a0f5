import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Tensor } from "../../src/autograd/tensor.js";

/** A tensor as the fixture generator writes it. */
export interface TensorSpec {
  shape: number[];
  data: number[];
}

/** One case of a golden fixture file written by tools/gen_fixtures.py. */
export interface GoldenCase {
  op: string;
  name: string;
  /** Op options in convkit's spelling (camelCase), passed through as given. */
  args: Record<string, unknown>;
  /** Named tensor inputs in call order. */
  inputs: Record<string, TensorSpec>;
  /** Which inputs have gradients recorded in `grads`. */
  requiresGrad: string[];
  output: TensorSpec;
  gradOutput: TensorSpec | null;
  grads: Record<string, TensorSpec>;
  /** Extra tensors some ops report (batch norm's updated running statistics). */
  extra?: Record<string, TensorSpec>;
}

export interface GoldenFile {
  generator: string;
  torch: string;
  cases: GoldenCase[];
}

export function loadGolden(family: string): GoldenFile {
  const path = fileURLToPath(new URL(`../fixtures/${family}.json`, import.meta.url));
  return JSON.parse(readFileSync(path, "utf8")) as GoldenFile;
}

export function fromSpec(spec: TensorSpec, requiresGrad = false): Tensor {
  return new Tensor(Float32Array.from(spec.data), spec.shape, requiresGrad);
}
