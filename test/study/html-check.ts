/**
 * Checks for the study's index.html used by the tests: well-formed markup (every element closed in order,
 * attributes quoted, no stray `&` or `<`), and self-contained (no script, no external stylesheet or image, no
 * http(s) address in a src/href attribute or a CSS url()).
 */

const VOID = new Set(["meta", "br", "hr", "img", "link", "input", "col", "source", "wbr"]);

/** Problems found in `html` as XML-like markup (empty when well-formed). */
export function wellFormedProblems(html: string): string[] {
  const problems: string[] = [];
  const text = html.replace(/^<!DOCTYPE html>\s*/i, "").replace(/<!--[\s\S]*?-->/g, "");
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>/y;
  let i = 0;
  while (i < text.length) {
    const lt = text.indexOf("<", i);
    const chunk = text.slice(i, lt < 0 ? text.length : lt);
    const amp = /&(?!(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);)/.exec(chunk);
    if (amp) problems.push(`unescaped & near ${JSON.stringify(chunk.slice(amp.index, amp.index + 20))}`);
    if (chunk.includes(">") && stack[stack.length - 1] !== "style")
      problems.push(`stray > near ${JSON.stringify(chunk.slice(0, 40))}`);
    if (lt < 0) break;
    if (stack[stack.length - 1] === "style") {
      const end = text.indexOf("</style>", lt);
      if (end < 0) {
        problems.push("unclosed <style>");
        break;
      }
      stack.pop();
      i = end + "</style>".length;
      continue;
    }
    tag.lastIndex = lt;
    const m = tag.exec(text);
    if (m === null) {
      problems.push(`malformed tag near ${JSON.stringify(text.slice(lt, lt + 60))}`);
      i = lt + 1;
      continue;
    }
    const [, close, name, , self] = m;
    const lower = name.toLowerCase();
    if (close) {
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> closes <${open ?? "nothing"}>`);
    } else if (!self && !VOID.has(lower)) {
      stack.push(name);
    } else if (!self && VOID.has(lower)) {
      problems.push(`void element <${name}> not self-closed`);
    }
    i = tag.lastIndex;
  }
  if (stack.length > 0) problems.push(`unclosed: ${stack.join(" > ")}`);
  return problems;
}

/** Reasons the page would need the network or a script (empty when self-contained). */
export function externalReferences(html: string): string[] {
  const out: string[] = [];
  for (const m of html.matchAll(/\s(src|href|xlink:href|action|data)="([^"]*)"/g)) {
    if (/^\s*(https?:)?\/\//i.test(m[2])) out.push(`${m[1]}="${m[2]}"`);
  }
  for (const m of html.matchAll(/url\(\s*['"]?\s*((?:https?:)?\/\/[^)'"]*)/gi)) out.push(`url(${m[1]})`);
  if (/<script\b/i.test(html)) out.push("<script>");
  if (/<link\b/i.test(html)) out.push("<link>");
  if (/@import/i.test(html)) out.push("@import");
  if (/<iframe\b|<object\b|<embed\b/i.test(html)) out.push("embedded document");
  return out;
}
