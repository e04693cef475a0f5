import { analyze } from "../analyze/analyze.js";
import type { Analysis, InputShapes } from "../analyze/types.js";
import type { Graph } from "../graph/types.js";
import { type GraphView, type GraphViewOptions, graphView, type Unit } from "./graph-view.js";
import { Canvas, dims, formatCount, num, PALETTE, textWidth } from "./svg.js";

/**
 * A whole Graph as a layered diagram, top to bottom: every unit (a node, or a scope collapsed to a block) a box
 * with its output shape, parameters and MACs; edges follow the data. Layout in the Sugiyama manner: units
 * ranked by longest path, long edges routed through virtual points so they pass beside boxes, a few
 * barycentre sweeps to reduce crossings, then coordinates pulled towards neighbours without overlap.
 *
 * Test hooks: `g.unit` with `data-key`, `data-kind`, `data-shape`, `data-params`, `data-macs`; `path.edge` with
 * `data-from` and `data-to` (unit keys).
 */

export interface DrawGraphOptions extends GraphViewOptions {
  /** Input shape to analyse at (default: the graph's declared input, batch 1). */
  inputShape?: InputShapes;
  /** A ready analysis of the graph (skips analysing again). */
  analysis?: Analysis;
  title?: string;
}

interface Box {
  w: number;
  h: number;
  lines: { text: string; bold: boolean; size: number; fill: string }[];
}

const FONT = 11.5;
const LINE = 15;

function boxOf(u: Unit, batch: number): Box {
  const lines: Box["lines"] = [{ text: u.title, bold: true, size: FONT, fill: PALETTE.ink }];
  if (u.summary) lines.push({ text: u.summary, bold: false, size: 10.5, fill: PALETTE.muted });
  if (u.outputShape) {
    const shape = batch === 1 && u.outputShape.length > 1 ? u.outputShape.slice(1) : u.outputShape;
    lines.push({ text: dims(shape), bold: false, size: 10.5, fill: PALETTE.ink });
  }
  const cost = [
    u.params > 0 ? `params ${formatCount(u.params)}` : "",
    u.macs > 0 ? `MACs ${formatCount(u.macs)}` : "",
  ]
    .filter(Boolean)
    .join(" · ");
  if (cost) lines.push({ text: cost, bold: false, size: 10.5, fill: PALETTE.muted });
  const w = Math.max(64, ...lines.map((l) => textWidth(l.text, l.bold ? l.size * 1.06 : l.size))) + 16;
  return { w, h: 8 + lines.length * LINE, lines };
}

function style(u: Unit): { fill: string; stroke: string; rx: number; dash?: string } {
  if (u.kind === "input" || u.kind === "output")
    return { fill: PALETTE.panel, stroke: PALETTE.muted, rx: 14 };
  if (u.join) return { fill: "#fff3e0", stroke: PALETTE.accent, rx: 14 };
  if (u.nodes.length > 1) return { fill: "#eef3fa", stroke: PALETTE.inputStroke, rx: 6, dash: undefined };
  if (u.kind === "conv2d" || u.kind === "deformConv2d" || u.kind === "linear") {
    return { fill: PALETTE.input, stroke: PALETTE.inputStroke, rx: 3 };
  }
  if (u.kind.includes("Pool") || u.kind.includes("pool"))
    return { fill: PALETTE.outputLight, stroke: PALETTE.output, rx: 3 };
  return { fill: PALETTE.paper, stroke: PALETTE.faint, rx: 3 };
}

/** Layer positions: each unit's rank and x centre, virtual points of long edges. */
interface Layout {
  rank: number[];
  x: number[];
  y: number[];
  /** For every edge, the x of its virtual points on the ranks it crosses. */
  via: number[][];
  rankY: number[];
  rankH: number[];
}

const GAP_X = 22;
const GAP_Y = 36;
const VIRTUAL_W = 10;

function layout(view: GraphView, boxes: Box[]): Layout {
  const n = view.units.length;
  const preds: number[][] = Array.from({ length: n }, () => []);
  for (const e of view.edges) if (e.from < e.to) preds[e.to].push(e.from);
  const rank = new Array<number>(n).fill(0);
  for (let u = 0; u < n; u++) {
    for (const p of preds[u]) rank[u] = Math.max(rank[u], rank[p] + 1);
  }
  const R = Math.max(...rank) + 1;

  // Items per rank: units and virtual points (edge index, rank).
  type Item = { unit: number; edge: number; w: number };
  const layers: Item[][] = Array.from({ length: R }, () => []);
  for (let u = 0; u < n; u++) layers[rank[u]].push({ unit: u, edge: -1, w: boxes[u].w });
  const viaItems: Item[][] = view.edges.map(() => []);
  view.edges.forEach((e, ei) => {
    for (let r = rank[e.from] + 1; r < rank[e.to]; r++) {
      const item = { unit: -1, edge: ei, w: VIRTUAL_W };
      layers[r].push(item);
      viaItems[ei].push(item);
    }
  });
  // Neighbours of each item in the rank above and below.
  const up = new Map<Item, Item[]>();
  const down = new Map<Item, Item[]>();
  const link = (a: Item, b: Item) => {
    down.set(a, [...(down.get(a) ?? []), b]);
    up.set(b, [...(up.get(b) ?? []), a]);
  };
  const itemOfUnit = new Map<number, Item>();
  for (const layer of layers) for (const it of layer) if (it.unit >= 0) itemOfUnit.set(it.unit, it);
  view.edges.forEach((e, ei) => {
    const chain = [itemOfUnit.get(e.from)!, ...viaItems[ei], itemOfUnit.get(e.to)!];
    for (let k = 1; k < chain.length; k++) link(chain[k - 1], chain[k]);
  });

  // Ordering: barycentre sweeps, down then up.
  const pos = new Map<Item, number>();
  const setPos = () => {
    for (const layer of layers) {
      layer.forEach((it, i) => {
        pos.set(it, i);
      });
    }
  };
  setPos();
  const bary = (it: Item, nb: Map<Item, Item[]>) => {
    const list = nb.get(it) ?? [];
    return list.length === 0 ? pos.get(it)! : list.reduce((s, o) => s + pos.get(o)!, 0) / list.length;
  };
  for (let sweep = 0; sweep < 4; sweep++) {
    for (let r = 1; r < R; r++) {
      const keyed = layers[r].map((it) => [bary(it, up), pos.get(it)!, it] as const);
      keyed.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      layers[r] = keyed.map((k) => k[2]);
      layers[r].forEach((it, i) => {
        pos.set(it, i);
      });
    }
    for (let r = R - 2; r >= 0; r--) {
      const keyed = layers[r].map((it) => [bary(it, down), pos.get(it)!, it] as const);
      keyed.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      layers[r] = keyed.map((k) => k[2]);
      layers[r].forEach((it, i) => {
        pos.set(it, i);
      });
    }
  }

  // Coordinates: pack each rank, then pull items towards their neighbours' mean, keeping order and gaps.
  const x = new Map<Item, number>();
  for (const layer of layers) {
    let cx = 0;
    for (const it of layer) {
      x.set(it, cx + it.w / 2);
      cx += it.w + GAP_X;
    }
    const shift = (cx - GAP_X) / 2;
    for (const it of layer) x.set(it, x.get(it)! - shift);
  }
  const place = (layer: Item[], want: (it: Item) => number) => {
    const target = layer.map(want);
    const xs = [...target];
    for (let i = 1; i < layer.length; i++) {
      xs[i] = Math.max(xs[i], xs[i - 1] + (layer[i - 1].w + layer[i].w) / 2 + GAP_X);
    }
    // Centre the packed row on the targets so pushing right does not drift the whole rank.
    const drift = layer.reduce((s, _, i) => s + xs[i] - target[i], 0) / Math.max(1, layer.length);
    for (let i = 0; i < layer.length; i++) x.set(layer[i], xs[i] - drift);
  };
  const mean = (it: Item, lists: Item[][]) => {
    const all = lists.flat();
    return all.length === 0 ? x.get(it)! : all.reduce((s, o) => s + x.get(o)!, 0) / all.length;
  };
  for (let iter = 0; iter < 8; iter++) {
    for (let r = 1; r < R; r++) place(layers[r], (it) => mean(it, [up.get(it) ?? []]));
    for (let r = R - 2; r >= 0; r--) place(layers[r], (it) => mean(it, [down.get(it) ?? []]));
  }
  for (let r = 0; r < R; r++) place(layers[r], (it) => mean(it, [up.get(it) ?? [], down.get(it) ?? []]));

  const rankH = layers.map((layer) =>
    Math.max(12, ...layer.filter((it) => it.unit >= 0).map((it) => boxes[it.unit].h)),
  );
  const rankY: number[] = [];
  let y = 0;
  for (let r = 0; r < R; r++) {
    rankY.push(y);
    y += rankH[r] + GAP_Y;
  }
  const ux = new Array<number>(n).fill(0);
  const uy = new Array<number>(n).fill(0);
  for (const layer of layers) {
    for (const it of layer) {
      if (it.unit < 0) continue;
      ux[it.unit] = x.get(it)!;
      uy[it.unit] = rankY[rank[it.unit]] + (rankH[rank[it.unit]] - boxes[it.unit].h) / 2;
    }
  }
  return { rank, x: ux, y: uy, via: viaItems.map((items) => items.map((it) => x.get(it)!)), rankY, rankH };
}

/**
 * Draws a Graph (or the part under `scope`) as a layered diagram. Collapse blocks with `depth` (scope
 * segments below `scope`, like `convkit analyze --depth`) or `collapseKinds`; by default every node is a box.
 */
export function drawGraph(graph: Graph, options: DrawGraphOptions = {}): string {
  const analysis = options.analysis ?? analyze(graph, options.inputShape);
  const view = graphView(graph, analysis, options);
  return drawView(graph, analysis, view, options.title ?? defaultTitle(graph, options), options.scope);
}

function defaultTitle(graph: Graph, options: DrawGraphOptions): string {
  const part = options.scope ? ` · ${options.scope}` : "";
  return `${graph.name}${part}`;
}

/** Draws a prepared view (shared with the block drawings). */
export function drawView(
  graph: Graph,
  analysis: Analysis,
  view: GraphView,
  title: string,
  scope?: string,
): string {
  const boxes = view.units.map((u) => boxOf(u, analysis.batch));
  const lay = layout(view, boxes);
  const totalParams = view.units.reduce((s, u) => s + u.params, 0);
  const totalMacs = view.units.reduce((s, u) => s + u.macs, 0);
  const inShape = analysis.inputs.map((i) => dims(i.shape)).join(", ");
  const c = new Canvas({
    title,
    desc: `Layered diagram of ${scope ? `scope ${scope} of ` : ""}graph ${graph.name} at input ${inShape}: ${view.units.length} boxes, ${view.edges.length} edges, ${formatCount(totalParams)} parameters, ${formatCount(totalMacs)} MACs.`,
  });
  const left = Math.min(...view.units.map((_, i) => lay.x[i] - boxes[i].w / 2), ...lay.via.flat());
  const headY = -44;
  c.text(left, headY, title, { size: 14, weight: "bold" });
  c.text(
    left,
    headY + 18,
    `input ${inShape} · ${formatCount(totalParams)} params · ${formatCount(totalMacs)} MACs (${analysis.counting.convention} convention)`,
    { size: 11, fill: PALETTE.muted },
  );

  const arrow = c.arrowMarker(PALETTE.muted);
  c.open({ class: "edges" });
  view.edges.forEach((e, ei) => {
    const pts: [number, number][] = [[lay.x[e.from], lay.y[e.from] + boxes[e.from].h]];
    const r0 = lay.rank[e.from];
    lay.via[ei].forEach((vx, k) => {
      const r = r0 + 1 + k;
      pts.push([vx, lay.rankY[r]]);
      pts.push([vx, lay.rankY[r] + lay.rankH[r]]);
    });
    pts.push([lay.x[e.to], lay.y[e.to]]);
    let d = `M${num(pts[0][0])},${num(pts[0][1])}`;
    const extent: [number, number][] = [pts[0]];
    for (let k = 1; k < pts.length; k++) {
      const [ax, ay] = pts[k - 1];
      const [bx, by] = pts[k];
      if (ax === bx) {
        d += ` L${num(bx)},${num(by)}`;
      } else {
        const my = (ay + by) / 2;
        d += ` C${num(ax)},${num(my)} ${num(bx)},${num(my)} ${num(bx)},${num(by)}`;
      }
      extent.push([bx, by]);
    }
    c.path(d, extent, {
      class: "edge",
      "data-from": view.units[e.from].key,
      "data-to": view.units[e.to].key,
      fill: "none",
      stroke: PALETTE.muted,
      "stroke-width": 1.1,
      "marker-end": arrow,
    });
  });
  c.close();

  view.units.forEach((u, i) => {
    const b = boxes[i];
    const x0 = lay.x[i] - b.w / 2;
    const y0 = lay.y[i];
    const s = style(u);
    c.open({
      class: "unit",
      "data-key": u.key,
      "data-kind": u.kind,
      "data-shape": u.outputShape ? u.outputShape.join(",") : undefined,
      "data-params": u.params,
      "data-macs": u.macs,
    });
    c.rect(x0, y0, b.w, b.h, {
      rx: s.rx,
      fill: s.fill,
      stroke: s.stroke,
      "stroke-width": u.nodes.length > 1 ? 1.6 : 1,
    });
    b.lines.forEach((l, k) => {
      c.text(lay.x[i], y0 + 4 + (k + 1) * LINE - 3, l.text, {
        size: l.size,
        anchor: "middle",
        weight: l.bold ? "bold" : "normal",
        fill: l.fill,
      });
    });
    c.close();
  });
  return c.toString();
}
