/** Reading the page the way the tests check it: the live numbers, readiness, screenshots. */
import { join } from "node:path";
import type { Page } from "playwright-core";

/** Every live number on the page: data-k -> data-value (exact values, not the formatted text). */
export function readNumbers(page: Page, scope = "main"): Promise<Record<string, string>> {
  return page.$$eval(`${scope} dd[data-k]`, (dds) =>
    Object.fromEntries(
      dds.map((d) => [(d as HTMLElement).dataset.k!, (d as HTMLElement).dataset.value ?? ""]),
    ),
  );
}

/** Sets a number or text field by its data-field name, the way typing does (input + change events). */
export async function setField(page: Page, name: string, value: string | number): Promise<void> {
  await page.fill(`main [data-field="${name}"]`, String(value));
  await page.dispatchEvent(`main [data-field="${name}"]`, "change");
}

/** Saves a screenshot as a test artifact. */
export async function shot(page: Page, artifacts: string, name: string, fullPage = false): Promise<string> {
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}

/** Form controls in <main> that no label names (visible ones only). */
export function unlabelled(page: Page): Promise<string[]> {
  return page.$$eval("main input, main select, main textarea, main button", (els) =>
    els
      .filter((e) => {
        const el = e as HTMLInputElement;
        if (el.type === "hidden") return false;
        const hasLabel =
          (el.labels?.length ?? 0) > 0 || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
        const text = el.tagName === "BUTTON" ? (el.textContent ?? "").trim() : "";
        return !hasLabel && text === "";
      })
      .map((e) => e.outerHTML.slice(0, 120)),
  );
}

/** Whether the page scrolls sideways (it must not, even on a narrow screen). */
export function overflowsX(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1);
}
