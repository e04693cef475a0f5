import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Canvas, esc, formatCount, heatColor, num, pixelRects, slug, textWidth } from "../../src/draw/svg.js";
import { byName, parseSvg, parseXml } from "./xml.js";

describe("the XML checker itself", () => {
  it("accepts well-formed documents and gives back the tree", () => {
    const root = parseXml(
      `<?xml version="1.0"?><a x="1" y='&lt;2&gt;'><b>t &amp; u</b><c/><!-- note --></a>`,
    );
    expect(root.name).toBe("a");
    expect(root.attrs).toEqual({ x: "1", y: "<2>" });
    expect(root.children.map((c) => c.name)).toEqual(["b", "c"]);
    expect(root.children[0].text).toBe("t & u");
  });

  it.each([
    ["<a><b></a></b>", "does not match"],
    ["<a>", "not closed"],
    ["<a x=1/>", "not quoted"],
    ['<a x="1" x="2"/>', "duplicate"],
    ["<a>&nbsp;</a>", "unknown entity"],
    ["<a>a & b</a>", "bare '&'"],
    ["<a/><b/>", "second root"],
    ["text<a/>", "outside the root"],
    ['<a x="1"y="2"/>', "not separated"],
    ['<a x="<"/>', "'<'"],
  ])("rejects %s", (doc, why) => {
    expect(() => parseXml(doc)).toThrow(why);
  });
});

describe("svg toolkit", () => {
  it("escapes every markup character", () => {
    expect(esc(`<a href="x">&'`)).toBe("&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    // Printable text (XML forbids most control characters) survives escaping and parsing unchanged.
    const printable = fc.string().filter((s) => [...s].every((ch) => ch.charCodeAt(0) >= 0x20));
    fc.assert(
      fc.property(printable, (s) => {
        const root = parseXml(`<t a="${esc(s)}">${esc(s)}</t>`);
        expect(root.attrs.a).toBe(s);
        expect(root.text).toBe(s);
      }),
    );
  });

  it("writes coordinates with at most two decimals and no -0", () => {
    expect(num(1.23456)).toBe("1.23");
    expect(num(-0.001)).toBe("0");
    expect(num(3)).toBe("3");
    expect(() => num(Number.NaN)).toThrow(RangeError);
    fc.assert(
      fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), (v) => {
        const text = num(v);
        expect(Math.abs(Number(text) - v)).toBeLessThanOrEqual(0.005 + 1e-9);
        expect(text).toMatch(/^-?\d+(\.\d{1,2})?$/);
      }),
    );
  });

  it("formats counts exactly below 10,000 and with three significant digits above", () => {
    expect(formatCount(9408)).toBe("9,408");
    expect(formatCount(11_689_512)).toBe("11.7M");
    expect(formatCount(1_814_073_856)).toBe("1.81G");
    expect(formatCount(1_000_000)).toBe("1M");
    expect(formatCount(36_864)).toBe("36.9K");
  });

  it("makes id-safe slugs and a colour for every value", () => {
    expect(slug("conv2d 3×3, stride 2!")).toBe("conv2d-3-3-stride-2");
    for (const t of [-1, 0, 0.5, 1, 2, Number.NaN]) expect(heatColor(t)).toMatch(/^#[0-9a-f]{6}$/);
  });

  it("sizes the viewBox to the content plus the margin, so nothing is clipped", () => {
    const c = new Canvas({ title: "box", desc: "a box and a label", margin: 10 });
    c.rect(-20, 5, 100, 50, { fill: "red" });
    const w = c.text(0, 100, "label", { size: 12 });
    const root = parseSvg(c.toString());
    const [vx, vy, vw, vh] = root.attrs.viewBox.split(" ").map(Number);
    expect(vx).toBeLessThanOrEqual(-30);
    expect(vy).toBeLessThanOrEqual(5 - 10);
    expect(vx + vw).toBeGreaterThanOrEqual(Math.max(80, w) + 10);
    expect(vy + vh).toBeGreaterThanOrEqual(100 + 10);
    expect(byName(root, "title")[0].text).toBe("box");
  });

  it("estimates text wide enough for the font (never narrower than half an em per character)", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), (s) => {
        expect(textWidth(s, 10)).toBeGreaterThanOrEqual([...s].length * 3.5);
      }),
    );
  });

  it("merges pixel runs of one colour and covers every pixel once", () => {
    const values = [0, 0, 1, 1, 1, 0.5];
    const root = parseXml(`<g>${pixelRects(values, 2, 3, 10, 0, 0, (t) => heatColor(t), 3)}</g>`);
    const rects = root.children;
    expect(rects.length).toBe(4); // row 0: [0,0] [1]; row 1: [1,1] [0.5]
    const covered = rects.reduce((s, r) => s + Math.round((Number(r.attrs.width) - 0.3) / 10), 0);
    expect(covered).toBe(6);
  });
});
