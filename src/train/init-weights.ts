import { initialise } from "../graph/init.js";
import type { Graph, Node, ParamRole, Weights } from "../graph/types.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { Rng } from "../tensor/rng.js";

/**
 * Fresh weights for a graph that came without any (a graph .json file on its own): PyTorch's default
 * `reset_parameters` for each layer, as GraphBuilder does, drawn from a generator seeded by `seed` in
 * node order (a parameter shared by several nodes is drawn once, at its first node). Conv and linear
 * weights kaiming_uniform(a=√5), biases U(±1/√fanIn), batch norm weight 1, bias 0, running mean 0,
 * running var 1. A `constant` node has no default: its values must come with the graph.
 */
const ROLE_ORDER: readonly ParamRole[] = [
  "weight",
  "bias",
  "runningMean",
  "runningVar",
  "numBatchesTracked",
  "value",
];

export function initialWeights(graph: Graph, seed = 0): Weights {
  const rng = new Rng(seed);
  const weights: Weights = new Map();
  for (const node of graph.nodes) {
    const refs = node.params as Partial<Record<ParamRole, string>>;
    // A fixed role order (weight before bias, as PyTorch's reset_parameters draws them), not the key order
    // of `params`, which differs between a built graph and one read back from canonical JSON.
    for (const role of ROLE_ORDER) {
      const name = refs[role];
      if (name === undefined || weights.has(name)) continue;
      const info = graph.params[name];
      if (info === undefined) continue; // validateGraph reports it
      weights.set(
        name,
        initialise("default", info.shape, rng, fallback(node, role, name), `${node.op} "${node.name}"`),
      );
    }
  }
  // Parameters no node references (validation rejects them, but keep the map complete for its message).
  for (const [name, info] of Object.entries(graph.params)) {
    if (!weights.has(name)) weights.set(name, new Float32Array(info.shape.reduce((a, b) => a * b, 1)));
  }
  return weights;
}

function fallback(node: Node, role: ParamRole, name: string): Parameters<typeof initialise>[3] {
  if (node.op === "conv2d" || node.op === "deformConv2d" || node.op === "linear") {
    if (role === "weight") return { kind: "weight" };
    const fanIn =
      node.op === "linear"
        ? node.attrs.inFeatures
        : (node.attrs.inChannels / node.attrs.groups) * node.attrs.kernelSize[0] * node.attrs.kernelSize[1];
    return { kind: "bias", fanIn };
  }
  if (node.op === "batchNorm2d")
    return { kind: "constant", value: role === "weight" || role === "runningVar" ? 1 : 0 };
  throw new ArgumentError(
    describe(
      "initialWeights",
      name,
      "values stored with the graph (no default initialisation for this op)",
      `${node.op} "${node.name}"`,
    ),
  );
}
