import { noGrad } from "../autograd/gradmode.js";
import { Tensor } from "../autograd/tensor.js";
import { GraphModel } from "../graph/executor.js";
import type { Graph, Node, ParamRole, Weights } from "../graph/types.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { Rng } from "../tensor/rng.js";
import type { ErrorStats, SampleData, Site } from "./types.js";

/**
 * Running pieces of graphs on sample data: the sample batch itself, the region of a graph between some values
 * (a rewritten site, run alone on the old graph's activations), and the error between two tensors.
 */

/** Graph inputs as given by a caller: one tensor (single-input graph) or tensors by input name. */
export type SampleInputs = Tensor | Record<string, Tensor>;

/**
 * Sample data for `graph`: the given inputs, or `batch` inputs drawn from N(0, 1) with the declared shapes
 * (symbolic dims = batch). Activations of the graph on them are computed on first use, in eval mode.
 */
export function makeSamples(
  graph: Graph,
  weights: Weights,
  options: { inputs?: SampleInputs; batch?: number; seed?: number } = {},
): SampleData {
  let inputs: Record<string, Tensor>;
  if (options.inputs instanceof Tensor) {
    if (graph.inputs.length !== 1) {
      throw new ArgumentError(
        describe(
          "rewrite",
          "samples",
          `tensors by input name (${graph.inputs.map((i) => i.name).join(", ")})`,
          "one Tensor",
        ),
      );
    }
    inputs = { [graph.inputs[0].name]: options.inputs };
  } else if (options.inputs !== undefined) {
    inputs = options.inputs;
  } else {
    const rng = new Rng(options.seed ?? 0);
    const batch = options.batch ?? 4;
    // fromEntries: an input named "__proto__" is an own key (assigning it would set the prototype).
    inputs = Object.fromEntries(
      graph.inputs.map((info) => {
        const shape = info.shape.map((d) => (typeof d === "number" ? d : batch));
        const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
        for (let i = 0; i < data.length; i++) data[i] = rng.normal();
        return [info.name, new Tensor(data, shape)];
      }),
    );
  }
  let values: Map<string, Tensor> | null = null;
  return {
    inputs,
    values: () => {
      values ??= runAll(graph, weights, inputs);
      return values;
    },
  };
}

/** Every value of a graph on the given inputs, eval mode, no gradients. */
export function runAll(graph: Graph, weights: Weights, inputs: Record<string, Tensor>): Map<string, Tensor> {
  return noGrad(() => new GraphModel(graph, weights).eval().runAll(inputs));
}

/**
 * The nodes computing `outputs` from `inputs`: walking back from the outputs through producers, stopping at
 * the inputs. Throws if the walk reaches a graph input that is not among `inputs` (the region is not closed).
 */
export function regionBetween(graph: Graph, inputs: readonly string[], outputs: readonly string[]): Node[] {
  const producer = new Map<string, Node>();
  for (const node of graph.nodes) for (const v of node.outputs) producer.set(v, node);
  const stop = new Set(inputs);
  const wanted = new Set<string>();
  const stack = [...outputs];
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (stop.has(v)) continue;
    const node = producer.get(v);
    if (node === undefined) {
      throw new ArgumentError(
        `rewrite: the region ending at ${outputs.join(", ")} reads "${v}", which is not among its inputs (${inputs.join(", ")})`,
      );
    }
    if (wanted.has(node.name)) continue;
    wanted.add(node.name);
    stack.push(...node.inputs);
  }
  return graph.nodes.filter((n) => wanted.has(n.name));
}

/**
 * The region between `inputs` and `outputs` as a graph of its own (inputs with the given concrete shapes), with
 * the weights it uses, so that it can run, train or be measured alone.
 */
export function extractRegion(
  graph: Graph,
  weights: Weights,
  inputs: readonly { name: string; shape: readonly number[] }[],
  outputs: readonly string[],
): { graph: Graph; weights: Weights } {
  const nodes = regionBetween(
    graph,
    inputs.map((i) => i.name),
    outputs,
  );
  const sub: Weights = new Map();
  for (const node of nodes) {
    for (const pname of Object.values(node.params as Partial<Record<ParamRole, string>>)) {
      if (pname !== undefined && !sub.has(pname)) sub.set(pname, weights.get(pname)!);
    }
  }
  // fromEntries: a parameter named "__proto__" is an own key (assigning it would set the prototype).
  const params: Graph["params"] = Object.fromEntries([...sub.keys()].map((p) => [p, graph.params[p]]));
  const region: Graph = {
    format: graph.format,
    version: graph.version,
    name: `${graph.name}:region`,
    inputs: inputs.map((i) => ({ name: i.name, shape: [...i.shape] })),
    outputs: [...outputs],
    nodes: structuredClone(nodes),
    params,
  };
  return { graph: region, weights: sub };
}

/** ‖got − ref‖₂ / ‖ref‖₂ and max|got − ref| / max|ref| (absolute when the reference is zero). */
export function errorStats(got: ArrayLike<number>, ref: ArrayLike<number>): ErrorStats {
  if (got.length !== ref.length) {
    throw new ArgumentError(describe("rewrite", "compare", `${ref.length} values`, got.length));
  }
  let dd = 0;
  let rr = 0;
  let dmax = 0;
  let rmax = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = got[i] - ref[i];
    dd += d * d;
    rr += ref[i] * ref[i];
    dmax = Math.max(dmax, Math.abs(d));
    rmax = Math.max(rmax, Math.abs(ref[i]));
  }
  if (Number.isNaN(dd)) return { relL2: Number.NaN, maxRel: Number.NaN };
  return { relL2: rr > 0 ? Math.sqrt(dd / rr) : Math.sqrt(dd), maxRel: rmax > 0 ? dmax / rmax : dmax };
}

/**
 * `x[:, :, ::rh, ::rw]` cropped to `[H, W]`: the points of a denser map that correspond to a coarser one
 * (dilate: the rewritten network computes the original on a lattice of step `rate`).
 */
export function subsample(
  x: Tensor,
  rate: readonly [number, number],
  size: readonly [number, number],
): Float32Array {
  const [n, c, h, w] = x.shape;
  const [rh, rw] = rate;
  const [oh, ow] = size;
  if ((oh - 1) * rh >= h || (ow - 1) * rw >= w) {
    throw new ArgumentError(
      describe(
        "rewrite",
        "compare",
        `a map of at least ${(oh - 1) * rh + 1}x${(ow - 1) * rw + 1}`,
        `${h}x${w}`,
      ),
    );
  }
  const out = new Float32Array(n * c * oh * ow);
  let k = 0;
  for (let b = 0; b < n * c; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) out[k++] = x.data[b * h * w + i * rh * w + j * rw];
    }
  }
  return out;
}

/** Compares a new value with an old one, subsampling the new one when it is denser. */
export function compareValues(got: Tensor, ref: Tensor, rate?: readonly [number, number]): ErrorStats {
  if (rate !== undefined && (rate[0] !== 1 || rate[1] !== 1)) {
    return errorStats(subsample(got, rate, [ref.shape[2], ref.shape[3]]), ref.data);
  }
  if (got.shape.join() !== ref.shape.join()) {
    throw new ArgumentError(
      describe("rewrite", "compare", `shape [${ref.shape.join(", ")}]`, `[${got.shape.join(", ")}]`),
    );
  }
  return errorStats(got.data, ref.data);
}

/**
 * The error of one site: with `compare.inputs`, the new region alone on the old graph's activations; otherwise
 * the values of the two whole graphs (`newValues`, computed by the caller once for all such sites).
 */
export function measureSite(
  site: Site,
  oldValues: Map<string, Tensor>,
  graph: Graph,
  weights: Weights,
  newValues: () => Map<string, Tensor>,
): ErrorStats {
  const ref = oldValues.get(site.compare.old);
  if (ref === undefined)
    throw new ArgumentError(`rewrite: site ${site.node}: no old value "${site.compare.old}"`);
  if (site.compare.inputs === undefined) {
    const got = newValues().get(site.compare.new);
    if (got === undefined)
      throw new ArgumentError(`rewrite: site ${site.node}: no new value "${site.compare.new}"`);
    return compareValues(got, ref, site.compare.rate);
  }
  const feeds = site.compare.feeds;
  const inputs = site.compare.inputs.map((name, i) => {
    const t = oldValues.get(feeds?.[i] ?? name) ?? oldValues.get(name) ?? newValues().get(name);
    if (t === undefined) throw new ArgumentError(`rewrite: site ${site.node}: no value "${name}" to feed`);
    return { name, tensor: t };
  });
  const region = extractRegion(
    graph,
    weights,
    inputs.map((i) => ({ name: i.name, shape: i.tensor.shape })),
    [site.compare.new],
  );
  const values = runAll(
    region.graph,
    region.weights,
    Object.fromEntries(inputs.map((i) => [i.name, i.tensor])),
  );
  return compareValues(values.get(site.compare.new)!, ref, site.compare.rate);
}
