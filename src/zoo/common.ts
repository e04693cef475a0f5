import { GraphBuilder, type ValueRef } from "../graph/builder.js";
import type { Graph, Json, Weights } from "../graph/types.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { checkPositiveInt, pair } from "../tensor/shape.js";

/** Options every zoo model takes; each model has its own defaults (ImageNet: 1000 classes, 3 x 224 x 224). */
export interface ZooOptions {
  numClasses?: number;
  inChannels?: number;
  /** Input height and width (a number for square inputs). */
  inputSize?: number | readonly [number, number];
  /** Seed of the weight initialisation (default 0). */
  seed?: number;
}

/** A built zoo model: the graph and its freshly initialised weights (PyTorch's default initialisers). */
export interface ZooModel {
  graph: Graph;
  weights: Weights;
}

export type ZooFactory = (options?: ZooOptions) => ZooModel;

export interface ZooDefaults {
  numClasses: number;
  inChannels: number;
  inputSize: number;
}

export const IMAGENET: ZooDefaults = { numClasses: 1000, inChannels: 3, inputSize: 224 };
export const FASHION_MNIST: ZooDefaults = { numClasses: 10, inChannels: 1, inputSize: 28 };

/** The builder of a zoo model, its input value ("input", [N, C, H, W]) and the resolved options. */
export interface ModelStart {
  b: GraphBuilder;
  x: ValueRef;
  numClasses: number;
}

/** Starts a model: checks the options, creates the builder and its input, records `graph.meta`. */
export function startModel(
  name: string,
  options: ZooOptions | undefined,
  defaults: ZooDefaults,
  info: Record<string, Json>,
): ModelStart {
  const o = options ?? {};
  if (typeof o !== "object") throw new ArgumentError(describe(name, "options", "an object", o));
  const numClasses = checkPositiveInt(o.numClasses ?? defaults.numClasses, name, "numClasses");
  const inChannels = checkPositiveInt(o.inChannels ?? defaults.inChannels, name, "inChannels");
  const [h, w] = pair(
    o.inputSize ?? defaults.inputSize,
    defaults.inputSize,
    name,
    "inputSize",
    checkPositiveInt,
  );
  const b = new GraphBuilder(name, { seed: o.seed ?? 0 });
  Object.assign(b.meta, { model: name, numClasses, inputShape: [inChannels, h, w], ...info });
  const x = b.input("input", [inChannels, h, w]);
  return { b, x, numClasses };
}

/** Marks the output and builds. */
export function finishModel(b: GraphBuilder, out: ValueRef): ZooModel {
  b.output(out);
  return b.build();
}
