import { type FigureInput, renderHtml } from "../../../src/study/html.js";
import { STUDY_FORMAT, STUDY_VERSION, type StudyReport } from "../../../src/study/types.js";
import type { Cleanup } from "../main.js";
import { errorText, fileDrop, fill, h, message, uid } from "../ui.js";

/**
 * The Report page: open a `convkit study` report.json (or the whole study folder, to get each variant's drawing
 * too) and read it. The page is the study's own report (src/study/html.ts renders it from the JSON), shown in a
 * shadow root so that its styles stay its own.
 */

/** Checks the file is a study report this page can show (format tag, version, the arrays it reads). */
export function checkReport(data: unknown, source: string): StudyReport {
  const r = data as Partial<StudyReport> | null;
  if (typeof r !== "object" || r === null || r.format !== STUDY_FORMAT) {
    throw new Error(`${source}: not a convkit study report (expected "format": "${STUDY_FORMAT}")`);
  }
  if (r.version !== STUDY_VERSION) {
    throw new Error(
      `${source}: report version ${String(r.version)}; this page reads version ${STUDY_VERSION}`,
    );
  }
  for (const key of ["variants", "rules", "claims", "pending", "pareto"] as const) {
    if (!Array.isArray(r[key])) throw new Error(`${source}: "${key}" is missing or not a list`);
  }
  return r as StudyReport;
}

const DANGEROUS = "script, foreignObject, iframe, object, embed, link, meta, base";

/** Removes anything active from markup read from files (scripts, handlers, javascript: links). */
function sanitize(root: ParentNode): void {
  root.querySelectorAll(DANGEROUS).forEach((e) => {
    e.remove();
  });
  root.querySelectorAll("*").forEach((e) => {
    for (const a of Array.from(e.attributes)) {
      const name = a.name.toLowerCase();
      if (name.startsWith("on")) e.removeAttribute(a.name);
      else if (
        (name === "href" || name === "xlink:href" || name === "src") &&
        /^\s*javascript:/i.test(a.value)
      ) {
        e.removeAttribute(a.name);
      }
    }
  });
}

/** Shows the report's HTML in a shadow root; in-page links scroll there, links to the study's files are shown as text. */
function show(host: HTMLElement, html: string): void {
  const doc = new DOMParser().parseFromString(html, "text/html");
  sanitize(doc);
  const style = doc.querySelector("style")?.textContent ?? "";
  const body = doc.querySelector("main") ?? doc.body;
  const shadow = host.shadowRoot ?? host.attachShadow({ mode: "open" });
  // The report's CSS styles `body`; inside the shadow root the wrapper stands in for it.
  shadow.innerHTML = `<style>${style.replace(/(^|[}\s,])body(?=[\s{,])/g, "$1.report-body")}\n:host{display:block}</style><div class="report-body">${body.outerHTML}</div>`;
  shadow.querySelectorAll<HTMLAnchorElement>("a[href]").forEach((a) => {
    const href = a.getAttribute("href") ?? "";
    if (href.startsWith("#")) {
      a.addEventListener("click", (e) => {
        e.preventDefault();
        const target = shadow.getElementById(decodeURIComponent(href.slice(1)));
        target?.scrollIntoView({ block: "start" });
        if (target) {
          target.setAttribute("tabindex", "-1");
          target.focus({ preventScroll: true });
        }
      });
    } else {
      const span = document.createElement("span");
      span.className = "file-ref";
      span.title = `${href} (in the study folder)`;
      span.textContent = a.textContent;
      a.replaceWith(span);
    }
  });
}

export function renderReport(main: HTMLElement): Cleanup | undefined {
  const status = h("div", { class: "status-box", "aria-live": "polite" });
  const host = h("div", { class: "report-host", "data-report": "" });

  const open = async (reportFile: File, others: Map<string, File>) => {
    fill(status, message("note", `Reading ${reportFile.name}…`));
    try {
      const report = checkReport(JSON.parse(await reportFile.text()), reportFile.name);
      const figures = new Map<string, FigureInput>();
      for (const v of report.variants) {
        if (v.drawing === null || v.drawing === undefined) continue;
        const svg = others.get(v.drawing);
        if (!svg) continue;
        const metaFile = others.get(v.drawing.replace(/drawing\.svg$/, "drawing.json"));
        let caption = "";
        if (metaFile) {
          try {
            caption = String((JSON.parse(await metaFile.text()) as { caption?: unknown }).caption ?? "");
          } catch {
            caption = "";
          }
        }
        figures.set(v.id, { svg: await svg.text(), caption });
      }
      show(host, renderHtml(report, figures));
      host.dataset.report = report.baseline.name;
      const drawings = report.variants.filter((v) => v.drawing).length;
      fill(
        status,
        message(
          "ok",
          `${reportFile.name}: study of ${report.baseline.name}, ${report.variants.length} variants, ${report.status}.${drawings > figures.size ? ` Open the study folder to see the ${drawings} drawings too.` : ""}`,
        ),
      );
    } catch (e) {
      fill(status, message("error", errorText(e)));
    }
  };

  const folderId = uid("study-folder");
  const folder = h("input", {
    id: folderId,
    type: "file",
    class: "file-input",
    webkitdirectory: true,
    multiple: true,
    "data-field": "study-folder",
    onchange: () => {
      const files = Array.from(folder.files ?? []);
      const byPath = new Map<string, File>();
      let report: File | null = null;
      for (const f of files) {
        // webkitRelativePath is "<folder>/variants/x/drawing.svg": keys are relative to the study folder.
        const rel = (f.webkitRelativePath || f.name).split("/").slice(1).join("/") || f.name;
        byPath.set(rel, f);
        if (rel === "report.json") report = f;
      }
      if (report === null)
        fill(
          status,
          message("error", "That folder has no report.json at its top: pick the folder convkit study wrote."),
        );
      else void open(report, byPath);
      folder.value = "";
    },
  });

  fill(
    main,
    h("h1", null, "Study report"),
    h(
      "p",
      { class: "intro" },
      "Open the report.json that ",
      h("code", null, "convkit study"),
      " wrote (or its whole folder, for the drawings as well): the claims of the article measured, every variant's cost, accuracy and training curves. Nothing leaves your browser.",
    ),
    h(
      "div",
      { class: "controls-row" },
      fileDrop({
        label: "Open report.json…",
        accept: ".json,application/json",
        name: "report",
        onFile: (f) => void open(f, new Map()),
      }),
      h(
        "div",
        { class: "drop" },
        h("label", { for: folderId, class: "button secondary" }, "Open a study folder…"),
        folder,
      ),
    ),
    status,
    host,
  );
  return undefined;
}
