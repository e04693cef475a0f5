import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { headDataset } from "../../src/data/dataset.js";
import { loadFashionMnist } from "../../src/data/fashion-mnist.js";
import { RULES } from "../../src/rewrite/index.js";
import { compareAccuracy, evaluateClaims } from "../../src/study/claims.js";
import { planBudgetRun, probeTrainingSpeed } from "../../src/study/measure.js";
import { applyStructural, MODERN, parseRuleList, planStudy, selectRules } from "../../src/study/plan.js";
import type { VariantRecord } from "../../src/study/types.js";
import { fmnistSmall, fmnistVggLarge } from "../../src/zoo/index.js";

/** Planning on the default baseline (structural rewrites only: no training), rule lists, verdict arithmetic. */

describe("planStudy on fmnist-vgg-large", () => {
  const { graph } = fmnistVggLarge({ seed: 0 });
  const plan = planStudy(graph, "all", { fineTune: true });
  const ids = plan.variants.map((v) => v.id);

  it("plans one from-scratch variant per applicable rule, fine-tuned ones for carried-over rules, and modern", () => {
    expect(ids[0]).toBe("baseline");
    expect(ids.at(-1)).toBe(MODERN);
    for (const rule of RULES) {
      const record = plan.rules.find((r) => r.rule === rule.name)!;
      expect(record, rule.name).toBeDefined();
      if (record.applies) expect(ids).toContain(rule.name);
      else expect(ids).not.toContain(rule.name);
      const carries = rule.carry === "exact" || rule.carry.startsWith("approximate");
      const ft = `${rule.name}-ft`;
      // Only rules that apply on the baseline alone get a fine-tuned twin.
      expect(ids.includes(ft), ft).toBe(record.applies && record.after.length === 0 && carries);
    }
    expect(plan.variants.find((v) => v.id === "shuffle-ft")).toBeUndefined();
  });

  it("tries shuffle, residual and dense after their prerequisites and compares them with those", () => {
    for (const [rule, after] of [
      ["shuffle", "group"],
      ["residual", "stack-small"],
      ["dense", "stack-small"],
    ]) {
      const record = plan.rules.find((r) => r.rule === rule)!;
      expect(record.after, rule).toEqual([after]);
      // Alone, the baseline gave the rule nothing to do, and the record says why.
      expect(record.refusals.length + record.notes.length).toBeGreaterThan(0);
      const v = plan.variants.find((x) => x.id === rule)!;
      expect(v.steps.map((s) => s.rule)).toEqual([after, rule]);
      expect(v.reference).toBe(after);
    }
  });

  it("puts the costly rules where their papers do: the last conv deformable, the last stride removed", () => {
    const deformable = plan.variants.find((v) => v.id === "deformable")!;
    expect(deformable.steps[0].where).toBe("name=features.conv3.conv");
    const dilate = plan.variants.find((v) => v.id === "dilate")!;
    expect(dilate.steps[0].where).toBe("name=features.pool2");
  });

  it("builds a modern variant from every step that composes, far cheaper than the baseline", () => {
    expect(plan.modern.map((s) => s.rule)).toEqual([
      "stack-small",
      "residual",
      "separable",
      "group",
      "shuffle",
      "se",
    ]);
    const g = applyStructural(graph, plan.modern).at(-1)!.graph;
    const a = analyze(g);
    const b = analyze(graph);
    expect(a.totals.params).toBeLessThan(b.totals.params / 4);
    expect(a.totals.macs).toBeLessThan(b.totals.macs / 4);
    expect(a.receptiveField!.size).toEqual(b.receptiveField!.size);
  });

  it("plans no fine-tuning when asked, and only the listed rules", () => {
    const p = planStudy(graph, ["separable", "group:groups=4"], { fineTune: false });
    expect(p.variants.map((v) => v.id)).toEqual(["baseline", "separable", "group"]);
    expect(p.variants[2].steps[0].options).toEqual({ groups: "4" });
  });
});

describe("rule lists", () => {
  it("splits on commas between rules, not inside a rule's options", () => {
    expect(parseRuleList("separable,se")).toEqual(["separable", "se"]);
    expect(parseRuleList("group:groups=4,se:reduction=8,gateBias=0, modern")).toEqual([
      "group:groups=4",
      "se:reduction=8,gateBias=0",
      "modern",
    ]);
  });

  it("rejects unknown, repeated and empty lists", () => {
    expect(() => selectRules(["separable", "nonsense"])).toThrow(/unknown rule "nonsense"/);
    expect(() => selectRules(["se", "se:reduction=4"])).toThrow(/listed twice/);
    expect(() => selectRules([])).toThrow(/empty/);
    expect(selectRules(["modern"])).toEqual({ specs: [], modern: true });
  });
});

function record(id: string, accuracy: number, n: number, extra: Partial<VariantRecord> = {}): VariantRecord {
  return {
    id,
    label: id,
    kind: id === "baseline" ? "baseline" : "scratch",
    rule: id === "baseline" ? null : id,
    reference: id === "baseline" ? null : "baseline",
    status: "done",
    init: "",
    steps: [],
    outputError: null,
    cost: { params: 100, buffers: 0, macs: 1000, flops: 2000, receptiveField: null, finalMap: null },
    latency: null,
    training: null,
    accuracy,
    standardError: Math.sqrt((accuracy * (1 - accuracy)) / n),
    testLoss: 0.5,
    accuracyAtStart: null,
    model: null,
    drawing: null,
    finishedAt: "",
    ...extra,
  };
}

describe("accuracy verdicts", () => {
  const n = 1000;
  const base = record("baseline", 0.8, n);
  const sigma = (p: number) => Math.hypot(Math.sqrt((p * (1 - p)) / n), base.standardError!);

  it("call a difference real only beyond two standard errors of the difference", () => {
    for (const p of [0.75, 0.78, 0.79, 0.81, 0.82, 0.85]) {
      const c = compareAccuracy(record("se", p, n), base)!;
      expect(c.sigma).toBeCloseTo(sigma(p), 12);
      const want = p - 0.8 > 2 * sigma(p) ? "better" : p - 0.8 < -2 * sigma(p) ? "worse" : "within noise";
      expect(c.effect, String(p)).toBe(want);
    }
  });

  it("turn into supported / not supported / inconclusive, and not tested with the reason", () => {
    const verdict = (p: number) => {
      const variants = new Map([
        ["baseline", base],
        ["se", record("se", p, n)],
      ]);
      return evaluateClaims({ variants, budget: false, minEpochs: 0 }).find((c) => c.id === "se")!;
    };
    expect(verdict(0.85).verdict).toBe("supported");
    expect(verdict(0.75).verdict).toBe("not supported");
    expect(verdict(0.81).verdict).toBe("inconclusive");
    // Runs too short for their accuracy to settle give no verdict, whatever the difference.
    const short = evaluateClaims({
      variants: new Map([
        ["baseline", base],
        ["se", record("se", 0.9, n)],
      ]),
      budget: true,
    }).find((c) => c.id === "se")!;
    expect(short.verdict).toBe("inconclusive");
    expect(short.finding).toMatch(/0 and 0 complete epoch/);
    const missing = evaluateClaims(
      { variants: new Map([["baseline", base]]), budget: false },
      new Map([["se", "se refused"]]),
    );
    const se = missing.find((c) => c.id === "se")!;
    expect(se.verdict).toBe("not tested");
    expect(se.finding).toContain("se refused");
  });
});

describe("budget planning", () => {
  it("gives each run its share less its overhead, and the whole number of epochs that covers it", () => {
    const perEpoch = (5000 + 1000 / 3) / 500;
    for (const share of [20, 30, 60]) {
      const p = planBudgetRun({
        shareSeconds: share,
        overheadSeconds: 2,
        imagesPerSecond: 500,
        trainImages: 5000,
        testImages: 1000,
      });
      expect(p.budgetSeconds).toBeCloseTo(share - 2, 12);
      expect(p.epochs).toBe(Math.max(1, Math.ceil((share - 2) / perEpoch)));
      expect((p.epochs - 1) * perEpoch).toBeLessThan(p.budgetSeconds);
      expect(p.epochs * perEpoch).toBeGreaterThanOrEqual(p.budgetSeconds);
    }
    // Never below one epoch or five seconds, even when the overhead ate the share.
    const tiny = planBudgetRun({
      shareSeconds: 4,
      overheadSeconds: 6,
      imagesPerSecond: 100,
      trainImages: 5000,
      testImages: 1000,
    });
    expect(tiny).toEqual({ epochs: 1, budgetSeconds: 5 });
  });
});

describe("probeTrainingSpeed", () => {
  it("times real batches on a copy of the model: a finite speed, the weights and statistics untouched", () => {
    const { graph, weights } = fmnistSmall({ seed: 1 });
    const before = new Map([...weights].map(([k, v]) => [k, Float32Array.from(v)]));
    const data = headDataset(loadFashionMnist({ embedded: true }).train, 7 * 16);
    const ips = probeTrainingSpeed(graph, weights, data, {
      batchSize: 16,
      normalize: { mean: [0.3], std: [0.35] },
    });
    expect(Number.isFinite(ips)).toBe(true);
    expect(ips).toBeGreaterThan(0);
    for (const [k, v] of before) expect(weights.get(k), k).toEqual(v);
    // One batch is only the warm-up: nothing timed, no estimate.
    const one = headDataset(data, 16);
    expect(
      probeTrainingSpeed(graph, weights, one, { batchSize: 16, normalize: { mean: [0], std: [1] } }),
    ).toBe(Number.POSITIVE_INFINITY);
  });
});
