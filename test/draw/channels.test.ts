import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { tensor } from "../../src/autograd/tensor.js";
import {
  drawChannelShuffle,
  drawDepthwiseSeparable,
  drawGroupConv,
  drawPointwise,
  shufflePermutation,
} from "../../src/draw/channels.js";
import { channelShuffle } from "../../src/ops/shuffle.js";
import { ArgumentError } from "../../src/tensor/errors.js";
import { byClass, parseSvg, textOf, type XmlElement } from "./xml.js";

function edgeSet(root: XmlElement, name: string): [number, number][] {
  const sets = byClass(root, "edge-set").filter((s) => s.attrs["data-set"] === name);
  expect(sets.length).toBe(1);
  const edges = byClass(sets[0], "edge").map(
    (e) => [Number(e.attrs["data-from"]), Number(e.attrs["data-to"])] as [number, number],
  );
  expect(edges.length).toBe(Number(sets[0].attrs["data-count"]));
  return edges;
}

/** Where channelShuffle sends channel i: run it on a one-hot channel tensor (independently of the drawing code). */
function destination(c: number, g: number, i: number): number {
  const data = new Float32Array(c);
  data[i] = 1;
  const out = channelShuffle(tensor(data, [1, c, 1, 1]), g);
  return out.data.indexOf(1);
}

describe("drawGroupConv", () => {
  it("has exactly Cout·Cin/g edges, each inside one group (random configurations)", () => {
    const config = fc
      .record({
        g: fc.integer({ min: 1, max: 4 }),
        a: fc.integer({ min: 1, max: 4 }),
        b: fc.integer({ min: 1, max: 4 }),
      })
      .map(({ g, a, b }) => ({ groups: g, cin: g * a, cout: g * b }));
    fc.assert(
      fc.property(config, ({ groups, cin, cout }) => {
        const root = parseSvg(drawGroupConv({ inChannels: cin, outChannels: cout, groups }));
        const edges = edgeSet(root, "conv");
        expect(edges.length).toBe((cout * cin) / groups);
        expect(new Set(edges.map((e) => e.join())).size).toBe(edges.length);
        for (const [i, j] of edges)
          expect(Math.floor(i / (cin / groups))).toBe(Math.floor(j / (cout / groups)));
        const outputs = byClass(root, "channel").filter((c) => c.attrs["data-row"] === "output");
        expect(outputs.length).toBe(cout);
        // Each output depends on exactly one input group.
        expect(outputs.every((c) => c.attrs["data-groups"].split(" ").length === 1)).toBe(true);
      }),
      { numRuns: 30 },
    );
  });

  it("prints the article's example: 12 → 6 channels, 3 groups, 5×5: 600 weights, 1/3 of 1,800", () => {
    const text = textOf(
      parseSvg(drawGroupConv({ inChannels: 12, outChannels: 6, groups: 3, kernelSize: 5 })),
    );
    expect(text).toContain("6·4·5·5 = 600");
    expect(text).toContain("dense conv: 1,800");
  });

  it("rejects groups that do not divide the channels", () => {
    expect(() => drawGroupConv({ inChannels: 12, outChannels: 6, groups: 4 })).toThrow(ArgumentError);
  });
});

describe("drawDepthwiseSeparable and drawPointwise", () => {
  it("depthwise joins channel i to channel i only; pointwise joins every pair", () => {
    const root = parseSvg(drawDepthwiseSeparable({ inChannels: 8, outChannels: 16 }));
    expect(edgeSet(root, "depthwise")).toEqual(Array.from({ length: 8 }, (_, i) => [i, i]));
    expect(edgeSet(root, "pointwise").length).toBe(8 * 16);
    const text = textOf(root);
    expect(text).toContain("8·3·3 = 72");
    expect(text).toContain("8·16 = 128");
    const pw = parseSvg(drawPointwise({ inChannels: 12, outChannels: 6 }));
    expect(edgeSet(pw, "pointwise").length).toBe(72);
    const outs = byClass(pw, "channel").filter((c) => c.attrs["data-row"] === "output");
    expect(outs.every((c) => c.attrs["data-groups"].split(" ").length === 12)).toBe(true);
  });
});

describe("drawChannelShuffle", () => {
  it("draws C lines, each ending where channelShuffle really sends the channel (random g, C/g)", () => {
    const config = fc.record({ g: fc.integer({ min: 1, max: 5 }), per: fc.integer({ min: 1, max: 5 }) });
    fc.assert(
      fc.property(config, ({ g, per }) => {
        const c = g * per;
        const root = parseSvg(drawChannelShuffle({ channels: c, groups: g }));
        const panelC = byClass(root, "panel").find((p) => p.attrs["data-figure"] === "c")!;
        const lines = edgeSet(panelC, "shuffle");
        expect(lines.length).toBe(c);
        for (const [i, j] of lines) expect(j).toBe(destination(c, g, i));
        expect(shufflePermutation(c, g)).toEqual(Array.from({ length: c }, (_, i) => destination(c, g, i)));
      }),
      { numRuns: 25 },
    );
  });

  it("(a) keeps each output in one group; (c) gives every output all groups; (b) has (c)'s reach", () => {
    const root = parseSvg(drawChannelShuffle({ channels: 12, groups: 3 }));
    const panels = Object.fromEntries(byClass(root, "panel").map((p) => [p.attrs["data-figure"], p]));
    const outGroups = (p: XmlElement) =>
      byClass(p, "channel")
        .filter((ch) => ch.attrs["data-row"] === "output")
        .map((ch) => ch.attrs["data-groups"]);
    expect(outGroups(panels.a)).toEqual([..."000011112222"]);
    expect(outGroups(panels.b).every((s) => s === "0 1 2")).toBe(true);
    expect(outGroups(panels.c).every((s) => s === "0 1 2")).toBe(true);
    expect(edgeSet(panels.a, "gconv1").length).toBe(48);
    expect(edgeSet(panels.b, "gconv2").length).toBe(48);
  });
});
