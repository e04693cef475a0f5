import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Tensor } from "../../src/autograd/tensor.js";
import { DataError, ShapeError } from "../../src/tensor/errors.js";
import { accuracy, argmaxRows, ConfusionMatrix, correctCount, RunningMean } from "../../src/train/metrics.js";

/** Logits with few distinct values so that ties are common. */
const batch = fc.integer({ min: 1, max: 6 }).chain((k) =>
  fc.record({
    k: fc.constant(k),
    rows: fc.array(fc.array(fc.integer({ min: -3, max: 3 }), { minLength: k, maxLength: k }), {
      minLength: 1,
      maxLength: 12,
    }),
    labelSeed: fc.integer({ min: 0, max: 1000 }),
  }),
);

function toTensor(rows: number[][]): Tensor {
  return new Tensor(Float32Array.from(rows.flat()), [rows.length, rows[0].length]);
}

/** Reference top-k: sort indices by (value desc, index asc) with a stable sort, take the first k. */
function topkRef(row: number[], k: number): number[] {
  return row
    .map((v, i) => [v, i] as const)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .slice(0, k)
    .map(([, i]) => i);
}

describe("metrics", () => {
  it("argmax and top-k accuracy agree with a sort-based reference, ties to the lower index (property)", () => {
    fc.assert(
      fc.property(batch, ({ k, rows, labelSeed }) => {
        const labels = rows.map((_, i) => (labelSeed + 7 * i) % k);
        const logits = toTensor(rows);
        expect(Array.from(argmaxRows(logits))).toEqual(rows.map((r) => topkRef(r, 1)[0]));
        for (let top = 1; top <= k; top++) {
          const expected = rows.filter((r, i) => topkRef(r, top).includes(labels[i])).length;
          expect(correctCount(logits, labels, top)).toBe(expected);
        }
        expect(accuracy(logits, labels)).toBeCloseTo(
          rows.filter((r, i) => topkRef(r, 1)[0] === labels[i]).length / rows.length,
          12,
        );
      }),
      { numRuns: 200 },
    );
  });

  it("treats NaN as the largest logit, like torch.argmax, so a diverged model scores no free hits", () => {
    const logits = new Tensor(Float32Array.from([0, Number.NaN, 5, Number.NaN, 1, 2]), [2, 3]);
    expect(Array.from(argmaxRows(logits))).toEqual([1, 0]);
    expect(correctCount(logits, [2, 2], 1)).toBe(0);
    // NaN ranks first, so the label 5 in row 0 is second and counts for top-2.
    expect(correctCount(logits, [2, 1], 2)).toBe(1);
  });

  it("RunningMean weights batch means by their size", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ v: fc.double({ min: -10, max: 10, noNaN: true }), n: fc.integer({ min: 1, max: 64 }) }),
          { minLength: 1, maxLength: 10 },
        ),
        (items) => {
          const m = new RunningMean();
          for (const { v, n } of items) m.add(v, n);
          const samples = items.flatMap(({ v, n }) => new Array<number>(n).fill(v));
          expect(m.count).toBe(samples.length);
          expect(m.mean).toBeCloseTo(samples.reduce((s, x) => s + x, 0) / samples.length, 9);
        },
      ),
    );
    const m = new RunningMean();
    expect(m.mean).toBeNaN();
  });

  it("ConfusionMatrix counts (true, predicted) pairs; its accuracy equals the plain accuracy (property)", () => {
    fc.assert(
      fc.property(batch, ({ k, rows, labelSeed }) => {
        const labels = rows.map((_, i) => (labelSeed * 3 + i) % k);
        const logits = toTensor(rows);
        const cm = new ConfusionMatrix(k);
        cm.update(logits, labels);
        cm.update(Int32Array.from(labels), labels); // a perfect batch adds to the diagonal only
        expect(cm.total).toBe(2 * rows.length);
        const pred = rows.map((r) => topkRef(r, 1)[0]);
        const table = cm.toRows();
        for (let t = 0; t < k; t++) {
          for (let p = 0; p < k; p++) {
            const n =
              labels.filter((l, i) => l === t && pred[i] === p).length +
              (t === p ? labels.filter((l) => l === t).length : 0);
            expect(table[t][p]).toBe(n);
          }
        }
        const hits = pred.filter((p, i) => p === labels[i]).length + rows.length;
        expect(cm.accuracy()).toBeCloseTo(hits / (2 * rows.length), 12);
        cm.perClassAccuracy().forEach((acc, t) => {
          const seen = 2 * labels.filter((l) => l === t).length;
          if (seen === 0) expect(acc).toBeNaN();
          else expect(acc).toBeCloseTo((table[t][t] as number) / seen, 12);
        });
      }),
      { numRuns: 100 },
    );
  });

  it("rejects mismatched shapes and labels out of range", () => {
    const logits = new Tensor(new Float32Array(6), [2, 3]);
    expect(() => accuracy(logits, [0])).toThrow(ShapeError);
    expect(() => accuracy(logits, [0, 3])).toThrow(DataError);
    expect(() => accuracy(new Tensor(new Float32Array(6), [6]), [0])).toThrow(/2-d tensor/);
    expect(() => new ConfusionMatrix(4).update(logits, [0, 1])).toThrow(/4 classes/);
    expect(() => new ConfusionMatrix(3).update([0, 5], [0, 1])).toThrow(/predictions\[1\]/);
  });
});
