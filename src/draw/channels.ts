import { noGrad } from "../autograd/gradmode.js";
import { tensor } from "../autograd/tensor.js";
import { channelShuffle } from "../ops/shuffle.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { checkPositiveInt, pair } from "../tensor/shape.js";
import { convCost } from "./cost.js";
import { Canvas, formatCount, groupColor, num, PALETTE, textWidth } from "./svg.js";

/**
 * Channel drawings (article §5, §6 and §10 "channels"): which input channels feed which output channels in a
 * group convolution, a depthwise separable convolution, a pointwise 1x1 convolution, and ShuffleNet's channel
 * shuffle (its figure 1 a/b/c) with the permutation computed by the real `channelShuffle` op.
 *
 * Every diagram is rows of channels joined by edges; every channel square is striped with the colours of the
 * input groups it depends on (traced along the edges), so cross-group information flow shows as mixed stripes.
 *
 * Test hooks: a row is `g.row` with `data-name` and `data-count`; a channel `rect.channel` with `data-row`,
 * `data-index` and `data-groups` (the input groups reaching it); an edge `line.edge` with `data-from`,
 * `data-to`, inside a `g.edge-set` with `data-set` and `data-count`.
 */

interface Row {
  name: string;
  label: string;
  count: number;
}

interface EdgeSet {
  name: string;
  /** Index of the upper row; edges go to row `from + 1`. */
  from: number;
  pairs: [number, number][];
  label: string;
  /** Colour edges by the group of their source channel (else grey). */
  colorBySource?: boolean;
}

interface Diagram {
  rows: Row[];
  edges: EdgeSet[];
  /** Group of every channel of the first row (drives the stripes). */
  inputGroups: number[];
}

const ROW_GAP = 92;

/** Which input groups reach each channel of each row. */
function reach(d: Diagram): number[][][] {
  const out: number[][][] = [d.inputGroups.map((g) => [g])];
  for (let r = 1; r < d.rows.length; r++) {
    const sets = Array.from({ length: d.rows[r].count }, () => new Set<number>());
    for (const e of d.edges) {
      if (e.from !== r - 1) continue;
      for (const [i, j] of e.pairs) for (const g of out[r - 1][i]) sets[j].add(g);
    }
    out.push(sets.map((s) => [...s].sort((a, b) => a - b)));
  }
  return out;
}

/**
 * Draws a diagram at (x, y); returns its width and height. Channel squares are `size` px wide with `gap`
 * between them; rows are centred on the widest.
 */
function drawDiagram(
  c: Canvas,
  d: Diagram,
  x: number,
  y: number,
  options: { labels?: boolean } = {},
): number {
  const widest = Math.max(...d.rows.map((r) => r.count));
  const size = Math.max(5, Math.min(18, Math.floor(300 / widest) - 3));
  const gap = Math.max(2, Math.round(size / 3));
  const pitch = size + gap;
  const labelW = options.labels === false ? 0 : Math.max(...d.rows.map((r) => textWidth(r.label, 11))) + 12;
  const fullW = widest * pitch - gap;
  const left = (r: Row) => x + labelW + (fullW - (r.count * pitch - gap)) / 2;
  const groups = reach(d);
  const rowY = (i: number) => y + i * ROW_GAP;
  const centre = (ri: number, i: number) => left(d.rows[ri]) + i * pitch + size / 2;

  for (const e of d.edges) {
    // Shared styling sits on the group, so each of the many edges carries only its colour and ends.
    c.open({
      class: "edge-set",
      "data-set": e.name,
      "data-count": e.pairs.length,
      "stroke-width": 0.9,
      "stroke-opacity": 0.75,
    });
    const y0 = rowY(e.from) + size;
    const y1 = rowY(e.from + 1);
    for (const [i, j] of e.pairs) {
      const g = d.inputGroups.length > 0 && e.colorBySource ? groups[e.from][i] : [];
      c.line(centre(e.from, i), y0, centre(e.from + 1, j), y1, {
        class: "edge",
        "data-from": i,
        "data-to": j,
        stroke: g.length === 1 ? groupColor(g[0]) : PALETTE.faint,
      });
    }
    c.close();
    if (e.label) {
      c.text(x + labelW + fullW + 14, (y0 + y1) / 2 + 4, e.label, { size: 11, fill: PALETTE.muted });
    }
  }
  d.rows.forEach((row, ri) => {
    c.open({ class: "row", "data-name": row.name, "data-count": row.count });
    if (labelW > 0) c.text(x, rowY(ri) + size / 2 + 4, row.label, { size: 11, weight: "bold" });
    for (let i = 0; i < row.count; i++) {
      const gx = left(row) + i * pitch;
      const gs = groups[ri][i];
      const stripe = size / Math.max(1, gs.length);
      gs.forEach((g, k) => {
        c.rect(gx, rowY(ri) + k * stripe, size, stripe, { fill: groupColor(g), stroke: "none" });
      });
      c.rect(gx, rowY(ri), size, size, {
        class: "channel",
        "data-row": row.name,
        "data-index": i,
        "data-groups": gs.join(" "),
        fill: gs.length === 0 ? PALETTE.pad : "none",
        stroke: PALETTE.ink,
        "stroke-width": 0.6,
      });
    }
    c.close();
  });
  return labelW + fullW;
}

/** Edges of a grouped layer: input i (group i div Cin/g) feeds every output of the same group. */
function groupedPairs(cin: number, cout: number, groups: number): [number, number][] {
  const pairs: [number, number][] = [];
  const ipg = cin / groups;
  const opg = cout / groups;
  for (let i = 0; i < cin; i++) {
    const g = Math.floor(i / ipg);
    for (let j = g * opg; j < (g + 1) * opg; j++) pairs.push([i, j]);
  }
  return pairs;
}

function checkGroups(op: string, cin: number, cout: number, groups: number): void {
  if (cin % groups !== 0 || cout % groups !== 0) {
    throw new ArgumentError(
      describe(op, "groups", `a divisor of inChannels (${cin}) and outChannels (${cout})`, groups),
    );
  }
}

export interface GroupConvSpec {
  inChannels: number;
  outChannels: number;
  groups: number;
  /** Kernel size, for the parameter count (default 3). */
  kernelSize?: number | readonly [number, number];
  /** Output height and width at which MACs are counted (default 56). */
  size?: number;
}

/**
 * Group convolution connectivity (article §5): input channels split into `groups` groups, each feeding only its
 * own Cout/groups outputs, so there are Cout·Cin/groups edges instead of Cout·Cin and 1/groups of the
 * parameters. The article's example is Cin 12, Cout 6, groups 3, kernel 5.
 */
export function drawGroupConv(spec: GroupConvSpec): string {
  const op = "drawGroupConv";
  const cin = checkPositiveInt(spec.inChannels, op, "inChannels");
  const cout = checkPositiveInt(spec.outChannels, op, "outChannels");
  const groups = checkPositiveInt(spec.groups, op, "groups");
  checkGroups(op, cin, cout, groups);
  const [kh, kw] = pair(spec.kernelSize, 3, op, "kernelSize", checkPositiveInt);
  const size = checkPositiveInt(spec.size ?? 56, op, "size");
  const grouped = convCost({ inChannels: cin, outChannels: cout, kernelSize: [kh, kw], groups }, size, size);
  const dense = convCost({ inChannels: cin, outChannels: cout, kernelSize: [kh, kw] }, size, size);
  const title = `Group convolution: ${cin} → ${cout} channels, groups ${groups}`;
  const c = new Canvas({
    title,
    desc: `Each of the ${groups} groups connects ${cin / groups} input channels to ${cout / groups} output channels: ${(cout * cin) / groups} connections instead of ${cout * cin}; ${formatCount(grouped.weights)} weights instead of ${formatCount(dense.weights)}.`,
  });
  c.text(0, 16, title, { size: 14, weight: "bold" });
  const d: Diagram = {
    rows: [
      { name: "input", label: `input ${cin}`, count: cin },
      { name: "output", label: `output ${cout}`, count: cout },
    ],
    edges: [
      {
        name: "conv",
        from: 0,
        pairs: groupedPairs(cin, cout, groups),
        label: `${(cout * cin) / groups} connections`,
        colorBySource: true,
      },
    ],
    inputGroups: Array.from({ length: cin }, (_, i) => Math.floor(i / (cin / groups))),
  };
  drawDiagram(c, d, 0, 44);
  c.lines(
    0,
    44 + ROW_GAP + 50,
    [
      `${groups} groups of ${cin / groups} input → ${cout / groups} output channels; each kernel is (Cin/g)×k×k = ${cin / groups}×${kh}×${kw}`,
      `params Cout·(Cin/g)·k·k = ${cout}·${cin / groups}·${kh}·${kw} = ${formatCount(grouped.weights)}  (dense conv: ${formatCount(dense.weights)}, ×1/${groups})`,
      `MACs at ${size}×${size}: ${formatCount(grouped.macs)}  (dense: ${formatCount(dense.macs)})`,
    ],
    { size: 12 },
  );
  return c.toString();
}

export interface DepthwiseSeparableSpec {
  inChannels: number;
  outChannels: number;
  kernelSize?: number;
  size?: number;
}

/**
 * Depthwise separable convolution (article §5): a kxk depthwise conv (groups = Cin, one kernel per channel,
 * Cin edges) followed by a 1x1 pointwise conv (Cin·Cout edges), against the standard kxk conv it replaces.
 */
export function drawDepthwiseSeparable(spec: DepthwiseSeparableSpec): string {
  const op = "drawDepthwiseSeparable";
  const cin = checkPositiveInt(spec.inChannels, op, "inChannels");
  const cout = checkPositiveInt(spec.outChannels, op, "outChannels");
  const k = checkPositiveInt(spec.kernelSize ?? 3, op, "kernelSize");
  const size = checkPositiveInt(spec.size ?? 56, op, "size");
  const dw = convCost({ inChannels: cin, outChannels: cin, kernelSize: [k, k], groups: cin }, size, size);
  const pw = convCost({ inChannels: cin, outChannels: cout, kernelSize: [1, 1] }, size, size);
  const std = convCost({ inChannels: cin, outChannels: cout, kernelSize: [k, k] }, size, size);
  const title = `Depthwise separable convolution: ${cin} → ${cout} channels, ${k}×${k}`;
  const c = new Canvas({
    title,
    desc: `A ${k}×${k} depthwise conv (one kernel per channel, ${cin} connections) then a 1×1 pointwise conv (${cin * cout} connections): ${formatCount(dw.weights + pw.weights)} weights against ${formatCount(std.weights)} for a standard ${k}×${k} conv.`,
  });
  c.text(0, 16, title, { size: 14, weight: "bold" });
  const d: Diagram = {
    rows: [
      { name: "input", label: `input ${cin}`, count: cin },
      { name: "depthwise", label: `depthwise ${cin}`, count: cin },
      { name: "pointwise", label: `pointwise ${cout}`, count: cout },
    ],
    edges: [
      {
        name: "depthwise",
        from: 0,
        pairs: groupedPairs(cin, cin, cin),
        label: `${k}×${k} depthwise, groups ${cin}: ${cin} connections`,
        colorBySource: true,
      },
      {
        name: "pointwise",
        from: 1,
        pairs: groupedPairs(cin, cout, 1),
        label: `1×1 pointwise: ${cin * cout} connections`,
      },
    ],
    inputGroups: Array.from({ length: cin }, (_, i) => i),
  };
  drawDiagram(c, d, 0, 44);
  c.lines(
    0,
    44 + 2 * ROW_GAP + 50,
    [
      `depthwise params Cin·k·k = ${cin}·${k}·${k} = ${formatCount(dw.weights)}, MACs ${formatCount(dw.macs)}`,
      `pointwise params Cin·Cout = ${cin}·${cout} = ${formatCount(pw.weights)}, MACs ${formatCount(pw.macs)}`,
      `together ${formatCount(dw.weights + pw.weights)} params, ${formatCount(dw.macs + pw.macs)} MACs; standard ${k}×${k} conv ${formatCount(std.weights)} params, ${formatCount(std.macs)} MACs (${num((100 * (dw.macs + pw.macs)) / std.macs)}%)`,
      `MACs at ${size}×${size}, batch 1, no bias`,
    ],
    { size: 12 },
  );
  return c.toString();
}

export interface PointwiseSpec {
  inChannels: number;
  outChannels: number;
  size?: number;
}

/**
 * Pointwise (1x1) convolution (article §7 and §10 "add 1x1 convolution"): every output channel is a weighted
 * sum of all input channels at the same pixel: Cin·Cout connections, no spatial extent.
 */
export function drawPointwise(spec: PointwiseSpec): string {
  const op = "drawPointwise";
  const cin = checkPositiveInt(spec.inChannels, op, "inChannels");
  const cout = checkPositiveInt(spec.outChannels, op, "outChannels");
  const size = checkPositiveInt(spec.size ?? 56, op, "size");
  const cost = convCost({ inChannels: cin, outChannels: cout, kernelSize: [1, 1] }, size, size);
  const title = `Pointwise 1×1 convolution: ${cin} → ${cout} channels`;
  const c = new Canvas({
    title,
    desc: `Each of the ${cout} output channels mixes all ${cin} input channels at the same pixel: ${cin * cout} connections, ${formatCount(cost.weights)} weights.`,
  });
  c.text(0, 16, title, { size: 14, weight: "bold" });
  drawDiagram(
    c,
    {
      rows: [
        { name: "input", label: `input ${cin}`, count: cin },
        { name: "output", label: `output ${cout}`, count: cout },
      ],
      edges: [
        { name: "pointwise", from: 0, pairs: groupedPairs(cin, cout, 1), label: `${cin * cout} connections` },
      ],
      inputGroups: Array.from({ length: cin }, (_, i) => i),
    },
    0,
    44,
  );
  c.lines(
    0,
    44 + ROW_GAP + 50,
    [
      `every output channel sees every input channel (mixed stripes), at one pixel: receptive field 1×1`,
      `params Cin·Cout = ${cin}·${cout} = ${formatCount(cost.weights)}; MACs at ${size}×${size}: ${formatCount(cost.macs)}`,
      cin > cout
        ? `used as a bottleneck: ${cin} → ${cout} channels before an expensive conv (Inception, ResNet)`
        : `used to expand or mix channels after a depthwise or group conv`,
    ],
    { size: 12 },
  );
  return c.toString();
}

/**
 * Where `channelShuffle` sends each channel: `dest[i]` is the output position of input channel i. Computed by
 * running the op on a [1, C, 1, 1] tensor holding the channel indices, so the drawing shows what the op does.
 */
export function shufflePermutation(channels: number, groups: number): number[] {
  const c = checkPositiveInt(channels, "shufflePermutation", "channels");
  const out = noGrad(() =>
    channelShuffle(
      tensor(
        Float32Array.from({ length: c }, (_, i) => i),
        [1, c, 1, 1],
      ),
      groups,
    ),
  );
  const dest = new Array<number>(c);
  out.data.forEach((src, j) => {
    dest[src] = j;
  });
  return dest;
}

export interface ChannelShuffleSpec {
  channels: number;
  groups: number;
}

/**
 * Channel shuffle (article §6, ShuffleNet's figure 1): (a) two stacked group convolutions, where each output
 * group sees only its own input group; (b) GConv2 fed from every group of GConv1; (c) the same as a channel
 * shuffle between them: a permutation drawn as C lines from channel i to the position `channelShuffle`
 * really sends it (view [g, C/g], transpose, flatten). Stripes show which input groups reach each channel.
 */
export function drawChannelShuffle(spec: ChannelShuffleSpec): string {
  const op = "drawChannelShuffle";
  const ch = checkPositiveInt(spec.channels, op, "channels");
  const g = checkPositiveInt(spec.groups, op, "groups");
  checkGroups(op, ch, ch, g);
  const dest = shufflePermutation(ch, g);
  const inputGroups = Array.from({ length: ch }, (_, i) => Math.floor(i / (ch / g)));
  const gconv = groupedPairs(ch, ch, g);
  const title = `Channel shuffle: ${ch} channels, ${g} groups`;
  const c = new Canvas({
    title,
    desc: `(a) two stacked ${g}-group convolutions keep the groups apart; (b) feeding the second from every group of the first lets information cross groups; (c) a channel shuffle does this: channel i goes to position ${dest.slice(0, Math.min(6, ch)).join(", ")}... as computed by channelShuffle.`,
  });
  c.text(0, 16, title, { size: 14, weight: "bold" });
  const top = 62;
  // (b): the edges of GConv2 composed with the shuffle, from the unshuffled features.
  const composed: [number, number][] = [];
  for (let i = 0; i < ch; i++) {
    const p = dest[i];
    const grp = Math.floor(p / (ch / g));
    for (let j = grp * (ch / g); j < (grp + 1) * (ch / g); j++) composed.push([i, j]);
  }
  // Panels (a) and (b) draw the same three rows; only GConv2's edges differ.
  const stacked = [
    { name: "input", label: "input", count: ch },
    { name: "features", label: "GConv1", count: ch },
    { name: "output", label: "GConv2", count: ch },
  ];
  const panels: [string, string, Diagram][] = [
    [
      "a",
      "(a) two stacked group convs",
      {
        rows: stacked,
        edges: [
          { name: "gconv1", from: 0, pairs: gconv, label: "", colorBySource: true },
          { name: "gconv2", from: 1, pairs: gconv, label: "", colorBySource: true },
        ],
        inputGroups,
      },
    ],
    [
      "b",
      "(b) GConv2 fed from all groups",
      {
        rows: stacked,
        edges: [
          { name: "gconv1", from: 0, pairs: gconv, label: "", colorBySource: true },
          { name: "gconv2", from: 1, pairs: composed, label: "", colorBySource: true },
        ],
        inputGroups,
      },
    ],
    [
      "c",
      "(c) channel shuffle in between",
      {
        rows: [
          { name: "input", label: "input", count: ch },
          { name: "features", label: "GConv1", count: ch },
          { name: "shuffled", label: "shuffled", count: ch },
          { name: "output", label: "GConv2", count: ch },
        ],
        edges: [
          { name: "gconv1", from: 0, pairs: gconv, label: "", colorBySource: true },
          {
            name: "shuffle",
            from: 1,
            pairs: dest.map((j, i) => [i, j] as [number, number]),
            label: "",
            colorBySource: true,
          },
          { name: "gconv2", from: 2, pairs: gconv, label: "", colorBySource: true },
        ],
        inputGroups,
      },
    ],
  ];
  let x = 0;
  for (const [key, heading, d] of panels) {
    c.open({ class: "panel", "data-figure": key });
    c.text(x, top - 22, heading, { weight: "bold" });
    const w = drawDiagram(c, d, x, top);
    c.close();
    x += Math.max(w, textWidth(heading, 12.7)) + 44;
  }
  const mixed = reach(panels[2][2])
    .at(-1)!
    .every((s) => s.length === g);
  c.lines(
    0,
    top + 3 * ROW_GAP + 46,
    [
      `shuffle = view as [${g}, ${ch / g}], transpose to [${ch / g}, ${g}], flatten: channel i → position ${dest.map((j, i) => `${i}→${j}`).join(", ")}`,
      `(a) each GConv2 output depends on 1 input group; (c) ${mixed ? `every output depends on all ${g} groups` : "outputs depend on several groups"}, at no extra parameters or MACs`,
    ],
    { size: 12 },
  );
  return c.toString();
}
