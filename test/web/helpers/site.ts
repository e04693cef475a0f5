/**
 * Builds the web page with the project's Vite config into a folder of the caller's choice (the tests and tools
 * build their own copy, so they never test a stale dist/web) and serves it with `convkit serve`'s server.
 */
import { fileURLToPath } from "node:url";
import { build } from "vite";
import { type StaticServer, startStaticServer } from "../../../src/serve/server.js";

export const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const VITE_CONFIG = fileURLToPath(new URL("../../../web/vite.config.ts", import.meta.url));

export async function buildSite(outDir: string): Promise<void> {
  await build({ configFile: VITE_CONFIG, logLevel: "error", build: { outDir, emptyOutDir: true } });
}

export function serveSite(root: string, isolation = true): Promise<StaticServer> {
  return startStaticServer({ root, isolation });
}
