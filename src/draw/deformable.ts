import { noGrad } from "../autograd/gradmode.js";
import { Tensor } from "../autograd/tensor.js";
import { conv2d } from "../ops/conv.js";
import type { DeformableConv2dOptions, DeformableConv2dParams } from "../ops/deform-layer.js";
import { ArgumentError, describe, ShapeError } from "../tensor/errors.js";
import { Rng } from "../tensor/rng.js";
import { checkNonNegativeInt, checkPositiveInt, formatShape } from "../tensor/shape.js";
import { resolveWindow, type WindowGeometry, type WindowSpec, windowTaps } from "./geometry.js";
import { Canvas, grey, num, PALETTE, pixelRects } from "./svg.js";

/**
 * Deformable convolution's sampling points (article §9, its figures a-d): the regular kxk grid of one output
 * position on an input image, and the grid moved by offsets: learned ones (from a trained layer's offset
 * branch), a scaling (c) and a rotation (d), which the article presents as special cases the learned offsets
 * can express.
 *
 * Coordinates follow torchvision's deform_conv2d (src/ops/deform.ts): tap (i, j) of output (oh, ow) samples
 * y = oh·strideH − padTop + i·dilationH + dy, x = ow·strideW − padLeft + j·dilationW + dx, with the (dy, dx)
 * pair of tap k = i·kW + j in offset channels 2k and 2k + 1; pixel (r, c) sits at y = r, x = c.
 */

/** One sampling point: where tap (i, j) would sample on the regular grid, and where it samples. */
export interface SamplePoint {
  i: number;
  j: number;
  /** Regular position. */
  y0: number;
  x0: number;
  /** Deformed position (y0 + dy, x0 + dx). */
  y: number;
  x: number;
}

/** The sampling points of output (oh, ow) given its 2·kH·kW offsets (dy, dx per tap, torchvision's order). */
export function samplePoints(
  g: WindowGeometry,
  oh: number,
  ow: number,
  offsets: ArrayLike<number>,
): SamplePoint[] {
  const taps = windowTaps(g, oh, ow);
  if (offsets.length !== 2 * taps.length) {
    throw new ShapeError(
      describe(
        "samplePoints",
        "offsets",
        `${2 * taps.length} values (dy, dx for each of ${taps.length} taps)`,
        offsets.length,
      ),
    );
  }
  return taps.map((t, k) => ({
    i: t.i,
    j: t.j,
    y0: t.row,
    x0: t.col,
    y: t.row + offsets[2 * k],
    x: t.col + offsets[2 * k + 1],
  }));
}

function centreOf(g: WindowGeometry): [number, number] {
  return [((g.kernelSize[0] - 1) * g.dilation[0]) / 2, ((g.kernelSize[1] - 1) * g.dilation[1]) / 2];
}

/**
 * Offsets that scale the grid about its centre by `factor` (article figure c): tap (i, j) moves from its
 * regular place p to centre + factor·(p − centre), i.e. dy = (factor − 1)·(i·d − centre).
 */
export function scaleOffsets(spec: WindowSpec, factor: number): Float32Array {
  const g = resolveWindow(spec, "scaleOffsets");
  if (!Number.isFinite(factor))
    throw new ArgumentError(describe("scaleOffsets", "factor", "a finite number", factor));
  const [cy, cx] = centreOf(g);
  const out = new Float32Array(2 * g.kernelSize[0] * g.kernelSize[1]);
  windowTaps({ ...g, padding: [0, 0, 0, 0] }, 0, 0).forEach((t, k) => {
    out[2 * k] = (factor - 1) * (t.row - cy);
    out[2 * k + 1] = (factor - 1) * (t.col - cx);
  });
  return out;
}

/**
 * Offsets that rotate the grid about its centre by `degrees` (article figure d), counter-clockwise as seen on
 * the image (y grows downwards).
 */
export function rotationOffsets(spec: WindowSpec, degrees: number): Float32Array {
  const g = resolveWindow(spec, "rotationOffsets");
  if (!Number.isFinite(degrees)) {
    throw new ArgumentError(describe("rotationOffsets", "degrees", "a finite number", degrees));
  }
  const a = (degrees * Math.PI) / 180;
  const [cy, cx] = centreOf(g);
  const out = new Float32Array(2 * g.kernelSize[0] * g.kernelSize[1]);
  windowTaps({ ...g, padding: [0, 0, 0, 0] }, 0, 0).forEach((t, k) => {
    const y = t.row - cy;
    const x = t.col - cx;
    out[2 * k] = Math.cos(a) * y - Math.sin(a) * x - y;
    out[2 * k + 1] = Math.sin(a) * y + Math.cos(a) * x - x;
  });
  return out;
}

/** Random offsets, normal with standard deviation `sigma` px, from a seeded generator (an untrained stand-in). */
export function randomOffsets(spec: WindowSpec, sigma: number, seed = 0): Float32Array {
  const g = resolveWindow(spec, "randomOffsets");
  const rng = new Rng(seed);
  return Float32Array.from({ length: 2 * g.kernelSize[0] * g.kernelSize[1] }, () => sigma * rng.normal());
}

/**
 * The (dy, dx) offsets of one output position from an offset tensor [N, 2·offsetGroups·kH·kW, Hout, Wout]
 * (what a deformable layer's offset branch outputs), for sample `batch` and offset group `group`.
 */
export function offsetsAt(
  offset: Tensor,
  taps: number,
  oh: number,
  ow: number,
  group = 0,
  batch = 0,
): Float32Array {
  const op = "offsetsAt";
  if (offset.shape.length !== 4 || offset.shape[1] % (2 * taps) !== 0) {
    throw new ShapeError(
      describe(op, "offset", `[N, 2·offsetGroups·${taps}, Hout, Wout]`, formatShape(offset.shape)),
    );
  }
  const [n, ch, h, w] = offset.shape;
  checkNonNegativeInt(oh, op, "oh");
  checkNonNegativeInt(ow, op, "ow");
  if (oh >= h || ow >= w || batch >= n || group >= ch / (2 * taps)) {
    throw new ArgumentError(
      describe(op, "position", `batch < ${n}, group < ${ch / (2 * taps)}, oh < ${h}, ow < ${w}`, [
        batch,
        group,
        oh,
        ow,
      ]),
    );
  }
  const out = new Float32Array(2 * taps);
  for (let c = 0; c < 2 * taps; c++) {
    out[c] = offset.data[((batch * ch + group * 2 * taps + c) * h + oh) * w + ow];
  }
  return out;
}

/**
 * Runs a deformable layer's offset branch (the regular conv that predicts the offsets) on `x` and returns the
 * offset tensor [N, 2·offsetGroups·kH·kW, Hout, Wout] (the mask logits of a v2 layer are dropped).
 */
export function layerOffsets(
  x: Tensor,
  params: DeformableConv2dParams,
  options: DeformableConv2dOptions = {},
): Tensor {
  const kk = params.weight.shape[2] * params.weight.shape[3];
  const perGroup = (options.modulated ? 3 : 2) * kk;
  const groups = params.offsetWeight.shape[0] / perGroup;
  const out = noGrad(() =>
    conv2d(x, params.offsetWeight, params.offsetBias, {
      stride: options.stride,
      padding: options.padding,
      dilation: options.dilation,
    }),
  );
  if (!options.modulated) return out;
  // Keep the first 2·groups·kk channels (the offsets); the rest are mask logits.
  const [n, , h, w] = out.shape;
  const keep = 2 * groups * kk;
  const data = new Float32Array(n * keep * h * w);
  for (let b = 0; b < n; b++) {
    const start = b * perGroup * groups * h * w;
    data.set(out.data.subarray(start, start + keep * h * w), b * keep * h * w);
  }
  return new Tensor(data, [n, keep, h, w]);
}

/** A grey-scale image: `height`·`width` values, row-major (any range; drawn from min (black) to max (white)). */
export interface GreyImage {
  data: ArrayLike<number>;
  height: number;
  width: number;
}

export interface DeformPanel {
  /** Panel heading, e.g. "(b) learned offsets". */
  label: string;
  /** 2·kH·kW offsets (dy, dx per tap); all zeros gives the regular grid. */
  offsets: ArrayLike<number>;
}

export interface DeformSamplingSpec extends WindowSpec {
  image: GreyImage;
  /** Output position whose sampling points are drawn (default: the middle of the output). */
  at?: readonly [number, number];
  panels: readonly DeformPanel[];
  title?: string;
  /** Pixel size in the drawing (default: fitted, 14-30 px). */
  pixel?: number;
}

/**
 * Sampling points of a deformable convolution on an input image, one panel per offset set: hollow circles at
 * the regular grid, filled dots where the taps sample, arrows for the offsets. The image is cropped to the
 * points plus two pixels and drawn once (`<defs>`), reused by every panel.
 *
 * Test hooks: `g.panel` with `data-label`; `circle.regular` and `circle.sample` with `data-y`, `data-x`
 * (input coordinates) and `data-tap`.
 */
export function drawDeformableSampling(spec: DeformSamplingSpec): string {
  const op = "drawDeformableSampling";
  const g = resolveWindow(spec, op);
  const img = spec.image;
  const h = checkPositiveInt(img?.height, op, "image.height");
  const w = checkPositiveInt(img?.width, op, "image.width");
  if (img.data.length !== h * w) {
    throw new ShapeError(describe(op, "image.data", `${h * w} values (${h}×${w})`, img.data.length));
  }
  if (!Array.isArray(spec.panels) || spec.panels.length === 0) {
    throw new ArgumentError(describe(op, "panels", "at least one { label, offsets }", spec.panels));
  }
  const [kh, kw] = g.kernelSize;
  const hOut = Math.floor((h + g.padding[0] + g.padding[2] - g.dilation[0] * (kh - 1) - 1) / g.stride[0]) + 1;
  const wOut = Math.floor((w + g.padding[1] + g.padding[3] - g.dilation[1] * (kw - 1) - 1) / g.stride[1]) + 1;
  const [oh, ow] = spec.at ?? [Math.floor((hOut - 1) / 2), Math.floor((wOut - 1) / 2)];
  if (!(oh >= 0 && ow >= 0 && oh < hOut && ow < wOut)) {
    throw new ArgumentError(describe(op, "at", `a position of the ${hOut}×${wOut} output`, spec.at));
  }
  const sets = spec.panels.map((p) => samplePoints(g, oh, ow, p.offsets));

  // Crop: every point of every panel plus two pixels, inside the image.
  let r0 = Infinity;
  let r1 = -Infinity;
  let c0 = Infinity;
  let c1 = -Infinity;
  for (const s of sets) {
    for (const p of s) {
      r0 = Math.min(r0, p.y, p.y0);
      r1 = Math.max(r1, p.y, p.y0);
      c0 = Math.min(c0, p.x, p.x0);
      c1 = Math.max(c1, p.x, p.x0);
    }
  }
  r0 = Math.max(0, Math.floor(r0) - 2);
  c0 = Math.max(0, Math.floor(c0) - 2);
  r1 = Math.min(h - 1, Math.ceil(r1) + 2);
  c1 = Math.min(w - 1, Math.ceil(c1) + 2);
  const rows = Math.max(1, r1 - r0 + 1);
  const cols = Math.max(1, c1 - c0 + 1);
  const px = spec.pixel ?? Math.max(16, Math.min(36, Math.floor(340 / Math.max(rows, cols))));

  let lo = Infinity;
  let hi = -Infinity;
  for (let k = 0; k < img.data.length; k++) {
    lo = Math.min(lo, img.data[k]);
    hi = Math.max(hi, img.data[k]);
  }
  const span = hi > lo ? hi - lo : 1;

  const title = spec.title ?? `Deformable convolution: ${kh}×${kw} sampling points`;
  const c = new Canvas({
    title,
    desc: `Sampling points of a ${kh}×${kw} deformable convolution (stride ${g.stride.join("×")}, dilation ${g.dilation.join("×")}) at output (${oh}, ${ow}) on a ${h}×${w} image: ${spec.panels.map((p) => p.label).join("; ")}.`,
  });
  c.text(0, 16, title, { size: 14, weight: "bold" });

  // The image crop, defined once. Pixels are dimmed so the points stand out.
  const crop = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let q = 0; q < cols; q++) crop[r * cols + q] = (img.data[(r0 + r) * w + (c0 + q)] - lo) / span;
  }
  const pixels = pixelRects(crop, rows, cols, px, 0, 0, (t) => grey(0.25 + 0.7 * t), 64);
  const imageId = c.define("image", `<g id="{id}" class="image">${pixels}</g>`);

  const panelW = cols * px;
  const panelH = rows * px + 58;
  // Two panels per row when there are more than two, so each stays large enough to read.
  const perRow = Math.min(2, spec.panels.length);
  const arrow = c.arrowMarker(PALETTE.accent);
  spec.panels.forEach((panel, pi) => {
    const x0 = (pi % perRow) * (panelW + 36);
    const top = 58 + Math.floor(pi / perRow) * panelH;
    const X = (x: number) => x0 + (x - c0 + 0.5) * px;
    const Y = (y: number) => top + (y - r0 + 0.5) * px;
    c.open({ class: "panel", "data-label": panel.label });
    c.text(x0, top - 12, panel.label, { weight: "bold" });
    c.raw(`<use href="#${imageId}" x="${num(x0)}" y="${num(top)}"/>`, [
      x0,
      top,
      x0 + panelW,
      top + rows * px,
    ]);
    const pts = sets[pi];
    let maxMove = 0;
    pts.forEach((p, k) => {
      const move = Math.hypot(p.y - p.y0, p.x - p.x0);
      maxMove = Math.max(maxMove, move);
      c.circle(X(p.x0), Y(p.y0), px * 0.24, { fill: "none", stroke: PALETTE.paper, "stroke-width": 3 });
      c.circle(X(p.x0), Y(p.y0), px * 0.24, {
        class: "regular",
        "data-tap": k,
        "data-y": p.y0,
        "data-x": p.x0,
        fill: "none",
        stroke: PALETTE.inputStroke,
        "stroke-width": 1.2,
      });
      if (move > 0.35) {
        // Arrow from the regular place to the sample, stopping short of the dot.
        const f = 1 - (px * 0.3) / (move * px);
        c.line(X(p.x0), Y(p.y0), X(p.x0 + (p.x - p.x0) * f), Y(p.y0 + (p.y - p.y0) * f), {
          stroke: PALETTE.accent,
          "stroke-width": 1.3,
          "marker-end": arrow,
        });
      }
    });
    pts.forEach((p, k) => {
      c.circle(X(p.x), Y(p.y), px * 0.2, {
        class: "sample",
        "data-tap": k,
        // Strings: numeric attributes are rounded to two decimals, these keep three.
        "data-y": String(Math.round(p.y * 1000) / 1000),
        "data-x": String(Math.round(p.x * 1000) / 1000),
        fill: PALETTE.accent,
        stroke: PALETTE.paper,
        "stroke-width": 1,
      });
    });
    c.text(x0, top + rows * px + 18, maxMove === 0 ? "offsets all 0" : `largest offset ${num(maxMove)} px`, {
      size: 11,
      fill: PALETTE.muted,
    });
    c.close();
  });
  const lines = [
    `${kh}×${kw} kernel, stride ${g.stride.join("×")}, dilation ${g.dilation.join("×")}, output position (${oh}, ${ow}); crop rows ${r0}–${r1}, columns ${c0}–${c1} of the ${h}×${w} input`,
    `○ regular grid p0 + pn   ● sampled at p0 + pn + Δpn (bilinear); the offset branch predicts 2·${kh}·${kw} = ${2 * kh * kw} offsets per position`,
  ];
  c.lines(0, 58 + Math.ceil(spec.panels.length / perRow) * panelH - 16, lines, { size: 11.5 });
  return c.toString();
}

export interface DeformFiguresSpec extends WindowSpec {
  image: GreyImage;
  at?: readonly [number, number];
  /** Offsets of a trained layer at `at` (2·kH·kW); without them panel (b) shows seeded random offsets. */
  learned?: ArrayLike<number>;
  /** Scale factor of panel (c) (default 1.8). */
  scale?: number;
  /** Rotation of panel (d) in degrees (default 30). */
  degrees?: number;
  seed?: number;
}

/** The article's four panels: (a) regular, (b) learned (or random) offsets, (c) scale, (d) rotation. */
export function drawDeformableFigures(spec: DeformFiguresSpec): string {
  const g = resolveWindow(spec, "drawDeformableFigures");
  const kk = g.kernelSize[0] * g.kernelSize[1];
  const scale = spec.scale ?? 1.8;
  const degrees = spec.degrees ?? 30;
  return drawDeformableSampling({
    ...spec,
    title: `Deformable convolution ${g.kernelSize.join("×")}: regular, offset, scale, rotation`,
    panels: [
      { label: "(a) regular grid", offsets: new Float32Array(2 * kk) },
      spec.learned
        ? { label: "(b) learned offsets", offsets: spec.learned }
        : { label: "(b) random offsets", offsets: randomOffsets(spec, 0.8, spec.seed ?? 0) },
      { label: `(c) scale ×${num(scale)}`, offsets: scaleOffsets(spec, scale) },
      { label: `(d) rotation ${num(degrees)}°`, offsets: rotationOffsets(spec, degrees) },
    ],
  });
}
