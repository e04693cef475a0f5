import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseSvg } from "./xml.js";

/** The committed gallery (written by tools/gallery.ts): every picture linked, present and a well-formed SVG. */
const DOCS = fileURLToPath(new URL("../../docs/", import.meta.url));

describe("docs/gallery.md", () => {
  it("links every SVG under docs/gallery/, each well-formed, each with a caption", () => {
    const page = readFileSync(`${DOCS}gallery.md`, "utf8");
    const linked = [...page.matchAll(/!\[[^\]]*\]\(gallery\/([^)]+\.svg)\)\n\n\*[^*]+\*/g)].map((m) => m[1]);
    const files = readdirSync(`${DOCS}gallery`).filter((f) => f.endsWith(".svg"));
    expect(linked.length).toBeGreaterThanOrEqual(20);
    expect([...linked].sort()).toEqual([...files].sort());
    for (const f of files) {
      expect(existsSync(`${DOCS}gallery/${f}`)).toBe(true);
      expect(() => parseSvg(readFileSync(`${DOCS}gallery/${f}`, "utf8")), f).not.toThrow();
    }
  });
});
