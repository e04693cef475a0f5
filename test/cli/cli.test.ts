import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { serializeGraph } from "../../src/graph/serialize.js";
import type { Graph } from "../../src/graph/types.js";
import { resnet18 } from "../../src/zoo/index.js";
import { convkit, expectOneLineError } from "./helpers.js";

/** `convkit` run as a process (through tsx): outputs, exit codes, one-line errors. */

let dir: string;
let graphPath: string;
let graph: Graph;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "convkit-cli-"));
  const b = new GraphBuilder("tiny");
  let x = b.input("image", [1, 28, 28]);
  x = b.scope("features", () =>
    b.maxPool2d(b.relu(b.conv2d(x, { outChannels: 6, kernelSize: 5, padding: 2 })), { kernelSize: 2 }),
  );
  b.output(b.linear(b.flatten(x), { outFeatures: 10, name: "head" }));
  graph = b.build().graph;
  graphPath = join(dir, "tiny.json");
  writeFileSync(graphPath, serializeGraph(graph));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("convkit analyze", () => {
  it("prints the table of a graph .json file", () => {
    const r = convkit(["analyze", graphPath]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    const a = analyze(graph);
    expect(r.stdout).toMatch(/^Layer\s+Op\s+Output shape\s+Params\s+MACs\s+RF\n/);
    expect(r.stdout).toMatch(/features\.conv1\s+conv2d\s+\[1, 6, 28, 28\]\s+156\s+117,600\s+5 \/1/);
    // conv 6*1*5*5 + 6 = 156, head 1176*10 + 10 = 11,770 (1176 = 6*14*14).
    expect(r.stdout).toContain(`Params:      11,926 trainable`);
    expect(a.totals.params).toBe(11926);
    // conv 6*28*28*25 = 117,600, head 1176*10 = 11,760.
    expect(r.stdout).toContain("MACs:        129,360;");
    expect(a.totals.macs).toBe(129360);
  });

  it("prints the JSON format, at a batch and with every op counted", () => {
    const r = convkit(["analyze", graphPath, "--json", "--batch", "4", "--all-ops", "--depth", "1"]);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    const a = analyze(graph, undefined, { batch: 4, countAll: true });
    expect(json.format).toBe("convkit.analysis");
    expect(json.totals).toEqual(a.totals);
    expect(json.receptiveField).toEqual(a.receptiveField);
    expect(json.layers).toEqual(a.layers);
    expect(json.groupDepth).toBe(1);
    expect(json.groups.map((g: { name: string }) => g.name)).toEqual(["features", "flatten1", "head"]);
  });

  it("analyses a zoo model by name, built at the asked input size", () => {
    const r = convkit(["analyze", "resnet18", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    // torchvision's resnet18: 11,689,512 parameters, 1.814 G MACs at 224 x 224.
    expect(json.totals.params).toBe(11689512);
    expect(json.totals.macs).toBe(analyze(resnet18().graph).totals.macs);
    expect((json.totals.macs / 1e9).toFixed(3)).toBe("1.814");
    expect(json.receptiveField).toMatchObject({ size: [435, 435], jump: [32, 32], layer: "layer4.1.relu" });
    const small = JSON.parse(convkit(["analyze", "resnet18", "--json", "--input", "3x112x112"]).stdout);
    expect(small.inputs[0].shape).toEqual([1, 3, 112, 112]);
    expect(small.totals.params).toBe(11689512);
  });

  it("prints help for the program and the command", () => {
    const top = convkit(["--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/Usage: convkit/);
    expect(top.stdout).toMatch(/analyze/);
    const sub = convkit(["analyze", "--help"]);
    expect(sub.code).toBe(0);
    for (const flag of ["--input", "--batch", "--json", "--all-ops", "--depth"])
      expect(sub.stdout).toContain(flag);
  });
});

describe("convkit errors", () => {
  it("a malformed --input: exit 2", () => {
    expectOneLineError(
      convkit(["analyze", graphPath, "--input", "3xfoo"]),
      2,
      /--input: expected positive integers/,
    );
  });

  it("an unknown option or a missing argument: exit 2", () => {
    expectOneLineError(convkit(["analyze", graphPath, "--frobnicate"]), 2, /unknown option '--frobnicate'/);
    expectOneLineError(convkit(["analyze"]), 2, /missing required argument 'model'/);
  });

  it("an unknown model name: exit 1, with a suggestion", () => {
    expectOneLineError(
      convkit(["analyze", "resnet19"]),
      1,
      /unknown model "resnet19".*did you mean "resnet18"/,
    );
  });

  it("a missing file, an unsupported file, a missing ONNX file: exit 1", () => {
    expectOneLineError(
      convkit(["analyze", join(dir, "nope.json")]),
      1,
      /cannot read ".*nope\.json": no such file/,
    );
    expectOneLineError(convkit(["analyze", join(dir, "model.pt")]), 1, /unsupported model file type/);
    expectOneLineError(
      convkit(["analyze", join(dir, "model.onnx")]),
      1,
      /cannot read ".*model\.onnx": no such file/,
    );
  });

  it("a graph that does not fit the input: exit 1; the stack only with CONVKIT_DEBUG=1", () => {
    const args = ["analyze", graphPath, "--input", "3x28x28"];
    expectOneLineError(convkit(args), 1, /conv2d node "features\.conv1".*input channels/);
    const debug = convkit(args, { CONVKIT_DEBUG: "1" });
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});
