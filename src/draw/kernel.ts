import type { Pair } from "../graph/types.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { checkPositiveInt, pair } from "../tensor/shape.js";
import { convCost } from "./cost.js";
import { composeFootprint, outSize, resolveWindow, type WindowSpec, windowTaps } from "./geometry.js";
import { Canvas, dims, formatCount, num, PALETTE } from "./svg.js";

/**
 * Kernel-on-input drawings (article §3 and §4): the sampling grid of one convolution window with its stride,
 * padding and dilation, and the asymmetric 1xk + kx1 pair next to the kxk it replaces.
 */

export interface ConvGridSpec extends WindowSpec {
  /** Input height and width (one number for a square map). */
  inputSize: number | readonly [number, number];
  /** Output cell whose window is drawn (default: the middle one). */
  output?: readonly [number, number];
  /** Channels, for the parameter and MAC line (both needed to print it). */
  inChannels?: number;
  outChannels?: number;
  groups?: number;
  bias?: boolean;
  /** Title (default: "conv2d 3×3, stride 2, padding 1, dilation 2"). */
  title?: string;
}

const OP = "drawConvGrid";

function cellSize(rows: number, cols: number): number {
  return Math.max(14, Math.min(30, Math.floor(330 / Math.max(rows, cols))));
}

function describeWindow(k: Pair, s: Pair, pads: readonly number[], d: Pair): string {
  const two = (p: readonly number[]) => (p[0] === p[1] ? `${p[0]}` : `${p[0]}×${p[1]}`);
  const padText =
    pads[0] === pads[2] && pads[1] === pads[3]
      ? two([pads[0], pads[1]])
      : `[${pads.join(", ")}] (top, left, bottom, right)`;
  return `kernel ${dims(k)}, stride ${two(s)}, padding ${padText}, dilation ${two(d)}`;
}

/**
 * The sampling grid of a kxk convolution: the zero-padded input, the cells one output position samples
 * (the holes of a dilated kernel visible between them), the top-left tap of every output position (the
 * stride), and the output map with that position highlighted. Labelled with the output-size formula and,
 * when channels are given, parameters and MACs.
 *
 * Test hooks: each sampled cell is a `rect.tap` with `data-row`/`data-col` (input coordinates, negative or
 * past the edge inside the padding), each output position's first tap a `circle.anchor` (when strided), the highlighted
 * output cell a `rect.out-cell` with `data-row`/`data-col`.
 */
export function drawConvGrid(spec: ConvGridSpec): string {
  const g = resolveWindow(spec, OP);
  const [h, w] = pair(spec.inputSize, 1, OP, "inputSize", checkPositiveInt);
  const [kh, kw] = g.kernelSize;
  const [sh, sw] = g.stride;
  const [dh, dw] = g.dilation;
  const [pt, pl, pb, pr] = g.padding;
  const hOut = outSize(h, kh, sh, dh, pt, pb);
  const wOut = outSize(w, kw, sw, dw, pl, pr);
  if (hOut < 1 || wOut < 1) {
    throw new ArgumentError(
      describe(
        OP,
        "inputSize",
        `a size the ${dims([kh, kw])} window fits in`,
        `${h}×${w} (output ${hOut}×${wOut})`,
      ),
    );
  }
  const [oh, ow] = spec.output ?? [Math.floor((hOut - 1) / 2), Math.floor((wOut - 1) / 2)];
  if (!Number.isInteger(oh) || !Number.isInteger(ow) || oh < 0 || ow < 0 || oh >= hOut || ow >= wOut) {
    throw new ArgumentError(describe(OP, "output", `a cell of the ${hOut}×${wOut} output`, spec.output));
  }
  const title = spec.title ?? `conv2d ${describeWindow(g.kernelSize, g.stride, g.padding, g.dilation)}`;
  const taps = windowTaps(g, oh, ow);
  const effH = dh * (kh - 1) + 1;
  const effW = dw * (kw - 1) + 1;
  const holes = effH * effW - kh * kw;
  const c = new Canvas({
    title,
    desc: `Input ${h}×${w} with zero padding ${g.padding.join(", ")} (top, left, bottom, right); a ${kh}×${kw} kernel with stride ${sh}×${sw} and dilation ${dh}×${dw} samples ${kh * kw} cells (${holes} holes) for output cell (${oh}, ${ow}) of the ${hOut}×${wOut} output.`,
  });

  const rows = h + pt + pb;
  const cols = w + pl + pr;
  const cell = cellSize(rows, cols);
  const x0 = 0;
  const y0 = 46;
  const cx = (col: number) => x0 + (col + pl) * cell;
  const cy = (row: number) => y0 + (row + pt) * cell;

  c.text(x0, 16, title, { size: 14, weight: "bold" });
  c.text(x0, y0 - 10, `input ${h}×${w}${pt + pl + pb + pr > 0 ? " + zero padding (grey)" : ""}`, {
    fill: PALETTE.muted,
  });

  // Input and padding cells.
  c.open({ class: "input-grid" });
  for (let r = -pt; r < h + pb; r++) {
    for (let q = -pl; q < w + pr; q++) {
      const inside = r >= 0 && r < h && q >= 0 && q < w;
      c.rect(cx(q), cy(r), cell, cell, {
        class: inside ? "cell" : "pad",
        fill: inside ? PALETTE.input : PALETTE.pad,
        stroke: inside ? PALETTE.inputStroke : PALETTE.padStroke,
        "stroke-width": 0.6,
        "stroke-dasharray": inside ? undefined : "2 2",
      });
    }
  }
  c.close();

  // The dilated window's extent; the holes are the unfilled cells inside it.
  const first = taps[0];
  c.rect(cx(first.col) - 2, cy(first.row) - 2, effW * cell + 4, effH * cell + 4, {
    class: "window",
    fill: "none",
    stroke: PALETTE.kernelStroke,
    "stroke-width": 1.5,
    "stroke-dasharray": dh > 1 || dw > 1 ? "5 3" : undefined,
  });
  c.open({ class: "taps" });
  for (const t of taps) {
    c.rect(cx(t.col) + 1.5, cy(t.row) + 1.5, cell - 3, cell - 3, {
      class: "tap",
      "data-row": t.row,
      "data-col": t.col,
      "data-i": t.i,
      "data-j": t.j,
      fill: PALETTE.kernel,
      stroke: PALETTE.kernelStroke,
      "stroke-width": 0.8,
    });
  }
  c.close();

  // Where the window starts for every output cell: the stride made visible (at stride 1 that is every
  // cell, which would only add noise).
  const strided = sh > 1 || sw > 1;
  c.open({ class: "anchors" });
  for (let r = 0; r < (strided ? hOut : 0); r++) {
    for (let q = 0; q < wOut; q++) {
      const row = r * sh - pt;
      const col = q * sw - pl;
      c.circle(cx(col) + cell / 2, cy(row) + cell / 2, Math.max(2, cell * 0.11), {
        class: "anchor",
        "data-row": row,
        "data-col": col,
        fill: PALETTE.ink,
        "fill-opacity": 0.55,
      });
    }
  }
  c.close();

  // Output map.
  const gap = Math.max(70, cell * 2.5);
  const ox = x0 + cols * cell + gap;
  const ocell = cell;
  const oy = y0 + Math.max(0, ((rows - hOut) * cell) / 2);
  c.text(ox, y0 - 10, `output ${hOut}×${wOut}`, { fill: PALETTE.muted });
  for (let r = 0; r < hOut; r++) {
    for (let q = 0; q < wOut; q++) {
      const hit = r === oh && q === ow;
      c.rect(ox + q * ocell, oy + r * ocell, ocell, ocell, {
        class: hit ? "out-cell" : "out",
        "data-row": hit ? r : undefined,
        "data-col": hit ? q : undefined,
        fill: hit ? PALETTE.output : PALETTE.outputLight,
        stroke: PALETTE.output,
        "stroke-width": 0.6,
      });
    }
  }
  // Projection lines from the window to the output cell.
  const wx1 = cx(first.col) + effW * cell + 2;
  const wy0 = cy(first.row) - 2;
  const wy1 = cy(first.row) + effH * cell + 2;
  const tx = ox + ow * ocell;
  const ty = oy + oh * ocell;
  c.line(wx1, wy0, tx, ty, { stroke: PALETTE.output, "stroke-width": 0.8, "stroke-opacity": 0.8 });
  c.line(wx1, wy1, tx, ty + ocell, { stroke: PALETTE.output, "stroke-width": 0.8, "stroke-opacity": 0.8 });

  // Legend and numbers.
  let y = Math.max(y0 + rows * cell, oy + hOut * ocell) + 24;
  const formula = (
    axis: string,
    n: number,
    k: number,
    s: number,
    d: number,
    a: number,
    b: number,
    o: number,
  ) => `${axis}out = ⌊(${n} + ${a} + ${b} − ${d}·(${k}−1) − 1) / ${s}⌋ + 1 = ${o}`;
  // The first two legend lines get drawn swatches (a tap square, an anchor dot) instead of text glyphs.
  c.open({ class: "legend-keys" });
  c.rect(x0, y - 10, 11, 11, { fill: PALETTE.kernel, stroke: PALETTE.kernelStroke, "stroke-width": 0.8 });
  if (strided) c.circle(x0 + 5.5, y + 17 - 4.5, 3.5, { fill: PALETTE.ink, "fill-opacity": 0.55 });
  c.close();
  const keyed = strided ? 2 : 1;
  const lines = [
    `${kh * kw} sampled cells for output (${oh}, ${ow}); window ${effH}×${effW} = dilation·(k−1)+1, ${holes} holes`,
    ...(strided
      ? [
          `window start of each of the ${hOut * wOut} output cells (every ${sh === sw ? sh : `${sh}×${sw}`} cells)`,
        ]
      : []),
    formula("H", h, kh, sh, dh, pt, pb, hOut),
  ];
  if (w !== h || kw !== kh || sw !== sh || dw !== dh || pl !== pt || pr !== pb) {
    lines.push(formula("W", w, kw, sw, dw, pl, pr, wOut));
  }
  lines.push(`receptive field of one output cell: ${effH}×${effW} input cells`);
  if (spec.inChannels !== undefined && spec.outChannels !== undefined) {
    const groups = spec.groups ?? 1;
    const cost = convCost(
      {
        inChannels: spec.inChannels,
        outChannels: spec.outChannels,
        kernelSize: g.kernelSize,
        groups,
        bias: spec.bias ?? false,
      },
      hOut,
      wOut,
    );
    lines.push(
      `Cin ${spec.inChannels} → Cout ${spec.outChannels}, groups ${groups}: params ${spec.outChannels}·${spec.inChannels / groups}·${kh}·${kw} = ${formatCount(cost.weights)}${cost.bias ? ` + ${cost.bias} bias` : ""}; MACs ${formatCount(cost.macs)}`,
    );
  }
  c.open({ class: "legend" });
  lines.forEach((line, i) => {
    c.text(i < keyed ? x0 + 17 : x0, y, line, { size: 12 });
    y += 17;
  });
  c.close();
  return c.toString();
}

export interface AsymmetricSpec {
  /** k of the kxk kernel being factorised (odd, at least 2). */
  kernelSize: number;
  /** Channels in and out (the same), for parameter counts (default 64). */
  channels?: number;
  /** Output height and width at which MACs are counted (default 56). */
  size?: number;
}

/**
 * Asymmetric convolution (article §4): a kxk kernel next to the 1xk followed by kx1 pair that replaces it.
 * Three panels: the kxk window, the 1xk window, and the kx1 window applied to the 1xk outputs, whose combined
 * footprint is again kxk (every cell reached by exactly one path). Labelled with parameters and MACs of each
 * at C channels in and out.
 *
 * Test hooks: panels are `g.panel` with `data-kernel`; sampled cells `rect.tap` with `data-dy`/`data-dx`
 * relative to the window start, and in the combined panel `data-paths`.
 */
export function drawAsymmetricConv(spec: AsymmetricSpec): string {
  const op = "drawAsymmetricConv";
  const k = checkPositiveInt(spec.kernelSize, op, "kernelSize");
  if (k < 2) throw new ArgumentError(describe(op, "kernelSize", "at least 2", k));
  const ch = checkPositiveInt(spec.channels ?? 64, op, "channels");
  const size = checkPositiveInt(spec.size ?? 56, op, "size");
  const square = convCost({ inChannels: ch, outChannels: ch, kernelSize: [k, k] }, size, size);
  const row = convCost({ inChannels: ch, outChannels: ch, kernelSize: [1, k] }, size, size);
  const col = convCost({ inChannels: ch, outChannels: ch, kernelSize: [k, 1] }, size, size);
  const title = `Asymmetric convolution: ${k}×${k} vs 1×${k} then ${k}×1`;
  const c = new Canvas({
    title,
    desc: `A ${k}×${k} kernel (${formatCount(square.weights)} weights at ${ch} channels) and its factorisation into a 1×${k} and a ${k}×1 kernel (${formatCount(row.weights + col.weights)} weights) with the same ${k}×${k} receptive field.`,
  });
  c.text(0, 16, title, { size: 14, weight: "bold" });
  const cell = 24;
  const span = (k + 2) * cell;
  const panelW = span + 40;
  const top = 58;

  const panel = (
    index: number,
    kernel: string,
    heading: string,
    cells: Map<string, number>,
    marks: [number, number][],
    notes: string[],
  ) => {
    const px = index * panelW;
    c.open({ class: "panel", "data-kernel": kernel });
    c.text(px, top - 12, heading, { weight: "bold" });
    for (let r = 0; r < k + 2; r++) {
      for (let q = 0; q < k + 2; q++) {
        c.rect(px + q * cell, top + r * cell, cell, cell, {
          fill: PALETTE.input,
          stroke: PALETTE.inputStroke,
          "stroke-width": 0.5,
        });
      }
    }
    for (const [key, paths] of cells) {
      const [dy, dx] = key.split(",").map(Number);
      c.rect(px + (dx + 1) * cell + 1.5, top + (dy + 1) * cell + 1.5, cell - 3, cell - 3, {
        class: "tap",
        "data-dy": dy,
        "data-dx": dx,
        "data-paths": paths,
        fill: PALETTE.kernel,
        "fill-opacity": marks.length > 0 ? 0.45 : 1,
        stroke: PALETTE.kernelStroke,
        "stroke-width": 0.8,
      });
    }
    // In the combined panel: the kx1 taps, each the centre of a 1xk row of the first layer.
    for (const [dy, dx] of marks) {
      c.circle(px + (dx + 1.5) * cell, top + (dy + 1.5) * cell, cell * 0.22, {
        class: "second-tap",
        fill: PALETTE.accent,
      });
    }
    c.lines(px, top + span + 20, notes, { size: 11.5 });
    c.close();
  };

  const keys = (kh: number, kw: number) => composeFootprint([[kh, kw]]);
  const half = Math.floor(k / 2);
  panel(
    0,
    `${k}x${k}`,
    `${k}×${k} conv`,
    keys(k, k),
    [],
    [
      `${k * k} taps, field ${k}×${k}`,
      `params ${k * k}·C² = ${formatCount(square.weights)}`,
      `MACs ${formatCount(square.macs)}`,
    ],
  );
  // The 1xk row sits at the middle row, kx1 at the middle column, so both line up with the kxk.
  const rowCells = new Map([...keys(1, k)].map(([key, v]) => [`${half},${key.split(",")[1]}`, v]));
  panel(
    1,
    `1x${k}`,
    `1×${k} conv`,
    rowCells,
    [],
    [
      `${k} taps, field 1×${k}`,
      `params ${k}·C² = ${formatCount(row.weights)}`,
      `MACs ${formatCount(row.macs)}`,
    ],
  );
  const combined = composeFootprint([
    [1, k],
    [k, 1],
  ]);
  const secondTaps: [number, number][] = [];
  for (let i = 0; i < k; i++) secondTaps.push([i, half]);
  panel(2, `1x${k}+${k}x1`, `then ${k}×1 conv`, combined, secondTaps, [
    `field ${k}×${k} again (● ${k}×1 taps)`,
    `params 2·${k}·C² = ${formatCount(row.weights + col.weights)}`,
    `MACs ${formatCount(row.macs + col.macs)} (${num((100 * (row.macs + col.macs)) / square.macs)}%)`,
  ]);
  c.text(
    0,
    top + span + 80,
    `C = ${ch} channels in and out, output ${size}×${size}, no bias; MACs at batch 1.`,
    {
      fill: PALETTE.muted,
      size: 11.5,
    },
  );
  return c.toString();
}
