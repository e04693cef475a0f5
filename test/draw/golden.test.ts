import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { drawChannelShuffle, drawGroupConv } from "../../src/draw/channels.js";
import { drawParetoChart } from "../../src/draw/charts.js";
import { drawGraph } from "../../src/draw/graph.js";
import { drawAsymmetricConv, drawConvGrid } from "../../src/draw/kernel.js";
import { drawKernelStack } from "../../src/draw/stack.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { parseSvg, structure } from "./xml.js";

/**
 * A few drawings compared with committed files structurally: the same elements with the same attributes and
 * text after parsing (numbers rounded to one decimal), not byte for byte. A change to a drawing shows up here
 * as a readable diff; after checking the new picture, regenerate with
 *   UPDATE_DRAW_GOLDEN=1 npx vitest run test/draw/golden.test.ts
 */

const DIR = fileURLToPath(new URL("../fixtures/draw/", import.meta.url));

function tinyNet() {
  const b = new GraphBuilder("tiny");
  let x = b.input("image", [1, 12, 12]);
  x = b.scope("features", () => {
    const y = b.relu(b.conv2d(x, { outChannels: 4, kernelSize: 3, padding: 1 }));
    const z = b.conv2d(y, { outChannels: 4, kernelSize: 3, padding: 1 });
    return b.relu(b.add(y, z));
  });
  x = b.linear(b.flatten(b.adaptiveAvgPool2d(x, 1)), { outFeatures: 3, name: "head" });
  b.output(x);
  return b.build().graph;
}

const CASES: Record<string, () => string> = {
  "grid-dilation2.svg": () =>
    drawConvGrid({ inputSize: 7, kernelSize: 3, padding: 2, dilation: 2, inChannels: 8, outChannels: 8 }),
  "grid-stride2.svg": () => drawConvGrid({ inputSize: 5, kernelSize: 3, stride: 2, padding: 1 }),
  "asymmetric-3.svg": () => drawAsymmetricConv({ kernelSize: 3 }),
  "stack-33-vs-5.svg": () => drawKernelStack({ stacks: [[3, 3], [5]] }),
  "group-12-6-3.svg": () => drawGroupConv({ inChannels: 12, outChannels: 6, groups: 3, kernelSize: 5 }),
  "shuffle-6-2.svg": () => drawChannelShuffle({ channels: 6, groups: 2 }),
  "pareto.svg": () =>
    drawParetoChart({
      points: [
        { label: "a", x: 1e6, y: 60 },
        { label: "b", x: 4e6, y: 71 },
        { label: "c", x: 9e6, y: 66 },
      ],
    }),
  "graph-tiny.svg": () => drawGraph(tinyNet()),
};

describe("golden drawings (structural comparison)", () => {
  const update = process.env.UPDATE_DRAW_GOLDEN === "1";
  if (update) mkdirSync(DIR, { recursive: true });
  for (const [file, make] of Object.entries(CASES)) {
    it(file, () => {
      const svg = make();
      expect(make(), `${file}: deterministic`).toBe(svg);
      const path = `${DIR}${file}`;
      if (update) writeFileSync(path, svg);
      expect(existsSync(path), `${file}: golden file missing (run with UPDATE_DRAW_GOLDEN=1)`).toBe(true);
      expect(structure(parseSvg(svg)), file).toEqual(structure(parseSvg(readFileSync(path, "utf8"))));
    });
  }
});
