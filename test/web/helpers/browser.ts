/**
 * Driving Debian's chromium with playwright-core for the browser tests, the screenshots and `npm run bench:web`:
 * headless, sandbox off (containers), no background networking, a fresh profile per launch. Pages opened with
 * `openPage` record console errors, uncaught exceptions and every request, so that tests can require a clean
 * console and no request outside the page's own origin.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";

export const CHROMIUM = process.env.CONVKIT_CHROMIUM ?? "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(options: { width?: number; height?: number } = {}): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), "convkit-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: options.width ?? 1280, height: options.height ?? 800 },
    acceptDownloads: true,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface Recorded {
  page: Page;
  /** Console messages of type error and uncaught page errors, as text. */
  errors: string[];
  /** Every URL the page and its workers requested. */
  requests: string[];
}

/** A new page with its console errors and requests recorded (workers' requests included). */
export async function openPage(context: BrowserContext, url: string): Promise<Recorded> {
  const page = await context.newPage();
  const errors: string[] = [];
  const requests: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("worker", (w) => {
    requests.push(w.url());
  });
  context.on("request", (r) => {
    requests.push(r.url());
  });
  page.on("requestfailed", (r) => {
    const why = r.failure()?.errorText ?? "";
    // A reload or navigation aborts the page's in-flight loads of its own blob: URLs (a worker's script
    // still starting): the page is going away, nothing failed. Any other failed request is an error.
    if (r.url().startsWith("blob:") && why === "net::ERR_ABORTED") return;
    errors.push(`request failed: ${r.url()} ${why}`);
  });
  await page.goto(url);
  return { page, errors, requests };
}

/** Requests that left the page's origin (blob: and data: URLs are local to the page). */
export function foreignRequests(requests: readonly string[], origin: string): string[] {
  return requests.filter((u) => !u.startsWith(origin) && !u.startsWith("blob:") && !u.startsWith("data:"));
}
