import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { deformableConv } from "../../src/blocks/deformable.js";
import { depthwiseSeparable } from "../../src/blocks/separable.js";
import { squeezeExcite } from "../../src/blocks/squeeze-excite.js";
import { shufflePermutation } from "../../src/draw/channels.js";
import { GraphBuilder, type ValueRef } from "../../src/graph/builder.js";
import { convOutSize } from "../../src/tensor/conv-geometry.js";
import { type Browser, launchBrowser, openPage, type Recorded } from "./helpers/browser.js";
import { readNumbers, setField, shot } from "./helpers/page.js";

/**
 * The Modes page's live numbers follow its controls and equal the library's own figures: each case sets the
 * controls in the browser, then builds the same layer here in Node with the builder and blocks and compares
 * the page's output shape, parameters, MACs, FLOPs and receptive field with `analyze` (and the output size with
 * `convOutSize`, the parameter count of a grouped conv with its closed form).
 */

const siteUrl = inject("siteUrl");
const artifacts = inject("artifacts");

let browser: Browser;
let rec: Recorded;
let page: Page;

beforeAll(async () => {
  browser = await launchBrowser();
  rec = await openPage(browser.context, `${siteUrl}#/modes/standard`);
  page = rec.page;
  await page.waitForSelector('.mode[data-state="ok"]');
});
afterAll(async () => {
  await browser?.close();
});

function graphOf(input: [number, number, number], body: (b: GraphBuilder, x: ValueRef) => ValueRef) {
  const b = new GraphBuilder("reference");
  const x = b.input("input", input);
  b.output(body(b, x));
  return b.build().graph;
}

/** What the page should show for a graph: the analyzer's totals and the output layer's shape and field. */
function expected(graph: ReturnType<typeof graphOf>) {
  const a = analyze(graph);
  const out = a.layers[graph.nodes.findIndex((n) => n.outputs.includes(graph.outputs[0]))];
  return {
    output: out.outputShape.join(","),
    params: String(a.totals.params),
    macs: String(a.totals.macs),
    flops: String(a.totals.flops),
    rf: out.receptiveField === null ? "" : out.receptiveField.size.join(","),
  };
}

async function openMode(id: string): Promise<void> {
  await page.goto(`${siteUrl}#/modes/${id}`);
  await page.waitForSelector(`.mode[data-mode="${id}"][data-state="ok"]`);
  // Pause the animation so that screenshots are stable.
  const play = await page.$('[data-action="play"]');
  if (play && (await play.getAttribute("aria-pressed")) === "true") await play.click();
}

async function set(values: Record<string, number | string>): Promise<Record<string, string>> {
  for (const [k, v] of Object.entries(values)) {
    const tag = await page.$eval(`main [data-field="${k}"]`, (e) => e.tagName);
    if (tag === "SELECT") await page.selectOption(`main [data-field="${k}"]`, String(v));
    else await setField(page, k, v);
  }
  return readNumbers(page, ".mode");
}

describe("Modes page numbers", () => {
  it("standard and dilated convolution: shape, params, MACs and field as the analyzer's, live", async () => {
    await openMode("standard");
    const cases = [
      { size: 9, kernel: 3, stride: 2, padding: 1, dilation: 1, cin: 8, cout: 16 },
      { size: 11, kernel: 5, stride: 1, padding: 0, dilation: 2, cin: 3, cout: 7 },
      { size: 16, kernel: 7, stride: 3, padding: 3, dilation: 1, cin: 64, cout: 128 },
    ];
    for (const c of cases) {
      const shown = await set(c);
      const graph = graphOf([c.cin, c.size, c.size], (b, x) =>
        b.conv2d(x, {
          outChannels: c.cout,
          kernelSize: c.kernel,
          stride: c.stride,
          padding: c.padding,
          dilation: c.dilation,
        }),
      );
      expect(shown).toMatchObject(expected(graph));
      const o = convOutSize(c.size, c.kernel, c.stride, c.dilation, c.padding, c.padding);
      expect(shown.output).toBe(`1,${c.cout},${o},${o}`);
      expect(Number(shown.params)).toBe(c.cout * c.cin * c.kernel * c.kernel + c.cout);
      // The drawing shows the same window: kernel taps and the output grid.
      const taps = await page.$$eval("figure[data-drawing] .taps rect.tap", (r) => r.length);
      expect(taps).toBe(c.kernel * c.kernel);
    }
    await shot(page, artifacts, "modes-standard-set");
    await openMode("dilated");
    const shown = await set({ size: 12, kernel: 3, stride: 1, padding: 4, dilation: 4, cin: 2, cout: 2 });
    expect(shown.rf).toBe("9,9");
    expect(shown.output).toBe("1,2,12,12");
  });

  it("reports an impossible layer as the library's error, then recovers", async () => {
    await openMode("standard");
    await set({ size: 3, kernel: 7, stride: 1, padding: 0, dilation: 1, cin: 1, cout: 1 });
    await page.waitForSelector('.mode[data-state="error"] [role="alert"]');
    expect(await page.textContent('.mode [role="alert"]')).toMatch(/conv2d|input/i);
    await set({ padding: 3 });
    await page.waitForSelector('.mode[data-state="ok"]');
  });

  it("group, depthwise separable, SE, channel shuffle and deformable blocks", async () => {
    await openMode("group");
    let shown = await set({ cin: 12, cout: 6, groups: 3, kernel: 5, size: 5 });
    const grouped = graphOf([12, 5, 5], (b, x) =>
      b.conv2d(x, { outChannels: 6, kernelSize: 5, padding: 2, groups: 3, bias: false }),
    );
    expect(shown).toMatchObject(expected(grouped));
    // The article's example: N·(C/G)·K·K = 6·4·5·5 = 600 weights.
    expect(shown.params).toBe(String(6 * (12 / 3) * 5 * 5));
    shown = await set({ groups: 5 });
    await page.waitForSelector('.mode[data-state="error"] [role="alert"]');
    expect(await page.textContent('.mode [role="alert"]')).toMatch(/groups/);
    await set({ groups: 6 });
    await page.waitForSelector('.mode[data-state="ok"]');

    await openMode("depthwise-separable");
    shown = await set({ cin: 32, cout: 64, kernel: 3, size: 28 });
    const sep = graphOf([32, 28, 28], (b, x) =>
      depthwiseSeparable(b, x, {
        name: "separable",
        outChannels: 64,
        kernelSize: 3,
        bn: false,
        activation: "none",
      }),
    );
    expect(shown).toMatchObject(expected(sep));

    await openMode("se");
    shown = await set({ channels: 96, reduction: 8, size: 7 });
    const se = graphOf([96, 7, 7], (b, x) => squeezeExcite(b, x, { name: "se", reduction: 8 }));
    expect(shown).toMatchObject(expected(se));

    await openMode("shuffle");
    shown = await set({ channels: 16, groups: 4 });
    expect(shown.permutation).toBe(shufflePermutation(16, 4).join(","));
    expect(shown.params).toBe("0");

    await openMode("deformable");
    await page.waitForSelector('figure[data-drawing="deformable"] svg');
    shown = await set({ kernel: 3, dilation: 2, cout: 8, offsets: "rotation", amount: 30 });
    const deform = graphOf([1, 28, 28], (b, x) =>
      deformableConv(b, x, { name: "deform", outChannels: 8, kernelSize: 3, dilation: 2, padding: 2 }),
    );
    expect(shown).toMatchObject(expected(deform));
    // Two panels of 9 sampling points: the regular grid and the rotated one.
    expect(await page.$$eval("figure[data-drawing] circle.sample", (c) => c.length)).toBe(18);
    await shot(page, artifacts, "modes-deformable-set");
  });

  it("animates the kernel sliding over the input", async () => {
    await page.goto(`${siteUrl}#/modes/standard`);
    await page.waitForSelector('.mode[data-mode="standard"][data-state="ok"]');
    await set({ size: 5, kernel: 3, stride: 1, padding: 1, dilation: 1 });
    const cell = () =>
      page.$eval(
        "figure[data-drawing] rect.out-cell",
        (r) => `${r.getAttribute("data-row")},${r.getAttribute("data-col")}`,
      );
    if ((await page.getAttribute('[data-action="play"]', "aria-pressed")) === "true")
      await page.click('[data-action="play"]');
    const first = await cell();
    await page.click('[data-action="step"]');
    const second = await cell();
    expect(second).not.toBe(first);
    // Playing moves it on by itself.
    await page.click('[data-action="play"]');
    await page.waitForFunction((s) => {
      const r = document.querySelector("figure[data-drawing] rect.out-cell");
      return r !== null && `${r.getAttribute("data-row")},${r.getAttribute("data-col")}` !== s;
    }, second);
    await page.click('[data-action="play"]');
    expect(rec.errors).toEqual([]);
  });
});
