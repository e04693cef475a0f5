/**
 * `npm run screenshots`: docs/screenshots/*.png, one per page of the web page, taken in headless chromium at
 * 1280x800 (and the Modes page on a phone-sized screen) in a state worth showing: a mode animating, a model
 * with its receptive field, a rewrite with its before/after table, a short training run, a study report, a
 * benchmark. Builds the page, serves it with `convkit serve`'s server, runs a tiny study for the Report page.
 *
 *   npx tsx tools/screenshots.ts          (about two minutes)
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { runStudy } from "../src/study/run.js";
import { launchBrowser, openPage } from "../test/web/helpers/browser.js";
import { buildSite, ROOT, serveSite } from "../test/web/helpers/site.js";

const OUT = join(ROOT, "docs", "screenshots");
const WIDTH = 1280;
const HEIGHT = 800;

const work = mkdtempSync(join(tmpdir(), "convkit-screenshots-"));
const site = join(work, "site");
mkdirSync(OUT, { recursive: true });
process.stderr.write("building the web page...\n");
await buildSite(site);
process.stderr.write("running a small study for the Report page...\n");
const studyDir = join(work, "study");
await runStudy({
  baseline: "fmnist-small",
  rules: ["se", "separable", "group"],
  epochs: 2,
  fineTune: false,
  outDir: studyDir,
  latencyRuns: { batch1: 3, batch64: 1 },
});

const server = await serveSite(site, true);
const browser = await launchBrowser({ width: WIDTH, height: HEIGHT });
const problems: string[] = [];

/** Saves the viewport, or `height` pixels of the page from the top of `from` when given. */
async function save(page: Page, name: string, from?: string, height = HEIGHT): Promise<void> {
  const path = join(OUT, `${name}.png`);
  if (from) {
    const box = await page.locator(from).first().boundingBox();
    const scroll = await page.evaluate(() => window.scrollY);
    const y = Math.max(0, (box?.y ?? 0) + scroll - 16);
    const full = await page.evaluate(() => document.documentElement.scrollHeight);
    await page.screenshot({
      path,
      fullPage: true,
      clip: { x: 0, y, width: WIDTH, height: Math.min(height, full - y) },
    });
  } else {
    await page.screenshot({ path });
  }
  process.stderr.write(`  ${path}\n`);
}

async function pause(page: Page): Promise<void> {
  if ((await page.getAttribute('[data-action="play"]', "aria-pressed")) === "true")
    await page.click('[data-action="play"]');
}

try {
  const { page, errors } = await openPage(browser.context, `${server.url}#/modes/dilated`);
  await page.waitForSelector("#engine[data-backend]", { timeout: 60_000 });
  await page.waitForSelector('.mode[data-state="ok"] figure.drawing svg');
  await pause(page);
  for (let i = 0; i < 12; i++) await page.click('[data-action="step"]');
  await save(page, "modes");

  await page.goto(`${server.url}#/modes/deformable`);
  await page.waitForSelector('figure[data-drawing="deformable"] svg');
  await pause(page);
  await page.selectOption('[data-field="offsets"]', "rotation");
  await page.fill('[data-field="amount"]', "30");
  await save(page, "modes-deformable");

  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${server.url}#/modes/group`);
  await page.waitForSelector('.mode[data-state="ok"] figure.drawing svg');
  await page.screenshot({
    path: join(OUT, "modes-narrow.png"),
    fullPage: true,
    clip: { x: 0, y: 0, width: 390, height: 1500 },
  });
  await page.setViewportSize({ width: WIDTH, height: HEIGHT });

  await page.goto(`${server.url}#/model`);
  await page.waitForSelector('figure[data-drawing="unit-field"] svg');
  await page.selectOption('[data-field="model"]', "zoo:resnet18");
  await page.waitForSelector('#main[data-model="zoo:resnet18"] figure[data-drawing="unit-field"] svg');
  await save(page, "model");
  await save(page, "model-table", 'section:has(table[data-table="layers"])', 700);
  await page.selectOption('[data-field="model"]', "zoo:fmnist-vgg-large");
  await page.waitForSelector(
    '#main[data-model="zoo:fmnist-vgg-large"] figure[data-drawing="unit-field"] svg',
  );
  await page.selectOption('[data-field="rf-layer"]', "features.conv2.conv");
  await page.click('[data-action="erf"]');
  await page.waitForSelector('figure[data-drawing="erf"] svg', { timeout: 60_000 });
  await save(page, "model-receptive-field", "section:has(figure[data-drawing='unit-field'])", 760);

  await page.goto(`${server.url}#/rewrite`);
  await page.waitForSelector('[data-rule="se"]');
  await page.check('[data-field="rule-stack-small"]');
  await page.check('[data-field="rule-se"]');
  await page.click('[data-action="rewrite"]');
  await page.waitForSelector('[data-done="true"]', { timeout: 180_000 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await save(page, "rewrite");
  await save(page, "rewrite-result", "[data-done='true']", HEIGHT);

  await page.goto(`${server.url}#/train`);
  await page.waitForSelector('[data-action="start"]');
  await page.fill('[data-field="steps"]', "60");
  await page.fill('[data-field="eval-every"]', "20");
  await page.click('[data-action="start"]');
  await page.waitForFunction(
    () =>
      Array.from(document.querySelectorAll<HTMLElement>("[data-run]")).every(
        (e) => e.dataset.state === "done",
      ),
    null,
    { timeout: 300_000, polling: 1000 },
  );
  await page.waitForSelector('[data-step="60"] figure[data-drawing="deform-0"] svg');
  await save(page, "train", ".runs", HEIGHT);
  await save(page, "train-deformable", "section:has(figure[data-drawing='deform-0'])", 560);

  await page.goto(`${server.url}#/report`);
  await page.waitForSelector('[data-drop="report"]');
  await page.setInputFiles('[data-field="study-folder"]', studyDir);
  await page.waitForSelector('.status-box [role="status"].ok');
  await save(page, "report");

  await page.goto(`${server.url}#/bench?auto=1&quick=1&reps=3`);
  await page.waitForFunction(
    () => (window as { convkitBench?: { done: boolean } }).convkitBench?.done === true,
    null,
    {
      timeout: 300_000,
      polling: 1000,
    },
  );
  await save(page, "bench", "h1", HEIGHT);
  problems.push(...errors);
} finally {
  await browser.close();
  await server.close();
  rmSync(work, { recursive: true, force: true });
}
if (problems.length > 0) {
  process.stderr.write(`the page logged errors:\n${problems.join("\n")}\n`);
  process.exitCode = 1;
}
