import { readFileSync } from "node:fs";

/**
 * convkit's version from package.json (src/io and dist/io both sit two levels below it), recorded in
 * training histories, study reports and exports; "unknown" when the file cannot be read. Node only.
 */
export function convkitVersion(): string {
  try {
    const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
    return (JSON.parse(text) as { version?: string }).version ?? "unknown";
  } catch {
    return "unknown";
  }
}
