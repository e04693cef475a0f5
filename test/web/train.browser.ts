import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Browser, launchBrowser, openPage } from "./helpers/browser.js";
import { shot } from "./helpers/page.js";

/**
 * The Train page: the study baseline and a deformable variant trained side by side in Web Workers for 50 steps
 * lower their loss; the page shows images per second and test accuracy, and the deformable layer's learned
 * sampling points on test images.
 */

const siteUrl = inject("siteUrl");
const artifacts = inject("artifacts");

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

describe("Train page", () => {
  it("trains the baseline and a deformable variant side by side; 50 steps lower the loss", async () => {
    const { page, errors } = await openPage(browser.context, `${siteUrl}#/train`);
    await page.waitForSelector('[data-action="start"]');
    expect(await page.$eval('[data-field="model"]', (s) => (s as HTMLSelectElement).value)).toBe(
      "fmnist-vgg-large",
    );
    expect(await page.$eval('[data-field="rule"]', (s) => (s as HTMLSelectElement).value)).toBe("deformable");
    await page.fill('[data-field="steps"]', "50");
    await page.fill('[data-field="eval-every"]', "25");
    await page.click('[data-action="start"]');
    await page.waitForFunction(
      () =>
        Array.from(document.querySelectorAll<HTMLElement>("[data-run]")).every(
          (e) => e.dataset.state === "done" || e.dataset.state === "error",
        ),
      null,
      { timeout: 140_000, polling: 500 },
    );
    for (const run of ["baseline", "variant"]) {
      const panel = await page.$(`[data-run="${run}"]`);
      expect(await panel!.getAttribute("data-state"), (await panel!.textContent()) ?? "").toBe("done");
      expect(await panel!.getAttribute("data-steps")).toBe("50");
      const losses = JSON.parse((await panel!.getAttribute("data-losses"))!) as number[];
      expect(losses).toHaveLength(50);
      expect(losses.every(Number.isFinite)).toBe(true);
      // Lower: the mean of the last 10 batch losses well below the mean of the first 10.
      expect(mean(losses.slice(-10)), run).toBeLessThan(0.8 * mean(losses.slice(0, 10)));
      const ips = Number(await panel!.$eval('dd[data-k="ips"]', (d) => d.getAttribute("data-value")));
      expect(ips).toBeGreaterThan(0);
      // Evaluated at steps 0, 25 and 50 on 500 test images: better than chance (10%) at the end.
      expect(Number(await panel!.getAttribute("data-test-accuracy"))).toBeGreaterThan(0.3);
    }
    // The variant is the deformable rewrite: its learned sampling points on three test images.
    await page.waitForSelector('[data-step="50"] figure[data-drawing="deform-2"] svg');
    expect(await page.$$eval('figure[data-drawing^="deform-"] g.panel', (g) => g.length)).toBe(6);
    // Curves of both runs.
    expect(
      await page.$$eval('figure[data-drawing="loss-chart"] polyline.series', (p) =>
        p.map((e) => e.getAttribute("data-name")),
      ),
    ).toEqual(["baseline", "variant"]);
    expect(await page.$$eval('figure[data-drawing="accuracy-chart"] polyline.series', (p) => p.length)).toBe(
      2,
    );
    await shot(page, artifacts, "train-done", true);
    expect(errors).toEqual([]);
    await page.close();
  });
});
