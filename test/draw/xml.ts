/**
 * A strict, minimal XML parser for the drawings' tests: enough of XML 1.0 to reject anything a real parser
 * would (unbalanced or misnested tags, unquoted or duplicate attributes, bare `&` or `<`, unknown entities,
 * text or a second element outside the root) and to give back a tree that tests can query. It does not handle
 * DTDs, CDATA or processing instructions other than the XML declaration: our SVGs use none of them.
 *
 * Stand-in until a maintained parser (@xmldom/xmldom) is a dev dependency.
 */

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated, unescaped text directly inside this element. */
  text: string;
}

const NAME = /^[A-Za-z_:][A-Za-z0-9_.:-]*/;
const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decodeText(raw: string, where: string): string {
  if (raw.includes("<")) throw new Error(`xml: '<' in ${where}`);
  return raw.replace(/&([^;]*);?/g, (m, body: string) => {
    if (!m.endsWith(";")) throw new Error(`xml: bare '&' in ${where}`);
    if (body in ENTITIES) return ENTITIES[body];
    const dec = /^#([0-9]+)$/.exec(body);
    if (dec) return String.fromCodePoint(Number(dec[1]));
    const hex = /^#x([0-9a-fA-F]+)$/.exec(body);
    if (hex) return String.fromCodePoint(Number.parseInt(hex[1], 16));
    throw new Error(`xml: unknown entity &${body}; in ${where}`);
  });
}

/** Parses a document; throws with a position on any well-formedness error. */
export function parseXml(source: string): XmlElement {
  let i = 0;
  const fail = (msg: string): never => {
    const line = source.slice(0, i).split("\n").length;
    throw new Error(`xml: ${msg} at line ${line} (offset ${i})`);
  };
  if (source.startsWith("<?xml")) {
    const end = source.indexOf("?>");
    if (end < 0) fail("unterminated XML declaration");
    i = end + 2;
  }
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  while (i < source.length) {
    const lt = source.indexOf("<", i);
    const textEnd = lt < 0 ? source.length : lt;
    const text = source.slice(i, textEnd);
    if (text.length > 0) {
      if (stack.length === 0) {
        if (text.trim().length > 0) fail("text outside the root element");
      } else {
        stack[stack.length - 1].text += decodeText(text, `text of <${stack[stack.length - 1].name}>`);
      }
    }
    if (lt < 0) break;
    i = lt;
    if (source.startsWith("<!--", i)) {
      const end = source.indexOf("-->", i + 4);
      if (end < 0) fail("unterminated comment");
      if (source.slice(i + 4, end).includes("--")) fail("'--' inside a comment");
      i = end + 3;
      continue;
    }
    if (source.startsWith("</", i)) {
      const m = NAME.exec(source.slice(i + 2));
      if (!m) fail("bad closing tag");
      const name = m![0];
      i += 2 + name.length;
      while (/\s/.test(source[i] ?? "")) i++;
      if (source[i] !== ">") fail(`closing tag </${name}> not terminated`);
      i++;
      const open = stack.pop();
      if (!open) fail(`closing tag </${name}> without an open element`);
      if (open!.name !== name) fail(`closing tag </${name}> does not match <${open!.name}>`);
      continue;
    }
    if (source[i + 1] === "!" || source[i + 1] === "?") fail("unsupported markup declaration");
    const m = NAME.exec(source.slice(i + 1));
    if (!m) fail("bad tag name");
    const el: XmlElement = { name: m![0], attrs: {}, children: [], text: "" };
    i += 1 + el.name.length;
    for (;;) {
      const ws = /^\s*/.exec(source.slice(i))![0];
      i += ws.length;
      if (source.startsWith("/>", i)) {
        i += 2;
        attach(el, true);
        break;
      }
      if (source[i] === ">") {
        i++;
        attach(el, false);
        break;
      }
      if (ws.length === 0) fail(`attributes of <${el.name}> not separated by white space`);
      const an = NAME.exec(source.slice(i));
      if (!an) fail(`bad attribute in <${el.name}>`);
      const attr = an![0];
      i += attr.length;
      if (source[i] !== "=") fail(`attribute ${attr} of <${el.name}> without '='`);
      i++;
      const quote = source[i];
      if (quote !== '"' && quote !== "'") fail(`attribute ${attr} of <${el.name}> not quoted`);
      const end = source.indexOf(quote, i + 1);
      if (end < 0) fail(`attribute ${attr} of <${el.name}> not terminated`);
      if (attr in el.attrs) fail(`duplicate attribute ${attr} in <${el.name}>`);
      el.attrs[attr] = decodeText(source.slice(i + 1, end), `attribute ${attr} of <${el.name}>`);
      i = end + 1;
    }
  }
  if (stack.length > 0) fail(`<${stack[stack.length - 1].name}> not closed`);
  if (!root) fail("no root element");
  return root!;

  function attach(el: XmlElement, selfClosing: boolean): void {
    if (stack.length === 0) {
      if (root) fail("a second root element");
      root = el;
    } else {
      stack[stack.length - 1].children.push(el);
    }
    if (!selfClosing) stack.push(el);
  }
}

/** Every element of the tree (depth first, document order), including the root. */
export function allElements(root: XmlElement): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    out.push(e);
    for (const c of e.children) walk(c);
  };
  walk(root);
  return out;
}

/** Elements whose `class` attribute contains `cls` (space-separated classes). */
export function byClass(root: XmlElement, cls: string): XmlElement[] {
  return allElements(root).filter((e) => (e.attrs.class ?? "").split(/\s+/).includes(cls));
}

/** Elements with the given tag name. */
export function byName(root: XmlElement, name: string): XmlElement[] {
  return allElements(root).filter((e) => e.name === name);
}

/** All text of an element and its descendants. */
export function textOf(e: XmlElement): string {
  return e.text + e.children.map(textOf).join("");
}

/**
 * Parses a drawing and checks what every convkit SVG must have: the svg root with xmlns, positive
 * width/height equal to the viewBox size, a non-empty <title> and <desc> first, referenced ids defined.
 */
export function parseSvg(svg: string): XmlElement {
  const root = parseXml(svg);
  if (root.name !== "svg") throw new Error(`svg: root is <${root.name}>`);
  if (root.attrs.xmlns !== "http://www.w3.org/2000/svg") throw new Error("svg: missing xmlns");
  const w = Number(root.attrs.width);
  const h = Number(root.attrs.height);
  const vb = (root.attrs.viewBox ?? "").split(" ").map(Number);
  if (!(w > 0 && h > 0) || vb.length !== 4 || vb[2] !== w || vb[3] !== h) {
    throw new Error(`svg: width/height ${w}x${h} do not match viewBox "${root.attrs.viewBox}"`);
  }
  const [title, desc] = root.children;
  if (title?.name !== "title" || title.text.trim() === "")
    throw new Error("svg: first child must be <title>");
  if (desc?.name !== "desc" || desc.text.trim() === "") throw new Error("svg: second child must be <desc>");
  const ids = new Set(allElements(root).flatMap((e) => (e.attrs.id ? [e.attrs.id] : [])));
  for (const e of allElements(root)) {
    for (const [k, v] of Object.entries(e.attrs)) {
      for (const ref of v.matchAll(/url\(#([^)]+)\)/g)) {
        if (!ids.has(ref[1])) throw new Error(`svg: ${k}="${v}" refers to an undefined id`);
      }
      if (k === "href" && v.startsWith("#") && !ids.has(v.slice(1))) {
        throw new Error(`svg: href="${v}" refers to an undefined id`);
      }
    }
  }
  return root;
}

/**
 * The structure of a drawing for golden comparisons: element names and attributes in document order, with
 * numbers rounded to one decimal so that a re-rounding does not fail a test, and text content trimmed.
 */
export function structure(root: XmlElement): unknown {
  const norm = (v: string) =>
    v.replace(/-?\d+\.\d+/g, (n) => {
      const r = Math.round(Number(n) * 10) / 10;
      return Object.is(r, -0) ? "0" : String(r);
    });
  const walk = (e: XmlElement): unknown => ({
    name: e.name,
    attrs: Object.fromEntries(Object.entries(e.attrs).map(([k, v]) => [k, norm(v)])),
    text: e.text.trim(),
    children: e.children.map(walk),
  });
  return walk(root);
}
