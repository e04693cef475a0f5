import { ArgumentError, describe } from "../tensor/errors.js";
import { Canvas, formatCount, groupColor, num, PALETTE, textWidth } from "./svg.js";

/**
 * Charts for reports: training curves (line chart), accuracy against MACs with the Pareto front, and grouped
 * bars of parameters/MACs per variant (linear or log scale). Hand-made SVG: axes with "nice" ticks, a legend
 * above the plot, labels placed so they do not overlap.
 *
 * Test hooks: `polyline.series` (`data-name`, `data-points`), `circle.point` (`data-label`, `data-front`),
 * `rect.bar` (`data-series`, `data-category`, `data-value`), `text.xtick` / `text.ytick` (`data-value`).
 */

/** Heckbert's nice numbers: about `count` round tick values covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    throw new ArgumentError(describe("niceTicks", "range", "finite numbers", [min, max]));
  }
  if (max < min) [min, max] = [max, min];
  if (max === min) {
    const d = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= d;
    max += d;
  }
  const nice = (x: number, round: boolean) => {
    const e = Math.floor(Math.log10(x));
    const f = x / 10 ** e;
    const nf = round ? (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) : f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * 10 ** e;
  };
  const step = nice(nice(max - min, false) / Math.max(1, count - 1), true);
  const lo = Math.floor(min / step) * step;
  const hi = Math.ceil(max / step) * step;
  const ticks: number[] = [];
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  // Rounding to 12 digits may pull an end tick inside the range (values within 1e-12 of a tick): extend.
  if (ticks[0] > min) ticks.unshift(Number((ticks[0] - step).toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

/** Ticks for a log axis: powers of ten covering [min, max] (min > 0), with 2 and 5 between when few. */
export function logTicks(min: number, max: number): number[] {
  if (!(min > 0) || !(max > 0))
    throw new ArgumentError(describe("logTicks", "range", "positive numbers", [min, max]));
  const e0 = Math.floor(Math.log10(Math.min(min, max)));
  const e1 = Math.ceil(Math.log10(Math.max(min, max)));
  const all: number[] = [];
  for (let e = e0; e <= e1; e++) {
    all.push(Number((10 ** e).toPrecision(12)));
    if (e1 - e0 <= 2 && e < e1)
      all.push(Number((2 * 10 ** e).toPrecision(12)), Number((5 * 10 ** e).toPrecision(12)));
  }
  // Trim to the last tick at or below the smallest value and the first at or above the largest.
  const lo = Math.min(min, max);
  const hi = Math.max(min, max);
  let first = 0;
  while (first + 1 < all.length && all[first + 1] <= lo) first++;
  let last = all.length - 1;
  while (last - 1 >= 0 && all[last - 1] >= hi) last--;
  return all.slice(first, last + 1);
}

/** A log-axis tick: K/M/G for large values, else at most three significant digits ("0.5", "20"). */
function logTickText(v: number): string {
  return Math.abs(v) >= 10_000 ? formatCount(v) : String(Number(v.toPrecision(3)));
}

function tickText(v: number, step: number): string {
  if (Math.abs(v) >= 10_000) return formatCount(v);
  const decimals = step > 0 ? Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9))) : 0;
  return v.toFixed(decimals);
}

interface Axis {
  /** Data value -> pixel. */
  map: (v: number) => number;
  ticks: number[];
  log: boolean;
  lo: number;
  hi: number;
}

function axis(values: number[], log: boolean, from: number, to: number, count: number, what: string): Axis {
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  if (finite.length === 0)
    throw new ArgumentError(describe("chart", what, log ? "positive values" : "finite values", values));
  const min = Math.min(...finite);
  const max = Math.max(...finite);
  if (log) {
    const ticks = logTicks(min, max);
    const lo = Math.log10(ticks[0]);
    const hi = Math.log10(ticks[ticks.length - 1]);
    return {
      map: (v) => from + ((Math.log10(v) - lo) / (hi - lo || 1)) * (to - from),
      ticks,
      log,
      lo: ticks[0],
      hi: ticks.at(-1)!,
    };
  }
  const ticks = niceTicks(min, max, count);
  const lo = ticks[0];
  const hi = ticks[ticks.length - 1];
  return { map: (v) => from + ((v - lo) / (hi - lo || 1)) * (to - from), ticks, log, lo, hi };
}

interface Frame {
  x0: number;
  y0: number;
  w: number;
  h: number;
}

function drawAxes(c: Canvas, f: Frame, xa: Axis | null, ya: Axis, xLabel: string, yLabel: string): void {
  c.rect(f.x0, f.y0, f.w, f.h, { fill: "none", stroke: PALETTE.grid, "stroke-width": 1 });
  const yStep = ya.ticks.length > 1 ? ya.ticks[1] - ya.ticks[0] : 1;
  let labelW = 0;
  for (const t of ya.ticks) {
    const y = ya.map(t);
    c.line(f.x0, y, f.x0 + f.w, y, { stroke: PALETTE.grid, "stroke-width": 0.5, "stroke-dasharray": "2 3" });
    const text = ya.log ? logTickText(t) : tickText(t, yStep);
    labelW = Math.max(labelW, textWidth(text, 11));
    c.text(f.x0 - 6, y + 4, text, {
      size: 11,
      anchor: "end",
      fill: PALETTE.muted,
      attrs: { class: "ytick", "data-value": String(t) },
    });
  }
  if (xa) {
    const xStep = xa.ticks.length > 1 ? xa.ticks[1] - xa.ticks[0] : 1;
    for (const t of xa.ticks) {
      const x = xa.map(t);
      c.line(x, f.y0, x, f.y0 + f.h, {
        stroke: PALETTE.grid,
        "stroke-width": 0.5,
        "stroke-dasharray": "2 3",
      });
      c.text(x, f.y0 + f.h + 16, xa.log ? logTickText(t) : tickText(t, xStep), {
        size: 11,
        anchor: "middle",
        fill: PALETTE.muted,
        attrs: { class: "xtick", "data-value": String(t) },
      });
    }
  }
  if (xLabel) c.text(f.x0 + f.w / 2, f.y0 + f.h + 36, xLabel, { anchor: "middle" });
  // The y label sits rotated left of the tick labels; its extent is added by hand (rotation is not tracked).
  const lx = f.x0 - labelW - 18;
  const ly = f.y0 + f.h / 2;
  c.raw(
    `<text x="${num(lx)}" y="${num(ly)}" text-anchor="middle" transform="rotate(-90 ${num(lx)} ${num(ly)})">${escText(yLabel)}</text>`,
    [lx - 12, ly - textWidth(yLabel, 12) / 2, lx + 4, ly + textWidth(yLabel, 12) / 2],
  );
}

function escText(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A legend row above the plot; returns nothing (its extent is tracked by the canvas). */
function legend(c: Canvas, x: number, y: number, names: string[], kind: "line" | "box"): void {
  let cx = x;
  names.forEach((name, i) => {
    c.open({ class: "legend-item", "data-name": name });
    if (kind === "line") {
      c.line(cx, y - 4, cx + 18, y - 4, {
        stroke: groupColor(i),
        "stroke-width": 2.5,
        "stroke-dasharray": dash(i),
      });
    } else {
      c.rect(cx + 4, y - 10, 11, 11, { fill: groupColor(i) });
    }
    cx += 24;
    cx += c.text(cx, y, name, { size: 11.5 }) + 16;
    c.close();
  });
}

function dash(i: number): string | undefined {
  return [undefined, "6 3", "2 2", "8 3 2 3", "1 3", "10 4"][i % 6];
}

export interface LineSeries {
  name: string;
  /** [x, y] points (e.g. [epoch, loss]); non-finite y values break the line. */
  points: readonly (readonly [number, number])[];
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  /** Log scale on y (losses). */
  logY?: boolean;
  width?: number;
  height?: number;
}

/** Training curves: one line per series (distinct colour and dash), points marked when few, legend above. */
export function drawLineChart(spec: LineChartSpec): string {
  const op = "drawLineChart";
  if (!Array.isArray(spec.series) || spec.series.length === 0) {
    throw new ArgumentError(describe(op, "series", "at least one { name, points }", spec.series));
  }
  const W = spec.width ?? 520;
  const H = spec.height ?? 280;
  const c = new Canvas({
    title: spec.title,
    desc: `Line chart of ${spec.yLabel} against ${spec.xLabel}: ${spec.series.map((s) => `${s.name} (${s.points.length} points)`).join(", ")}.`,
  });
  c.text(0, 16, spec.title, { size: 14, weight: "bold" });
  const all = spec.series.flatMap((s) => s.points);
  const f: Frame = { x0: 70, y0: 56, w: W, h: H };
  const xa = axis(
    all.map((p) => p[0]),
    false,
    f.x0,
    f.x0 + f.w,
    6,
    "x values",
  );
  const ya = axis(
    all.map((p) => p[1]),
    spec.logY ?? false,
    f.y0 + f.h,
    f.y0,
    5,
    "y values",
  );
  drawAxes(c, f, xa, ya, spec.xLabel, spec.yLabel);
  legend(
    c,
    f.x0,
    40,
    spec.series.map((s) => s.name),
    "line",
  );
  spec.series.forEach((s, i) => {
    const runs: [number, number][][] = [[]];
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !Number.isFinite(y) || (spec.logY && y <= 0)) {
        if (runs[runs.length - 1].length > 0) runs.push([]);
        continue;
      }
      runs[runs.length - 1].push([xa.map(x), ya.map(y)]);
    }
    c.open({ class: "series-group", "data-name": s.name });
    for (const run of runs.filter((r) => r.length > 0)) {
      c.polyline(run, {
        class: "series",
        "data-name": s.name,
        "data-points": run.length,
        stroke: groupColor(i),
        "stroke-width": 2,
        "stroke-dasharray": dash(i),
        "stroke-linejoin": "round",
      });
      if (s.points.length <= 40) for (const [x, y] of run) c.circle(x, y, 2.6, { fill: groupColor(i) });
    }
    c.close();
  });
  return c.toString();
}

export interface ScatterPoint {
  label: string;
  /** Cost (MACs). */
  x: number;
  /** Quality (accuracy). */
  y: number;
}

/**
 * Indices of the Pareto-optimal points (no other point has lower-or-equal x and higher-or-equal y with one
 * strictly better), sorted by x.
 */
export function paretoFront(points: readonly ScatterPoint[]): number[] {
  const idx = points
    .map((_, i) => i)
    .filter((i) => Number.isFinite(points[i].x) && Number.isFinite(points[i].y));
  idx.sort((a, b) => points[a].x - points[b].x || points[b].y - points[a].y);
  const front: number[] = [];
  let best = -Infinity;
  for (const i of idx) {
    if (points[i].y > best) {
      front.push(i);
      best = points[i].y;
    }
  }
  return front;
}

export interface ParetoChartSpec {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  points: readonly ScatterPoint[];
  /** Log scale on x (default: when the largest x is over 20 times the smallest). */
  logX?: boolean;
  width?: number;
  height?: number;
}

/**
 * Accuracy against MACs: every variant a labelled point; the Pareto front (the variants no other beats on
 * both axes) highlighted and joined by a step line.
 */
export function drawParetoChart(spec: ParetoChartSpec): string {
  const op = "drawParetoChart";
  if (!Array.isArray(spec.points) || spec.points.length === 0) {
    throw new ArgumentError(describe(op, "points", "at least one { label, x, y }", spec.points));
  }
  const title = spec.title ?? "Accuracy against MACs";
  const xLabel = spec.xLabel ?? "MACs (batch 1)";
  const yLabel = spec.yLabel ?? "accuracy (%)";
  const pts = spec.points;
  const xs = pts.map((p) => p.x);
  const logX = spec.logX ?? Math.max(...xs) > 20 * Math.min(...xs.filter((v) => v > 0));
  const front = paretoFront(pts);
  const onFront = new Set(front);
  const W = spec.width ?? 560;
  const H = spec.height ?? 320;
  const c = new Canvas({
    title,
    desc: `${pts.length} variants, ${yLabel} against ${xLabel}; Pareto front: ${front.map((i) => pts[i].label).join(", ")}.`,
  });
  c.text(0, 16, title, { size: 14, weight: "bold" });
  const f: Frame = { x0: 70, y0: 68, w: W, h: H };
  const xa = axis(xs, logX, f.x0 + 10, f.x0 + f.w - 10, 6, "x values");
  const ya = axis(
    pts.map((p) => p.y),
    false,
    f.y0 + f.h - 10,
    f.y0 + 10,
    5,
    "y values",
  );
  drawAxes(c, f, xa, ya, xLabel, yLabel);
  c.open({ class: "legend" });
  c.circle(f.x0 + 6, 36, 4.5, { fill: PALETTE.accent });
  c.text(f.x0 + 16, 40, "Pareto front (no variant is both cheaper and more accurate)", { size: 11.5 });
  c.circle(f.x0 + 6, 52 - 2, 4, { fill: PALETTE.paper, stroke: PALETTE.inputStroke, "stroke-width": 1.5 });
  c.close();
  c.text(f.x0 + 16, 52 + 2, "other variants", { size: 11.5 });

  // Step line along the front: right then up (cheaper points cannot be beaten from the left).
  const steps: [number, number][] = [];
  front.forEach((i, k) => {
    const x = xa.map(pts[i].x);
    const y = ya.map(pts[i].y);
    if (k > 0) steps.push([x, steps[steps.length - 1][1]]);
    steps.push([x, y]);
  });
  c.polyline(steps, {
    class: "front",
    stroke: PALETTE.accent,
    "stroke-width": 1.5,
    "stroke-dasharray": "5 3",
  });

  // Points, then labels placed greedily: right, left, above, below, away from points, the front's step line
  // and earlier labels.
  const placed: [number, number, number, number][] = pts.map((p) => {
    const x = xa.map(p.x);
    const y = ya.map(p.y);
    return [x - 5, y - 5, x + 5, y + 5];
  });
  for (let k = 1; k < steps.length; k++) {
    const [ax, ay] = steps[k - 1];
    const [bx, by] = steps[k];
    placed.push([Math.min(ax, bx) - 1, Math.min(ay, by) - 1, Math.max(ax, bx) + 1, Math.max(ay, by) + 1]);
  }
  pts.forEach((p, i) => {
    const x = xa.map(p.x);
    const y = ya.map(p.y);
    c.circle(x, y, onFront.has(i) ? 5 : 4.5, {
      class: "point",
      "data-label": p.label,
      "data-front": onFront.has(i) ? 1 : 0,
      fill: onFront.has(i) ? PALETTE.accent : PALETTE.paper,
      stroke: onFront.has(i) ? PALETTE.accent : PALETTE.inputStroke,
      "stroke-width": 1.5,
    });
  });
  const order = pts.map((_, i) => i).sort((a, b) => pts[a].x - pts[b].x || a - b);
  for (const i of order) {
    const p = pts[i];
    const x = xa.map(p.x);
    const y = ya.map(p.y);
    const w = textWidth(p.label, 11);
    const candidates: [number, number, "start" | "end" | "middle"][] = [
      [x + 8, y + 4, "start"],
      [x - 8, y + 4, "end"],
      [x, y - 9, "middle"],
      [x, y + 17, "middle"],
      [x + 8, y - 8, "start"],
      [x + 8, y + 15, "start"],
      [x - 8, y - 8, "end"],
      [x - 8, y + 15, "end"],
    ];
    const boxOf = ([lx, ly, anchor]: [number, number, string]): [number, number, number, number] => {
      const bx = anchor === "start" ? lx : anchor === "end" ? lx - w : lx - w / 2;
      return [bx, ly - 10, bx + w, ly + 3];
    };
    const fits = (b: [number, number, number, number]) =>
      b[0] >= f.x0 + 2 &&
      b[2] <= f.x0 + f.w - 2 &&
      b[1] >= f.y0 + 2 &&
      b[3] <= f.y0 + f.h - 2 &&
      placed.every((q) => b[2] < q[0] || b[0] > q[2] || b[3] < q[1] || b[1] > q[3]);
    const choice = candidates.find((cand) => fits(boxOf(cand))) ?? candidates[0];
    placed.push(boxOf(choice));
    c.text(choice[0], choice[1], p.label, {
      size: 11,
      anchor: choice[2],
      fill: onFront.has(i) ? PALETTE.ink : PALETTE.muted,
      weight: onFront.has(i) ? "bold" : "normal",
      attrs: { class: "point-label", "data-label": p.label },
    });
  }
  return c.toString();
}

export interface BarSeries {
  name: string;
  /** One value per category. */
  values: readonly number[];
}

export interface BarChartSpec {
  title: string;
  yLabel: string;
  /** Category names (the variants), along x. */
  categories: readonly string[];
  series: readonly BarSeries[];
  /** Log scale on y (params and MACs differ by orders of magnitude). */
  log?: boolean;
  /** Print each bar's value above it (default true). */
  values?: boolean;
  height?: number;
}

/** Grouped bars: one group per category, one bar per series, values printed on top; linear or log y. */
export function drawBarChart(spec: BarChartSpec): string {
  const op = "drawBarChart";
  const cats = spec.categories;
  if (!Array.isArray(cats) || cats.length === 0) {
    throw new ArgumentError(describe(op, "categories", "at least one name", cats));
  }
  if (!Array.isArray(spec.series) || spec.series.length === 0) {
    throw new ArgumentError(describe(op, "series", "at least one { name, values }", spec.series));
  }
  for (const s of spec.series as readonly BarSeries[]) {
    if (s.values.length !== cats.length) {
      throw new ArgumentError(
        describe(op, `series "${s.name}".values`, `${cats.length} values`, s.values.length),
      );
    }
    if (spec.log && s.values.some((v) => !(v > 0))) {
      throw new ArgumentError(
        describe(op, `series "${s.name}".values`, "positive values on a log scale", s.values),
      );
    }
  }
  const showValues = spec.values ?? true;
  const ns = spec.series.length;
  const bar = Math.max(10, Math.min(28, Math.floor(90 / ns)));
  const groupW = ns * bar + 22;
  const H = spec.height ?? 260;
  const c = new Canvas({
    title: spec.title,
    desc: `Bar chart of ${spec.yLabel}${spec.log ? " (log scale)" : ""} for ${cats.join(", ")}: ${spec.series.map((s) => s.name).join(", ")}.`,
  });
  c.text(0, 16, spec.title, { size: 14, weight: "bold" });
  const f: Frame = { x0: 70, y0: 56, w: Math.max(groupW * cats.length, 220), h: H };
  const values = spec.series.flatMap((s) => [...s.values]);
  const ya = spec.log
    ? axis(values, true, f.y0 + f.h, f.y0, 5, "values")
    : axis([0, ...values], false, f.y0 + f.h, f.y0, 5, "values");
  drawAxes(c, f, null, ya, "", spec.yLabel);
  if (ns > 1 || spec.series[0].name)
    legend(
      c,
      f.x0,
      40,
      spec.series.map((s) => s.name),
      "box",
    );
  const base = spec.log ? f.y0 + f.h : ya.map(0);
  const slot = f.w / cats.length;
  cats.forEach((cat, ci) => {
    const gx = f.x0 + ci * slot + (slot - ns * bar) / 2;
    spec.series.forEach((s, si) => {
      const v = s.values[ci];
      const y = ya.map(v);
      const top = Math.min(y, base);
      c.rect(gx + si * bar, top, bar - 2, Math.abs(base - y), {
        class: "bar",
        "data-series": s.name,
        "data-category": cat,
        "data-value": String(v),
        fill: groupColor(si),
      });
      if (showValues) {
        c.text(gx + si * bar + (bar - 2) / 2, top - 4, formatCount(v), {
          size: 9.5,
          anchor: "middle",
          fill: PALETTE.muted,
        });
      }
    });
    // Category names, rotated when long so neighbours do not collide.
    const cx = f.x0 + (ci + 0.5) * slot;
    const cy = f.y0 + f.h + 16;
    const w = textWidth(cat, 11);
    if (w > slot - 6) {
      c.raw(
        `<text class="category" x="${num(cx)}" y="${num(cy)}" font-size="11" text-anchor="end" transform="rotate(-35 ${num(cx)} ${num(cy)})">${escText(cat)}</text>`,
        [cx - w * 0.82 - 4, cy - 4, cx + 6, cy + w * 0.58 + 6],
      );
    } else {
      c.text(cx, cy, cat, { size: 11, anchor: "middle", attrs: { class: "category" } });
    }
  });
  return c.toString();
}
