import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { parseGraph, serializeGraph, weightsFromSafetensors } from "../../src/graph/serialize.js";
import { validateGraph } from "../../src/graph/validate.js";
import { parseSafetensors } from "../../src/io/safetensors.js";
import { importOnnx } from "../../src/onnx/import.js";
import { buildReport } from "../../src/rewrite/report.js";
import { rewrite } from "../../src/rewrite/rewrite.js";
import { Rng } from "../../src/tensor/rng.js";
import { buildZooModel } from "../../src/zoo/index.js";
import { expectClose } from "../helpers/close.js";
import { randomData, runGraph, runOrt } from "../onnx/helpers.js";
import { type Browser, launchBrowser, openPage, type Recorded } from "./helpers/browser.js";
import { readNumbers, setField, shot } from "./helpers/page.js";

/**
 * The Rewrite page: the rules run in the engine worker give the same graph and the same before/after numbers as
 * `rewrite` + `buildReport` in Node; the downloads are a valid ONNX file (ONNX Runtime runs it and agrees with
 * convkit on the rewritten model), the same graph JSON byte for byte, and the weights.
 */

const siteUrl = inject("siteUrl");
const artifacts = inject("artifacts");

let browser: Browser;
let rec: Recorded;
let page: Page;

beforeAll(async () => {
  browser = await launchBrowser();
  rec = await openPage(browser.context, `${siteUrl}#/rewrite`);
  page = rec.page;
  await page.waitForSelector('[data-rule="se"]');
});
afterAll(async () => {
  await browser?.close();
});

async function downloadOf(action: string): Promise<Uint8Array> {
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.click(`[data-action="${action}"]`),
  ]);
  const path = join(artifacts, download.suggestedFilename());
  await download.saveAs(path);
  return new Uint8Array(readFileSync(path));
}

describe("Rewrite page", () => {
  it("rewrites the study baseline with weights, as the rewriter does in Node, and downloads a valid model", async () => {
    await page.selectOption('[data-field="model"]', "zoo:fmnist-vgg-large");
    await page.check('[data-field="rule-se"]');
    await setField(page, "se-reduction", 8);
    await page.check('[data-field="rule-group"]');
    await setField(page, "group-where", "name=features.conv3.conv");
    expect(await page.isChecked('[data-field="carry"]')).toBe(true);
    await page.click('[data-action="rewrite"]');
    await page.waitForSelector('[data-done="true"]', { timeout: 120_000 });

    const { graph, weights } = buildZooModel("fmnist-vgg-large");
    const steps = [
      { rule: "group", options: {}, where: "name=features.conv3.conv" },
      { rule: "se", options: { reduction: "8" } },
    ];
    const result = rewrite(graph, weights, steps);
    const report = buildReport(result, (g) => analyze(g));
    const shown = await readNumbers(page);
    expect(shown).toMatchObject({
      "before-params": String(report.before.params),
      "before-macs": String(report.before.macs),
      "after-params": String(report.after.params),
      "after-macs": String(report.after.macs),
      "after-rf": report.after.receptiveField!.join(","),
    });
    expect(Number(shown["output-error"])).toBeCloseTo(result.outputError!.relL2, 4);
    // Registry order: group (channels) is listed before se.
    expect(await page.$$eval("[data-step]", (s) => s.map((e) => (e as HTMLElement).dataset.step))).toEqual([
      "group",
      "se",
    ]);
    await shot(page, artifacts, "rewrite-result", true);

    // Graph JSON: the same graph as Node's rewrite, byte for byte.
    const json = new TextDecoder().decode(await downloadOf("download-graph"));
    expect(json).toBe(serializeGraph(result.graph));
    const parsed = parseGraph(json);
    // Weights: the carried-over ones.
    const carried = weightsFromSafetensors(parsed, parseSafetensors(await downloadOf("download-weights")));
    for (const [name, data] of result.weights!)
      expect(Array.from(carried.get(name)!), name).toEqual(Array.from(data));
    // ONNX: imports, validates, and ONNX Runtime computes what convkit computes with the rewritten model.
    const onnx = await downloadOf("download-onnx");
    const imported = importOnnx(onnx, { source: "downloaded.onnx" });
    validateGraph(imported.graph, imported.weights);
    expect(analyze(imported.graph).totals.params).toBe(report.after.params);
    const x = { data: randomData(2 * 28 * 28, new Rng(5)), dims: [2, 1, 28, 28] };
    const ours = runGraph(result.graph, result.weights!, { input: x });
    const ort = await runOrt(onnx, { input: x });
    const [name] = Object.keys(ort);
    expectClose(ort[name].data, ours[result.graph.outputs[0]].data, {
      rtol: 1e-4,
      label: "ONNX Runtime vs convkit",
    });
  });

  it("rewrites a big model structurally and reports refusals", async () => {
    await page.goto(`${siteUrl}#/model`);
    await page.waitForSelector('figure[data-drawing="graph"] svg');
    await page.goto(`${siteUrl}#/rewrite`);
    await page.waitForSelector('[data-rule="se"]');
    await page.selectOption('[data-field="model"]', "zoo:resnet18");
    expect(await page.isChecked('[data-field="carry"]')).toBe(false);
    for (const rule of ["se", "group"]) await page.uncheck(`[data-field="rule-${rule}"]`);
    await page.check('[data-field="rule-separable"]');
    await setField(page, "separable-where", "stage=3");
    await page.click('[data-action="rewrite"]');
    await page.waitForSelector('[data-done="true"] [data-step="separable"]', { timeout: 120_000 });
    const { graph } = buildZooModel("resnet18");
    const result = rewrite(graph, null, [{ rule: "separable", where: "stage=3" }]);
    const report = buildReport(result, (g) => analyze(g));
    const shown = await readNumbers(page);
    expect(shown["after-params"]).toBe(String(report.after.params));
    expect(shown["after-macs"]).toBe(String(report.after.macs));
    expect(shown["output-error"]).toBe("");
    const sites = await page.$$eval('table[data-table="sites-separable"] tbody tr', (r) => r.length);
    expect(sites).toBe(report.steps[0].sites.length);
    // A selector that matches nothing is the rewriter's error, shown as such.
    await setField(page, "separable-where", "kernel>=99");
    await page.click('[data-action="rewrite"]');
    await page.waitForSelector('.status-box [role="alert"]');
    expect(await page.textContent('.status-box [role="alert"]')).toMatch(/selects nothing/);
    expect(rec.errors).toEqual([]);
  });
});
