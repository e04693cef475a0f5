/**
 * `npm run bench:web`: the conv kernels' GFLOP/s in headless chromium. Builds the web page, serves it with
 * `convkit serve`'s server (cross-origin isolated, so threads run), opens the Benchmark page with `?auto=1`,
 * waits for `window.convkitBench`, and writes docs/benchmarks-web.md and docs/benchmarks-web.json, and the
 * browser section of docs/benchmarks.md beside Node's figures (bench/docs.ts).
 *
 *   npx tsx bench/web/run.ts [--quick] [--reps N] [--batch N]
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { CHROMIUM, launchBrowser, openPage } from "../../test/web/helpers/browser.js";
import { buildSite, ROOT, serveSite } from "../../test/web/helpers/site.js";
import type { BenchResult } from "../../web/src/pages/bench.js";
import { writeBenchmarksPage } from "../docs.js";
import { formatWebBench, type NodeBench } from "./report.js";

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const quick = process.argv.includes("--quick");
const reps = Number(flag("--reps") ?? 7);
const batch = Number(flag("--batch") ?? 1);
const site = mkdtempSync(join(tmpdir(), "convkit-bench-web-"));
process.stderr.write("building the web page...\n");
await buildSite(site);
const server = await serveSite(site, true);
const browser = await launchBrowser();
try {
  const { page, errors } = await openPage(
    browser.context,
    `${server.url}#/bench?auto=1&reps=${reps}&sample=40&batch=${batch}${quick ? "&quick=1" : ""}`,
  );
  // "Chromium 156.0.8078.108 built on Debian GNU/Linux 12 (bookworm)" -> "Chromium 156.0.8078.108".
  const version = execFileSync(CHROMIUM, ["--version"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  })
    .trim()
    .split(" built ")[0];
  process.stderr.write(`measuring in ${version} (this takes a minute or two)...\n`);
  let shown = 0;
  let result: BenchResult | undefined;
  for (;;) {
    result = await page.evaluate(() => (window as { convkitBench?: BenchResult }).convkitBench);
    if (result && result.rows.length > shown) {
      for (const r of result.rows.slice(shown)) {
        process.stderr.write(
          `  ${r.shape} ${r.direction} ${r.variant} ${r.threads}t: ${r.gflops.toFixed(1)} GFLOP/s\n`,
        );
      }
      shown = result.rows.length;
    }
    if (result?.done) break;
    await page.waitForTimeout(1000);
  }
  if (result.error) throw new Error(`the benchmark page failed: ${result.error}`);
  if (errors.length > 0) throw new Error(`the page logged errors: ${errors.join("; ")}`);
  const nodeFile = join(ROOT, "docs", "benchmarks.json");
  const node = existsSync(nodeFile) ? (JSON.parse(readFileSync(nodeFile, "utf8")) as NodeBench) : null;
  const run = { date: new Date().toISOString(), browser: version, loadAverage: loadavg(), result };
  writeFileSync(join(ROOT, "docs", "benchmarks-web.json"), `${JSON.stringify(run, null, 2)}\n`);
  writeFileSync(join(ROOT, "docs", "benchmarks-web.md"), formatWebBench(run, node));
  process.stderr.write("wrote docs/benchmarks-web.md and docs/benchmarks-web.json\n");
  if (node !== null) {
    writeBenchmarksPage(ROOT);
    process.stderr.write("rewrote docs/benchmarks.md with the browser section\n");
  }
} finally {
  await browser.close();
  await server.close();
  rmSync(site, { recursive: true, force: true });
}
