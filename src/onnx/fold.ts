import { FormatError } from "../tensor/errors.js";
import { attrFloat, attrInt, attrInts, onnxLabel } from "./attrs.js";
import type { OnnxNode } from "./proto.js";
import { type Const, checkedNumel, readTensor } from "./tensor.js";

/**
 * Constant folding: evaluates the small integer (and float) computations that exporters leave around
 * reshapes and slices (`Shape -> Gather -> Unsqueeze -> Concat -> Reshape`, `Div`/`Mul` on sizes, `Cast`,
 * `Constant`, `Identity` of initializers...) on values known at import time. Semantics follow the ONNX
 * operator spec for each op (broadcasting, negative indices and axes, clamping in Slice, integer division
 * truncating toward zero as ONNX Runtime does).
 *
 * Every result is bounded (FOLD_LIMIT elements) so a hostile ConstantOfShape/Expand/Range cannot make the
 * importer allocate without limit.
 */

/** Largest tensor constant folding may produce. */
export const FOLD_LIMIT = 1 << 24;

/** Ops this module can evaluate when all their inputs are constants. */
export const FOLDABLE = new Set([
  "Constant",
  "Identity",
  "Cast",
  "Gather",
  "Unsqueeze",
  "Squeeze",
  "Concat",
  "Slice",
  "Reshape",
  "Flatten",
  "Transpose",
  "Add",
  "Sub",
  "Mul",
  "Div",
  "Neg",
  "Abs",
  "Floor",
  "Ceil",
  "Sqrt",
  "Min",
  "Max",
  "Equal",
  "Where",
  "Expand",
  "Range",
  "ConstantOfShape",
  "ReduceProd",
  "Dropout",
]);

export function numelOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

function make(node: OnnxNode, dims: number[], float: boolean): Const {
  const n = checkedNumel(dims, onnxLabel(node));
  if (n > FOLD_LIMIT) {
    throw new FormatError(
      `${onnxLabel(node)}: folding would create a constant of shape [${dims.join(", ")}] (${n} elements, limit ${FOLD_LIMIT})`,
    );
  }
  return { dims, float, data: new Float64Array(n) };
}

/** Normalises a possibly negative axis; FormatError naming the node when out of range. */
export function axisOf(node: OnnxNode, axis: number, rank: number, what = "axis"): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new FormatError(`${onnxLabel(node)}: ${what} ${axis} is out of range for rank ${rank}`);
  }
  return a;
}

function broadcastDims(node: OnnxNode, shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const j = rank - s.length + i;
      const d = s[i];
      if (out[j] === 1) out[j] = d;
      else if (d !== 1 && d !== out[j]) {
        throw new FormatError(
          `${onnxLabel(node)}: shapes ${shapes.map((x) => `[${x.join(", ")}]`).join(" and ")} do not broadcast`,
        );
      }
    }
  }
  return out;
}

/** Index into `c` for output position `idx` under broadcasting to `outDims`. */
function broadcastIndexer(c: Const, outDims: readonly number[]): (flat: number) => number {
  const rank = outDims.length;
  const inStrides = stridesOf(c.dims);
  const outStrides = stridesOf(outDims);
  const offset = rank - c.dims.length;
  return (flat: number) => {
    let src = 0;
    for (let j = 0; j < c.dims.length; j++) {
      const coord = Math.floor(flat / outStrides[j + offset]) % outDims[j + offset];
      if (c.dims[j] !== 1) src += coord * inStrides[j];
    }
    return src;
  };
}

function elementwise(node: OnnxNode, xs: Const[], f: (...v: number[]) => number, float?: boolean): Const {
  const dims = broadcastDims(
    node,
    xs.map((x) => x.dims),
  );
  const out = make(node, dims, float ?? xs.some((x) => x.float));
  const idx = xs.map((x) => broadcastIndexer(x, dims));
  const args = new Array<number>(xs.length);
  for (let i = 0; i < out.data.length; i++) {
    for (let k = 0; k < xs.length; k++) args[k] = xs[k].data[idx[k](i)];
    out.data[i] = f(...args);
  }
  if (out.float) for (let i = 0; i < out.data.length; i++) out.data[i] = Math.fround(out.data[i]);
  return out;
}

function ints(c: Const): number[] {
  return Array.from(c.data);
}

function need(node: OnnxNode, inputs: (Const | null)[], i: number, what: string): Const {
  const c = inputs[i];
  if (c === null || c === undefined)
    throw new FormatError(`${onnxLabel(node)}: input ${i} (${what}) is missing`);
  return c;
}

/** Gather along `axis` (negative indices wrap). */
export function gather(node: OnnxNode, data: Const, indices: Const, axis: number): Const {
  const ax = axisOf(node, axis, data.dims.length);
  const dims = [...data.dims.slice(0, ax), ...indices.dims, ...data.dims.slice(ax + 1)];
  const out = make(node, dims, data.float);
  const outer = numelOf(data.dims.slice(0, ax));
  const inner = numelOf(data.dims.slice(ax + 1));
  const size = data.dims[ax];
  let o = 0;
  for (let a = 0; a < outer; a++) {
    for (let k = 0; k < indices.data.length; k++) {
      let j = indices.data[k];
      if (j < 0) j += size;
      if (!Number.isInteger(j) || j < 0 || j >= size) {
        throw new FormatError(
          `${onnxLabel(node)}: index ${indices.data[k]} is out of range for size ${size}`,
        );
      }
      const base = (a * size + j) * inner;
      for (let i = 0; i < inner; i++) out.data[o++] = data.data[base + i];
    }
  }
  return out;
}

/** Resolved Slice parameters for one axis: start and the number of elements (step 1 only here). */
export interface SliceRange {
  axis: number;
  start: number;
  step: number;
  count: number;
}

/** ONNX Slice semantics for one axis (negative starts/ends wrap, then clamp; steps may be negative). */
export function sliceRange(
  size: number,
  start: number,
  end: number,
  step: number,
): { start: number; count: number } {
  if (start < 0) start += size;
  if (end < 0) end += size;
  if (step > 0) {
    start = Math.min(Math.max(start, 0), size);
    end = Math.min(Math.max(end, 0), size);
    return { start, count: Math.max(0, Math.ceil((end - start) / step)) };
  }
  start = Math.min(Math.max(start, -1), size - 1);
  end = Math.min(Math.max(end, -1), size - 1);
  return { start, count: Math.max(0, Math.ceil((end - start) / step)) };
}

/** Slice parameters from inputs (opset >= 10) as resolved ranges per axis. */
export function sliceRanges(
  node: OnnxNode,
  dims: readonly number[],
  starts: number[],
  ends: number[],
  axes: number[] | null,
  steps: number[] | null,
): SliceRange[] {
  const ax = axes ?? starts.map((_, i) => i);
  if (
    ends.length !== starts.length ||
    ax.length !== starts.length ||
    (steps && steps.length !== starts.length)
  ) {
    throw new FormatError(`${onnxLabel(node)}: starts, ends, axes and steps must have the same length`);
  }
  const seen = new Set<number>();
  return starts.map((s, i) => {
    const axis = axisOf(node, ax[i], dims.length, "axes entry");
    if (seen.has(axis)) throw new FormatError(`${onnxLabel(node)}: axis ${axis} is sliced twice`);
    seen.add(axis);
    const step = steps ? steps[i] : 1;
    if (step === 0) throw new FormatError(`${onnxLabel(node)}: steps must not be 0`);
    const r = sliceRange(dims[axis], s, ends[i], step);
    return { axis, start: r.start, step, count: r.count };
  });
}

function sliceConst(node: OnnxNode, data: Const, ranges: SliceRange[]): Const {
  const rank = data.dims.length;
  const start = new Array<number>(rank).fill(0);
  const step = new Array<number>(rank).fill(1);
  const dims = [...data.dims];
  for (const r of ranges) {
    start[r.axis] = r.start;
    step[r.axis] = r.step;
    dims[r.axis] = r.count;
  }
  const out = make(node, dims, data.float);
  const inStrides = stridesOf(data.dims);
  const outStrides = stridesOf(dims);
  for (let i = 0; i < out.data.length; i++) {
    let src = 0;
    for (let j = 0; j < rank; j++) {
      const c = Math.floor(i / outStrides[j]) % dims[j];
      src += (start[j] + c * step[j]) * inStrides[j];
    }
    out.data[i] = data.data[src];
  }
  return out;
}

export function concatConsts(node: OnnxNode, xs: Const[], axis: number): Const {
  const rank = xs[0].dims.length;
  const ax = axisOf(node, axis, rank);
  for (const x of xs) {
    if (x.dims.length !== rank || x.dims.some((d, i) => i !== ax && d !== xs[0].dims[i])) {
      throw new FormatError(
        `${onnxLabel(node)}: inputs of shapes ${xs.map((c) => `[${c.dims.join(", ")}]`).join(", ")} cannot be concatenated on axis ${ax}`,
      );
    }
  }
  const dims = [...xs[0].dims];
  dims[ax] = xs.reduce((s, x) => s + x.dims[ax], 0);
  const out = make(
    node,
    dims,
    xs.some((x) => x.float),
  );
  const outer = numelOf(dims.slice(0, ax));
  let o = 0;
  for (let a = 0; a < outer; a++) {
    for (const x of xs) {
      const chunk = numelOf(x.dims.slice(ax));
      out.data.set(x.data.subarray(a * chunk, (a + 1) * chunk), o);
      o += chunk;
    }
  }
  return out;
}

export function transposeConst(node: OnnxNode, c: Const, perm: readonly number[]): Const {
  const rank = c.dims.length;
  const dims = perm.map((p) => c.dims[p]);
  const out = make(node, dims, c.float);
  const inStrides = stridesOf(c.dims);
  const outStrides = stridesOf(dims);
  for (let i = 0; i < out.data.length; i++) {
    let src = 0;
    for (let j = 0; j < rank; j++) src += (Math.floor(i / outStrides[j]) % dims[j]) * inStrides[perm[j]];
    out.data[i] = c.data[src];
  }
  return out;
}

/** ONNX Reshape's target (0 copies, -1 infers), checked. */
export function reshapeDims(
  node: OnnxNode,
  dims: readonly number[],
  spec: readonly number[],
  allowZero: boolean,
): number[] {
  const out = spec.map((d, i) => {
    if (d === 0 && !allowZero) {
      if (i >= dims.length)
        throw new FormatError(
          `${onnxLabel(node)}: shape entry ${i} is 0 but the input has rank ${dims.length}`,
        );
      return dims[i];
    }
    return d;
  });
  const total = numelOf(dims);
  const free = out.indexOf(-1);
  if (out.filter((d) => d === -1).length > 1 || out.some((d) => d < -1 || !Number.isInteger(d))) {
    throw new FormatError(`${onnxLabel(node)}: shape [${spec.join(", ")}] is not a valid Reshape target`);
  }
  const known = out.reduce((p, d) => (d === -1 ? p : p * d), 1);
  if (free >= 0) {
    if (known === 0 || total % known !== 0) {
      throw new FormatError(
        `${onnxLabel(node)}: cannot reshape [${dims.join(", ")}] to [${spec.join(", ")}]`,
      );
    }
    out[free] = total / known;
  } else if (known !== total) {
    throw new FormatError(`${onnxLabel(node)}: cannot reshape [${dims.join(", ")}] to [${spec.join(", ")}]`);
  }
  return out;
}

/** Unsqueeze's output dims (axes refer to the output rank). */
export function unsqueezeDims(node: OnnxNode, dims: readonly number[], axes: readonly number[]): number[] {
  const rank = dims.length + axes.length;
  const at = new Set(axes.map((a) => axisOf(node, a, rank, "axes entry")));
  if (at.size !== axes.length)
    throw new FormatError(`${onnxLabel(node)}: axes [${axes.join(", ")}] repeat an axis`);
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) out.push(at.has(i) ? 1 : dims[k++]);
  return out;
}

/** Squeeze's output dims (no axes: every 1 goes). */
export function squeezeDims(
  node: OnnxNode,
  dims: readonly number[],
  axes: readonly number[] | null,
): number[] {
  if (axes === null) return dims.filter((d) => d !== 1);
  const at = new Set(axes.map((a) => axisOf(node, a, dims.length, "axes entry")));
  for (const a of at) {
    if (dims[a] !== 1)
      throw new FormatError(`${onnxLabel(node)}: cannot squeeze axis ${a} of size ${dims[a]}`);
  }
  return dims.filter((_, i) => !at.has(i));
}

const INT_TYPES_TRUNC = new Set([2, 3, 4, 5, 6, 7, 12, 13]);

function castValue(v: number, to: number): number {
  if (to === 1) return Math.fround(v);
  if (to === 9) return v !== 0 ? 1 : 0;
  if (INT_TYPES_TRUNC.has(to)) return Math.trunc(v);
  return v;
}

/** Axes of a reduce/squeeze/unsqueeze op: attribute before `inputSince`, second input from then on. */
function axesArg(
  node: OnnxNode,
  inputs: (Const | null)[],
  opset: number,
  inputSince: number,
): number[] | null {
  if (opset >= inputSince) return inputs[1] ? ints(inputs[1]) : null;
  return attrInts(node, "axes") ?? null;
}

/**
 * Evaluates `node` on constant inputs (null = optional input absent) at opset `opset`. Returns the outputs,
 * or throws FormatError naming the node when its inputs do not fit the op.
 */
export function foldNode(node: OnnxNode, inputs: (Const | null)[], opset: number): Const[] {
  const x = () => need(node, inputs, 0, "input");
  switch (node.opType) {
    case "Constant":
      return [constantValue(node)];
    case "Identity":
    case "Dropout":
      return [x()];
    case "Cast": {
      const to = attrInt(node, "to", 1);
      const c = x();
      const out = make(node, [...c.dims], [1, 10, 11, 16].includes(to));
      for (let i = 0; i < c.data.length; i++) out.data[i] = castValue(c.data[i], to);
      return [out];
    }
    case "Gather":
      return [gather(node, x(), need(node, inputs, 1, "indices"), attrInt(node, "axis", 0))];
    case "Unsqueeze": {
      const axes = axesArg(node, inputs, opset, 13);
      if (axes === null) throw new FormatError(`${onnxLabel(node)}: axes are required`);
      const c = x();
      return [{ ...c, dims: unsqueezeDims(node, c.dims, axes) }];
    }
    case "Squeeze": {
      const c = x();
      return [{ ...c, dims: squeezeDims(node, c.dims, axesArg(node, inputs, opset, 13)) }];
    }
    case "Concat":
      return [
        concatConsts(
          node,
          inputs.filter((c): c is Const => c !== null),
          attrInt(node, "axis", 0),
        ),
      ];
    case "Slice": {
      const c = x();
      const starts = ints(need(node, inputs, 1, "starts"));
      const ends = ints(need(node, inputs, 2, "ends"));
      const axes = inputs[3] ? ints(inputs[3]) : null;
      const steps = inputs[4] ? ints(inputs[4]) : null;
      return [sliceConst(node, c, sliceRanges(node, c.dims, starts, ends, axes, steps))];
    }
    case "Reshape": {
      const c = x();
      const spec = ints(need(node, inputs, 1, "shape"));
      return [{ ...c, dims: reshapeDims(node, c.dims, spec, attrInt(node, "allowzero", 0) === 1) }];
    }
    case "Flatten": {
      const c = x();
      const axis = attrInt(node, "axis", 1);
      const a = axis < 0 ? axis + c.dims.length : axis;
      return [{ ...c, dims: [numelOf(c.dims.slice(0, a)), numelOf(c.dims.slice(a))] }];
    }
    case "Transpose": {
      const c = x();
      const perm = attrInts(node, "perm") ?? c.dims.map((_, i) => c.dims.length - 1 - i);
      return [transposeConst(node, c, perm)];
    }
    case "Add":
      return [elementwise(node, [x(), need(node, inputs, 1, "B")], (a, b) => a + b)];
    case "Sub":
      return [elementwise(node, [x(), need(node, inputs, 1, "B")], (a, b) => a - b)];
    case "Mul":
      return [elementwise(node, [x(), need(node, inputs, 1, "B")], (a, b) => a * b)];
    case "Div": {
      const a = x();
      const b = need(node, inputs, 1, "B");
      const float = a.float || b.float;
      return [
        elementwise(node, [a, b], (p, q) => {
          if (float) return p / q;
          if (q === 0) throw new FormatError(`${onnxLabel(node)}: integer division by zero`);
          return Math.trunc(p / q);
        }),
      ];
    }
    case "Neg":
      return [elementwise(node, [x()], (a) => -a)];
    case "Abs":
      return [elementwise(node, [x()], (a) => Math.abs(a))];
    case "Floor":
      return [elementwise(node, [x()], (a) => Math.floor(a))];
    case "Ceil":
      return [elementwise(node, [x()], (a) => Math.ceil(a))];
    case "Sqrt":
      return [elementwise(node, [x()], (a) => Math.sqrt(a))];
    case "Min":
      return [
        elementwise(
          node,
          inputs.filter((c): c is Const => c !== null),
          (...v) => Math.min(...v),
        ),
      ];
    case "Max":
      return [
        elementwise(
          node,
          inputs.filter((c): c is Const => c !== null),
          (...v) => Math.max(...v),
        ),
      ];
    case "Equal":
      return [elementwise(node, [x(), need(node, inputs, 1, "B")], (a, b) => (a === b ? 1 : 0), false)];
    case "Where": {
      const cond = x();
      const a = need(node, inputs, 1, "X");
      const b = need(node, inputs, 2, "Y");
      return [elementwise(node, [cond, a, b], (c, p, q) => (c !== 0 ? p : q), a.float || b.float)];
    }
    case "Expand": {
      const c = x();
      const shape = ints(need(node, inputs, 1, "shape"));
      const dims = broadcastDims(node, [c.dims, shape]);
      const out = make(node, dims, c.float);
      const idx = broadcastIndexer(c, dims);
      for (let i = 0; i < out.data.length; i++) out.data[i] = c.data[idx(i)];
      return [out];
    }
    case "Range": {
      const start = need(node, inputs, 0, "start").data[0];
      const limit = need(node, inputs, 1, "limit").data[0];
      const delta = need(node, inputs, 2, "delta").data[0];
      if (delta === 0) throw new FormatError(`${onnxLabel(node)}: delta must not be 0`);
      const n = Math.max(Math.ceil((limit - start) / delta), 0);
      const out = make(node, [n], inputs[0]!.float);
      for (let i = 0; i < n; i++) out.data[i] = start + i * delta;
      return [out];
    }
    case "ConstantOfShape": {
      const shape = ints(x());
      const value = node.attributes.get("value");
      const v = value?.t ? readTensor(value.t, `${onnxLabel(node)}: value`) : null;
      const out = make(node, shape, v?.float ?? true);
      out.data.fill(v?.data[0] ?? 0);
      return [out];
    }
    case "ReduceProd": {
      const c = x();
      const axes = axesArg(node, inputs, opset, 18) ?? c.dims.map((_, i) => i);
      const keep = attrInt(node, "keepdims", 1) === 1;
      if (c.dims.length !== 1 || (axes.length !== 1 && axes.length !== 0)) {
        throw new FormatError(`${onnxLabel(node)}: only 1-D ReduceProd can be folded`);
      }
      const out = make(node, keep ? [1] : [], c.float);
      let prod = 1;
      for (const v of c.data) prod *= v;
      out.data[0] = prod;
      return [out];
    }
    default:
      throw new FormatError(`${onnxLabel(node)}: cannot be evaluated at import time`);
  }
}

/** The value of a Constant node (value, value_float(s), value_int(s)). */
export function constantValue(node: OnnxNode): Const {
  const a = node.attributes;
  const v = a.get("value");
  if (v?.t) return readTensor(v.t, `${onnxLabel(node)}: value`);
  if (a.has("value_float"))
    return { dims: [], float: true, data: Float64Array.of(attrFloat(node, "value_float", 0)) };
  if (a.has("value_int"))
    return { dims: [], float: false, data: Float64Array.of(attrInt(node, "value_int", 0)) };
  const fs = a.get("value_floats");
  if (fs) return { dims: [fs.floats.length], float: true, data: Float64Array.from(fs.floats) };
  const is = a.get("value_ints");
  if (is) return { dims: [is.ints.length], float: false, data: Float64Array.from(is.ints) };
  if (a.has("sparse_value")) throw new FormatError(`${onnxLabel(node)}: sparse constants are not supported`);
  throw new FormatError(`${onnxLabel(node)}: no value attribute (value, value_float(s), value_int(s))`);
}
