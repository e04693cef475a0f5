/**
 * A small SVG toolkit for convkit's drawings: escaped text, an element builder, one palette and font, and a
 * `Canvas` that tracks the bounding box of everything drawn so the viewBox fits the content (nothing clips,
 * nothing floats in empty space).
 *
 * Every drawing in src/draw is a pure function returning a standalone SVG string: `xmlns`, `width`/`height`,
 * `viewBox`, a `<title>` and `<desc>` for screen readers. Output is deterministic: coordinates go through
 * `num` (at most two decimals), attributes keep insertion order, nothing depends on time or randomness, so the
 * same input gives the same bytes.
 */

/** One font for every drawing; DejaVu Sans is on most Linux systems, the others are fallbacks. */
export const FONT = "DejaVu Sans, Verdana, Arial, sans-serif";

/**
 * The palette. Categorical colours are Okabe and Ito's, distinguishable with the common colour-vision
 * deficiencies; groups of channels always take them in this order.
 */
export const PALETTE = {
  ink: "#1f1f1f",
  muted: "#5f5f5f",
  faint: "#9a9a9a",
  grid: "#c8c8c8",
  paper: "#ffffff",
  panel: "#f7f7f7",
  /** Input cells / feature maps. */
  input: "#dceaf7",
  inputStroke: "#3c6e9e",
  /** Zero padding. */
  pad: "#efefef",
  padStroke: "#a8a8a8",
  /** Kernel taps (sampled cells). */
  kernel: "#e69f00",
  kernelStroke: "#8a5f00",
  /** The output cell being computed. */
  output: "#009e73",
  outputLight: "#c9efe2",
  /** Emphasis (the deformed samples, the Pareto front, the theoretical field). */
  accent: "#d55e00",
  groups: ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#7f7f7f"],
} as const;

/** The colour of group `i` (cycling through the categorical palette). */
export function groupColor(i: number): string {
  return PALETTE.groups[((i % PALETTE.groups.length) + PALETTE.groups.length) % PALETTE.groups.length];
}

/** Escapes text for element content and attribute values. */
export function esc(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** A coordinate as text: at most two decimals, no trailing zeros, no "-0". */
export function num(v: number): string {
  if (!Number.isFinite(v)) throw new RangeError(`svg: non-finite coordinate ${v}`);
  const r = Math.round(v * 100) / 100;
  return Object.is(r, -0) || r === 0 ? "0" : String(r);
}

/** Attribute values: numbers are rounded with `num`; undefined, null and false are left out. */
export type AttrValue = string | number | boolean | undefined | null;
export type Attrs = Record<string, AttrValue>;

function attrText(attrs: Attrs): string {
  let out = "";
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    const text = v === true ? k : typeof v === "number" ? num(v) : esc(v);
    out += ` ${k}="${text}"`;
  }
  return out;
}

/** An element as text. Children are element strings or text already escaped (use `esc`). */
export function el(name: string, attrs: Attrs = {}, ...children: string[]): string {
  const inner = children.join("");
  return inner.length === 0
    ? `<${name}${attrText(attrs)}/>`
    : `<${name}${attrText(attrs)}>${inner}</${name}>`;
}

/**
 * Estimated advance width of `text` at `size` px in DejaVu Sans, erring wide so boxes and the viewBox never
 * cut a label (the font is wider than Arial; an under-estimate would clip).
 */
export function textWidth(text: string, size: number): number {
  let w = 0;
  for (const ch of text) {
    if ("il.,:;'|!()[]jI1 ".includes(ch)) w += 0.36;
    else if ("mwMW@%".includes(ch)) w += 0.92;
    else if (ch >= "A" && ch <= "Z") w += 0.72;
    else if ("×→←·≈≤≥⊕".includes(ch)) w += 0.84;
    else w += 0.63;
  }
  return w * size;
}

export interface TextOptions {
  size?: number;
  anchor?: "start" | "middle" | "end";
  weight?: "normal" | "bold";
  fill?: string;
  italic?: boolean;
  /** Extra attributes (class, data-*). */
  attrs?: Attrs;
}

export interface CanvasOptions {
  /** Short name of the drawing (becomes `<title>`). */
  title: string;
  /** What the drawing shows, in a sentence or two (becomes `<desc>`). */
  desc: string;
  /** Blank margin around the content, in px (default 12). */
  margin?: number;
}

/**
 * Collects elements in absolute coordinates and remembers their extent. `toString()` wraps them in an `<svg>`
 * whose viewBox is the extent plus a margin. Drawings never use transforms on content, so every bounding box
 * is known exactly (text widths are estimated with `textWidth`).
 */
export class Canvas {
  readonly title: string;
  readonly desc: string;
  /** Prefix for ids (markers, defs): a slug of the title, so two drawings inlined in one page do not clash. */
  readonly idPrefix: string;
  private readonly margin: number;
  private readonly parts: string[] = [];
  private readonly defs: string[] = [];
  private readonly defIds = new Set<string>();
  private minX = Infinity;
  private minY = Infinity;
  private maxX = -Infinity;
  private maxY = -Infinity;

  constructor(options: CanvasOptions) {
    this.title = options.title;
    this.desc = options.desc;
    this.margin = options.margin ?? 12;
    this.idPrefix = `ck-${slug(options.title)}`;
  }

  /** Extends the content box to include a rectangle. */
  include(x0: number, y0: number, x1: number, y1: number): void {
    this.minX = Math.min(this.minX, x0, x1);
    this.minY = Math.min(this.minY, y0, y1);
    this.maxX = Math.max(this.maxX, x0, x1);
    this.maxY = Math.max(this.maxY, y0, y1);
  }

  /** The current content box `[x0, y0, x1, y1]` (without margin). */
  get bounds(): [number, number, number, number] {
    if (this.minX === Infinity) return [0, 0, 0, 0];
    return [this.minX, this.minY, this.maxX, this.maxY];
  }

  /** Appends raw markup covering the given box. */
  raw(markup: string, box?: [number, number, number, number]): void {
    this.parts.push(markup);
    if (box) this.include(...box);
  }

  /** Opens a `<g>` (close it with `close()`); groups carry classes and data attributes for tests. */
  open(attrs: Attrs = {}): void {
    this.parts.push(`<g${attrText(attrs)}>`);
  }

  close(): void {
    this.parts.push("</g>");
  }

  rect(x: number, y: number, w: number, h: number, attrs: Attrs = {}): void {
    this.parts.push(el("rect", { x, y, width: w, height: h, ...attrs }));
    const sw = strokeHalf(attrs);
    this.include(x - sw, y - sw, x + w + sw, y + h + sw);
  }

  line(x1: number, y1: number, x2: number, y2: number, attrs: Attrs = {}): void {
    this.parts.push(el("line", { x1, y1, x2, y2, ...attrs }));
    const sw = strokeHalf(attrs);
    this.include(Math.min(x1, x2) - sw, Math.min(y1, y2) - sw, Math.max(x1, x2) + sw, Math.max(y1, y2) + sw);
  }

  circle(cx: number, cy: number, r: number, attrs: Attrs = {}): void {
    this.parts.push(el("circle", { cx, cy, r, ...attrs }));
    const sw = strokeHalf(attrs);
    this.include(cx - r - sw, cy - r - sw, cx + r + sw, cy + r + sw);
  }

  /** A polyline through the points. */
  polyline(points: readonly (readonly [number, number])[], attrs: Attrs = {}): void {
    if (points.length === 0) return;
    const text = points.map(([x, y]) => `${num(x)},${num(y)}`).join(" ");
    this.parts.push(el("polyline", { points: text, fill: "none", ...attrs }));
    const sw = strokeHalf(attrs);
    for (const [x, y] of points) this.include(x - sw, y - sw, x + sw, y + sw);
  }

  polygon(points: readonly (readonly [number, number])[], attrs: Attrs = {}): void {
    const text = points.map(([x, y]) => `${num(x)},${num(y)}`).join(" ");
    this.parts.push(el("polygon", { points: text, ...attrs }));
    for (const [x, y] of points) this.include(x, y, x, y);
  }

  /**
   * A path; `extent` lists the points that bound it (for a cubic Bézier its end and control points, which
   * contain the curve).
   */
  path(d: string, extent: readonly (readonly [number, number])[], attrs: Attrs = {}): void {
    this.parts.push(el("path", { d, ...attrs }));
    const sw = strokeHalf(attrs);
    for (const [x, y] of extent) this.include(x - sw, y - sw, x + sw, y + sw);
  }

  /** One line of text at baseline `y`. Returns its estimated width. */
  text(x: number, y: number, content: string, options: TextOptions = {}): number {
    const size = options.size ?? 12;
    const anchor = options.anchor ?? "start";
    const w = textWidth(content, options.weight === "bold" ? size * 1.06 : size);
    const x0 = anchor === "start" ? x : anchor === "middle" ? x - w / 2 : x - w;
    this.parts.push(
      el(
        "text",
        {
          x,
          y,
          "font-size": size === 12 ? undefined : size,
          "text-anchor": anchor === "start" ? undefined : anchor,
          "font-weight": options.weight === "bold" ? "bold" : undefined,
          "font-style": options.italic ? "italic" : undefined,
          fill: options.fill ?? undefined,
          ...(options.attrs ?? {}),
        },
        esc(content),
      ),
    );
    this.include(x0, y - size * 0.95, x0 + w, y + size * 0.3);
    return w;
  }

  /** Several lines of text from baseline `y`, `lineHeight` apart (default 1.3 x size). Returns the last baseline. */
  lines(
    x: number,
    y: number,
    contents: readonly string[],
    options: TextOptions & { lineHeight?: number } = {},
  ): number {
    const step = options.lineHeight ?? (options.size ?? 12) * 1.3;
    let yy = y;
    contents.forEach((line, i) => {
      yy = y + i * step;
      this.text(x, yy, line, options);
    });
    return yy;
  }

  /** Adds a definition once (by id); returns `url(#id)`-ready id. */
  define(id: string, markup: string): string {
    const full = `${this.idPrefix}-${id}`;
    if (!this.defIds.has(full)) {
      this.defIds.add(full);
      this.defs.push(markup.replaceAll("{id}", full));
    }
    return full;
  }

  /** An arrowhead marker in the given colour; use as `marker-end="url(#...)"`. */
  arrowMarker(color: string = PALETTE.ink): string {
    const id = this.define(
      `arrow-${color.replace("#", "")}`,
      `<marker id="{id}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">${el("path", { d: "M0,0 L10,5 L0,10 z", fill: color })}</marker>`,
    );
    return `url(#${id})`;
  }

  /** The standalone SVG document. */
  toString(): string {
    const [x0, y0, x1, y1] = this.bounds;
    const m = this.margin;
    const vx = Math.floor(x0 - m);
    const vy = Math.floor(y0 - m);
    const w = Math.ceil(x1 + m) - vx;
    const h = Math.ceil(y1 + m) - vy;
    const titleId = `${this.idPrefix}-title`;
    const descId = `${this.idPrefix}-desc`;
    const head = `<svg${attrText({
      xmlns: "http://www.w3.org/2000/svg",
      width: w,
      height: h,
      viewBox: `${vx} ${vy} ${w} ${h}`,
      role: "img",
      "aria-labelledby": `${titleId} ${descId}`,
      "font-family": FONT,
      "font-size": 12,
      fill: PALETTE.ink,
    })}>`;
    const body = [
      el("title", { id: titleId }, esc(this.title)),
      el("desc", { id: descId }, esc(this.desc)),
      this.defs.length > 0 ? `<defs>${this.defs.join("")}</defs>` : "",
      el("rect", { x: vx, y: vy, width: w, height: h, fill: PALETTE.paper }),
      ...this.parts,
    ].join("\n");
    return `${head}\n${body}\n</svg>\n`;
  }
}

function strokeHalf(attrs: Attrs): number {
  const sw = attrs["stroke-width"];
  if (attrs.stroke === undefined || attrs.stroke === "none") return 0;
  return (typeof sw === "number" ? sw : 1) / 2;
}

/** A lower-case id-safe slug. */
export function slug(text: string): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return s.length > 0 ? s.slice(0, 40) : "drawing";
}

/**
 * A count for labels: exact with thin grouping below 10 000 ("9,408"), else three significant digits with
 * K / M / G ("11.7M", "1.82G").
 */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a < 10_000) return Number.isInteger(n) ? n.toLocaleString("en-US") : n.toPrecision(3);
  const units: [number, string][] = [
    [1e12, "T"],
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "K"],
  ];
  for (const [scale, unit] of units) {
    if (a >= scale) {
      const v = n / scale;
      const text = Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
      // "1.50M" -> "1.5M", "10.0G" -> "10G": the digits shown are still three significant at most.
      return `${text.includes(".") ? text.replace(/\.?0+$/, "") : text}${unit}`;
    }
  }
  return String(n);
}

/** `a×b×c` for shapes and sizes. */
export function dims(values: readonly (number | string)[]): string {
  return values.join("×");
}

/**
 * A sequential colour map for heat maps (values in [0, 1]): viridis, sampled at nine stops and interpolated
 * linearly. Perceptually uniform and readable in grey.
 */
export function heatColor(t: number): string {
  const stops = [
    [68, 1, 84],
    [71, 44, 122],
    [59, 81, 139],
    [44, 113, 142],
    [33, 144, 141],
    [39, 173, 129],
    [92, 200, 99],
    [170, 220, 50],
    [253, 231, 37],
  ];
  const v = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(v));
  const f = v - i;
  const c = stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * f));
  return `#${c.map((x) => x.toString(16).padStart(2, "0")).join("")}`;
}

/** A grey for a pixel value in [0, 1] (0 black, 1 white). */
export function grey(t: number): string {
  const v = Math.round(Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * 255);
  const h = v.toString(16).padStart(2, "0");
  return `#${h}${h}${h}`;
}

/**
 * Pixel rectangles for an image or heat map of `height` x `width` values in [0, 1], `size` px per pixel, at
 * (x, y). Values are quantised to `levels` steps and horizontal runs of one colour merged into one rectangle,
 * which keeps a 64x64 heat map to a few hundred elements instead of 4,096.
 */
export function pixelRects(
  values: ArrayLike<number>,
  height: number,
  width: number,
  size: number,
  x: number,
  y: number,
  color: (t: number) => string,
  levels = 32,
): string {
  const out: string[] = [];
  for (let r = 0; r < height; r++) {
    let start = 0;
    let level = -1;
    const flush = (end: number) => {
      if (level < 0) return;
      out.push(
        el("rect", {
          x: x + start * size,
          y: y + r * size,
          // A hair of overlap hides the seams anti-aliasing would draw between runs.
          width: (end - start) * size + 0.3,
          height: size + 0.3,
          fill: color(level / (levels - 1)),
        }),
      );
    };
    for (let q = 0; q < width; q++) {
      const v = values[r * width + q];
      const l = Math.round(Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0)) * (levels - 1));
      if (l !== level) {
        flush(q);
        start = q;
        level = l;
      }
    }
    flush(width);
  }
  return out.join("");
}
