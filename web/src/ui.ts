/**
 * Small DOM helpers for the pages: elements, labelled controls, drawings, number lists, sortable tables, file
 * drop zones and downloads. Plain DOM, no framework: every control is a native input, select or button, so it
 * is keyboard-usable and labelled by construction.
 */

export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, unknown>;

function append(parent: Node, child: Child): void {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const c of child) append(parent, c);
    return;
  }
  parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
}

/** `h("p", {class: "note"}, "text", child)`: an element with attributes, event handlers (onclick...) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      e.addEventListener(key.slice(2), value as EventListener);
    } else if (key === "value" || key === "checked" || key === "selected") {
      (e as unknown as Record<string, unknown>)[key] = value;
    } else {
      e.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const c of children) append(e, c);
  return e;
}

/** Replaces an element's children. */
export function fill(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  for (const c of children) append(parent, c);
}

let ids = 0;
/** A unique element id with a readable prefix. */
export function uid(prefix: string): string {
  ids += 1;
  return `${prefix}-${ids}`;
}

export interface NumberFieldOptions {
  label: string;
  value: number;
  min?: number;
  max?: number;
  step?: number;
  /** Name used by tests and by the page state (data-field). */
  name: string;
  hint?: string;
  onChange: (value: number) => void;
}

/** A labelled number input; calls onChange with each valid integer/number typed or stepped. */
export function numberField(o: NumberFieldOptions): { root: HTMLElement; input: HTMLInputElement } {
  const id = uid(o.name);
  const hintId = o.hint ? `${id}-hint` : undefined;
  const input = h("input", {
    id,
    type: "number",
    inputmode: "numeric",
    value: String(o.value),
    min: o.min,
    max: o.max,
    step: o.step ?? 1,
    "data-field": o.name,
    "aria-describedby": hintId,
    oninput: () => {
      const v = input.valueAsNumber;
      if (Number.isFinite(v)) o.onChange(v);
    },
  });
  const root = h(
    "div",
    { class: "field" },
    h("label", { for: id }, o.label),
    input,
    o.hint ? h("span", { class: "hint", id: hintId }, o.hint) : null,
  );
  return { root, input };
}

export interface SelectFieldOptions<T extends string> {
  label: string;
  name: string;
  value: T;
  options: readonly (readonly [T, string])[];
  onChange: (value: T) => void;
}

export function selectField<T extends string>(
  o: SelectFieldOptions<T>,
): { root: HTMLElement; select: HTMLSelectElement } {
  const id = uid(o.name);
  const select = h(
    "select",
    { id, "data-field": o.name, onchange: () => o.onChange(select.value as T) },
    o.options.map(([value, text]) => h("option", { value, selected: value === o.value }, text)),
  );
  select.value = o.value;
  return { root: h("div", { class: "field" }, h("label", { for: id }, o.label), select), select };
}

export function checkField(o: {
  label: string;
  name: string;
  checked: boolean;
  onChange: (checked: boolean) => void;
}): { root: HTMLElement; input: HTMLInputElement } {
  const id = uid(o.name);
  const input = h("input", {
    id,
    type: "checkbox",
    checked: o.checked,
    "data-field": o.name,
    onchange: () => o.onChange(input.checked),
  });
  return { root: h("div", { class: "field check" }, input, h("label", { for: id }, o.label)), input };
}

export function textField(o: {
  label: string;
  name: string;
  value: string;
  placeholder?: string;
  onChange: (value: string) => void;
}): { root: HTMLElement; input: HTMLInputElement } {
  const id = uid(o.name);
  const input = h("input", {
    id,
    type: "text",
    value: o.value,
    placeholder: o.placeholder,
    spellcheck: "false",
    "data-field": o.name,
    onchange: () => o.onChange(input.value),
  });
  return { root: h("div", { class: "field wide" }, h("label", { for: id }, o.label), input), input };
}

/**
 * A drawing from src/draw (a standalone SVG string the library built and escaped) placed in the page. The SVG
 * carries its own <title> and <desc>, which screen readers announce.
 */
export function drawing(svg: string, name: string): HTMLElement {
  const box = h("figure", { class: "drawing", "data-drawing": name });
  box.innerHTML = svg;
  return box;
}

export interface NumberItem {
  key: string;
  label: string;
  text: string;
  /** The exact value, for tests and copy-paste (data-value). */
  value?: number | string;
}

/** The live numbers of a panel as a description list; each value has data-k and data-value. */
export function numberList(items: readonly NumberItem[], label: string): HTMLElement {
  return h(
    "dl",
    { class: "numbers", "aria-label": label },
    items.map((it) =>
      h(
        "div",
        { class: "number" },
        h("dt", null, it.label),
        h(
          "dd",
          { "data-k": it.key, "data-value": it.value === undefined ? it.text : String(it.value) },
          it.text,
        ),
      ),
    ),
  );
}

export interface Column<R> {
  key: string;
  label: string;
  numeric?: boolean;
  /** Sort key (default: the value itself). */
  value: (row: R) => number | string;
  /** Cell text (default: String(value)). */
  text?: (row: R) => string;
}

/**
 * A table whose column headers are buttons that sort it (ascending, then descending); aria-sort says how it is
 * sorted. Rows keep their data-i (index in `rows`).
 */
export function sortableTable<R>(o: {
  caption: string;
  columns: readonly Column<R>[];
  rows: readonly R[];
  name: string;
  maxRows?: number;
}): HTMLElement {
  let sortKey: string | null = null;
  let ascending = true;
  const tbody = h("tbody");
  const headers = o.columns.map((c) => {
    const button = h("button", { type: "button", class: "sort", "data-sort": c.key }, c.label);
    const th = h("th", { scope: "col", class: c.numeric ? "num" : undefined }, button);
    button.addEventListener("click", () => {
      ascending = sortKey === c.key ? !ascending : !c.numeric;
      sortKey = c.key;
      render();
    });
    return th;
  });
  const render = () => {
    const order = o.rows.map((_, i) => i);
    const column = o.columns.find((c) => c.key === sortKey);
    if (column) {
      order.sort((a, b) => {
        const x = column.value(o.rows[a]);
        const y = column.value(o.rows[b]);
        const cmp =
          typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return (ascending ? cmp : -cmp) || a - b;
      });
    }
    headers.forEach((th, i) => {
      const key = o.columns[i].key;
      if (key === sortKey) th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
    const shown = o.maxRows === undefined ? order : order.slice(0, o.maxRows);
    fill(
      tbody,
      shown.map((i) =>
        h(
          "tr",
          { "data-i": i },
          o.columns.map((c) =>
            h(
              "td",
              { class: c.numeric ? "num" : undefined, "data-c": c.key },
              c.text ? c.text(o.rows[i]) : String(c.value(o.rows[i])),
            ),
          ),
        ),
      ),
    );
  };
  render();
  const more =
    o.maxRows !== undefined && o.rows.length > o.maxRows
      ? h("p", { class: "note" }, `Showing ${o.maxRows} of ${o.rows.length} rows (sort to see others first).`)
      : null;
  return h(
    "div",
    { class: "table-wrap", tabindex: 0, role: "region", "aria-label": o.caption },
    h(
      "table",
      { class: "data", "data-table": o.name },
      h("caption", null, o.caption),
      h("thead", null, h("tr", null, headers)),
      tbody,
    ),
    more,
  );
}

/** A plain table (no sorting). */
export function simpleTable(
  caption: string,
  head: readonly string[],
  rows: readonly (readonly Child[])[],
  name: string,
): HTMLElement {
  return h(
    "div",
    { class: "table-wrap", tabindex: 0, role: "region", "aria-label": caption },
    h(
      "table",
      { class: "data", "data-table": name },
      h("caption", null, caption),
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          head.map((t) => h("th", { scope: "col" }, t)),
        ),
      ),
      h(
        "tbody",
        null,
        rows.map((r) =>
          h(
            "tr",
            null,
            r.map((c) => h("td", null, c)),
          ),
        ),
      ),
    ),
  );
}

/**
 * A drop zone with a file button inside: drop a file on it or press the button (keyboard) to pick one.
 */
export function fileDrop(o: {
  label: string;
  accept: string;
  name: string;
  onFile: (file: File) => void;
}): HTMLElement {
  const id = uid(o.name);
  const input = h("input", {
    id,
    type: "file",
    accept: o.accept,
    class: "file-input",
    "data-field": o.name,
    onchange: () => {
      const f = input.files?.[0];
      if (f) o.onFile(f);
      input.value = "";
    },
  });
  const zone = h(
    "div",
    { class: "drop", "data-drop": o.name },
    h("label", { for: id, class: "button" }, o.label),
    input,
    h("span", { class: "hint" }, "or drop a file here"),
  );
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const f = e.dataTransfer?.files?.[0];
    if (f) o.onFile(f);
  });
  return zone;
}

/** Saves bytes or text as a file (a blob: URL, revoked afterwards). */
export function download(filename: string, data: Uint8Array | string, mime: string): void {
  const part: BlobPart = typeof data === "string" ? data : (data.slice().buffer as ArrayBuffer);
  const url = URL.createObjectURL(new Blob([part], { type: mime }));
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A message box: role=alert for errors, status for notes. */
export function message(kind: "error" | "note" | "ok", text: string): HTMLElement {
  return h("p", { class: `msg ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** The error's message (library errors are one line naming op, argument, expected and got). */
export { errorMessage as errorText } from "../../src/tensor/errors.js";

/**
 * A frame that scrolls sideways around a wide drawing (a layered diagram), starting at its middle, where a
 * diagram's trunk runs, rather than at its left edge.
 */
export function scrollFrame(child: HTMLElement): HTMLElement {
  const frame = h("div", { class: "scroll-x" }, child);
  requestAnimationFrame(() => {
    frame.scrollLeft = Math.max(0, (frame.scrollWidth - frame.clientWidth) / 2);
  });
  return frame;
}

/** A section with a heading. */
export function section(title: string, ...children: Child[]): HTMLElement {
  const id = uid("sec");
  return h("section", { class: "panel", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

/** Reads a page parameter from the hash ("#/bench?auto=1"). */
export function hashParam(name: string): string | null {
  const q = location.hash.indexOf("?");
  if (q < 0) return null;
  return new URLSearchParams(location.hash.slice(q + 1)).get(name);
}
