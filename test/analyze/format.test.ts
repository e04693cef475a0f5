import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { compact, formatAnalysis, formatBytes, formatField, thousands } from "../../src/analyze/format.js";
import { collapseByScope, groupKey } from "../../src/analyze/scopes.js";
import { GraphBuilder } from "../../src/graph/builder.js";

/** The printed table: number formats, aligned columns, totals, the per-scope collapsed view. */

function model() {
  const b = new GraphBuilder("blocks");
  let x = b.input("image", [3, 32, 32]);
  x = b.conv2d(x, { outChannels: 8, kernelSize: 3, padding: 1, name: "stem" });
  for (const stage of [1, 2]) {
    x = b.scope(
      `stage${stage}`,
      () => {
        for (const block of [0, 1]) {
          x = b.scope(`${block}`, () => {
            const y = b.relu(b.conv2d(x, { outChannels: 8, kernelSize: 3, padding: 1 }));
            return b.add(y, x);
          });
        }
        return x;
      },
      { kind: "stage" },
    );
  }
  b.output(b.linear(b.flatten(b.adaptiveAvgPool2d(x, 1)), { outFeatures: 10, name: "fc" }));
  return b.build().graph;
}

/** Column spans [start, end) read off the dashed rule under the header. */
function spans(rule: string): [number, number][] {
  const out: [number, number][] = [];
  const re = /-+/g;
  for (let m = re.exec(rule); m !== null; m = re.exec(rule)) out.push([m.index, m.index + m[0].length]);
  return out;
}

describe("number formats", () => {
  it("groups thousands and uses M/G units for big counts", () => {
    expect(thousands(0)).toBe("0");
    expect(thousands(999)).toBe("999");
    expect(thousands(11689512)).toBe("11,689,512");
    expect(thousands(-1234.5)).toBe("-1,234.5");
    expect(compact(512000)).toBe("512,000");
    expect(compact(118013952)).toBe("118.0 M");
    expect(compact(1814073344)).toBe("1.814 G");
    expect(compact(15470264320)).toBe("15.47 G");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(3 * 1024 * 1024)).toBe("3.00 MiB");
  });

  it("writes a receptive field as size /jump with its flags", () => {
    const base = {
      size: [7, 7],
      jump: [2, 2],
      start: [0, 0],
      global: false,
      deformable: false,
      globalContext: false,
    };
    expect(formatField(base as never)).toBe("7 /2");
    expect(formatField({ ...base, size: [1, 7], jump: [1, 2] } as never)).toBe("1x7 /1x2");
    expect(formatField({ ...base, deformable: true, globalContext: true } as never)).toBe("7 /2 deform +ctx");
    expect(formatField({ ...base, global: true } as never)).toBe("global");
    expect(formatField(null)).toBe("-");
  });
});

describe("table", () => {
  it("aligns every row on the header's columns and ends with the totals", () => {
    const a = analyze(model());
    const text = formatAnalysis(a);
    const lines = text.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^Layer\s+Op\s+Output shape\s+Params\s+MACs\s+RF$/);
    const cols = spans(lines[1]);
    expect(cols).toHaveLength(6);
    const end = lines.indexOf(lines[1], 2);
    const rows = lines.slice(2, end);
    expect(rows).toHaveLength(a.layers.length);
    rows.forEach((row, i) => {
      const l = a.layers[i];
      const cell = (c: number) => row.slice(cols[c][0], cols[c][1]);
      expect(cell(0).trim()).toBe(l.name);
      expect(cell(1).trim()).toBe(l.op);
      // Numbers right-aligned: the last character of the column is a digit when there is a number.
      if (l.params > 0) expect(cell(3)).toMatch(/\d$/);
      expect(cell(3).trim()).toBe(l.params > 0 ? thousands(l.params) : "");
      expect(cell(4).trim()).toBe(l.counted ? compact(l.macs) : "");
    });
    const tail = lines.slice(end + 1).join("\n");
    expect(tail).toContain(`Params:      ${thousands(a.totals.params)} trainable`);
    expect(tail).toContain(`MACs:        ${thousands(a.totals.macs)}`);
    expect(tail).toContain(`FLOPs:       ${thousands(a.totals.flops)}`);
    // Five 3x3 convs in a row (stem + one per block): 1 + 5*2 = 11.
    expect(tail).toContain("Receptive field: 11 x 11, jump 1 x 1");
  });

  it("collapses by scope depth, groups adding up to the totals", () => {
    const a = analyze(model());
    expect(groupKey("stage1.0.conv1", "stage1.0", 1)).toBe("stage1");
    expect(groupKey("stage1.0.conv1", "stage1.0", 2)).toBe("stage1.0");
    expect(groupKey("stem", "", 1)).toBe("stem");
    const one = collapseByScope(a, 1);
    expect(one.map((g) => g.name)).toEqual([
      "stem",
      "stage1",
      "stage2",
      "adaptive_avgpool1",
      "flatten1",
      "fc",
    ]);
    expect(one[1]).toMatchObject({ kind: "stage", nodes: 6, outputShape: [1, 8, 32, 32] });
    const two = collapseByScope(a, 2);
    expect(two.map((g) => g.name)).toContain("stage2.1");
    for (const groups of [one, two]) {
      expect(groups.reduce((s, g) => s + g.params, 0)).toBe(a.totals.params);
      expect(groups.reduce((s, g) => s + g.macs, 0)).toBe(a.totals.macs);
      expect(groups.reduce((s, g) => s + g.nodes, 0)).toBe(a.layers.length);
    }
    const text = formatAnalysis(a, { depth: 1 });
    expect(text.split("\n")[0]).toMatch(/^Scope \(depth 1\)\s+Kind/);
    expect(text).toMatch(/stage1\s+stage \(6 nodes\)/);
    expect(() => collapseByScope(a, 0)).toThrowError(/depth: expected a positive integer/);
  });
});
