import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  drawBarChart,
  drawLineChart,
  drawParetoChart,
  logTicks,
  niceTicks,
  paretoFront,
  type ScatterPoint,
} from "../../src/draw/charts.js";
import { ArgumentError } from "../../src/tensor/errors.js";
import { byClass, byName, parseSvg } from "./xml.js";

describe("ticks", () => {
  it("nice ticks cover the range with one round step (random ranges)", () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1e6, max: 1e6, noNaN: true }),
        fc.double({ min: 1e-3, max: 1e6, noNaN: true }),
        (a, span) => {
          const ticks = niceTicks(a, a + span, 5);
          expect(ticks[0]).toBeLessThanOrEqual(a);
          expect(ticks[ticks.length - 1]).toBeGreaterThanOrEqual(a + span);
          expect(ticks.length).toBeGreaterThanOrEqual(2);
          expect(ticks.length).toBeLessThanOrEqual(12);
          const step = ticks[1] - ticks[0];
          const mantissa = step / 10 ** Math.floor(Math.log10(step));
          expect([1, 2, 5, 10].some((m) => Math.abs(mantissa - m) < 1e-6)).toBe(true);
          for (let i = 1; i < ticks.length; i++) expect(ticks[i] - ticks[i - 1]).toBeCloseTo(step, 6);
        },
      ),
    );
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
  });

  it("log ticks bracket the values with 1-2-5 steps over short spans", () => {
    expect(logTicks(0.72, 1.95)).toEqual([0.5, 1, 2]);
    expect(logTicks(1200, 3e9)).toEqual([1000, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10]);
    expect(() => logTicks(0, 1)).toThrow(ArgumentError);
  });
});

describe("paretoFront", () => {
  it("is exactly the set of points no other point dominates (against brute force)", () => {
    const point = fc.record({ x: fc.integer({ min: 1, max: 20 }), y: fc.integer({ min: 0, max: 20 }) });
    fc.assert(
      fc.property(fc.array(point, { minLength: 1, maxLength: 12 }), (raw) => {
        const pts: ScatterPoint[] = raw.map((p, i) => ({ label: `p${i}`, ...p }));
        const front = new Set(paretoFront(pts));
        pts.forEach((p, i) => {
          const dominated = pts.some(
            (q, j) => j !== i && q.x <= p.x && q.y >= p.y && (q.x < p.x || q.y > p.y),
          );
          const duplicateEarlier = pts.some((q, j) => j !== i && q.x === p.x && q.y === p.y);
          if (dominated) expect(front.has(i)).toBe(false);
          else if (!duplicateEarlier) expect(front.has(i)).toBe(true);
        });
      }),
    );
  });
});

describe("charts", () => {
  it("a line chart has one polyline per series, with every point, and a legend entry each", () => {
    const root = parseSvg(
      drawLineChart({
        title: "loss",
        xLabel: "epoch",
        yLabel: "loss",
        series: [
          {
            name: "a",
            points: [
              [1, 2],
              [2, 1.5],
              [3, 1.2],
            ],
          },
          {
            name: "b",
            points: [
              [1, 2.2],
              [2, Number.NaN],
              [3, 1],
            ],
          },
        ],
      }),
    );
    const lines = byClass(root, "series");
    expect(lines.map((l) => [l.attrs["data-name"], l.attrs["data-points"]])).toEqual([
      ["a", "3"],
      ["b", "1"],
      ["b", "1"],
    ]);
    expect(byClass(root, "legend-item").map((l) => l.attrs["data-name"])).toEqual(["a", "b"]);
    const yticks = byClass(root, "ytick").map((t) => Number(t.attrs["data-value"]));
    expect(yticks[0]).toBeLessThanOrEqual(1);
    expect(yticks[yticks.length - 1]).toBeGreaterThanOrEqual(2.2);
  });

  it("the Pareto chart labels every point and highlights the front", () => {
    const points = [
      { label: "cheap", x: 1e6, y: 60 },
      { label: "mid", x: 5e6, y: 70 },
      { label: "waste", x: 8e6, y: 65 },
      { label: "big", x: 2e7, y: 75 },
    ];
    const root = parseSvg(drawParetoChart({ points }));
    const drawn = byClass(root, "point").map((p) => [p.attrs["data-label"], p.attrs["data-front"]]);
    expect(drawn).toEqual([
      ["cheap", "1"],
      ["mid", "1"],
      ["waste", "0"],
      ["big", "1"],
    ]);
    expect(
      byClass(root, "point-label")
        .map((l) => l.attrs["data-label"])
        .sort(),
    ).toEqual(["big", "cheap", "mid", "waste"]);
    expect(byClass(root, "front").length).toBe(1);
  });

  it("a bar chart has one bar per series and category with its value, on a log scale too", () => {
    const spec = {
      title: "cost",
      yLabel: "count",
      categories: ["a", "b", "c"],
      series: [
        { name: "params", values: [10, 200, 3000] },
        { name: "MACs", values: [1e4, 2e5, 3e6] },
      ],
    };
    for (const log of [false, true]) {
      const root = parseSvg(drawBarChart({ ...spec, log }));
      const bars = byClass(root, "bar");
      expect(
        bars.map((b) => [b.attrs["data-series"], b.attrs["data-category"], Number(b.attrs["data-value"])]),
      ).toEqual([
        ["params", "a", 10],
        ["MACs", "a", 1e4],
        ["params", "b", 200],
        ["MACs", "b", 2e5],
        ["params", "c", 3000],
        ["MACs", "c", 3e6],
      ]);
      // Taller bar for the larger value, within a series.
      const height = (i: number) => Number(bars[i].attrs.height);
      expect(height(5)).toBeGreaterThan(height(3));
      expect(height(3)).toBeGreaterThan(height(1));
    }
    expect(() => drawBarChart({ ...spec, log: true, series: [{ name: "x", values: [0, 1, 2] }] })).toThrow(
      ArgumentError,
    );
    expect(() => drawBarChart({ ...spec, series: [{ name: "x", values: [1] }] })).toThrow(/3 values/);
  });

  it("rotated labels stay inside the drawing", () => {
    const root = parseSvg(
      drawBarChart({
        title: "t",
        yLabel: "y",
        categories: ["a very long category name indeed", "another long one"],
        series: [{ name: "s", values: [1, 2] }],
      }),
    );
    expect(byName(root, "text").some((t) => (t.attrs.transform ?? "").startsWith("rotate"))).toBe(true);
  });
});
