// The dashboard's form to add a graph: a title, one target editor per expression (the Graph
// page's editor, with autocomplete of metric paths and functions), and a preview drawn over the
// dashboard's range before the graph is added, with each target's parse error at its position.
import type uPlot from "uplot";
import { drawChart, PALETTE } from "../chart.ts";
import { loadView } from "../data.ts";
import type { DashboardGraph } from "../dashboard-state.ts";
import { h } from "../dom.ts";
import { targetInput } from "../editor.ts";
import { targetErrorAlerts } from "../target-errors.ts";

export interface NewGraphFormOptions {
  /** The dashboard's shared range, which the preview draws. */
  from: string;
  until: string;
  /** Another user's dashboard: the form is shown but cannot be used. */
  readOnly: boolean;
  /** Aborts the preview's requests when the page is left. */
  signal: AbortSignal;
  onAdd: (graph: DashboardGraph) => void;
}

export interface NewGraphForm {
  element: HTMLElement;
  /** Destroys the preview's chart (the page calls it when it is left). */
  destroy: () => void;
}

/** Preview charts are as tall as the dashboard's cells, so what is previewed is what is added. */
const PREVIEW_HEIGHT = 220;

export function newGraphForm(options: NewGraphFormOptions): NewGraphForm {
  const { readOnly } = options;
  let preview: uPlot | null = null;
  let previewRequest = 0;

  const title = h("input", {
    type: "text",
    id: "new-graph-title",
    "aria-label": "Title of the new graph",
    placeholder: "title (the targets when empty)",
    disabled: readOnly,
  });
  const editors: (HTMLElement & { input: HTMLInputElement })[] = [];
  const targetList = h("ol", { class: "targets", id: "new-graph-targets" });
  const errorsBox = h("div", { class: "target-errors", "aria-live": "polite" });
  const message = h("p", { class: "muted", role: "status", id: "new-graph-status" });
  const previewBox = h("div", { class: "chart", id: "graph-preview" });

  const targets = () => editors.map((one) => one.input.value.trim()).filter((one) => one !== "");

  function addEditor(value: string) {
    // Enter in an editor (with no suggestion open) previews, as it draws on the Graph page.
    const editor = targetInput(value, `Target ${editors.length + 1} of the new graph`, () => void showPreview());
    editor.input.disabled = readOnly;
    editors.push(editor);
    const remove = h("button", { type: "button", class: "icon", "aria-label": `Remove target ${editors.length} of the new graph`, disabled: readOnly }, "×");
    const item = h("li", {}, editor, remove);
    remove.addEventListener("click", () => {
      editors.splice(editors.indexOf(editor), 1);
      item.remove();
      if (editors.length === 0) addEditor("");
    });
    targetList.append(item);
    return editor;
  }
  addEditor("");

  function clearPreview() {
    preview?.destroy();
    preview = null;
    previewBox.replaceChildren();
    delete previewBox.dataset.series;
    delete previewBox.dataset.points;
    errorsBox.replaceChildren();
  }

  async function showPreview() {
    const wanted = targets();
    const mine = (previewRequest += 1);
    clearPreview();
    if (wanted.length === 0) {
      message.textContent = "Type at least one target to preview.";
      return;
    }
    message.textContent = "Loading the preview…";
    const width = Math.max(300, previewBox.clientWidth || 600);
    try {
      const view = await loadView(wanted, "", options.from, options.until, width, options.signal);
      // A newer preview (or none) was asked for meanwhile.
      if (mine !== previewRequest) return;
      errorsBox.replaceChildren(...targetErrorAlerts(view.errors));
      message.textContent = view.drawn.length === 0 && view.errors.length === 0 ? "No series match these targets in this range." : "";
      preview = drawChart(previewBox, {
        times: view.aligned.times,
        series: view.drawn.map((one, index) => ({
          label: one.name,
          values: view.aligned.values[index] ?? [],
          color: PALETTE[index % PALETTE.length]!,
          hidden: false,
          right: false,
        })),
        sequential: false,
        events: [],
        height: PREVIEW_HEIGHT,
      });
      previewBox.dataset.series = String(view.drawn.length);
      previewBox.dataset.points = String(view.aligned.times.length);
    } catch (error) {
      if ((error as Error).name === "AbortError" || mine !== previewRequest) return;
      message.textContent = `Cannot preview: ${(error as Error).message}`;
    }
  }

  const addTarget = h("button", { type: "button", disabled: readOnly }, "+ Target");
  addTarget.addEventListener("click", () => addEditor("").input.focus());
  const previewButton = h("button", { type: "button", id: "preview-graph", disabled: readOnly }, "Preview");
  previewButton.addEventListener("click", () => void showPreview());
  const add = h("button", { type: "button", class: "primary", id: "add-graph", disabled: readOnly }, "Add graph");
  add.addEventListener("click", () => {
    const wanted = targets();
    if (wanted.length === 0) {
      message.textContent = "Type at least one target to add a graph.";
      return;
    }
    options.onAdd({ title: title.value.trim(), targets: wanted });
  });

  const element = h(
    "section",
    { class: "panel new-graph", id: "new-graph", "aria-labelledby": "new-graph-heading" },
    h("h2", { id: "new-graph-heading" }, "Add a graph"),
    h("div", { class: "row" }, title),
    targetList,
    h("div", { class: "row" }, addTarget, previewButton, add),
    errorsBox,
    message,
    previewBox,
  );
  return {
    element,
    destroy: () => {
      previewRequest += 1;
      preview?.destroy();
    },
  };
}
