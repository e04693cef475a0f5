import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runStudy } from "../../src/study/run.js";
import type { StudyReport } from "../../src/study/types.js";
import { type Browser, launchBrowser, openPage } from "./helpers/browser.js";
import { shot } from "./helpers/page.js";

/**
 * The Report page reads what `convkit study` writes: a real (tiny) study is run here in Node, then its
 * report.json, and its folder with the drawings, are opened in the page.
 */

const siteUrl = inject("siteUrl");
const artifacts = inject("artifacts");

let browser: Browser;
let studyDir: string;
let report: StudyReport;

beforeAll(async () => {
  studyDir = join(artifacts, "study");
  const result = await runStudy({
    baseline: "fmnist-small",
    rules: ["se"],
    epochs: 1,
    fineTune: false,
    outDir: studyDir,
    latencyRuns: { batch1: 1, batch64: 1 },
  });
  report = result.report;
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

describe("Report page", () => {
  it("shows a study's report.json: claims, every variant, charts", async () => {
    const { page, errors, requests } = await openPage(browser.context, `${siteUrl}#/report`);
    await page.waitForSelector('[data-drop="report"]');
    await page.setInputFiles('[data-field="report"]', join(studyDir, "report.json"));
    await page.waitForSelector('.status-box [role="status"].ok');
    expect(await page.getAttribute(".report-host", "data-report")).toBe(report.baseline.name);
    // The study's own page, inside the shadow root (Playwright's CSS selectors pierce it).
    const host = page.locator(".report-host");
    await expect(host.locator("h1").textContent()).resolves.toContain(report.baseline.name);
    for (const id of ["claims", "comparison", "charts", "curves", "rewrites"]) {
      expect(await host.locator(`section#${id}`).count(), id).toBe(1);
    }
    const text = await page.evaluate(
      () => document.querySelector(".report-host")?.shadowRoot?.textContent ?? "",
    );
    for (const v of report.variants) expect(text).toContain(v.label);
    for (const c of report.claims) expect(text).toContain(c.claim);
    expect(await host.locator("svg").count()).toBeGreaterThan(1);
    // In-page links scroll inside the report and leave the page's route alone.
    await host.locator('nav a[href="#claims"]').click();
    expect(page.url()).toMatch(/#\/report$/);
    expect(await page.getAttribute("#main", "data-page")).toBe("report");
    // Opening the whole folder adds each variant's drawing.
    const before = await host.locator("svg").count();
    await page.setInputFiles('[data-field="study-folder"]', studyDir);
    await page.waitForFunction((n) => {
      const root = document.querySelector(".report-host")?.shadowRoot;
      return (root?.querySelectorAll("svg").length ?? 0) > n;
    }, before);
    expect(await page.textContent(".status-box")).not.toMatch(/Open the study folder/);
    await shot(page, artifacts, "report", true);
    expect(errors).toEqual([]);
    expect(requests.every((u) => !u.includes("report.json"))).toBe(true);
    await page.close();
  });

  it("refuses a JSON file that is not a study report, saying why", async () => {
    const { page } = await openPage(browser.context, `${siteUrl}#/report`);
    await page.waitForSelector('[data-drop="report"]');
    const wrong = { ...JSON.parse(readFileSync(join(studyDir, "report.json"), "utf8")), version: 99 };
    await page.setInputFiles('[data-field="report"]', {
      name: "old.json",
      mimeType: "application/json",
      buffer: Buffer.from(JSON.stringify(wrong)),
    });
    await page.waitForSelector('.status-box [role="alert"]');
    expect(await page.textContent('.status-box [role="alert"]')).toMatch(/old\.json: report version 99/);
    await page.setInputFiles('[data-field="report"]', {
      name: "graph.json",
      mimeType: "application/json",
      buffer: Buffer.from('{"format": "convkit.graph"}'),
    });
    await page.waitForFunction(() =>
      document.querySelector('.status-box [role="alert"]')?.textContent?.includes("graph.json"),
    );
    expect(await page.textContent('.status-box [role="alert"]')).toMatch(/not a convkit study report/);
    await page.close();
  });
});
