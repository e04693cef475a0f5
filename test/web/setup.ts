/**
 * Global setup of the browser suite: builds the web page with the project's Vite config into tmp/web-test/site
 * and serves it twice, with cross-origin isolation (threads) and without (the one-thread fallback).
 */
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { buildSite, ROOT, serveSite } from "./helpers/site.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The page with COOP/COEP ("http://127.0.0.1:PORT/"). */
    siteUrl: string;
    /** The same page without the isolation headers. */
    plainUrl: string;
    /** Folder for screenshots and downloads. */
    artifacts: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const base = join(ROOT, "tmp", "web-test");
  const site = join(base, "site");
  const artifacts = join(base, "artifacts");
  rmSync(artifacts, { recursive: true, force: true });
  mkdirSync(artifacts, { recursive: true });
  await buildSite(site);
  const isolated = await serveSite(site, true);
  const plain = await serveSite(site, false);
  project.provide("siteUrl", isolated.url);
  project.provide("plainUrl", plain.url);
  project.provide("artifacts", artifacts);
  return async () => {
    await isolated.close();
    await plain.close();
  };
}
