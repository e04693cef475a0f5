import { analyze } from "../analyze/analyze.js";
import type { ReceptiveField } from "../analyze/types.js";
import { Tensor } from "../autograd/tensor.js";
import { GraphModel } from "../graph/executor.js";
import type { Graph, Weights } from "../graph/types.js";
import { ArgumentError, describe, ShapeError } from "../tensor/errors.js";
import { Rng } from "../tensor/rng.js";
import { formatShape } from "../tensor/shape.js";
import { Canvas, heatColor, num, PALETTE, pixelRects } from "./svg.js";

/**
 * Receptive fields on the input (DESIGN.md: "range of perception"): the theoretical field of one output unit
 * (the analyzer's size, jump and start), and the effective receptive field of Luo et al. 2016: the gradient of
 * that unit with respect to the input, computed with the real executor (forward, then backward with a one-hot
 * gradOutput), drawn as a heat map.
 */

export interface ErfOptions {
  /** Value (node output) whose unit is studied; default: the analyzer's model receptive-field layer. */
  layer?: string;
  /** Output position (row, column) of the unit; default: the middle of the map (rounded down: H/2, W/2). */
  unit?: readonly [number, number];
  /** Channel of the unit; default: all channels at that position (the gradient of their sum). */
  channel?: number;
  /** Inputs to average over: given tensors [1, C, H, W], or this many seeded normal inputs (default 4). */
  inputs?: readonly Tensor[];
  samples?: number;
  /** Per-sample input shape [C, H, W] for the random inputs (default: the graph's declared input). */
  inputShape?: readonly number[];
  seed?: number;
}

export interface EffectiveReceptiveField {
  layer: string;
  unit: [number, number];
  channel: number | null;
  /** |∂y/∂x| summed over input channels, averaged over the inputs: height x width, row-major. */
  map: Float32Array;
  height: number;
  width: number;
  /** The analyzer's theoretical field of the layer. */
  theoretical: ReceptiveField;
  /** Input-pixel centre of the unit's theoretical field (start + jump·unit). */
  centre: [number, number];
}

function declaredShape(graph: Graph): number[] {
  const dims = graph.inputs[0]?.shape ?? [];
  return dims.slice(1).map((d) => (typeof d === "number" ? d : 1));
}

/** The effective receptive field of one unit (see `ErfOptions`). The graph must have a single input. */
export function effectiveReceptiveField(
  graph: Graph,
  weights: Weights,
  options: ErfOptions = {},
): EffectiveReceptiveField {
  const op = "effectiveReceptiveField";
  if (graph.inputs.length !== 1) {
    throw new ArgumentError(describe(op, "graph", "a single-input graph", `${graph.inputs.length} inputs`));
  }
  const sampleShape = options.inputs?.[0]?.shape.slice(1) ?? options.inputShape ?? declaredShape(graph);
  if (sampleShape.length !== 3) {
    throw new ShapeError(describe(op, "inputShape", "[C, H, W]", formatShape(sampleShape)));
  }
  const analysis = analyze(graph, sampleShape);
  const layer = options.layer ?? analysis.receptiveField?.layer;
  if (layer === undefined)
    throw new ArgumentError(describe(op, "layer", "a spatial layer", "none in the graph"));
  const li = graph.nodes.findIndex((n) => n.outputs.includes(layer));
  const field = li >= 0 ? analysis.layers[li].receptiveField : null;
  const outShape = li >= 0 ? analysis.layers[li].outputShape : null;
  if (field === null || outShape === null || outShape.length !== 4) {
    throw new ArgumentError(describe(op, "layer", "the name of a 4-d node output [N, C, H, W]", layer));
  }
  const [, cOut, hOut, wOut] = outShape;
  const unit: [number, number] = options.unit
    ? [options.unit[0], options.unit[1]]
    : [Math.floor(hOut / 2), Math.floor(wOut / 2)];
  if (!(unit[0] >= 0 && unit[0] < hOut && unit[1] >= 0 && unit[1] < wOut) || !unit.every(Number.isInteger)) {
    throw new ArgumentError(
      describe(op, "unit", `a position of the ${hOut}×${wOut} map of ${layer}`, options.unit),
    );
  }
  const channel = options.channel ?? null;
  if (channel !== null && !(Number.isInteger(channel) && channel >= 0 && channel < cOut)) {
    throw new ArgumentError(describe(op, "channel", `a channel below ${cOut}`, channel));
  }
  const [c, h, w] = sampleShape;
  let inputs: readonly Tensor[];
  if (options.inputs) {
    inputs = options.inputs;
  } else {
    const rng = new Rng(options.seed ?? 0);
    inputs = Array.from(
      { length: options.samples ?? 4 },
      () =>
        new Tensor(
          Float32Array.from({ length: c * h * w }, () => rng.normal()),
          [1, c, h, w],
        ),
    );
  }
  const model = new GraphModel(graph, weights).eval();
  const map = new Float32Array(h * w);
  for (const given of inputs) {
    if (
      given.shape.length !== 4 ||
      given.shape[0] !== 1 ||
      given.shape.slice(1).join() !== sampleShape.join()
    ) {
      throw new ShapeError(
        describe(op, "inputs", `tensors [1, ${sampleShape.join(", ")}]`, formatShape(given.shape)),
      );
    }
    const x = new Tensor(Float32Array.from(given.data), given.shape, true);
    const values = model.runAll(x);
    const y = values.get(layer)!;
    const grad = new Float32Array(y.numel);
    for (let ch = 0; ch < cOut; ch++) {
      if (channel === null || ch === channel) grad[(ch * hOut + unit[0]) * wOut + unit[1]] = 1;
    }
    y.backward(grad);
    const g = x.grad!.data;
    for (let ch = 0; ch < c; ch++) {
      for (let k = 0; k < h * w; k++) map[k] += Math.abs(g[ch * h * w + k]) / inputs.length;
    }
    model.zeroGrad();
  }
  const centre: [number, number] = [
    field.start[0] + field.jump[0] * unit[0],
    field.start[1] + field.jump[1] * unit[1],
  ];
  return { layer, unit, channel, map, height: h, width: w, theoretical: field, centre };
}

/** Radius (px) around `centre` holding `fraction` of the map's mass. */
export function massRadius(erf: EffectiveReceptiveField, fraction: number): number {
  const items: [number, number][] = [];
  let total = 0;
  for (let r = 0; r < erf.height; r++) {
    for (let q = 0; q < erf.width; q++) {
      const v = erf.map[r * erf.width + q];
      total += v;
      items.push([Math.hypot(r - erf.centre[0], q - erf.centre[1]), v]);
    }
  }
  if (total === 0) return 0;
  items.sort((a, b) => a[0] - b[0]);
  let acc = 0;
  for (const [d, v] of items) {
    acc += v;
    if (acc >= fraction * total) return d;
  }
  return items[items.length - 1][0];
}

export interface ReceptiveFieldDrawOptions extends ErfOptions {
  title?: string;
  /** Pixel size in the drawing (default: fitted to about 360 px). */
  pixel?: number;
  /**
   * Display exponent: colours show (|g| / max)^gamma. Default 0.5 (square root), which shows the Gaussian
   * spread that a linear scale hides behind the peak; 1 is linear. Only the colours change.
   */
  gamma?: number;
}

/**
 * The theoretical and the effective receptive field of one unit, on the input: a heat map of |∂y/∂x| (Luo et
 * al.: it is roughly Gaussian and fills only part of the theoretical field), the theoretical field as a dashed
 * square (clipped to the image), the unit's centre, and the circle holding 90% of the gradient.
 *
 * Test hooks: `g.erf` with `data-layer`, `data-peak-row`/`data-peak-col`; `rect.theoretical` with
 * `data-size`, `data-centre`; `circle.mass90` with `data-radius`.
 */
export function drawReceptiveField(
  graph: Graph,
  weights: Weights,
  options: ReceptiveFieldDrawOptions = {},
): string {
  const erf = effectiveReceptiveField(graph, weights, options);
  const { height: h, width: w, map, theoretical: f } = erf;
  let peak = 0;
  let peakAt = 0;
  for (let k = 0; k < map.length; k++) {
    if (map[k] > peak) {
      peak = map[k];
      peakAt = k;
    }
  }
  const gamma = options.gamma ?? 0.5;
  if (!(gamma > 0))
    throw new ArgumentError(describe("drawReceptiveField", "gamma", "a positive number", gamma));
  const norm = Float32Array.from(map, (v) => (peak > 0 ? (v / peak) ** gamma : 0));
  const px = options.pixel ?? Math.max(3, Math.min(24, Math.floor(360 / Math.max(h, w))));
  const r90 = massRadius(erf, 0.9);
  const inside = massInside(erf);
  const title =
    options.title ??
    `Receptive field of ${erf.layer}[${erf.channel ?? "all"}, ${erf.unit.join(", ")}] in ${graph.name}`;
  const c = new Canvas({
    title,
    desc: `Theoretical receptive field ${f.size.join("×")} (jump ${f.jump.join("×")}) centred at input (${erf.centre.map((v) => num(v)).join(", ")}); effective receptive field from the gradient: 90% of it within ${num(r90)} px of the centre, ${num(100 * inside)}% inside the theoretical field.`,
  });
  c.text(0, 16, title, { size: 14, weight: "bold" });
  const x0 = 0;
  const y0 = 40;
  c.open({
    class: "erf",
    "data-layer": erf.layer,
    "data-peak-row": Math.floor(peakAt / w),
    "data-peak-col": peakAt % w,
  });
  c.raw(pixelRects(norm, h, w, px, x0, y0, heatColor, 48), [x0, y0, x0 + w * px, y0 + h * px]);
  c.close();
  c.rect(x0, y0, w * px, h * px, { fill: "none", stroke: PALETTE.ink, "stroke-width": 1 });

  // Theoretical field: input pixels centre ± (size − 1)/2, clipped to the image.
  const half = [(f.size[0] - 1) / 2, (f.size[1] - 1) / 2];
  const top = Math.max(-0.5, erf.centre[0] - half[0] - 0.5);
  const bottom = Math.min(h - 0.5, erf.centre[0] + half[0] + 0.5);
  const left = Math.max(-0.5, erf.centre[1] - half[1] - 0.5);
  const right = Math.min(w - 0.5, erf.centre[1] + half[1] + 0.5);
  const X = (q: number) => x0 + (q + 0.5) * px;
  const Y = (r: number) => y0 + (r + 0.5) * px;
  c.rect(X(left), Y(top), (right - left) * px, (bottom - top) * px, {
    class: "theoretical",
    "data-size": f.size.join(","),
    "data-centre": erf.centre.join(","),
    fill: "none",
    stroke: PALETTE.paper,
    "stroke-width": 2,
    "stroke-dasharray": "6 4",
  });
  c.circle(X(erf.centre[1]), Y(erf.centre[0]), Math.max(1, r90 * px), {
    class: "mass90",
    "data-radius": Math.round(r90 * 100) / 100,
    fill: "none",
    stroke: PALETTE.accent,
    "stroke-width": 1.8,
  });
  c.circle(X(erf.centre[1]), Y(erf.centre[0]), 3, { fill: PALETTE.accent, stroke: PALETTE.paper });

  // Colour bar.
  const barX = x0 + w * px + 18;
  const steps = 24;
  for (let k = 0; k < steps; k++) {
    c.rect(barX, y0 + (h * px * k) / steps, 12, (h * px) / steps + 0.3, {
      fill: heatColor(1 - k / (steps - 1)),
    });
  }
  c.text(barX + 16, y0 + 10, "max |∂y/∂x|", { size: 10.5, fill: PALETTE.muted });
  if (gamma !== 1) {
    c.text(barX + 16, y0 + 26, gamma === 0.5 ? "square-root scale" : `scale ^${num(gamma)}`, {
      size: 10.5,
      fill: PALETTE.muted,
    });
  }
  c.text(barX + 16, y0 + h * px, "0", { size: 10.5, fill: PALETTE.muted });

  const clipped =
    f.size[0] > h || f.size[1] > w || top <= -0.5 || left <= -0.5 || bottom >= h - 0.5 || right >= w - 0.5;
  const lines = [
    `input ${h}×${w}; unit (${erf.unit.join(", ")}) of ${erf.layer}, ${erf.channel === null ? "all channels" : `channel ${erf.channel}`}; centre at input (${erf.centre.map((v) => num(v)).join(", ")})`,
    `dashed: theoretical field ${f.size.join("×")} px, jump ${f.jump.join("×")}${clipped ? " (clipped to the image)" : ""}${f.deformable ? "; nominal grid of a deformable layer" : ""}`,
    `heat: effective field |∂y/∂x| (Luo et al. 2016), ${options.inputs?.length ?? options.samples ?? 4} input(s); circle: 90% of it within ${num(r90)} px, ${num(100 * inside)}% inside the theoretical field`,
  ];
  c.lines(0, y0 + h * px + 22, lines, { size: 11.5 });
  return c.toString();
}

/** Fraction of the map's mass inside the theoretical field. */
export function massInside(erf: EffectiveReceptiveField): number {
  const f = erf.theoretical;
  let total = 0;
  let inside = 0;
  for (let r = 0; r < erf.height; r++) {
    for (let q = 0; q < erf.width; q++) {
      const v = erf.map[r * erf.width + q];
      total += v;
      if (
        Math.abs(r - erf.centre[0]) <= (f.size[0] - 1) / 2 &&
        Math.abs(q - erf.centre[1]) <= (f.size[1] - 1) / 2
      ) {
        inside += v;
      }
    }
  }
  return total === 0 ? 0 : inside / total;
}
