import * as ort from "onnxruntime-node";
import protobuf from "protobufjs";
import { noGrad } from "../../src/autograd/gradmode.js";
import { Tensor } from "../../src/autograd/tensor.js";
import { GraphModel } from "../../src/graph/executor.js";
import type { Graph, Weights } from "../../src/graph/types.js";
import { importOnnx, type OnnxImport, type OnnxImportOptions } from "../../src/onnx/import.js";
import { ONNX_SCHEMA } from "../../src/onnx/schema.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";

/**
 * Small ONNX models written by hand for unit tests, and the two ways to run them: ONNX Runtime (the
 * independent reference) and convkit (importOnnx + GraphModel). Models are plain protobuf objects in the
 * spec's snake_case field names, encoded with protobufjs, so tests can also write what convkit's own
 * writer never produces (typed data fields, external data, broken files).
 */

const root = protobuf.Root.fromJSON(ONNX_SCHEMA);
const ModelType = root.lookupType("onnx.ModelProto");

export type Plain = Record<string, unknown>;

/** Encodes a plain ModelProto object. */
export function encode(plain: Plain): Uint8Array {
  return ModelType.encode(ModelType.fromObject(plain)).finish();
}

const utf8 = (s: string) => new TextEncoder().encode(s);

/** Attribute constructors (AttributeProto with its type set). */
export const A = {
  i: (name: string, i: number): Plain => ({ name, type: 2, i }),
  f: (name: string, f: number): Plain => ({ name, type: 1, f }),
  s: (name: string, s: string): Plain => ({ name, type: 3, s: utf8(s) }),
  t: (name: string, t: Plain): Plain => ({ name, type: 4, t }),
  ints: (name: string, ints: readonly number[]): Plain => ({ name, type: 7, ints: [...ints] }),
  floats: (name: string, floats: readonly number[]): Plain => ({ name, type: 6, floats: [...floats] }),
};

/** A float32 initializer (raw little-endian data). */
export function f32(name: string, dims: readonly number[], data: ArrayLike<number>): Plain {
  const a = Float32Array.from(data);
  return { name, dims: [...dims], data_type: 1, raw_data: new Uint8Array(a.buffer) };
}

/** A float32 initializer filled from a seeded normal distribution (scaled). */
export function f32r(name: string, dims: readonly number[], rng: Rng, scale = 0.5): Plain {
  const n = dims.reduce((p, d) => p * d, 1);
  return f32(name, dims, randomData(n, rng, scale));
}

/** An int64 initializer. */
export function i64(
  name: string,
  values: readonly (number | bigint)[],
  dims: readonly number[] = [values.length],
): Plain {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => {
    view.setBigInt64(8 * i, BigInt(v), true);
  });
  return { name, dims: [...dims], data_type: 7, raw_data: bytes };
}

let counter = 0;

/** A NodeProto. */
export function node(
  op: string,
  inputs: string[],
  outputs: string[],
  attrs: Plain[] = [],
  name?: string,
): Plain {
  return {
    op_type: op,
    input: inputs,
    output: outputs,
    attribute: attrs,
    name: name ?? `${op}_${counter++}`,
  };
}

/** A tensor ValueInfoProto (dims null: no shape). */
export function info(name: string, dims: readonly (number | string)[] | null, elemType = 1): Plain {
  const tensor: Plain = { elem_type: elemType };
  if (dims !== null) {
    tensor.shape = { dim: dims.map((d) => (typeof d === "number" ? { dim_value: d } : { dim_param: d })) };
  }
  return { name, type: { tensor_type: tensor } };
}

export interface ModelSpec {
  nodes: Plain[];
  inits?: Plain[];
  inputs: Plain[];
  outputs: Plain[];
  opset?: number;
  irVersion?: number;
  graphName?: string;
}

/** Encodes a one-graph model. */
export function model(spec: ModelSpec): Uint8Array {
  const opset = spec.opset ?? 13;
  return encode(graphModel(spec, opset));
}

/** The plain ModelProto object of `model` (to tamper with before encoding). */
export function graphModel(spec: ModelSpec, opset = spec.opset ?? 13): Plain {
  return {
    ir_version: spec.irVersion ?? (opset <= 14 ? 7 : opset <= 18 ? 8 : 9),
    producer_name: "convkit-tests",
    opset_import: [{ domain: "", version: opset }],
    graph: {
      name: spec.graphName ?? "test",
      node: spec.nodes,
      initializer: spec.inits ?? [],
      input: spec.inputs,
      output: spec.outputs,
    },
  };
}

export function randomData(n: number, rng: Rng, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * scale;
  return out;
}

export interface Feed {
  data: Float32Array;
  dims: number[];
}

/** Runs a model in ONNX Runtime. */
export async function runOrt(bytes: Uint8Array, feeds: Record<string, Feed>): Promise<Record<string, Feed>> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  const inputs: Record<string, ort.Tensor> = {};
  for (const [k, f] of Object.entries(feeds)) inputs[k] = new ort.Tensor("float32", f.data, f.dims);
  const out = await session.run(inputs);
  const result: Record<string, Feed> = {};
  for (const [k, t] of Object.entries(out)) {
    result[k] = { data: Float32Array.from(t.data as Float32Array), dims: [...t.dims].map(Number) };
  }
  await session.release();
  return result;
}

/** Runs an imported graph with convkit's executor; outputs keyed by graph output name. */
export function runGraph(graph: Graph, weights: Weights, feeds: Record<string, Feed>): Record<string, Feed> {
  const m = new GraphModel(graph, weights);
  const inputs: Record<string, Tensor> = {};
  for (const [k, f] of Object.entries(feeds)) inputs[k] = new Tensor(Float32Array.from(f.data), f.dims);
  const outs = noGrad(() => m.forwardOutputs(inputs));
  const result: Record<string, Feed> = {};
  for (const [k, t] of Object.entries(outs)) result[k] = { data: t.data, dims: [...t.shape] };
  return result;
}

export interface CompareOptions {
  label: string;
  rtol?: number;
  seed?: number;
  importOptions?: OnnxImportOptions;
  /** Input values (default: seeded normal). */
  feeds?: Record<string, Feed>;
}

/**
 * Imports `bytes`, runs it in convkit and in ONNX Runtime on the same seeded inputs, and checks every
 * output (by position) within `rtol`. Returns the import and the worst relative error.
 */
export async function expectSameAsOrt(
  bytes: Uint8Array,
  inputs: { name: string; dims: number[] }[],
  o: CompareOptions,
): Promise<{ imported: OnnxImport; worst: number }> {
  const rng = new Rng(o.seed ?? 7);
  const feeds: Record<string, Feed> =
    o.feeds ??
    Object.fromEntries(
      inputs.map((i) => [
        i.name,
        {
          data: randomData(
            i.dims.reduce((p, d) => p * d, 1),
            rng,
          ),
          dims: i.dims,
        },
      ]),
    );
  const imported = importOnnx(bytes, o.importOptions);
  const ours = runGraph(imported.graph, imported.weights, feeds);
  const ref = await runOrt(bytes, feeds);
  const refNames = Object.keys(ref);
  let worst = 0;
  imported.graph.outputs.forEach((name, k) => {
    const r = ref[name] ?? ref[refNames[k]];
    const mine = ours[name];
    if (mine.dims.join() !== r.dims.join()) {
      throw new Error(`${o.label}: output ${name}: shape [${mine.dims}] vs ONNX Runtime [${r.dims}]`);
    }
    worst = Math.max(
      worst,
      expectClose(mine.data, r.data, { rtol: o.rtol ?? 1e-4, label: `${o.label} (${name})` }),
    );
  });
  return { imported, worst };
}
