// Dashboards: a grid of graphs sharing one time range, with synchronised cursors, kept in the
// URL (`?d=` holds the dashboard as JSON) and exported or imported as a JSON file.
import type uPlot from "uplot";
import { href } from "../base.ts";
import { drawChart, PALETTE } from "../chart.ts";
import { loadView } from "../data.ts";
import { download, h } from "../dom.ts";
import { navigate, type Cleanup } from "../router.ts";
import { defaultGraphState, serializeGraphState } from "../state.ts";
import { PRESETS, describeRange } from "../time.ts";
import { parseDashboard, serializeDashboard, type Dashboard } from "../dashboard-state.ts";

export function renderDashboard(main: HTMLElement, search: string): Cleanup {
  const dashboard = parseDashboard(search);
  const plots: uPlot[] = [];
  const controller = new AbortController();
  const go = (next: Dashboard) => navigate(href("dashboard", serializeDashboard(next)));

  const title = h("input", { type: "text", "aria-label": "Dashboard title", value: dashboard.title, class: "title-input" });
  title.addEventListener("change", () => go({ ...dashboard, title: title.value.trim() }));
  const preset = h(
    "select",
    { "aria-label": "Time range" },
    ...PRESETS.map((one) => h("option", { value: one.from, selected: dashboard.until === "now" && one.from === dashboard.from }, `Last ${one.label}`)),
  );
  preset.addEventListener("change", () => go({ ...dashboard, from: preset.value, until: "now" }));
  const newTargets = h("input", { type: "text", class: "target-input", "aria-label": "Targets of a new graph (separate with ;;)", placeholder: "targets of a new graph, separated by ;;" });
  const add = h("button", { type: "button" }, "Add graph");
  add.addEventListener("click", () => {
    const targets = newTargets.value.split(";;").map((one) => one.trim()).filter(Boolean);
    if (targets.length) go({ ...dashboard, graphs: [...dashboard.graphs, { title: "", targets }] });
  });
  const exportButton = h("button", { type: "button" }, "Export JSON");
  exportButton.addEventListener("click", () =>
    download(`${dashboard.title || "dashboard"}.json`, JSON.stringify(dashboard, null, 2), "application/json"),
  );
  const importInput = h("input", { type: "file", accept: "application/json,.json", "aria-label": "Import a dashboard JSON file" });
  const status = h("p", { class: "muted", role: "status" });
  importInput.addEventListener("change", async () => {
    const file = importInput.files?.[0];
    if (!file) return;
    try {
      const imported = parseDashboard(new URLSearchParams({ d: await file.text() }).toString(), true);
      go(imported);
    } catch (error) {
      status.textContent = `Cannot import: ${(error as Error).message}`;
    }
  });

  const grid = h("div", { class: "dashboard-grid", id: "dashboard-grid" });
  main.append(
    h("h1", { class: "visually-hidden" }, "Dashboard"),
    h("div", { class: "toolbar" }, title, preset, h("span", { class: "muted" }, describeRange(dashboard.from, dashboard.until))),
    h("div", { class: "toolbar" }, newTargets, add, exportButton, h("label", { class: "inline" }, "Import ", importInput)),
    status,
    grid,
  );
  if (dashboard.graphs.length === 0) status.textContent = "No graphs yet: add one with its targets, or import a dashboard.";

  dashboard.graphs.forEach((graph, index) => {
    const box = h("div", { class: "chart" });
    const remove = h("button", { type: "button", class: "icon", "aria-label": `Remove graph ${index + 1}` }, "×");
    remove.addEventListener("click", () => go({ ...dashboard, graphs: dashboard.graphs.filter((_, i) => i !== index) }));
    const open = h(
      "a",
      { href: href("graph", serializeGraphState({ ...defaultGraphState(), targets: graph.targets, from: dashboard.from, until: dashboard.until })), "data-nav": true },
      graph.title || graph.targets.join(", "),
    );
    const note = h("p", { class: "muted" });
    grid.append(h("section", { class: "panel dashboard-cell" }, h("div", { class: "row" }, h("h2", {}, open), h("span", { class: "spacer" }), remove), box, note));
    loadView(graph.targets, "", dashboard.from, dashboard.until, 600, controller.signal)
      .then((view) => {
        if (view.errors.length) note.textContent = view.errors.map((error) => error.message).join("; ");
        plots.push(
          drawChart(box, {
            times: view.aligned.times,
            series: view.drawn.map((one, i) => ({ label: one.name, values: view.aligned.values[i] ?? [], color: PALETTE[i % PALETTE.length]!, hidden: false, right: false })),
            sequential: false,
            events: [],
            height: 220,
            syncKey: "dashboard",
          }),
        );
        box.dataset.series = String(view.drawn.length);
      })
      .catch((error: unknown) => {
        if ((error as Error).name !== "AbortError") note.textContent = `Cannot draw: ${(error as Error).message}`;
      });
  });
  return () => {
    controller.abort();
    for (const plot of plots) plot.destroy();
  };
}
