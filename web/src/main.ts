import "./style.css";
import { describeStatus, jobsEngine } from "./engine.js";
import { renderBench } from "./pages/bench.js";
import { renderModel } from "./pages/model.js";
import { renderModes } from "./pages/modes.js";
import { renderReport } from "./pages/report.js";
import { renderRewrite } from "./pages/rewrite.js";
import { renderTrain } from "./pages/train.js";
import { errorText, fill, h } from "./ui.js";

/**
 * The page shell: a hash router over the six pages (#/modes/<mode>, #/model, #/rewrite, #/train, #/report,
 * #/bench) and the engine status line. Each page renders into <main> and may return a cleanup function (stop
 * animations, workers) that runs when another page is opened.
 */

export type Cleanup = () => void;
export type Page = (main: HTMLElement, route: string[]) => Cleanup | undefined;

const PAGES: Record<string, { title: string; render: Page }> = {
  modes: { title: "Convolution modes", render: renderModes },
  model: { title: "Model", render: renderModel },
  rewrite: { title: "Rewrite", render: renderRewrite },
  train: { title: "Train", render: renderTrain },
  report: { title: "Study report", render: renderReport },
  bench: { title: "Benchmark", render: renderBench },
};

let cleanup: Cleanup | undefined;
let first = true;
let current = "";

function route(): void {
  const raw = location.hash.replace(/^#\/?/, "").split("?")[0];
  const parts = raw.split("/").filter((p) => p !== "");
  // Own keys only: a hash such as #/constructor or #/__proto__ must not find Object.prototype members.
  const name = parts[0] && Object.hasOwn(PAGES, parts[0]) ? parts[0] : "modes";
  const key = [name, ...parts.slice(1)].join("/");
  if (key === current) return;
  current = key;
  const main = document.getElementById("main")!;
  document.querySelectorAll<HTMLAnchorElement>("#nav a").forEach((a) => {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
  document.title = `${PAGES[name].title} · convkit`;
  if (main.dataset.page === name && name === "modes") {
    // Switching modes keeps the page; the modes page listens for the change itself.
    window.dispatchEvent(new CustomEvent("convkit:mode", { detail: parts[1] ?? "" }));
    return;
  }
  cleanup?.();
  cleanup = undefined;
  main.dataset.page = name;
  fill(main);
  try {
    cleanup = PAGES[name].render(main, parts.slice(1));
  } catch (e) {
    fill(main, h("p", { class: "msg error", role: "alert" }, `This page failed to open: ${errorText(e)}`));
  }
  // Moving to another page puts the focus at its start (not on the first load: Tab then starts at the skip link).
  if (!first) main.focus({ preventScroll: true });
  first = false;
}

function startEngine(): void {
  const line = document.getElementById("engine")!;
  const { status } = jobsEngine();
  status
    .then((s) => {
      line.textContent = describeStatus(s);
      line.dataset.threads = String(s.threads.active);
      line.dataset.backend = s.backend;
      line.dataset.isolated = String(s.crossOriginIsolated);
    })
    .catch((e) => {
      line.textContent = `The engine could not start: ${errorText(e)}`;
      line.classList.add("error");
    });
}

// The skip link moves focus without touching the hash, which the router owns.
document.querySelector<HTMLAnchorElement>("a.skip")?.addEventListener("click", (e) => {
  e.preventDefault();
  document.getElementById("main")?.focus();
});
window.addEventListener("hashchange", route);
route();
startEngine();
