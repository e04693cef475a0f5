import type { Graph, ParamRole } from "../graph/types.js";
import { inferShapes, validateGraph } from "../graph/validate.js";
import { ArgumentError, ConvkitError, describe, ShapeError } from "../tensor/errors.js";
import { checkPositiveInt, formatShape, numel } from "../tensor/shape.js";
import { countedOps, nodeMacs } from "./macs.js";
import { type FieldState, fieldReport, inputField, propagateField } from "./receptive-field.js";
import {
  ANALYSIS_FORMAT,
  ANALYSIS_VERSION,
  type Analysis,
  type AnalyzeOptions,
  type InputShapes,
  type LayerAnalysis,
  type MacConvention,
} from "./types.js";

/** Bytes per activation and parameter element: the analyzer assumes float32 throughout. */
const BYTES = 4;

/**
 * Analyses a Graph at a concrete input: per node and in total, output shapes, parameters (trainable and
 * buffers apart, shared ones once in the totals), MACs and FLOPs (torchvision's convention unless
 * `countAll`), activation memory (total and peak with values freed after their last reader) and receptive
 * fields. Pure: the graph is not changed and no weights are needed.
 *
 * `inputShape` may omit the batch (`[3, 224, 224]`, batch = `options.batch` or 1) or include it; without it,
 * the graph's declared input shapes are used. A spatial size other than the declared one is accepted when the
 * graph's shape rules allow it (fully convolutional models, adaptive pooling); otherwise the error names the
 * first node that does not fit.
 */
export function analyze(graph: Graph, inputShape?: InputShapes, options: AnalyzeOptions = {}): Analysis {
  validateGraph(graph);
  const countAll = options.countAll ?? false;
  if (typeof countAll !== "boolean") {
    throw new ArgumentError(describe("analyze", "options.countAll", "a boolean", countAll));
  }
  const convention: MacConvention = countAll ? "all" : "torchvision";
  const { batch, inputs } = resolveInputs(graph, inputShape, options.batch);
  const shapes = shapesAt(graph, inputs);

  // Liveness: the index of each value's last reader; graph outputs live to the end.
  const lastUse = new Map<string, number>();
  graph.nodes.forEach((node, i) => {
    for (const v of node.inputs) lastUse.set(v, i);
  });
  const keep = new Set(graph.outputs);
  const bytesOf = (v: string): number => numel(shapes.get(v)!) * BYTES;
  let live = 0;
  let inputBytes = 0;
  for (const info of graph.inputs) {
    inputBytes += bytesOf(info.name);
    if (lastUse.has(info.name) || keep.has(info.name)) live += bytesOf(info.name);
  }
  let peak = live;

  const fields = new Map<string, FieldState | null>();
  for (const info of graph.inputs) fields.set(info.name, inputField(info.name, shapes.get(info.name)!));

  const seen = new Set<string>();
  let params = 0;
  let buffers = 0;
  let macs = 0;
  let activationBytes = 0;
  const layers: LayerAnalysis[] = graph.nodes.map((node, i) => {
    const ins = node.inputs.map((v) => shapes.get(v)!);
    const outs = node.outputs.map((v) => shapes.get(v)!);

    let nodeParams = 0;
    let nodeBuffers = 0;
    let sharedParams = 0;
    let sharedBuffers = 0;
    for (const pname of Object.values(node.params as Partial<Record<ParamRole, string>>)) {
      if (pname === undefined) continue;
      const info = graph.params[pname];
      const n = numel(info.shape);
      if (info.kind === "parameter") nodeParams += n;
      else nodeBuffers += n;
      if (seen.has(pname)) {
        if (info.kind === "parameter") sharedParams += n;
        else sharedBuffers += n;
      } else {
        seen.add(pname);
        if (info.kind === "parameter") params += n;
        else buffers += n;
      }
    }

    const cost = nodeMacs(node, ins, outs, convention);
    macs += cost.macs;

    const outBytes = node.outputs.reduce((s, v) => s + bytesOf(v), 0);
    activationBytes += outBytes;
    live += outBytes;
    const liveBytes = live;
    peak = Math.max(peak, live);
    for (const v of new Set(node.inputs)) {
      if (lastUse.get(v) === i && !keep.has(v)) live -= bytesOf(v);
    }
    for (const v of node.outputs) {
      if (!lastUse.has(v) && !keep.has(v)) live -= bytesOf(v);
    }

    const outFields = propagateField(
      node,
      node.inputs.map((v) => fields.get(v) ?? null),
      ins,
      outs,
    );
    node.outputs.forEach((v, k) => {
      fields.set(v, outFields[k]);
    });
    const first = outFields[0];

    return {
      name: node.name,
      op: node.op,
      scope: node.scope,
      outputShape: [...outs[0]],
      outputShapes: outs.map((s) => [...s]),
      params: nodeParams,
      buffers: nodeBuffers,
      sharedParams,
      sharedBuffers,
      macs: cost.macs,
      flops: 2 * cost.macs,
      counted: cost.counted,
      activationBytes: outBytes,
      liveBytes,
      receptiveField: first === null ? null : fieldReport(first),
    };
  });

  const outField = fields.get(graph.outputs[0]) ?? null;
  // fromEntries: a scope named "__proto__" is an own key (assigning it would set the prototype).
  const scopes = Object.fromEntries(
    Object.entries(graph.scopes ?? {}).map(([path, info]) => [path, info.kind]),
  );

  return {
    format: ANALYSIS_FORMAT,
    version: ANALYSIS_VERSION,
    model: graph.name,
    batch,
    inputs: graph.inputs.map((info) => ({ name: info.name, shape: [...shapes.get(info.name)!] })),
    counting: { convention, countedOps: countedOps(convention), bytesPerElement: BYTES },
    totals: {
      params,
      buffers,
      paramBytes: (params + buffers) * BYTES,
      macs,
      flops: 2 * macs,
      activationBytes,
      peakActivationBytes: peak,
      inputBytes,
    },
    receptiveField: outField === null ? null : { ...outField.anchor },
    layers,
    scopes,
  };
}

/** Concrete input shapes (batch included) by input name, and the batch size. */
function resolveInputs(
  graph: Graph,
  inputShape: InputShapes | undefined,
  batchOption: number | undefined,
): { batch: number; inputs: Map<string, number[]> } {
  const op = `analyze "${graph.name}"`;
  if (batchOption !== undefined) checkPositiveInt(batchOption, op, "options.batch");
  const byName = new Map<string, readonly number[]>();
  if (inputShape === undefined) {
    // The declared shapes.
  } else if (Array.isArray(inputShape)) {
    if (graph.inputs.length !== 1) {
      throw new ArgumentError(
        describe(
          op,
          "inputShape",
          `shapes by input name for a graph with ${graph.inputs.length} inputs (${graph.inputs.map((i) => i.name).join(", ")})`,
          inputShape,
        ),
      );
    }
    byName.set(graph.inputs[0].name, inputShape);
  } else if (typeof inputShape === "object" && inputShape !== null) {
    for (const [name, shape] of Object.entries(inputShape as Record<string, readonly number[]>)) {
      if (!graph.inputs.some((i) => i.name === name)) {
        throw new ArgumentError(
          describe(op, "inputShape", `inputs among ${graph.inputs.map((i) => i.name).join(", ")}`, name),
        );
      }
      byName.set(name, shape);
    }
  } else {
    throw new ArgumentError(describe(op, "inputShape", "an array of dimensions", inputShape));
  }

  let batch: number | undefined = batchOption;
  const inputs = new Map<string, number[]>();
  for (const info of graph.inputs) {
    const declared = info.shape;
    const given = byName.get(info.name);
    const batched = typeof declared[0] === "string";
    let shape: number[];
    if (given === undefined) {
      shape = declared.map((d) => (typeof d === "number" ? d : (batchOption ?? 1)));
    } else {
      if (!Array.isArray(given) || given.some((d) => !Number.isSafeInteger(d) || d < 1)) {
        throw new ArgumentError(
          describe(op, `input "${info.name}" shape`, "positive integer dimensions", given),
        );
      }
      if (given.length === declared.length) {
        shape = [...given];
        if (batched && batchOption !== undefined && given[0] !== batchOption) {
          throw new ArgumentError(
            describe(op, "options.batch", `the batch of the input shape (${given[0]})`, batchOption),
          );
        }
      } else if (batched && given.length === declared.length - 1) {
        shape = [batchOption ?? 1, ...given];
      } else {
        throw new ShapeError(
          describe(
            op,
            `input "${info.name}" shape`,
            `${declared.length - (batched ? 1 : 0)} dimensions (the graph declares [${declared.join(", ")}])`,
            formatShape(given),
          ),
        );
      }
    }
    if (batched) batch ??= shape[0];
    inputs.set(info.name, shape);
  }
  return { batch: batch ?? 1, inputs };
}

/**
 * Every value's shape at the given inputs. The declared input dims are replaced by the given ones, so a model
 * can be analysed at another resolution when its ops allow it; the error then says which input was changed.
 */
function shapesAt(graph: Graph, inputs: Map<string, number[]>): Map<string, number[]> {
  const differs = graph.inputs.filter((info) =>
    info.shape.some((d, i) => typeof d === "number" && d !== inputs.get(info.name)![i]),
  );
  const resized: Graph = {
    ...graph,
    inputs: graph.inputs.map((info) => ({ name: info.name, shape: inputs.get(info.name)! })),
  };
  try {
    return inferShapes(resized);
  } catch (e) {
    if (differs.length === 0 || !(e instanceof ConvkitError)) throw e;
    const what = differs
      .map(
        (info) =>
          `${formatShape(inputs.get(info.name)!)} for input "${info.name}" declared [${info.shape.join(", ")}]`,
      )
      .join(", ");
    const Ctor = e.constructor as new (message: string) => ConvkitError;
    throw new Ctor(`analyze "${graph.name}" at ${what}: ${e.message}`);
  }
}
