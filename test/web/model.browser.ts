import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import type { Analysis } from "../../src/analyze/types.js";
import { depthwiseSeparable } from "../../src/blocks/separable.js";
import { squeezeExcite } from "../../src/blocks/squeeze-excite.js";
import { unitFieldBox } from "../../src/draw/unit-field.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { importOnnx } from "../../src/onnx/import.js";
import { buildZooModel } from "../../src/zoo/index.js";
import { type Browser, launchBrowser, openPage, type Recorded } from "./helpers/browser.js";
import { readNumbers, setField, shot } from "./helpers/page.js";

/**
 * The Model page: zoo models and a dropped ONNX file analysed exactly as `analyze` does in Node; the analyzer
 * table sorts; the receptive field of a chosen unit is drawn where `unitFieldBox` puts it; the effective field
 * is computed in the engine worker.
 */

const siteUrl = inject("siteUrl");
const artifacts = inject("artifacts");

let browser: Browser;
let rec: Recorded;
let page: Page;

beforeAll(async () => {
  browser = await launchBrowser();
  rec = await openPage(browser.context, `${siteUrl}#/model`);
  page = rec.page;
  await page.waitForSelector('figure[data-drawing="graph"] svg');
});
afterAll(async () => {
  await browser?.close();
});

function totals(a: Analysis) {
  return {
    params: String(a.totals.params),
    macs: String(a.totals.macs),
    flops: String(a.totals.flops),
    nodes: String(a.layers.length),
    input: a.inputs[0].shape.join(","),
    rf: a.receptiveField ? a.receptiveField.size.join(",") : "",
  };
}

/** A small model of our own, exported to ONNX: a stem, a depthwise separable block and SE. */
function ownOnnx(): Uint8Array {
  const b = new GraphBuilder("dropped_net", { seed: 3 });
  let x = b.input("image", [3, 32, 32]);
  x = b.relu(b.conv2d(x, { name: "stem", outChannels: 16, kernelSize: 3, stride: 2, padding: 1 }));
  x = depthwiseSeparable(b, x, { name: "block", outChannels: 32 });
  x = squeezeExcite(b, x, { name: "se", reduction: 4 });
  x = b.flatten(b.adaptiveAvgPool2d(x, 1));
  b.output(b.linear(x, { name: "fc", outFeatures: 5 }));
  const { graph, weights } = b.build();
  return exportOnnx(graph, weights);
}

/** Drops a file on the drop zone the way a browser does (a drop event carrying a DataTransfer). */
async function dropFile(name: string, bytes: Uint8Array): Promise<void> {
  const transfer = await page.evaluateHandle(
    ({ name, data }) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(data)], name, { type: "application/octet-stream" }));
      return dt;
    },
    { name, data: Array.from(bytes) },
  );
  await page.dispatchEvent('[data-drop="onnx"]', "drop", { dataTransfer: transfer });
}

describe("Model page", () => {
  it("analyses the study baseline and any zoo model as the analyzer does", async () => {
    expect(await readNumbers(page)).toMatchObject(totals(analyze(buildZooModel("fmnist-vgg-large").graph)));
    await page.selectOption('[data-field="model"]', "zoo:resnet18");
    await page.waitForSelector('#main[data-model="zoo:resnet18"]');
    const shown = await readNumbers(page);
    const want = totals(analyze(buildZooModel("resnet18").graph));
    expect(shown).toMatchObject(want);
    // torchvision's published figure for ResNet-18: 11,689,512 parameters.
    expect(shown.params).toBe("11689512");
    expect(await page.$$eval('table[data-table="layers"] tbody tr', (r) => r.length)).toBe(
      Number(want.nodes),
    );
    await shot(page, artifacts, "model-resnet18");
  });

  it("analyses a dropped ONNX file and sorts its table", async () => {
    const bytes = ownOnnx();
    writeFileSync(join(artifacts, "dropped_net.onnx"), bytes);
    await dropFile("dropped_net.onnx", bytes);
    await page.waitForSelector('#main[data-model="file:dropped_net.onnx"]');
    expect(await page.textContent(".status-box")).toMatch(/Imported dropped_net\.onnx/);
    const imported = importOnnx(bytes, { source: "dropped_net.onnx" });
    const a = analyze(imported.graph);
    expect(await readNumbers(page)).toMatchObject(totals(a));
    // Sorting: the Params header sorts descending first (numbers), again ascending.
    await page.click('button[data-sort="params"]');
    const first = await page.$eval(
      'table[data-table="layers"] tbody tr td[data-c="params"]',
      (td) => td.textContent,
    );
    const max = Math.max(...a.layers.map((l) => l.params));
    expect(Number(first?.replace(/,/g, ""))).toBe(max);
    expect(await page.getAttribute('th:has(button[data-sort="params"])', "aria-sort")).toBe("descending");
    await page.click('button[data-sort="params"]');
    expect(await page.getAttribute('th:has(button[data-sort="params"])', "aria-sort")).toBe("ascending");
    await page.click('button[data-sort="name"]');
    const names = await page.$$eval('table[data-table="layers"] tbody td[data-c="name"]', (tds) =>
      tds.map((t) => t.textContent ?? ""),
    );
    expect(names).toEqual([...names].sort((x, y) => x.localeCompare(y)));
    // The Rewrite page offers the file too.
    await page.goto(`${siteUrl}#/rewrite`);
    await page.waitForSelector('[data-rule="se"]');
    expect(await page.$eval('[data-field="model"]', (s) => (s as HTMLSelectElement).value)).toBe(
      "file:dropped_net.onnx",
    );
    await page.goto(`${siteUrl}#/model`);
    await page.waitForSelector('#main[data-model="file:dropped_net.onnx"]');
  });

  it("says what is wrong with a file that is not ONNX", async () => {
    await page.setInputFiles('[data-field="onnx"]', {
      name: "notes.onnx",
      mimeType: "application/octet-stream",
      buffer: Buffer.from("this is not a model"),
    });
    await page.waitForSelector('.status-box [role="alert"]');
    expect(await page.textContent('.status-box [role="alert"]')).toMatch(/notes\.onnx/);
  });

  it("draws the receptive field of a chosen unit where the analysis puts it, and the effective one", async () => {
    await page.selectOption('[data-field="model"]', "zoo:fmnist-vgg-large");
    await page.waitForSelector(
      '#main[data-model="zoo:fmnist-vgg-large"] figure[data-drawing="unit-field"] svg',
    );
    await page.selectOption('[data-field="rf-layer"]', "features.conv2.conv");
    await setField(page, "rf-row", 2);
    await setField(page, "rf-col", 11);
    await page.waitForFunction(() => {
      const r = document.querySelector('figure[data-drawing="unit-field"] rect.field');
      return r?.closest("figure")?.querySelector("desc")?.textContent?.includes("unit (2, 11)");
    });
    const box = await page.$eval('figure[data-drawing="unit-field"] rect.field', (r) =>
      ["top", "left", "bottom", "right"].map((k) => Number(r.getAttribute(`data-${k}`))),
    );
    const layer = analyze(buildZooModel("fmnist-vgg-large").graph).layers.find(
      (l) => l.name === "features.conv2.conv",
    )!;
    const want = unitFieldBox(layer.receptiveField!, [2, 11], [28, 28]);
    expect(box).toEqual([want.top, want.left, want.bottom, want.right]);
    await page.click('[data-action="erf"]');
    await page.waitForSelector('figure[data-drawing="erf"] svg', { timeout: 60_000 });
    expect(await page.getAttribute('figure[data-drawing="erf"] g.erf', "data-layer")).toBe(
      "features.conv2.conv",
    );
    await shot(page, artifacts, "model-receptive-field", true);
    // Expected: the alert of the previous case; nothing else.
    expect(rec.errors).toEqual([]);
  });
});
