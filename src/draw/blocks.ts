import { analyze } from "../analyze/analyze.js";
import type { Analysis, InputShapes } from "../analyze/types.js";
import { noGrad } from "../autograd/gradmode.js";
import type { Tensor } from "../autograd/tensor.js";
import { GraphModel } from "../graph/executor.js";
import { own } from "../graph/own.js";
import type { Graph, Node, Weights } from "../graph/types.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { drawView } from "./graph.js";
import { graphView, nodeText } from "./graph-view.js";
import { Canvas, dims, formatCount, groupColor, heatColor, num, PALETTE, textWidth } from "./svg.js";

/**
 * Block drawings read from a real Graph (a zoo model or a graph built with src/blocks): Inception module
 * branches, the squeeze-and-excitation block with its channel weights, a residual block's skip path, a dense
 * block's connections. Each takes the graph and the scope path of the block; the numbers come from the
 * analyzer.
 */

export interface BlockDrawOptions {
  /** Scope path of the block in the graph ("inception3a", "layer2.0", "features.denseblock1"). */
  scope: string;
  inputShape?: InputShapes;
  analysis?: Analysis;
  title?: string;
}

function nodesIn(graph: Graph, scope: string): number[] {
  return graph.nodes
    .map((_, i) => i)
    .filter((i) => graph.nodes[i].scope === scope || graph.nodes[i].scope.startsWith(`${scope}.`));
}

function requireScope(graph: Graph, scope: string, kinds: readonly string[], op: string): string {
  if (typeof scope !== "string" || nodesIn(graph, scope).length === 0) {
    throw new ArgumentError(describe(op, "scope", `a scope with nodes in graph "${graph.name}"`, scope));
  }
  const kind = own(graph.scopes, scope)?.kind ?? "";
  if (kinds.length > 0 && !kinds.includes(kind)) {
    throw new ArgumentError(
      describe(op, "scope", `a ${kinds.join(" or ")} block`, `${scope} (kind "${kind}")`),
    );
  }
  return kind;
}

/**
 * Inception module (article §7): the parallel branches of one module side by side, each conv-BN-ReLU unit a box
 * with its kernel, channels, parameters and MACs, joined by the channel concatenation.
 */
export function drawInception(graph: Graph, options: BlockDrawOptions): string {
  const op = "drawInception";
  requireScope(graph, options.scope, ["inception"], op);
  const analysis = options.analysis ?? analyze(graph, options.inputShape);
  const view = graphView(graph, analysis, { scope: options.scope, collapseKinds: ["convBnAct"] });
  const concat = view.units.find((u) => u.join && graph.nodes[u.nodes[0]].op === "concat");
  const inputsOfConcat = concat ? view.edges.filter((e) => view.units[e.to] === concat) : [];
  const widths = inputsOfConcat.map((e) => view.units[e.from].outputShape?.[1] ?? 0);
  const total = concat?.outputShape?.[1] ?? 0;
  const title =
    options.title ??
    `Inception module ${options.scope}: ${inputsOfConcat.length} branches, ${widths.join(" + ")} = ${total} channels`;
  return drawView(graph, analysis, view, title, options.scope);
}

/**
 * A residual block (article §10 "connection: introduce skip"): the block's nodes with the identity or
 * projection shortcut beside the main path, joined by the addition.
 */
export function drawResidualBlock(graph: Graph, options: BlockDrawOptions): string {
  const op = "drawResidualBlock";
  const kind = requireScope(graph, options.scope, [], op);
  const analysis = options.analysis ?? analyze(graph, options.inputShape);
  const view = graphView(graph, analysis, { scope: options.scope });
  const projection = nodesIn(graph, options.scope).some((i) =>
    /downsample|shortcut|proj/.test(graph.nodes[i].name),
  );
  const title =
    options.title ??
    `Residual block ${options.scope}${kind ? ` (${kind})` : ""}: y = ReLU(F(x) + ${projection ? "Ws·x, a 1×1 projection shortcut" : "x, an identity shortcut"})`;
  return drawView(graph, analysis, view, title, options.scope);
}

export interface SqueezeExciteDrawOptions extends BlockDrawOptions {
  /** Weights of the graph and an input: the channel weights are then the block's real activations. */
  weights?: Weights;
  input?: Tensor;
  /** Which sample of the batch to show (default 0). */
  sample?: number;
}

/**
 * Squeeze-and-excitation ("feature map weighting", article §8): global average pool, reduce, activate, expand,
 * gate, and the channel-wise scaling, as a pipeline with shapes and parameter counts; with weights and an
 * input, a bar per channel shows the gate's output s_c — how much each feature map is kept.
 *
 * Test hooks: `g.stage` per node (`data-op`), `rect.channel-weight` with `data-channel` and `data-value`.
 */
export function drawSqueezeExcite(graph: Graph, options: SqueezeExciteDrawOptions): string {
  const op = "drawSqueezeExcite";
  requireScope(graph, options.scope, ["squeezeExcite"], op);
  const analysis = options.analysis ?? analyze(graph, options.inputShape);
  const idx = nodesIn(graph, options.scope);
  const nodes = idx.map((i) => graph.nodes[i]);
  const scale = nodes.find((n) => n.op === "mul");
  const gate = nodes.find((n) => n.op === "sigmoid" || n.op === "hardSigmoid");
  const pool = nodes.find((n) => n.op === "adaptiveAvgPool2d");
  if (!scale || !gate || !pool) {
    throw new ArgumentError(
      describe(op, "scope", "a squeeze-and-excitation block (avg pool, gate, multiply)", options.scope),
    );
  }
  const shapeOf = (n: Node) => analysis.layers[graph.nodes.indexOf(n)].outputShape;
  const inputShape = shapeOf(scale);
  const channels = inputShape[1];
  const fcs = nodes.filter((n) => n.op === "conv2d" || n.op === "linear");
  const squeeze = fcs.length > 0 ? shapeOf(fcs[0])[1] : channels;
  const params = idx.reduce((s, i) => s + analysis.layers[i].params, 0);
  const macs = idx.reduce((s, i) => s + analysis.layers[i].macs, 0);

  let weightsOfChannels: Float32Array | null = null;
  if (options.weights && options.input) {
    const model = new GraphModel(graph, options.weights);
    const values = noGrad(() => model.runAll(options.input!));
    const g = values.get(gate.outputs[0])!;
    const sample = options.sample ?? 0;
    weightsOfChannels = g.data.slice(sample * channels, (sample + 1) * channels);
  }

  const title =
    options.title ??
    `Squeeze-and-excitation ${options.scope}: ${channels} channels, squeeze to ${squeeze} (r = ${num(channels / squeeze)})`;
  const c = new Canvas({
    title,
    desc: `Global average pooling of the ${dims(inputShape.slice(1))} input, a ${channels}→${squeeze}→${channels} bottleneck and a ${gate.op} gate give one weight per channel, which multiplies the input; ${formatCount(params)} parameters, ${formatCount(macs)} MACs.${weightsOfChannels ? ` Channel weights from real activations range ${num(Math.min(...weightsOfChannels))} to ${num(Math.max(...weightsOfChannels))}.` : ""}`,
  });
  c.text(0, 16, title, { size: 14, weight: "bold" });
  c.text(
    0,
    34,
    `params ${formatCount(params)} · MACs ${formatCount(macs)} (${analysis.counting.convention} convention)`,
    {
      size: 11,
      fill: PALETTE.muted,
    },
  );

  // The pipeline: input, every node of the gate path in order, the scaling, the output.
  const chain = nodes.filter((n) => n !== scale);
  const stages: { label: string; shape: number[]; op: string }[] = [
    { label: "input x", shape: inputShape, op: "input" },
    ...chain.map((n) => ({ label: nodeText(n), shape: shapeOf(n), op: n.op })),
    { label: "x · s (scale)", shape: shapeOf(scale), op: "mul" },
  ];
  const y0 = 60;
  const boxH = 44;
  let x = 0;
  const centres: number[] = [];
  const arrow = c.arrowMarker(PALETTE.muted);
  stages.forEach((s, k) => {
    const shapeText = dims(s.shape.slice(1));
    const w = Math.max(textWidth(s.label, 11.5 * 1.06), textWidth(shapeText, 10.5)) + 16;
    c.open({ class: "stage", "data-op": s.op });
    const join = s.op === "mul";
    c.rect(x, y0, w, boxH, {
      rx: join || s.op === "input" ? 12 : 3,
      fill: join ? "#fff3e0" : s.op === "conv2d" || s.op === "linear" ? PALETTE.input : PALETTE.paper,
      stroke: join
        ? PALETTE.accent
        : s.op === "conv2d" || s.op === "linear"
          ? PALETTE.inputStroke
          : PALETTE.faint,
    });
    c.text(x + w / 2, y0 + 18, s.label, { size: 11.5, weight: "bold", anchor: "middle" });
    c.text(x + w / 2, y0 + 34, shapeText, { size: 10.5, anchor: "middle", fill: PALETTE.muted });
    c.close();
    if (k > 0) {
      const px = centres[k - 1];
      c.line(px, y0 + boxH / 2, x - 1, y0 + boxH / 2, { stroke: PALETTE.muted, "marker-end": arrow });
    }
    centres.push(x + w);
    x += w + 26;
  });
  // The identity path from the input to the scaling, under the boxes.
  const firstW = centres[0];
  const scaleLeft = centres[centres.length - 2] + 26;
  const scaleW = centres[centres.length - 1] - scaleLeft;
  const pathY = y0 + boxH + 18;
  c.path(
    `M${num(firstW / 2)},${num(y0 + boxH)} L${num(firstW / 2)},${num(pathY)} L${num(scaleLeft + scaleW / 2)},${num(pathY)} L${num(scaleLeft + scaleW / 2)},${num(y0 + boxH + 1)}`,
    [
      [firstW / 2, y0 + boxH],
      [scaleLeft + scaleW / 2, pathY],
    ],
    { fill: "none", stroke: PALETTE.muted, "stroke-width": 1.1, "marker-end": arrow, class: "identity" },
  );
  c.text(firstW / 2 + 8, pathY - 4, `x (${channels} feature maps, each multiplied by its weight s_c)`, {
    size: 10.5,
    fill: PALETTE.muted,
  });

  let y = pathY + 34;
  if (weightsOfChannels) {
    const wts = weightsOfChannels;
    const barW = Math.max(2, Math.min(14, Math.floor(720 / channels)));
    const barH = 90;
    c.text(
      0,
      y,
      `channel weights s_c = ${gate.op}(fc2(…)) for one input (sample ${options.sample ?? 0}), channel 0 to ${channels - 1}`,
      {
        size: 11.5,
        weight: "bold",
      },
    );
    y += 12;
    c.rect(0, y, channels * barW, barH, { fill: PALETTE.panel, stroke: PALETTE.grid });
    for (const t of [0, 0.5, 1]) {
      const ty = y + barH - t * barH;
      c.line(0, ty, channels * barW, ty, {
        stroke: PALETTE.grid,
        "stroke-width": 0.5,
        "stroke-dasharray": "2 3",
      });
      c.text(-4, ty + 4, num(t), { size: 10, anchor: "end", fill: PALETTE.muted });
    }
    wts.forEach((v, ch) => {
      const h = Math.max(0, Math.min(1, v)) * barH;
      c.rect(ch * barW + 0.5, y + barH - h, Math.max(1, barW - 1), h, {
        class: "channel-weight",
        "data-channel": ch,
        "data-value": String(Math.round(v * 1e4) / 1e4),
        fill: heatColor(v),
      });
    });
    y += barH + 16;
    const sorted = [...wts].sort((a, b) => a - b);
    const mean = wts.reduce((s, v) => s + v, 0) / channels;
    c.text(
      0,
      y,
      `min ${num(sorted[0])} · median ${num(sorted[Math.floor(channels / 2)])} · max ${num(sorted[channels - 1])} · mean ${num(mean)}: channels below the mean are suppressed, above it kept`,
      { size: 11, fill: PALETTE.muted },
    );
    y += 18;
  } else {
    c.text(0, y, "give weights and an input to show the channel weights s_c from real activations", {
      size: 11,
      fill: PALETTE.muted,
    });
    y += 18;
  }
  c.text(
    0,
    y,
    `squeeze: ${channels}×${inputShape[2]}×${inputShape[3]} → ${channels} means; excite: ${channels}→${squeeze}→${channels}, params 2·C·C' + C' + C = ${formatCount(2 * channels * squeeze + squeeze + channels)}`,
    { size: 11 },
  );
  return c.toString();
}

/**
 * A dense block (article §10 "connection: introduce dense", DenseNet): every layer reads the concatenation of
 * the block input and all earlier layers' outputs. Layers in a row, one arc per connection, coloured by the
 * feature map it carries; each layer's input and output channels written under it.
 *
 * Test hooks: `g.feature` per box (`data-key`), `path.connection` with `data-from`, `data-to`.
 */
export function drawDenseBlock(graph: Graph, options: BlockDrawOptions): string {
  const op = "drawDenseBlock";
  requireScope(graph, options.scope, ["denseBlock"], op);
  const analysis = options.analysis ?? analyze(graph, options.inputShape);
  const root = options.scope;
  const layerScopes = Object.entries(graph.scopes ?? {})
    .filter(([path, info]) => info.kind === "denseLayer" && path.startsWith(`${root}.`))
    .map(([path]) => path)
    .sort((a, b) => firstNode(graph, a) - firstNode(graph, b));
  if (layerScopes.length === 0) {
    throw new ArgumentError(describe(op, "scope", "a dense block with denseLayer scopes", root));
  }
  const producerScope = new Map<string, string>(); // value -> layer scope or "input"
  const layerOut = new Map<string, string>(); // layer scope -> its output value
  const inScope = (s: string, p: string) => s === p || s.startsWith(`${p}.`);
  const blockNodes = nodesIn(graph, root);
  for (const i of blockNodes) {
    const n = graph.nodes[i];
    const owner = layerScopes.find((p) => inScope(n.scope, p));
    for (const v of n.outputs) producerScope.set(v, owner ?? n.name);
  }
  // Sources read by each layer, and by the final concatenation.
  const sources = new Map<string, string[]>();
  const readers = [...layerScopes, "concat"];
  const blockInput = new Set<string>();
  for (const i of blockNodes) {
    const n = graph.nodes[i];
    const owner = layerScopes.find((p) => inScope(n.scope, p)) ?? (n.op === "concat" ? "concat" : null);
    if (owner === null) continue;
    for (const v of n.inputs) {
      const from = producerScope.get(v) ?? "input";
      if (from === owner) continue;
      if (from === "input") blockInput.add(v);
      if (from !== "input" && layerScopes.includes(from)) layerOut.set(from, v);
      const list = sources.get(owner) ?? [];
      if (!list.includes(from)) list.push(from);
      sources.set(owner, list);
    }
  }
  const shapeOfValue = (v: string): number[] | null => {
    const idx = graph.nodes.findIndex((n) => n.outputs.includes(v));
    if (idx >= 0) return analysis.layers[idx].outputShape;
    return analysis.inputs.find((i) => i.name === v)?.shape ?? null;
  };
  const inValue = [...blockInput][0];
  const c0 = inValue ? (shapeOfValue(inValue)?.[1] ?? 0) : 0;
  const outShape = analysis.layers[blockNodes[blockNodes.length - 1]].outputShape;
  const meta = own(graph.scopes, root)?.meta ?? {};
  const growth =
    typeof meta.growthRate === "number"
      ? meta.growthRate
      : (shapeOfValue(layerOut.get(layerScopes[0]) ?? "")?.[1] ?? 0);
  const L = layerScopes.length;
  const title =
    options.title ??
    `Dense block ${root}: ${L} layers, growth rate ${growth}, ${c0} + ${L}·${growth} = ${outShape[1]} channels`;
  const params = blockNodes.reduce((s, i) => s + analysis.layers[i].params, 0);
  const macs = blockNodes.reduce((s, i) => s + analysis.layers[i].macs, 0);
  const connections = readers.reduce((s, r) => s + (sources.get(r)?.length ?? 0), 0);
  const c = new Canvas({
    title,
    desc: `Each of the ${L} layers of ${root} reads the concatenation of the block input (${c0} channels) and every earlier layer's ${growth} new channels: ${connections} connections; ${formatCount(params)} parameters, ${formatCount(macs)} MACs.`,
  });
  c.text(0, 16, title, { size: 14, weight: "bold" });
  c.text(
    0,
    34,
    `params ${formatCount(params)} · MACs ${formatCount(macs)} · ${connections} connections (arcs), coloured by the feature map they carry`,
    {
      size: 11,
      fill: PALETTE.muted,
    },
  );

  // Boxes: x0, H1..HL, concat.
  const keys = ["input", ...layerScopes, "concat"];
  const labels = keys.map((k, i) => {
    if (k === "input") return { head: "x0 (input)", lines: [`${c0} ch`] };
    if (k === "concat") return { head: "concat", lines: [`${outShape[1]} ch`] };
    const cin = (sources.get(k) ?? []).reduce((s, f) => s + (f === "input" ? c0 : growth), 0);
    const convs = nodesIn(graph, k)
      .map((j) => graph.nodes[j])
      .filter((n) => n.op === "conv2d")
      .map((n) => (n.op === "conv2d" ? `${n.attrs.kernelSize.join("×")}→${n.attrs.outChannels}` : ""));
    return { head: `H${i}`, lines: [`in ${cin} ch`, convs.join(", "), `out +${growth} ch`] };
  });
  const boxW = Math.max(
    96,
    ...labels.map((l) => Math.max(textWidth(l.head, 12), ...l.lines.map((t) => textWidth(t, 10.5))) + 26),
  );
  const gap = 34;
  const arcBase = 70 + 14 * L;
  const boxY = arcBase;
  const boxH = 74;
  // Arcs first, so boxes sit on top.
  const colourOf = (from: string) => groupColor(from === "input" ? 0 : layerScopes.indexOf(from) + 1);
  c.open({ class: "connections" });
  // Each box's top edge is shared out: outgoing arcs leave from its right part (nearest target first),
  // incoming arcs land on its left part (nearest source first), so arcs do not meet in one point.
  const outCount = new Map<string, number>();
  const outSeen = new Map<string, number>();
  for (const r of readers) for (const f of sources.get(r) ?? []) outCount.set(f, (outCount.get(f) ?? 0) + 1);
  readers.forEach((reader) => {
    const to = keys.indexOf(reader);
    const list = sources.get(reader) ?? [];
    list.forEach((from, j) => {
      const fi = keys.indexOf(from === "input" ? "input" : from);
      const span = to - fi;
      const k = outSeen.get(from) ?? 0;
      outSeen.set(from, k + 1);
      const nOut = outCount.get(from) ?? 1;
      const x0 = fi * (boxW + gap) + boxW * 0.55 + (boxW * 0.4 * (nOut - 1 - k)) / Math.max(1, nOut - 1 || 1);
      const x1 =
        to * (boxW + gap) +
        boxW * 0.08 +
        (boxW * 0.4 * (list.length - 1 - j)) / Math.max(1, list.length - 1 || 1);
      const h = 18 + span * ((arcBase - 60) / (L + 1));
      c.path(
        `M${num(x0)},${num(boxY)} C${num(x0)},${num(boxY - h)} ${num(x1)},${num(boxY - h)} ${num(x1)},${num(boxY)}`,
        [
          [x0, boxY],
          [x0, boxY - h * 0.75],
          [x1, boxY],
        ],
        {
          class: "connection",
          "data-from": from,
          "data-to": reader,
          fill: "none",
          stroke: colourOf(from),
          "stroke-width": 1.4,
          "stroke-opacity": 0.85,
        },
      );
    });
  });
  c.close();
  keys.forEach((k, i) => {
    const x0 = i * (boxW + gap);
    c.open({ class: "feature", "data-key": k });
    const fill = k === "input" || k === "concat" ? PALETTE.panel : PALETTE.input;
    c.rect(x0, boxY, boxW, boxH, {
      rx: 5,
      fill,
      stroke: k === "concat" ? PALETTE.accent : PALETTE.inputStroke,
    });
    c.rect(x0, boxY, 6, boxH, {
      fill: k === "concat" ? PALETTE.accent : colourOf(k === "input" ? "input" : k),
    });
    c.text(x0 + boxW / 2 + 3, boxY + 17, labels[i].head, { size: 12, weight: "bold", anchor: "middle" });
    labels[i].lines.forEach((t, j) => {
      c.text(x0 + boxW / 2 + 3, boxY + 34 + j * 14, t, { size: 10.5, anchor: "middle", fill: PALETTE.muted });
    });
    c.close();
    if (i > 0) {
      c.line(x0 - gap + 2, boxY + boxH / 2, x0 - 2, boxY + boxH / 2, {
        stroke: PALETTE.faint,
        "stroke-dasharray": "3 3",
      });
    }
  });
  c.text(
    0,
    boxY + boxH + 22,
    `layer l reads ${c0} + (l−1)·${growth} channels and adds ${growth}; a chain of ${L} plain layers would have ${L} connections, this block has ${connections}`,
    {
      size: 11,
    },
  );
  return c.toString();
}

function firstNode(graph: Graph, scope: string): number {
  return graph.nodes.findIndex((n) => n.scope === scope || n.scope.startsWith(`${scope}.`));
}
