import type { Node } from "../graph/types.js";
import { adaptiveBin } from "./macs.js";
import type { ModelReceptiveField, ReceptiveField } from "./types.js";

/**
 * Receptive fields, propagated value by value through the graph (rules in docs/analyze.md).
 *
 * Per spatial axis a field is (size r, jump j, start): through a window op with kernel k, stride s, dilation d
 * and padding p before the axis,
 *   r_out = r_in + (k-1)*d*j_in,   j_out = j_in*s,   start_out = start_in + ((k-1)/2*d - p)*j_in.
 * A graph input [N, C, H, W] starts at r = 1, j = 1, start = 0 (pixel i of the input is at coordinate i).
 * Values that are not NCHW images from the start (an MLP's [N, 784] input, constants) have no field (null).
 */

interface Axis {
  size: number;
  jump: number;
  start: number;
}

/** A value's field while propagating; `anchor` is the last spatial (non-global) field upstream. */
export interface FieldState {
  axes: [Axis, Axis];
  global: boolean;
  deformable: boolean;
  globalContext: boolean;
  anchor: ModelReceptiveField;
}

/** The public view of a field state. */
export function fieldReport(f: FieldState): ReceptiveField {
  const [h, w] = f.axes;
  return {
    size: [h.size, w.size],
    jump: [h.jump, w.jump],
    start: [h.start, w.start],
    global: f.global,
    deformable: f.deformable,
    globalContext: f.globalContext,
  };
}

/** Field of a graph input: a single pixel for NCHW inputs, none otherwise. */
export function inputField(name: string, shape: readonly number[]): FieldState | null {
  if (shape.length !== 4) return null;
  const axes: [Axis, Axis] = [
    { size: 1, jump: 1, start: 0 },
    { size: 1, jump: 1, start: 0 },
  ];
  return anchored(name, { axes, global: false, deformable: false, globalContext: false });
}

type Unanchored = Omit<FieldState, "anchor">;

/** A field that is spatial (not global) becomes its own anchor, measured at `layer`. */
function anchored(layer: string, f: Unanchored, inherited?: ModelReceptiveField): FieldState {
  if (f.global && inherited !== undefined) return { ...f, anchor: inherited };
  const state = { ...f } as FieldState;
  state.anchor = { layer, ...fieldReport(state as FieldState) };
  return state;
}

function window(a: Axis, k: number, s: number, d: number, padBefore: number): Axis {
  return {
    size: a.size + (k - 1) * d * a.jump,
    jump: a.jump * s,
    start: a.start + (((k - 1) / 2) * d - padBefore) * a.jump,
  };
}

/** A window over the whole extent of the axis (global pooling, flattening): kernel = stride = extent. */
function whole(a: Axis, extent: number): Axis {
  return window(a, extent, extent, 1, 0);
}

/** Adaptive pooling bins on one axis: exact when they tile evenly, otherwise largest bin and mean stride. */
function adaptive(a: Axis, size: number, out: number): Axis {
  if (size % out === 0) return window(a, size / out, size / out, 1, 0);
  let largest = 0;
  for (let i = 0; i < out; i++) largest = Math.max(largest, adaptiveBin(size, out, i).length);
  const first = adaptiveBin(size, out, 0).length;
  return {
    size: a.size + (largest - 1) * a.jump,
    jump: (a.jump * size) / out,
    start: a.start + ((first - 1) / 2) * a.jump,
  };
}

/** Whether operand `shape` is broadcast over a spatial axis of the NCHW `out` (size 1 where out is larger). */
function spatiallyBroadcast(shape: readonly number[], out: readonly number[]): boolean {
  for (const axis of [2, 3]) {
    const i = axis - (out.length - shape.length);
    const dim = i >= 0 ? shape[i] : 1;
    if (dim === 1 && out[axis] > 1) return true;
  }
  return false;
}

/**
 * At a join (add, mul, concat...) the output sees the largest field of its operands, per axis; jump and
 * start are those of the operand with that largest field (ties: the larger jump, then the first operand).
 * Operands broadcast over the spatial axes (an SE gate [N, C, 1, 1]) add no local field: they set
 * `globalContext`. Flags of the local operands are or-ed.
 */
function join(
  node: Node,
  fields: readonly (FieldState | null)[],
  shapes: readonly (readonly number[])[],
  out: readonly number[],
): FieldState | null {
  let local: FieldState[] = [];
  let context = false;
  fields.forEach((f, i) => {
    if (f === null) return;
    if (out.length === 4 && spatiallyBroadcast(shapes[i], out)) context = true;
    else local.push(f);
  });
  if (local.length === 0) {
    // Every operand is broadcast on some axis (an outer product [.., H, 1] * [.., 1, W]): take them all.
    local = fields.filter((f): f is FieldState => f !== null);
    context = false;
  }
  if (local.length === 0) return null;
  const pick = (axis: 0 | 1): Axis => {
    let best = local[0].axes[axis];
    for (const f of local.slice(1)) {
      const a = f.axes[axis];
      if (a.size > best.size || (a.size === best.size && a.jump > best.jump)) best = a;
    }
    return { ...best };
  };
  const joined: Unanchored = {
    axes: [pick(0), pick(1)],
    global: local.some((f) => f.global),
    deformable: local.some((f) => f.deformable),
    globalContext: context || local.some((f) => f.globalContext),
  };
  let anchor = local[0].anchor;
  for (const f of local.slice(1)) {
    if (f.anchor.size[0] * f.anchor.size[1] > anchor.size[0] * anchor.size[1]) anchor = f.anchor;
  }
  return anchored(node.name, joined, anchor);
}

/** The field after covering the whole extent of the given axes (2 = h, 3 = w) of the NCHW input `shape`. */
function wholeAxes(
  node: Node,
  f: FieldState,
  shape: readonly number[],
  axes: readonly number[],
  global: boolean,
): FieldState {
  if (f.global || shape.length !== 4) return f;
  const next: [Axis, Axis] = [
    axes.includes(2) ? whole(f.axes[0], shape[2]) : f.axes[0],
    axes.includes(3) ? whole(f.axes[1], shape[3]) : f.axes[1],
  ];
  return anchored(node.name, { ...f, axes: next, global }, f.anchor);
}

/** Where each output axis of a transpose/permute comes from. */
function permutation(node: Extract<Node, { op: "transpose" | "permute" }>, rank: number): number[] {
  if (node.op === "permute") return [...node.attrs.dims];
  const p = Array.from({ length: rank }, (_, i) => i);
  p[node.attrs.dim0] = node.attrs.dim1;
  p[node.attrs.dim1] = node.attrs.dim0;
  return p;
}

/**
 * Fields of a node's outputs from the fields of its inputs. `shapes` are the input shapes and `outs` the
 * output shapes (batch included).
 */
export function propagateField(
  node: Node,
  fields: readonly (FieldState | null)[],
  shapes: readonly (readonly number[])[],
  outs: readonly (readonly number[])[],
): (FieldState | null)[] {
  const f = fields[0] ?? null;
  const x = shapes[0] ?? [];
  const same = (state: FieldState | null): (FieldState | null)[] =>
    outs.map(() => (state === null ? null : anchored(node.name, state, state.anchor)));
  if (node.op === "constant") return outs.map(() => null);
  if (
    node.op === "add" ||
    node.op === "sub" ||
    node.op === "mul" ||
    node.op === "div" ||
    node.op === "concat"
  ) {
    return [join(node, fields, shapes, outs[0])];
  }
  if (f === null) return outs.map(() => null);
  const spatial = x.length === 4 && !f.global;
  switch (node.op) {
    case "conv2d":
    case "deformConv2d":
    case "maxPool2d":
    case "avgPool2d": {
      const a = node.attrs;
      const d = node.op === "avgPool2d" ? [1, 1] : node.attrs.dilation;
      const axes: [Axis, Axis] = [
        window(f.axes[0], a.kernelSize[0], a.stride[0], d[0], a.padding[0]),
        window(f.axes[1], a.kernelSize[1], a.stride[1], d[1], a.padding[1]),
      ];
      const deformable = f.deformable || node.op === "deformConv2d";
      return [anchored(node.name, { ...f, axes, deformable }, f.anchor)];
    }
    case "adaptiveAvgPool2d":
    case "adaptiveMaxPool2d": {
      if (!spatial) return same(f);
      const [hOut, wOut] = node.attrs.outputSize;
      const axes: [Axis, Axis] = [adaptive(f.axes[0], x[2], hOut), adaptive(f.axes[1], x[3], wOut)];
      return [anchored(node.name, { ...f, axes, global: hOut === 1 && wOut === 1 }, f.anchor)];
    }
    case "flatten": {
      const { startDim, endDim } = node.attrs;
      if (!spatial || endDim < 2 || startDim === endDim) return same(f);
      return [wholeAxes(node, f, x, [2, 3], true)];
    }
    case "reshape": {
      const out = outs[0];
      if (!spatial || (out.length === 4 && out[2] === x[2] && out[3] === x[3])) return same(f);
      return [wholeAxes(node, f, x, [2, 3], true)];
    }
    case "transpose":
    case "permute": {
      if (!spatial) return same(f);
      const p = permutation(node, x.length);
      if (p[2] === 2 && p[3] === 3) return same(f);
      if (p[2] === 3 && p[3] === 2) {
        const swapped: Unanchored = { ...f, axes: [f.axes[1], f.axes[0]] };
        return [anchored(node.name, swapped, f.anchor)];
      }
      return [wholeAxes(node, f, x, [2, 3], true)];
    }
    case "sum":
    case "mean": {
      const { dims, keepdim } = node.attrs;
      if (!spatial) return same(f);
      const reduced = dims.length === 0 ? [0, 1, 2, 3] : dims;
      const axes = reduced.filter((d) => d >= 2);
      if (axes.length === 0) return same(f);
      const both = axes.length === 2;
      return [wholeAxes(node, f, x, axes, both || !keepdim)];
    }
    case "softmax":
    case "logSoftmax": {
      if (!spatial || node.attrs.axis < 2) return same(f);
      return [wholeAxes(node, f, x, [node.attrs.axis], false)];
    }
    case "linear":
      // nn.Linear on an NCHW tensor mixes along the last (width) axis only.
      if (!spatial) return same(f);
      return [wholeAxes(node, f, x, [3], false)];
    case "split": {
      const { axis, sizes } = node.attrs;
      if (!spatial || axis < 2) return same(f);
      // A crop along a spatial axis: piece k starts `offset` pixels further, so its field starts later.
      let offset = 0;
      return sizes.map((size) => {
        const axes: [Axis, Axis] = [{ ...f.axes[0] }, { ...f.axes[1] }];
        axes[axis - 2].start += offset * axes[axis - 2].jump;
        offset += size;
        return anchored(node.name, { ...f, axes }, f.anchor);
      });
    }
    default:
      // Element-wise unary ops, batch norm, channel shuffle, dropout, identity: the field passes unchanged.
      return same(f);
  }
}
