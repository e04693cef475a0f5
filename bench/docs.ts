import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { markdown, type Report } from "./report.js";
import { formatWebBench, type NodeBench, type WebBenchRun } from "./web/report.js";

/**
 * docs/benchmarks.md holds Node's figures (`npm run bench`) and, beside them, the browser's (`npm run bench:web`),
 * each from its own JSON file; whichever command ran last rewrites the page from both, so neither hides the other.
 */

/** The browser section of docs/benchmarks.md: the browser report with its headings one level down. */
export function browserSection(web: WebBenchRun, node: NodeBench | null): string {
  const lines = formatWebBench(web, node).split("\n");
  const body = lines.slice(1).map((l) => (l.startsWith("#") ? `#${l}` : l));
  return ["## In the browser (`npm run bench:web`)", ...body].join("\n");
}

/** Rewrites docs/benchmarks.md from docs/benchmarks.json and, when present, docs/benchmarks-web.json. */
export function writeBenchmarksPage(root: string): void {
  const docs = join(root, "docs");
  const node = JSON.parse(readFileSync(join(docs, "benchmarks.json"), "utf8")) as Report;
  const webFile = join(docs, "benchmarks-web.json");
  let page = markdown(node);
  if (existsSync(webFile)) {
    const web = JSON.parse(readFileSync(webFile, "utf8")) as WebBenchRun;
    page = `${page.trimEnd()}\n\n${browserSection(web, node as unknown as NodeBench)}`;
  }
  writeFileSync(join(docs, "benchmarks.md"), `${page.trimEnd()}\n`);
}
