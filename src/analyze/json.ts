import { FormatError } from "../tensor/errors.js";
import type { ScopeGroup } from "./scopes.js";
import { ANALYSIS_FORMAT, ANALYSIS_VERSION, type Analysis } from "./types.js";

/**
 * The analysis as JSON text, the stable format of docs/analyze.md: the fields of `Analysis` in their fixed
 * order, one layer (and one group) per line so that diffs stay readable. With `groups` (a collapsed view from
 * `collapseByScope`), also `groupDepth` and `groups`.
 */
export function analysisToJson(
  analysis: Analysis,
  collapsed?: { depth: number; groups: ScopeGroup[] },
): string {
  const top: Record<string, unknown> = { ...analysis };
  const layers = analysis.layers;
  delete top.layers;
  const lines = Object.entries(top).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  lines.push(`  "layers": ${rows(layers)}`);
  if (collapsed !== undefined) {
    lines.push(`  "groupDepth": ${JSON.stringify(collapsed.depth)}`);
    lines.push(`  "groups": ${rows(collapsed.groups)}`);
  }
  return `{\n${lines.join(",\n")}\n}\n`;
}

function rows(items: readonly unknown[]): string {
  if (items.length === 0) return "[]";
  return `[\n${items.map((item) => `    ${JSON.stringify(item)}`).join(",\n")}\n  ]`;
}

/**
 * Reads analysis JSON written by `analysisToJson` (or any writer of the format), checking the format tag and
 * version and the presence of the fields other tools rely on.
 */
export function parseAnalysis(text: string, source = "<analysis json>"): Analysis {
  const where = `analysis ${JSON.stringify(source)}`;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new FormatError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new FormatError(`${where}: expected a JSON object`);
  }
  const a = raw as Record<string, unknown>;
  if (a.format !== ANALYSIS_FORMAT) {
    throw new FormatError(`${where}: format: expected "${ANALYSIS_FORMAT}", got ${JSON.stringify(a.format)}`);
  }
  if (a.version !== ANALYSIS_VERSION) {
    throw new FormatError(
      `${where}: version: expected ${ANALYSIS_VERSION}, got ${JSON.stringify(a.version)}`,
    );
  }
  const totals = a.totals as Record<string, unknown> | undefined;
  for (const key of ["params", "macs", "flops"]) {
    if (typeof totals?.[key] !== "number") {
      throw new FormatError(
        `${where}: totals.${key}: expected a number, got ${JSON.stringify(totals?.[key])}`,
      );
    }
  }
  if (!Array.isArray(a.layers)) throw new FormatError(`${where}: layers: expected an array`);
  const rf = a.receptiveField as Record<string, unknown> | null | undefined;
  if (rf !== null && (!Array.isArray(rf?.size) || !Array.isArray(rf?.jump))) {
    throw new FormatError(`${where}: receptiveField: expected null or an object with size and jump [h, w]`);
  }
  return raw as Analysis;
}
