import { noGrad } from "../../src/autograd/gradmode.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { GraphModel } from "../../src/graph/executor.js";
import type { Graph, Weights } from "../../src/graph/types.js";
import { convAttrs } from "../../src/rewrite/units.js";

/**
 * Names that a plain JavaScript object treats specially: assigning "__proto__" sets the prototype, and the
 * others are found on Object.prototype by `obj[name]` / `name in obj` even when no such key was stored. Models
 * may use any of them as layer, parameter, input or output names (PyTorch and ONNX accept them all).
 */
export const SPECIAL_NAMES = [
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "isPrototypeOf",
  "propertyIsEnumerable",
  "toLocaleString",
  "__defineGetter__",
  "__lookupGetter__",
] as const;

export type SpecialName = (typeof SPECIAL_NAMES)[number];

/** The ordinary name standing in for a special one in the twin network. */
export function plainName(name: SpecialName): string {
  return `name${SPECIAL_NAMES.indexOf(name)}`;
}

/**
 * A small network whose input, output, node, scope and parameter names are all special (`special` true) or
 * all ordinary (false), built from the same seed, so the two are the same function with the same weights:
 *
 *   input "constructor" -> scope "toString" {conv "valueOf": weight "hasOwnProperty", bias "isPrototypeOf"}
 *   -> batch norm "propertyIsEnumerable" (weight "toLocaleString", running mean "__defineGetter__")
 *   -> relu "__lookupGetter__" (output 2) -> pool, flatten -> linear "__proto__" (output 1, weight "valueOf")
 *
 * Parameter names are kept apart from value names (ONNX puts initializers and values in one namespace).
 */
export function specialNet(special = true, seed = 5): { graph: Graph; weights: Weights } {
  const n = (name: SpecialName) => (special ? name : plainName(name));
  const b = new GraphBuilder(special ? "special" : "plain", { seed });
  const x = b.input(n("constructor"), [2, 5, 5]);
  const c = b.scope(
    n("toString"),
    () =>
      b.node(
        "conv2d",
        [x],
        convAttrs({ inChannels: 2, outChannels: 3, kernelSize: [3, 3], padding: [1, 1, 1, 1] }),
        {
          name: n("valueOf"),
          params: { weight: { name: n("hasOwnProperty") }, bias: { name: n("isPrototypeOf") } },
        },
      )[0],
    { kind: "block" },
  );
  const bn = b.node(
    "batchNorm2d",
    [c],
    { numFeatures: 3, eps: 1e-5, momentum: 0.1, affine: true, trackRunningStats: true },
    {
      name: n("propertyIsEnumerable"),
      params: { weight: { name: n("toLocaleString") }, runningMean: { name: n("__defineGetter__") } },
    },
  )[0];
  const a = b.relu(bn, { name: n("__lookupGetter__") });
  const p = b.flatten(b.adaptiveAvgPool2d(a, 1));
  const fc = b.node(
    "linear",
    [p],
    { inFeatures: 3, outFeatures: 4, bias: true },
    {
      name: n("__proto__"),
      params: { weight: { name: n("valueOf") } },
    },
  )[0];
  b.output(fc, a);
  const built = b.build();
  // Running statistics away from 0 and 1, so that a buffer mixed up with another shows in the outputs.
  for (const [name, data] of built.weights) {
    if (name === n("__defineGetter__")) data.set(data.map((_, i) => 0.1 * (i + 1)));
  }
  return built;
}

/** A seeded input for `specialNet` (batch 2). */
export function specialInput(): Tensor {
  const data = new Float32Array(2 * 2 * 5 * 5).map((_, i) => Math.sin(i * 0.7) + 0.1 * (i % 3));
  return new Tensor(data, [2, 2, 5, 5]);
}

/**
 * Outputs of a graph (eval mode, no gradients) as [name, values] in graph output order, fed `input` under the
 * graph's single input name.
 */
export function runOutputs(graph: Graph, weights: Weights, input: Tensor): [string, number[]][] {
  const model = new GraphModel(graph, weights).eval();
  const feed = Object.fromEntries([[graph.inputs[0].name, input]]);
  const out = noGrad(() => model.forwardOutputs(feed));
  return graph.outputs.map((name) => {
    if (!Object.hasOwn(out, name)) throw new Error(`output "${name}" missing from forwardOutputs`);
    return [name, Array.from(out[name].data)];
  });
}

/** `specialNet(true)`'s outputs with the names mapped to the twin's, for comparing with `specialNet(false)`. */
export function asPlain(outputs: [string, number[]][]): [string, number[]][] {
  return outputs.map(([name, values]) => [plainName(name as SpecialName), values]);
}
