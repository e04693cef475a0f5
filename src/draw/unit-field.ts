import type { ReceptiveField } from "../analyze/types.js";
import { ArgumentError, describe, ShapeError } from "../tensor/errors.js";
import type { GreyImage } from "./deformable.js";
import { Canvas, grey, num, PALETTE, pixelRects } from "./svg.js";

/**
 * The theoretical receptive field of one unit drawn on the input image: which input pixels one output
 * position of a layer can see (the analyzer's size, jump and start per axis), as a box on the picture.
 * Unlike `drawReceptiveField` it needs no weights and no gradients, so it suits any model at any size.
 */

/** Where one unit's field lies on the input, in input pixel indices. */
export interface UnitFieldBox {
  /** Input coordinate of the field's centre (start + jump·unit); may be fractional. */
  centre: [number, number];
  /** First and last input row and column inside the field, clipped to the image (inclusive). */
  top: number;
  left: number;
  bottom: number;
  right: number;
  /** Part of the field lies outside the image (in the padding). */
  clipped: boolean;
  /** The whole field lies in the padding (possible at the border with large padding): top > bottom or left > right. */
  empty: boolean;
}

/**
 * The box of unit (row, col) of a layer with receptive field `field` on an input of `inputSize` [H, W]: the
 * input pixels within (size − 1)/2 of the centre start + jump·unit on each axis. A global field covers the
 * whole image.
 */
export function unitFieldBox(
  field: ReceptiveField,
  unit: readonly [number, number],
  inputSize: readonly [number, number],
): UnitFieldBox {
  const op = "unitFieldBox";
  const [h, w] = inputSize;
  if (!Number.isSafeInteger(h) || !Number.isSafeInteger(w) || h < 1 || w < 1)
    throw new ArgumentError(describe(op, "inputSize", "[H, W] of positive integers", inputSize));
  const [r, q] = unit;
  if (!Number.isSafeInteger(r) || !Number.isSafeInteger(q) || r < 0 || q < 0)
    throw new ArgumentError(describe(op, "unit", "[row, col] of non-negative integers", unit));
  if (field.global) {
    return {
      centre: [(h - 1) / 2, (w - 1) / 2],
      top: 0,
      left: 0,
      bottom: h - 1,
      right: w - 1,
      clipped: false,
      empty: false,
    };
  }
  const centre: [number, number] = [field.start[0] + field.jump[0] * r, field.start[1] + field.jump[1] * q];
  const half = [(field.size[0] - 1) / 2, (field.size[1] - 1) / 2];
  const lo = [Math.ceil(centre[0] - half[0]), Math.ceil(centre[1] - half[1])];
  const hi = [Math.floor(centre[0] + half[0]), Math.floor(centre[1] + half[1])];
  const top = Math.max(0, lo[0]);
  const left = Math.max(0, lo[1]);
  const bottom = Math.min(h - 1, hi[0]);
  const right = Math.min(w - 1, hi[1]);
  return {
    centre,
    top,
    left,
    bottom,
    right,
    clipped: lo[0] < 0 || lo[1] < 0 || hi[0] > h - 1 || hi[1] > w - 1,
    empty: top > bottom || left > right,
  };
}

export interface UnitFieldSpec {
  /** The input as one grey channel (e.g. the mean over channels), drawn from its min (black) to max (white). */
  image: GreyImage;
  /** The layer's theoretical field (`analysis.layers[i].receptiveField`). */
  field: ReceptiveField;
  /** Layer name, for the caption. */
  layer: string;
  /** Output position (row, column) of the unit. */
  unit: readonly [number, number];
  title?: string;
  /** Pixel size in the drawing (default: fitted to about 360 px). */
  pixel?: number;
}

/**
 * The image with the unit's field as a box and its centre as a dot.
 *
 * Test hooks: `rect.field` with `data-top`, `data-left`, `data-bottom`, `data-right` (input pixels, inclusive)
 * and `data-size`; `circle.centre` with `data-centre`.
 */
export function drawUnitField(spec: UnitFieldSpec): string {
  const op = "drawUnitField";
  const { image, field, layer, unit } = spec;
  const h = image?.height;
  const w = image?.width;
  if (!Number.isSafeInteger(h) || !Number.isSafeInteger(w) || h < 1 || w < 1)
    throw new ArgumentError(describe(op, "image", "height and width of positive integers", [h, w]));
  if (image.data.length !== h * w)
    throw new ShapeError(describe(op, "image.data", `${h * w} values (${h}×${w})`, image.data.length));
  const box = unitFieldBox(field, unit, [h, w]);
  let lo = Infinity;
  let hi = -Infinity;
  for (let k = 0; k < image.data.length; k++) {
    const v = image.data[k];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const range = hi > lo ? hi - lo : 1;
  const norm = Float32Array.from(image.data, (v) => (v - lo) / range);
  const px = spec.pixel ?? Math.max(1, Math.min(16, Math.floor(360 / Math.max(h, w))));
  const title = spec.title ?? `Receptive field of ${layer}[${unit.join(", ")}]`;
  const sizeText = field.global ? "the whole input" : `${field.size.join("×")} px`;
  const c = new Canvas({
    title,
    desc: `Input ${h}×${w}; unit (${unit.join(", ")}) of ${layer} sees ${sizeText}, rows ${box.top}-${box.bottom} and columns ${box.left}-${box.right} of the image${box.clipped ? " (the rest of its field is padding)" : ""}.`,
  });
  c.text(0, 16, title, { size: 14, weight: "bold" });
  const x0 = 0;
  const y0 = 34;
  c.open({ class: "image" });
  c.raw(pixelRects(norm, h, w, px, x0, y0, grey, 32), [x0, y0, x0 + w * px, y0 + h * px]);
  c.close();
  c.rect(x0, y0, w * px, h * px, { fill: "none", stroke: PALETTE.ink, "stroke-width": 1 });
  c.rect(
    x0 + box.left * px,
    y0 + box.top * px,
    Math.max(0, box.right - box.left + 1) * px,
    Math.max(0, box.bottom - box.top + 1) * px,
    {
      class: "field",
      "data-top": box.top,
      "data-left": box.left,
      "data-bottom": box.bottom,
      "data-right": box.right,
      "data-size": field.global ? "global" : field.size.join(","),
      fill: PALETTE.accent,
      "fill-opacity": 0.18,
      stroke: PALETTE.accent,
      "stroke-width": 2,
      "stroke-dasharray": box.clipped ? "6 4" : undefined,
    },
  );
  const cx = x0 + (box.centre[1] + 0.5) * px;
  const cy = y0 + (box.centre[0] + 0.5) * px;
  c.circle(cx, cy, Math.max(2.5, px * 0.3), {
    class: "centre",
    "data-centre": box.centre.map((v) => num(v)).join(","),
    fill: PALETTE.accent,
    stroke: PALETTE.paper,
  });
  const lines = [
    `${layer}, unit (${unit.join(", ")}): field ${sizeText}${field.global ? "" : `, jump ${field.jump.join("×")}`}, centre at input (${box.centre.map((v) => num(v)).join(", ")})`,
    box.empty
      ? "its whole field lies in the zero padding outside the image: it sees no input pixel"
      : `sees input rows ${box.top}–${box.bottom}, columns ${box.left}–${box.right}${box.clipped ? "; dashed: part of the field is zero padding outside the image" : ""}`,
  ];
  if (field.deformable)
    lines.push("a deformable layer is on the path: this is its nominal (undeformed) grid");
  if (field.globalContext)
    lines.push("the unit also sees a global summary of the input (a squeeze-and-excitation gate)");
  c.lines(0, y0 + h * px + 20, lines, { size: 11.5 });
  return c.toString();
}
