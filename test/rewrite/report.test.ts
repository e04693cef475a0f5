import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { buildReport, formatReport, REPORT_FORMAT, reportToJson } from "../../src/rewrite/report.js";
import { applyRule, rewrite } from "../../src/rewrite/rewrite.js";
import { chain } from "./helpers.js";

describe("before/after report", () => {
  const net = () =>
    chain(
      [
        { out: 8, k: 1 },
        { out: 8, k: 5 },
        { out: 8, k: 3, groups: 2 },
      ],
      { input: [3, 12, 12] },
    );

  it("per site and in total: params, MACs, FLOPs, receptive field from the analyzer, errors from the samples", () => {
    const { graph, weights } = net();
    const result = applyRule(graph, weights, { rule: "separable", where: "op=conv2d" });
    const report = buildReport(result, (g) => analyze(g));
    const [a0, a1] = [analyze(graph), analyze(result.graph)];
    expect(report.format).toBe(REPORT_FORMAT);
    expect(report.model).toBe("chain");
    const step = report.steps[0];
    expect(step.carry).toBe("approximate: SVD");
    expect(step.before).toEqual({
      params: a0.totals.params,
      macs: a0.totals.macs,
      flops: a0.totals.flops,
      receptiveField: a0.receptiveField!.size,
    });
    expect(step.after.macs).toBe(a1.totals.macs);
    expect(step.ratio.macs).toBeCloseTo(a1.totals.macs / a0.totals.macs, 12);
    const site = step.sites.find((s) => s.node === "body.conv2")!;
    const layer = (a: typeof a0, n: string) => a.layers.find((l) => l.name === n)!;
    expect(site.before.macs).toBe(layer(a0, "body.conv2").macs);
    expect(site.after.macs).toBe(
      layer(a1, "body.conv2.depthwise").macs + layer(a1, "body.conv2.pointwise").macs,
    );
    expect(site.after.flops).toBe(2 * site.after.macs);
    expect(site.before.receptiveField).toEqual(layer(a0, "body.conv2").receptiveField!.size);
    expect(site.after.receptiveField).toEqual(site.before.receptiveField);
    expect(site.error).toEqual(result.sites.find((s) => s.node === "body.conv2")!.error);
    expect(step.refusals.map((r) => r.node)).toEqual(["body.conv1", "body.conv3"]);
    expect(report.outputError).toEqual(result.outputError);
  });

  it("JSON round-trips (non-finite ratios as null); the table names every site, refusal and note", () => {
    const { graph, weights } = net();
    const result = rewrite(graph, weights, ["se", { rule: "stack-small" }], {
      distill: { steps: 2 },
      sampleBatch: 2,
    });
    const report = buildReport(result, (g) => analyze(g));
    const parsed = JSON.parse(reportToJson(report));
    expect(parsed.steps.map((s: { rule: string }) => s.rule)).toEqual(["se", "stack-small"]);
    expect(parsed.steps[0].sites[0].ratio.macs).toBeNull(); // 0 MACs before (the batch norm), some after
    expect(parsed.before.params).toBe(analyze(graph).totals.params);
    expect(parsed.after.params).toBe(analyze(result.graph).totals.params);
    const text = formatReport(report);
    expect(text).toMatch(/^rule se \(reduction=16, gateBias=auto\) where "op=conv2d" — carry-over: exact/);
    expect(text).toContain("body.conv1");
    expect(text).toMatch(/rule stack-small .* carry-over: approximate: distillation/);
    expect(text).toMatch(/body\.conv2 .*approximate: distillation/);
    expect(text).toMatch(/all 2 rules: params .* -> .*MACs .* output error/);
    const structural = buildReport(applyRule(graph, null, { rule: "group", where: "op=conv2d" }), (g) =>
      analyze(g),
    );
    expect(formatReport(structural)).toContain(
      "refused: body.conv1: group needs input channels divisible by 2, got 3",
    );
  });
});
