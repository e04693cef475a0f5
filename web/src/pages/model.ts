import { analyze } from "../../../src/analyze/analyze.js";
import { formatBytes, formatField, thousands } from "../../../src/analyze/format.js";
import type { Analysis } from "../../../src/analyze/types.js";
import { drawGraph } from "../../../src/draw/graph.js";
import { drawUnitField } from "../../../src/draw/unit-field.js";
import { importOnnx } from "../../../src/onnx/import.js";
import { dataUrl, greyImage, loadSplit } from "../data.js";
import { jobsEngine } from "../engine.js";
import type { Cleanup } from "../main.js";
import { currentModel, type LoadedModel, modelByKey, modelChoices, setCurrentModel } from "../state.js";
import { fieldText } from "../text.js";
import {
  drawing,
  errorText,
  fileDrop,
  fill,
  h,
  message,
  numberField,
  numberList,
  scrollFrame,
  section,
  selectField,
  sortableTable,
} from "../ui.js";

/**
 * The Model page: a zoo model or an ONNX file of your own; its layered diagram, the analyzer's table (sortable),
 * and the receptive field of a chosen unit drawn on an image (theoretical from the analysis; effective, from the
 * gradient, on request in the engine worker).
 */

/** Collapse depth for the diagram: every node for small graphs, blocks for large ones. */
function defaultDepth(nodes: number): string {
  return nodes <= 40 ? "all" : nodes <= 200 ? "2" : "1";
}

/** The Fashion-MNIST test image resized (nearest) to the model's input [C, H, W], channels repeated. */
function inputImage(
  grey: { data: Float32Array; height: number; width: number },
  shape: number[],
): Float32Array {
  const [c, hh, ww] = shape;
  const out = new Float32Array(c * hh * ww);
  for (let r = 0; r < hh; r++) {
    const sr = Math.min(grey.height - 1, Math.floor((r * grey.height) / hh));
    for (let q = 0; q < ww; q++) {
      const sq = Math.min(grey.width - 1, Math.floor((q * grey.width) / ww));
      const v = grey.data[sr * grey.width + sq] / 255;
      for (let ch = 0; ch < c; ch++) out[(ch * hh + r) * ww + q] = v;
    }
  }
  return out;
}

export function renderModel(main: HTMLElement): Cleanup {
  let model = currentModel();
  let analysis: Analysis | null = null;
  let depth = "auto";
  const rf = { layer: "", row: -1, col: -1, image: 0 };
  let alive = true;

  const status = h("div", { class: "status-box", "aria-live": "polite" });
  const summary = h("div");
  const diagram = h("div");
  const table = h("div");
  const field = h("div");
  const pick = h("div", { class: "controls-row" });
  const grid = h("div", { class: "model-grid" }, diagram, field);

  const renderPick = () => {
    fill(
      pick,
      selectField({
        label: "Zoo model",
        name: "model",
        value: model.key,
        options: modelChoices(),
        onChange: (key) => {
          load(modelByKey(key));
        },
      }).root,
      fileDrop({
        label: "Open an ONNX file…",
        accept: ".onnx,application/octet-stream",
        name: "onnx",
        onFile: (file) => void openOnnx(file),
      }),
    );
  };

  const openOnnx = async (file: File) => {
    fill(status, message("note", `Reading ${file.name}…`));
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const imported = importOnnx(bytes, { source: file.name });
      const m: LoadedModel = {
        key: `file:${file.name}`,
        label: `${file.name} (ONNX, opset ${imported.info.opset})`,
        graph: imported.graph,
        weights: imported.weights,
        source: "onnx",
        onnx: imported.info,
      };
      load(m);
      fill(
        status,
        message(
          "ok",
          `Imported ${file.name}: ${imported.info.onnxNodes} ONNX nodes (${imported.info.foldedNodes} folded) from ${imported.info.producer || "an unknown producer"}, opset ${imported.info.opset}.`,
        ),
      );
    } catch (e) {
      fill(status, message("error", `${file.name}: ${errorText(e)}`));
    }
  };

  const load = (m: LoadedModel) => {
    model = m;
    setCurrentModel(m);
    rf.layer = "";
    depth = "auto";
    renderPick();
    fill(status);
    try {
      analysis = analyze(m.graph);
    } catch (e) {
      analysis = null;
      fill(status, message("error", errorText(e)));
      return;
    }
    renderSummary();
    renderDiagram();
    renderTable();
    renderField();
    main.dataset.model = m.key;
  };

  const renderSummary = () => {
    const a = analysis!;
    const items = [
      {
        key: "input",
        label: "input",
        text: a.inputs.map((i) => i.shape.join("×")).join(", "),
        value: a.inputs[0]?.shape.join(","),
      },
      { key: "nodes", label: "nodes", text: thousands(a.layers.length), value: a.layers.length },
      { key: "params", label: "parameters", text: thousands(a.totals.params), value: a.totals.params },
      { key: "macs", label: "MACs (conv + linear)", text: thousands(a.totals.macs), value: a.totals.macs },
      { key: "flops", label: "FLOPs (2 × MACs)", text: thousands(a.totals.flops), value: a.totals.flops },
      {
        key: "weights-bytes",
        label: "weights",
        text: formatBytes(a.totals.paramBytes),
        value: a.totals.paramBytes,
      },
      {
        key: "peak",
        label: "peak activations (inference)",
        text: formatBytes(a.totals.peakActivationBytes),
        value: a.totals.peakActivationBytes,
      },
      {
        key: "rf",
        label: a.receptiveField ? `receptive field at ${a.receptiveField.layer}` : "receptive field",
        text: fieldText(a.receptiveField),
        value: a.receptiveField ? a.receptiveField.size.join(",") : "",
      },
    ];
    fill(
      summary,
      section(
        `${model.graph.name}`,
        h("p", { class: "note" }, model.label),
        numberList(items, "Model totals"),
      ),
    );
  };

  const renderDiagram = () => {
    const nodes = model.graph.nodes.length;
    const d = depth === "auto" ? defaultDepth(nodes) : depth;
    let svg: string;
    try {
      svg = drawGraph(model.graph, { analysis: analysis!, depth: d === "all" ? undefined : Number(d) });
    } catch (e) {
      fill(diagram, section("Layered diagram", message("error", errorText(e))));
      return;
    }
    const figure = drawing(svg, "graph");
    // A wide diagram (branches side by side) gets the full width, above the receptive field.
    const width = Number(figure.querySelector("svg")?.getAttribute("width") ?? 0);
    grid.classList.toggle("stacked", width > 520);
    fill(
      diagram,
      section(
        "Layered diagram",
        h(
          "div",
          { class: "controls-row" },
          selectField({
            label: "Detail",
            name: "depth",
            value: d,
            options: [
              ["1", "top-level blocks"],
              ["2", "blocks two levels deep"],
              ["3", "three levels deep"],
              ["all", `every node (${nodes})`],
            ],
            onChange: (x) => {
              depth = x;
              renderDiagram();
            },
          }).root,
        ),
        scrollFrame(figure),
      ),
    );
  };

  const renderTable = () => {
    const a = analysis!;
    const rows = a.layers.map((l, i) => ({ ...l, index: i }));
    fill(
      table,
      section(
        "Analyzer table",
        h(
          "p",
          { class: "note" },
          "Click a column header to sort by it (again to reverse). MACs follow torchvision's convention: conv and linear layers, bias excluded.",
        ),
        sortableTable({
          caption: `Layers of ${model.graph.name}`,
          name: "layers",
          rows,
          columns: [
            { key: "index", label: "#", numeric: true, value: (r) => r.index },
            { key: "name", label: "Layer", value: (r) => r.name },
            { key: "op", label: "Op", value: (r) => r.op },
            { key: "shape", label: "Output shape", value: (r) => r.outputShape.join("×") },
            {
              key: "params",
              label: "Params",
              numeric: true,
              value: (r) => r.params,
              text: (r) => thousands(r.params),
            },
            {
              key: "macs",
              label: "MACs",
              numeric: true,
              value: (r) => r.macs,
              text: (r) => thousands(r.macs),
            },
            {
              key: "activation",
              label: "Output bytes",
              numeric: true,
              value: (r) => r.activationBytes,
              text: (r) => formatBytes(r.activationBytes),
            },
            {
              key: "rf",
              label: "Receptive field",
              numeric: true,
              value: (r) =>
                r.receptiveField === null
                  ? -1
                  : r.receptiveField.global
                    ? Infinity
                    : r.receptiveField.size[0] * r.receptiveField.size[1],
              text: (r) => formatField(r.receptiveField),
            },
          ],
        }),
      ),
    );
  };

  const spatialLayers = () =>
    analysis!.layers.filter(
      (l) => l.outputShape.length === 4 && l.receptiveField !== null && !l.receptiveField.global,
    );

  const renderField = () => {
    const layers = spatialLayers();
    const inputShape = analysis!.inputs[0]?.shape ?? [];
    if (layers.length === 0 || inputShape.length !== 4) {
      fill(
        field,
        section(
          "Receptive field of one unit",
          h("p", { class: "note" }, "This model has no spatial layer with a receptive field."),
        ),
      );
      return;
    }
    if (!layers.some((l) => l.name === rf.layer)) {
      const last = analysis!.receptiveField?.layer;
      rf.layer = layers.find((l) => l.name === last)?.name ?? layers[Math.floor(layers.length / 2)].name;
      rf.row = -1;
    }
    const layer = layers.find((l) => l.name === rf.layer)!;
    const [, , ho, wo] = layer.outputShape;
    if (rf.row < 0 || rf.row >= ho) rf.row = Math.floor(ho / 2);
    if (rf.col < 0 || rf.col >= wo) rf.col = Math.floor(wo / 2);
    const picture = h("div", { class: "figure-box" });
    const erfBox = h("div", { class: "figure-box" });
    const controls = h(
      "div",
      { class: "controls-row" },
      selectField({
        label: "Layer",
        name: "rf-layer",
        value: rf.layer,
        options: layers.map(
          (l) => [l.name, `${l.name} (${l.op}, ${l.outputShape.slice(2).join("×")})`] as [string, string],
        ),
        onChange: (x) => {
          rf.layer = x;
          rf.row = -1;
          rf.col = -1;
          renderField();
        },
      }).root,
      numberField({
        label: "Unit row",
        name: "rf-row",
        value: rf.row,
        min: 0,
        max: ho - 1,
        onChange: (x) => {
          rf.row = x;
          drawPicture();
        },
      }).root,
      numberField({
        label: "Unit column",
        name: "rf-col",
        value: rf.col,
        min: 0,
        max: wo - 1,
        onChange: (x) => {
          rf.col = x;
          drawPicture();
        },
      }).root,
      numberField({
        label: "Test image",
        name: "rf-image",
        value: rf.image,
        min: 0,
        max: 999,
        onChange: (x) => {
          rf.image = x;
          drawPicture();
        },
      }).root,
    );
    const erfButton = h(
      "button",
      { type: "button", class: "button secondary", "data-action": "erf" },
      "Compute the effective field (gradient)",
    );
    const drawPicture = async () => {
      fill(erfBox);
      try {
        const test = await loadSplit(dataUrl(), "test");
        if (!alive) return;
        const index = Math.max(0, Math.min(test.shape[0] - 1, Math.floor(rf.image)));
        const shape = inputShape.slice(1);
        const input = inputImage(greyImage(test, index), shape);
        const [c, hh, ww] = shape;
        const grey = new Float32Array(hh * ww);
        for (let k = 0; k < hh * ww; k++)
          for (let ch = 0; ch < c; ch++) grey[k] += input[ch * hh * ww + k] / c;
        const svg = drawUnitField({
          image: { data: grey, height: hh, width: ww },
          field: layer.receptiveField!,
          layer: layer.name,
          unit: [Math.floor(rf.row), Math.floor(rf.col)],
        });
        fill(picture, drawing(svg, "unit-field"));
        erfButton.onclick = async () => {
          erfButton.disabled = true;
          fill(erfBox, message("note", "Computing the gradient of the unit with respect to the input…"));
          try {
            const svg2 = await jobsEngine().client.call<string>({
              kind: "erf",
              graph: model.graph,
              weights: model.weights,
              layer: layer.name,
              unit: [Math.floor(rf.row), Math.floor(rf.col)],
              input,
              shape: shape as [number, number, number],
            });
            if (alive) fill(erfBox, drawing(svg2, "erf"));
          } catch (e) {
            fill(erfBox, message("error", errorText(e)));
          } finally {
            erfButton.disabled = false;
          }
        };
      } catch (e) {
        fill(picture, message("error", errorText(e)));
      }
    };
    fill(
      field,
      section(
        "Receptive field of one unit",
        h(
          "p",
          { class: "note" },
          "The input pixels one output position of a layer can see (the analyzer's theoretical field), on a Fashion-MNIST test image scaled to the model's input. The effective field weighs them by the gradient of that unit with these weights.",
        ),
        controls,
        h("div", { class: "side-by-side" }, picture, h("div", null, erfButton, erfBox)),
      ),
    );
    void drawPicture();
  };

  fill(
    main,
    h("h1", null, "Model"),
    h(
      "p",
      { class: "intro" },
      "Pick a zoo model or open an ONNX file of your own (it stays in your browser): its diagram, every layer's cost and the receptive field of any unit.",
    ),
    pick,
    status,
    summary,
    grid,
    table,
  );
  renderPick();
  load(model);
  return () => {
    alive = false;
  };
}
