import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { BenchResult } from "../../web/src/pages/bench.js";
import { type Browser, foreignRequests, launchBrowser, openPage } from "./helpers/browser.js";
import { overflowsX, shot, unlabelled } from "./helpers/page.js";

/**
 * Every page loads in a real browser without a console error and without a request outside its own origin; the
 * engine runs the WebAssembly kernels on several threads when the page is cross-origin isolated and says why it
 * runs on one when it is not; the controls are labelled and keyboard-usable; nothing scrolls sideways at
 * 1280x800 or on a phone-sized screen.
 */

const siteUrl = inject("siteUrl");
const plainUrl = inject("plainUrl");
const artifacts = inject("artifacts");
const origin = siteUrl.replace(/\/$/, "");

/** What shows that a page has rendered. */
const PAGES: [string, string][] = [
  ["modes", '.mode[data-state="ok"] figure.drawing svg'],
  ["modes/deformable", '.mode[data-state="ok"] figure[data-drawing="deformable"] svg'],
  ["model", 'figure[data-drawing="unit-field"] svg'],
  ["rewrite", '[data-rule="deformable"]'],
  ["train", '[data-action="start"]'],
  ["report", '[data-drop="report"]'],
  ["bench", '[data-action="run-bench"]'],
];

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

describe("the web page", () => {
  it("opens every page without console errors or foreign requests, with the kernels on threads", async () => {
    const { page, errors, requests } = await openPage(browser.context, siteUrl);
    await page.waitForSelector("#engine[data-backend]", { timeout: 60_000 });
    expect(await page.getAttribute("#engine", "data-isolated")).toBe("true");
    expect(await page.getAttribute("#engine", "data-backend")).toMatch(/simd/);
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    expect(Number(await page.getAttribute("#engine", "data-threads"))).toBe(cores);
    for (const [route, ready] of PAGES) {
      await page.goto(`${siteUrl}#/${route}`);
      await page.waitForSelector(ready, { timeout: 30_000 });
      expect(await page.getAttribute("#main", "data-page")).toBe(route.split("/")[0]);
      expect(await page.title()).toMatch(/convkit$/);
      expect(await unlabelled(page), route).toEqual([]);
      expect(await overflowsX(page), route).toBe(false);
      await shot(page, artifacts, `page-${route.replace("/", "-")}`);
    }
    // Unknown routes open the default page, names of Object's members included (they once found
    // Object.prototype and left an "undefined" page).
    for (const route of ["constructor", "bench", "__proto__", "bench", "toString", "no-such-page"]) {
      await page.goto(`${siteUrl}#/${route}`);
      const want = route === "bench" ? "bench" : "modes";
      await page.waitForSelector(`#main[data-page="${want}"]`, { timeout: 30_000 });
      expect(await page.title(), route).toMatch(/^(?!undefined).*convkit$/);
    }
    expect(errors).toEqual([]);
    expect(foreignRequests(requests, origin)).toEqual([]);
    // The page, its script, style, icon, the engine worker and the test images: all from the page's origin.
    expect(requests.some((u) => u.includes("/data/fashion-mnist-subset/t10k-images-idx3-ubyte.gz"))).toBe(
      true,
    );
    expect(requests.some((u) => /\/assets\/engine-[\w-]+\.js$/.test(u))).toBe(true);
    await page.close();
  });

  it("is readable on a narrow screen", async () => {
    const { page, errors } = await openPage(browser.context, siteUrl);
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [route, ready] of PAGES) {
      await page.goto(`${siteUrl}#/${route}`);
      await page.waitForSelector(ready, { timeout: 30_000 });
      expect(await overflowsX(page), route).toBe(false);
      await shot(page, artifacts, `narrow-${route.replace("/", "-")}`);
    }
    expect(errors).toEqual([]);
    await page.close();
  });

  it("is usable from the keyboard: skip link, page links, controls", async () => {
    const { page, errors } = await openPage(browser.context, `${siteUrl}#/modes/standard`);
    await page.waitForSelector('.mode[data-state="ok"]');
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
    await page.keyboard.press("Enter");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("main");
    // From a fresh load, Tab through the header to the Model link and follow it.
    await page.reload();
    await page.waitForSelector('.mode[data-state="ok"]');
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press("Tab");
      if ((await page.evaluate(() => document.activeElement?.textContent)) === "Model") break;
    }
    await page.keyboard.press("Enter");
    await page.waitForSelector('#main[data-page="model"]');
    expect(page.url()).toMatch(/#\/model$/);
    // A number control responds to the arrow keys.
    await page.goto(`${siteUrl}#/modes/standard`);
    await page.waitForSelector('.mode[data-state="ok"]');
    const before = await page.getAttribute('dd[data-k="output"]', "data-value");
    await page.focus('[data-field="stride"]');
    await page.keyboard.press("ArrowUp");
    await page.waitForFunction(
      (b) => document.querySelector('dd[data-k="output"]')?.getAttribute("data-value") !== b,
      before,
    );
    expect(await page.getAttribute('dd[data-k="output"]', "data-value")).toBe("1,32,4,4");
    // The animation can be paused from the keyboard.
    await page.focus('[data-action="play"]');
    const pressed = await page.getAttribute('[data-action="play"]', "aria-pressed");
    await page.keyboard.press("Enter");
    expect(await page.getAttribute('[data-action="play"]', "aria-pressed")).toBe(
      pressed === "true" ? "false" : "true",
    );
    expect(errors).toEqual([]);
    await page.close();
  });

  it("falls back to one thread where the page is not cross-origin isolated, and says why", async () => {
    const { page, errors, requests } = await openPage(browser.context, `${plainUrl}#/modes`);
    await page.waitForSelector("#engine[data-backend]", { timeout: 60_000 });
    expect(await page.getAttribute("#engine", "data-isolated")).toBe("false");
    expect(await page.getAttribute("#engine", "data-threads")).toBe("1");
    expect(await page.textContent("#engine")).toMatch(/1 thread \(.*(cross-origin|SharedArrayBuffer).*\)/);
    await page.waitForSelector('.mode[data-state="ok"] figure.drawing svg');
    expect(errors).toEqual([]);
    expect(foreignRequests(requests, plainUrl.replace(/\/$/, ""))).toEqual([]);
    await shot(page, artifacts, "fallback-one-thread");
    await page.close();
  });

  it("measures the conv kernels' GFLOP/s on the benchmark page", async () => {
    const { page, errors } = await openPage(
      browser.context,
      `${siteUrl}#/bench?auto=1&shapes=pointwise&reps=1&sample=5`,
    );
    type WithBench = { convkitBench?: BenchResult };
    await page.waitForFunction(() => (window as WithBench).convkitBench?.done === true, null, {
      timeout: 90_000,
      polling: 500,
    });
    const result = await page.evaluate(() => (window as WithBench).convkitBench!);
    expect(result.error).toBeNull();
    expect(result.environment.crossOriginIsolated).toBe(true);
    // One shape, two directions, each variant, at 1 and all threads.
    const threads = result.environment.cores > 1 ? 2 : 1;
    const variants = result.environment.relaxedSimd ? 2 : 1;
    expect(result.rows).toHaveLength(2 * variants * threads);
    for (const row of result.rows) {
      expect(row.shape).toBe("pointwise");
      expect(row.gflops).toBeGreaterThan(0.1);
      expect(row.medianMs).toBeGreaterThan(0);
    }
    expect(await page.$$eval('table[data-table="bench"] tbody tr', (rows) => rows.length)).toBe(
      result.rows.length,
    );
    expect(errors).toEqual([]);
    await page.close();
  });
});
