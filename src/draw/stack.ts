import { ArgumentError, describe } from "../tensor/errors.js";
import { checkPositiveInt } from "../tensor/shape.js";
import { convCost } from "./cost.js";
import { type Layer1d, type StackField, stackField } from "./geometry.js";
import { Canvas, formatCount, num, PALETTE, textWidth } from "./svg.js";

/**
 * Small against large kernels (article §2, §3 and §10 "replace a large kernel by several small ones"): a
 * cross-section of the input cells one output unit sees through a stack of convolutions, next to a single
 * large (or dilated) kernel with the same field, with parameters, MACs and the number of nonlinearities.
 *
 * Cells are shaded by the number of paths from the unit (how often a cell is counted): already for three 3x3
 * layers the centre has 7 paths and the edges 1, the start of the effective receptive field's Gaussian shape.
 *
 * Test hooks: `g.stack` with `data-field`, `data-params`, `data-macs`; `rect.reached` with `data-level`
 * (0 = the unit, last = the input), `data-pos`, `data-paths`; `line.tap-edge` per tap.
 */

/** A layer of a stack: a kernel size (stride 1, dilation 1) or its full spec. */
export type StackLayer = number | { kernelSize: number; dilation?: number; stride?: number };

export interface KernelStackSpec {
  /** Stacks to compare, each a list of layers from the input up, e.g. [[3, 3, 3], [7]]. */
  stacks: readonly (readonly StackLayer[])[];
  /** Channels in and out of every layer, for the counts (default 64). */
  channels?: number;
  /** Output height and width at which MACs are counted (default 56). */
  size?: number;
  title?: string;
}

function toLayer(l: StackLayer, op: string): Layer1d {
  if (typeof l === "number") return { k: checkPositiveInt(l, op, "kernelSize"), s: 1, d: 1 };
  if (typeof l !== "object" || l === null)
    throw new ArgumentError(describe(op, "layer", "a number or { kernelSize }", l));
  return {
    k: checkPositiveInt(l.kernelSize, op, "kernelSize"),
    s: checkPositiveInt(l.stride ?? 1, op, "stride"),
    d: checkPositiveInt(l.dilation ?? 1, op, "dilation"),
  };
}

function layerName(l: Layer1d): string {
  return `${l.k}×${l.k}${l.d > 1 ? ` dil ${l.d}` : ""}${l.s > 1 ? `/${l.s}` : ""}`;
}

function stackName(layers: Layer1d[]): string {
  const names = layers.map(layerName);
  return names.every((n) => n === names[0]) && names.length > 1
    ? `${names.length} × conv ${names[0]}`
    : names.map((n) => `conv ${n}`).join(" → ");
}

/** Draws the stacks side by side (see the module comment). */
export function drawKernelStack(spec: KernelStackSpec): string {
  const op = "drawKernelStack";
  if (
    !Array.isArray(spec.stacks) ||
    spec.stacks.length === 0 ||
    spec.stacks.some((s) => !Array.isArray(s) || s.length === 0)
  ) {
    throw new ArgumentError(describe(op, "stacks", "non-empty lists of layers", spec.stacks));
  }
  const ch = checkPositiveInt(spec.channels ?? 64, op, "channels");
  const size = checkPositiveInt(spec.size ?? 56, op, "size");
  const stacks: Layer1d[][] = (spec.stacks as readonly (readonly StackLayer[])[]).map((s) =>
    s.map((l) => toLayer(l, op)),
  );
  const fields = stacks.map((layers) => stackField(layers));
  const costs = stacks.map((layers) => {
    let params = 0;
    let macs = 0;
    for (const l of layers) {
      const cost = convCost({ inChannels: ch, outChannels: ch, kernelSize: [l.k, l.k] }, size, size);
      params += cost.weights;
      macs += cost.macs;
    }
    return { params, macs };
  });
  const title = spec.title ?? `Receptive field: ${stacks.map(stackName).join(" vs ")}`;
  const c = new Canvas({
    title,
    desc: stacks
      .map(
        (layers, i) =>
          `${stackName(layers)}: receptive field ${fields[i].size}, ${formatCount(costs[i].params)} weights, ${formatCount(costs[i].macs)} MACs, ${layers.length} nonlinearities`,
      )
      .join("; "),
  });
  c.text(0, 16, title, { size: 14, weight: "bold" });
  const maxLevels = Math.max(...stacks.map((s) => s.length));
  const widest = Math.max(...fields.map((f) => spanOf(f)[1] - spanOf(f)[0] + 1));
  const cell = Math.max(9, Math.min(22, Math.floor(420 / (widest + 2))));
  const rowGap = 46;
  const top = 74;
  let x = 0;
  stacks.forEach((layers, si) => {
    const f = fields[si];
    const [lo, hi] = spanOf(f);
    const cols = hi - lo + 3;
    const w = cols * cell;
    // Every panel has the same height: its input row at the bottom row of the tallest stack.
    const levelY = (level: number) => top + (maxLevels - layers.length + level) * (cell + rowGap);
    // Positions of each level relative to the unit's window start, centred under the unit.
    const offsetOf = (level: number) => centreShift(f, level);
    const X = (level: number, p: number) => x + (p - offsetOf(level) - lo + 1) * cell;
    c.open({
      class: "stack",
      "data-field": f.size,
      "data-params": costs[si].params,
      "data-macs": costs[si].macs,
    });
    c.text(x, top - 28, stackName(layers), { weight: "bold" });
    const maxPaths = Math.max(...f.levels[f.levels.length - 1].values());
    // Edges under the cells.
    f.edges.forEach((edges, level) => {
      for (const [p, q] of edges) {
        c.line(X(level, p) + cell / 2, levelY(level) + cell, X(level + 1, q) + cell / 2, levelY(level + 1), {
          class: "tap-edge",
          stroke: PALETTE.kernelStroke,
          "stroke-width": 0.8,
          "stroke-opacity": 0.8,
        });
      }
    });
    f.levels.forEach((reached, level) => {
      const y = levelY(level);
      // The whole row (every cell of this level in the panel), then the reached ones.
      for (let q = 0; q < cols; q++) {
        c.rect(x + q * cell, y, cell, cell, {
          fill: PALETTE.input,
          stroke: PALETTE.inputStroke,
          "stroke-width": 0.4,
        });
      }
      const levelMax = Math.max(...reached.values());
      for (const [p, paths] of reached) {
        const t = paths / levelMax;
        c.rect(X(level, p) + 1, y + 1, cell - 2, cell - 2, {
          class: "reached",
          "data-level": level,
          "data-pos": p,
          "data-paths": paths,
          fill: level === 0 ? PALETTE.output : PALETTE.kernel,
          "fill-opacity": level === 0 ? 1 : num(0.3 + 0.7 * t),
          stroke: level === 0 ? PALETTE.output : PALETTE.kernelStroke,
          "stroke-width": 0.6,
        });
      }
      const label =
        level === 0 ? "output unit" : level === layers.length ? "input" : `layer ${layers.length - level}`;
      c.text(x + w + 6, y + cell / 2 + 4, label, { size: 10.5, fill: PALETTE.muted });
    });
    // Paths per input cell, printed under the input row when the cells are wide enough.
    const inputLevel = f.levels.length - 1;
    if (cell >= 16 && maxPaths > 1) {
      for (const [p, paths] of f.levels[inputLevel]) {
        c.text(X(inputLevel, p) + cell / 2, levelY(inputLevel) + cell + 12, String(paths), {
          size: 9,
          anchor: "middle",
          fill: PALETTE.muted,
        });
      }
    }
    const baseY = levelY(inputLevel) + cell + 30;
    const k2 = stacks[si].map((l) => l.k * l.k);
    const lines = [
      `receptive field ${f.size} (${f.levels[inputLevel].size} input cells reached)`,
      `params ${k2.length > 1 && k2.every((v) => v === k2[0]) ? `${k2.length}·${k2[0]}` : k2.join(" + ")}·C² = ${formatCount(costs[si].params)}`,
      `MACs ${formatCount(costs[si].macs)}`,
      `${layers.length} nonlinearit${layers.length === 1 ? "y" : "ies"}`,
    ];
    c.lines(x, baseY, lines, { size: 11.5 });
    c.close();
    const labelW = textWidth("output unit", 10.5) + 10;
    x += Math.max(w + labelW, ...lines.map((l) => textWidth(l, 11.5))) + 40;
  });
  const bottom = top + maxLevels * (cell + rowGap) + cell + 100;
  c.text(
    0,
    bottom,
    `C = ${ch} channels in and out of every layer, output ${size}×${size}, stride 1, no bias; numbers under the input: paths from the unit to that cell.`,
    {
      size: 11,
      fill: PALETTE.muted,
    },
  );
  return c.toString();
}

/** Extent [lo, hi] of the input level's positions, after centring every level under the unit. */
function spanOf(f: StackField): [number, number] {
  let lo = 0;
  let hi = 0;
  f.levels.forEach((reached, level) => {
    const shift = centreShift(f, level);
    for (const p of reached.keys()) {
      lo = Math.min(lo, p - shift);
      hi = Math.max(hi, p - shift);
    }
  });
  return [lo, hi];
}

/**
 * Shift that centres a level's reached cells under the unit: window-start coordinates grow to the right, so
 * each level is moved left by half its extent.
 */
function centreShift(f: StackField, level: number): number {
  const keys = [...f.levels[level].keys()];
  return (Math.min(...keys) + Math.max(...keys)) / 2;
}
