import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { analysisToJson, parseAnalysis } from "../../src/analyze/json.js";
import { collapseByScope } from "../../src/analyze/scopes.js";
import { ANALYSIS_FORMAT, ANALYSIS_VERSION } from "../../src/analyze/types.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { FormatError } from "../../src/tensor/errors.js";

/** The documented JSON format (docs/analyze.md): fields present, order fixed, readable back. */

function model() {
  const b = new GraphBuilder("net");
  let x = b.input("image", [3, 16, 16]);
  x = b.scope(
    "stem",
    () => b.relu(b.batchNorm2d(b.conv2d(x, { outChannels: 4, kernelSize: 3, stride: 2, padding: 1 }))),
    { kind: "convBnAct" },
  );
  x = b.linear(b.flatten(b.adaptiveAvgPool2d(x, 1)), { outFeatures: 3, name: "fc" });
  b.output(x);
  return b.build().graph;
}

const TOP_KEYS = [
  "format",
  "version",
  "model",
  "batch",
  "inputs",
  "counting",
  "totals",
  "receptiveField",
  "layers",
  "scopes",
];
const LAYER_KEYS = [
  "name",
  "op",
  "scope",
  "outputShape",
  "outputShapes",
  "params",
  "buffers",
  "sharedParams",
  "sharedBuffers",
  "macs",
  "flops",
  "counted",
  "activationBytes",
  "liveBytes",
  "receptiveField",
];

describe("analysis JSON", () => {
  it("has the documented fields", () => {
    const a = analyze(model());
    const json = JSON.parse(analysisToJson(a));
    expect(json.format).toBe(ANALYSIS_FORMAT);
    expect(json.format).toBe("convkit.analysis");
    expect(json.version).toBe(ANALYSIS_VERSION);
    expect(Object.keys(json).sort()).toEqual([...TOP_KEYS].sort());
    for (const key of ["params", "macs", "flops", "buffers", "activationBytes", "peakActivationBytes"]) {
      expect(typeof json.totals[key], key).toBe("number");
    }
    expect(json.totals.flops).toBe(2 * json.totals.macs);
    expect(json.receptiveField.size).toEqual([3, 3]);
    expect(json.receptiveField.jump).toEqual([2, 2]);
    expect(json.receptiveField.layer).toBe("stem.relu1");
    expect(json.layers).toHaveLength(a.layers.length);
    for (const layer of json.layers) expect(Object.keys(layer)).toEqual(LAYER_KEYS);
    expect(json.layers[0]).toMatchObject({
      name: "stem.conv1",
      op: "conv2d",
      scope: "stem",
      outputShape: [1, 4, 8, 8],
      params: 4 * 3 * 9 + 4,
      macs: 4 * 8 * 8 * 3 * 9,
      flops: 2 * 4 * 8 * 8 * 3 * 9,
      receptiveField: { size: [3, 3], jump: [2, 2], start: [0, 0] },
    });
    expect(json.scopes).toEqual({ stem: "convBnAct" });
    expect(json.counting).toEqual({
      convention: "torchvision",
      countedOps: ["conv2d", "deformConv2d", "linear"],
      bytesPerElement: 4,
    });
  });

  it("is stable text: one layer per line, same text twice, parsed back equal", () => {
    const a = analyze(model(), undefined, { countAll: true });
    const text = analysisToJson(a);
    expect(analysisToJson(parseAnalysis(text))).toBe(text);
    expect(parseAnalysis(text)).toEqual(a);
    const lines = text.split("\n");
    for (const layer of a.layers) {
      expect(lines.filter((l) => l.includes(`{"name":${JSON.stringify(layer.name)},`))).toHaveLength(1);
    }
    expect(text.endsWith("}\n")).toBe(true);
  });

  it("adds the collapsed groups when asked", () => {
    const a = analyze(model());
    const json = JSON.parse(analysisToJson(a, { depth: 1, groups: collapseByScope(a, 1) }));
    expect(json.groupDepth).toBe(1);
    expect(json.groups.map((g: { name: string }) => g.name)).toEqual([
      "stem",
      "adaptive_avgpool1",
      "flatten1",
      "fc",
    ]);
    expect(json.groups[0]).toMatchObject({ kind: "convBnAct", nodes: 3, params: 4 * 27 + 4 + 8 });
  });

  it("refuses text that is not an analysis", () => {
    const good = JSON.parse(analysisToJson(analyze(model())));
    const bad = (patch: object) => JSON.stringify({ ...good, ...patch });
    expect(() => parseAnalysis("{", "a.json")).toThrowError(/analysis "a.json": not valid JSON/);
    expect(() => parseAnalysis(bad({ format: "convkit.graph" }))).toThrowError(FormatError);
    expect(() => parseAnalysis(bad({ version: 99 }))).toThrowError(/version: expected 1, got 99/);
    expect(() => parseAnalysis(bad({ totals: { params: 1, macs: "2" } }))).toThrowError(/totals.macs/);
    expect(() => parseAnalysis(bad({ layers: {} }))).toThrowError(/layers/);
    expect(() => parseAnalysis(bad({ receptiveField: { size: 3 } }))).toThrowError(/receptiveField/);
  });
});
