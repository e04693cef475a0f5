import type { GreyImage } from "../../../src/draw/deformable.js";
import { dataUrl, greyImage, loadSplit } from "../data.js";
import type { Cleanup } from "../main.js";
import { MODES, type Mode, type Values } from "../modes.js";
import { drawing, errorText, fill, h, message, numberField, numberList, selectField } from "../ui.js";

/**
 * The Modes page: every convolution mode of the article with its drawing, live controls and the analyzer's
 * numbers; the sampling modes animate the kernel sliding over the input (Play/Pause; still when the visitor
 * prefers reduced motion).
 */

const state = new Map<string, Values>();
const FRAME_MS = 700;

export function renderModes(main: HTMLElement, route: string[]): Cleanup {
  let mode: Mode = MODES.find((m) => m.id === route[0]) ?? MODES[0];
  let frame = 0;
  let timer: ReturnType<typeof setInterval> | null = null;
  let playing = !window.matchMedia?.("(prefers-reduced-motion: reduce)").matches;
  let test: Awaited<ReturnType<typeof loadSplit>> | null = null;

  const list = h(
    "ul",
    { class: "mode-list" },
    MODES.map((m) => h("li", null, h("a", { href: `#/modes/${m.id}`, "data-mode": m.id }, m.title))),
  );
  // On a narrow screen the list gives way to a select (CSS shows one or the other).
  const picker = selectField({
    label: "Convolution mode",
    name: "mode",
    value: mode.id,
    options: MODES.map((m) => [m.id, m.title] as [string, string]),
    onChange: (id) => {
      location.hash = `#/modes/${id}`;
    },
  });
  picker.root.classList.add("mode-picker");
  const side = h("nav", { class: "modes-nav", "aria-label": "Convolution modes" }, list, picker.root);
  const content = h("div", { class: "mode" });
  fill(main, h("div", { class: "modes-layout" }, side, content));

  const stop = () => {
    if (timer !== null) clearInterval(timer);
    timer = null;
  };

  const values = (): Values => {
    let v = state.get(mode.id);
    if (!v) {
      v = { ...mode.defaults };
      state.set(mode.id, v);
    }
    return v;
  };

  const image = (): GreyImage | null => {
    if (!mode.usesImage || test === null) return null;
    const i = Math.max(0, Math.min(test.shape[0] - 1, Math.floor(Number(values().image) || 0)));
    return greyImage(test, i);
  };

  const figure = h("div", { class: "figure-box", "aria-live": "off" });
  const numbers = h("div", { class: "numbers-box", "aria-live": "polite" });
  const status = h("div", { class: "status-box" });
  let lastNumbers = "";

  /** Draws the current frame; numbers are re-rendered only when they change (keeps screen readers calm). */
  const update = () => {
    try {
      const view = mode.view(values(), frame, image());
      fill(figure, view.svg ? drawing(view.svg, mode.id) : null);
      const key = JSON.stringify([view.numbers, view.note ?? ""]);
      if (key !== lastNumbers) {
        lastNumbers = key;
        fill(
          numbers,
          numberList(view.numbers, `${mode.title}: numbers`),
          view.note ? h("p", { class: "note" }, view.note) : null,
        );
      }
      fill(status);
      content.dataset.state = "ok";
    } catch (e) {
      lastNumbers = "";
      fill(numbers);
      fill(status, message("error", errorText(e)));
      content.dataset.state = "error";
    }
  };

  const playButton = h("button", {
    type: "button",
    class: "button",
    "aria-pressed": String(playing),
    "data-action": "play",
  });
  const setPlaying = (on: boolean) => {
    playing = on;
    playButton.textContent = on ? "Pause animation" : "Play animation";
    playButton.setAttribute("aria-pressed", String(on));
    stop();
    if (on && mode.frames) {
      timer = setInterval(() => {
        frame += 1;
        update();
      }, FRAME_MS);
    }
  };
  playButton.addEventListener("click", () => setPlaying(!playing));
  const stepButton = h(
    "button",
    {
      type: "button",
      class: "button secondary",
      "data-action": "step",
      onclick: () => {
        setPlaying(false);
        frame += 1;
        update();
      },
    },
    "Next position",
  );

  const show = () => {
    stop();
    frame = 0;
    lastNumbers = "";
    picker.select.value = mode.id;
    list.querySelectorAll("a").forEach((a) => {
      if (a.dataset.mode === mode.id) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
    const v = values();
    const controls = mode.controls.map((c) =>
      c.options
        ? selectField({
            label: c.label,
            name: c.name,
            value: String(v[c.name]),
            options: c.options,
            onChange: (x) => {
              v[c.name] = x;
              update();
            },
          }).root
        : numberField({
            label: c.label,
            name: c.name,
            value: Number(v[c.name]),
            min: c.min,
            max: c.max,
            step: c.step,
            hint: c.hint,
            onChange: (x) => {
              v[c.name] = x;
              if (c.name === "image") void ensureImages();
              update();
            },
          }).root,
    );
    const reset = h(
      "button",
      {
        type: "button",
        class: "button secondary",
        "data-action": "reset",
        onclick: () => {
          state.delete(mode.id);
          show();
        },
      },
      "Reset",
    );
    fill(
      content,
      h("h1", null, mode.title, " ", h("span", { class: "section-ref" }, `article ${mode.section}`)),
      h("p", { class: "intro" }, mode.intro),
      h(
        "div",
        { class: "mode-grid" },
        h(
          "form",
          {
            class: "controls",
            "aria-label": `${mode.title}: controls`,
            onsubmit: (e: Event) => e.preventDefault(),
          },
          h("fieldset", null, h("legend", null, "Controls"), controls),
          h("div", { class: "buttons" }, mode.frames ? [playButton, stepButton] : null, reset),
        ),
        h(
          "div",
          { class: "readout" },
          h("h2", { class: "small" }, "Live numbers (the analyzer's)"),
          numbers,
          status,
          figure,
        ),
      ),
    );
    content.dataset.mode = mode.id;
    update();
    if (mode.frames) setPlaying(playing);
    if (mode.usesImage) void ensureImages();
  };

  const ensureImages = async () => {
    if (test !== null) return;
    try {
      test = await loadSplit(dataUrl(), "test");
      update();
    } catch (e) {
      fill(status, message("error", errorText(e)));
    }
  };

  const onMode = (e: Event) => {
    const id = (e as CustomEvent<string>).detail;
    const next = MODES.find((m) => m.id === id) ?? MODES[0];
    if (next.id === mode.id) return;
    mode = next;
    show();
    content.querySelector("h1")?.setAttribute("tabindex", "-1");
    (content.querySelector("h1") as HTMLElement | null)?.focus();
  };
  window.addEventListener("convkit:mode", onMode);
  show();
  return () => {
    stop();
    window.removeEventListener("convkit:mode", onMode);
  };
}
