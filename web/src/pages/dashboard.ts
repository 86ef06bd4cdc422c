// Dashboards: a grid of graphs sharing one time range, with synchronised cursors, kept in the
// URL (`?d=` holds the dashboard as JSON) and exported or imported as a JSON file. A signed-in
// user saves one (`api/v1/dashboards`, the same JSON as the file); a saved one is
// `?id=<id>` (with `&d=` while it has unsaved changes). Only its owner saves, renames or
// deletes it; everyone else sees it read-only and may duplicate it into their own.
import type uPlot from "uplot";
import { href } from "../base.ts";
import { drawChart, PALETTE } from "../chart.ts";
import { loadView } from "../data.ts";
import { getJson, sendJson, type SavedDashboard } from "../api.ts";
import { download, h } from "../dom.ts";
import type { Session } from "../session.ts";
import { navigate, type Cleanup } from "../router.ts";
import { defaultGraphState, serializeGraphState } from "../state.ts";
import { PRESETS, describeRange } from "../time.ts";
import { parseDashboard, serializeDashboard, type Dashboard } from "../dashboard-state.ts";
import { newGraphForm } from "./dashboard-form.ts";

/** The dashboard document of a saved one (what its file holds). */
function documentOf(saved: SavedDashboard): Dashboard {
  return { title: saved.title, from: saved.from, until: saved.until, graphs: saved.graphs };
}

export function renderDashboard(main: HTMLElement, search: string, session: Session | null): Cleanup {
  const plots: uPlot[] = [];
  // What else the page must undo when it is left (the add-graph form's preview).
  const leaving: (() => void)[] = [];
  const controller = new AbortController();
  const params = new URLSearchParams(search);
  const id = params.get("id");
  if (id === null) {
    renderBoard(main, parseDashboard(search), null, session, plots, leaving, controller.signal);
  } else {
    getJson<SavedDashboard>(`api/v1/dashboards/${encodeURIComponent(id)}`, undefined, controller.signal)
      .then((saved) => {
        const dashboard = params.has("d") ? parseDashboard(search) : documentOf(saved);
        renderBoard(main, dashboard, saved, session, plots, leaving, controller.signal);
      })
      .catch((error: unknown) => {
        if ((error as Error).name === "AbortError") return;
        main.append(h("h1", {}, "Dashboard"), h("p", { role: "status" }, `Cannot open dashboard ${id}: ${(error as Error).message}`));
      });
  }
  return () => {
    controller.abort();
    for (const plot of plots) plot.destroy();
    for (const undo of leaving) undo();
  };
}

function renderBoard(
  main: HTMLElement,
  dashboard: Dashboard,
  saved: SavedDashboard | null,
  session: Session | null,
  plots: uPlot[],
  leaving: (() => void)[],
  signal: AbortSignal,
) {
  const mine = saved === null || saved.owner === session?.user;
  const edited = saved !== null && JSON.stringify(documentOf(saved)) !== JSON.stringify(dashboard);
  const go = (next: Dashboard) => {
    const query = new URLSearchParams(serializeDashboard(next));
    if (saved) query.set("id", String(saved.id));
    navigate(href("dashboard", query));
  };

  // Another user's dashboard is read-only: its editing controls are disabled.
  const readOnly = !mine;
  const title = h("input", { type: "text", "aria-label": "Dashboard title", value: dashboard.title, class: "title-input", disabled: readOnly });
  title.addEventListener("change", () => go({ ...dashboard, title: title.value.trim() }));
  const preset = h(
    "select",
    { "aria-label": "Time range" },
    ...PRESETS.map((one) => h("option", { value: one.from, selected: dashboard.until === "now" && one.from === dashboard.from }, `Last ${one.label}`)),
  );
  preset.addEventListener("change", () => go({ ...dashboard, from: preset.value, until: "now" }));
  const form = newGraphForm({
    from: dashboard.from,
    until: dashboard.until,
    readOnly,
    signal,
    onAdd: (graph) => go({ ...dashboard, graphs: [...dashboard.graphs, graph] }),
  });
  leaving.push(form.destroy);
  const exportButton = h("button", { type: "button" }, "Export JSON");
  exportButton.addEventListener("click", () =>
    download(`${dashboard.title || "dashboard"}.json`, JSON.stringify(dashboard, null, 2), "application/json"),
  );
  const importInput = h("input", { type: "file", accept: "application/json,.json", "aria-label": "Import a dashboard JSON file", disabled: readOnly });
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

  // Saving: the owner's Save (a new dashboard's first save gives it an id), Delete; anyone
  // signed in may duplicate a saved one into their own.
  const saveRow = h("div", { class: "toolbar", id: "dashboard-save" });
  const openSaved = (one: SavedDashboard) => navigate(href("dashboard", new URLSearchParams({ id: String(one.id) })));
  if (saved && !mine) {
    saveRow.append(h("p", { class: "read-only", id: "read-only" }, `Read-only: ${saved.owner}'s dashboard. Duplicate it to make your own copy to edit.`));
  }
  if (session && mine) {
    const save = h("button", { type: "button", class: "primary", id: "dashboard-save-button" }, saved ? (edited ? "Save changes" : "Saved") : "Save");
    save.addEventListener("click", async () => {
      try {
        const body = { ...dashboard, title: dashboard.title || "Untitled dashboard" };
        openSaved(saved ? await sendJson<SavedDashboard>("PUT", `api/v1/dashboards/${saved.id}`, body) : await sendJson<SavedDashboard>("POST", "api/v1/dashboards", body));
      } catch (error) {
        status.textContent = `Cannot save: ${(error as Error).message}`;
      }
    });
    saveRow.append(save);
    if (saved) {
      const remove = h("button", { type: "button", id: "dashboard-delete" }, "Delete");
      remove.addEventListener("click", async () => {
        if (!window.confirm(`Delete the dashboard "${saved.title}"?`)) return;
        try {
          await sendJson("DELETE", `api/v1/dashboards/${saved.id}`);
          navigate(href("saved"));
        } catch (error) {
          status.textContent = `Cannot delete: ${(error as Error).message}`;
        }
      });
      saveRow.append(remove);
    }
  }
  if (session && saved) {
    const duplicate = h("button", { type: "button", id: "dashboard-duplicate" }, "Duplicate");
    duplicate.addEventListener("click", async () => {
      try {
        openSaved(await sendJson<SavedDashboard>("POST", `api/v1/dashboards/${saved.id}/duplicate`));
      } catch (error) {
        status.textContent = `Cannot duplicate: ${(error as Error).message}`;
      }
    });
    saveRow.append(duplicate);
  }
  if (saved) saveRow.append(h("span", { class: "muted" }, `by ${saved.owner}`));

  const grid = h("div", { class: "dashboard-grid", id: "dashboard-grid" });
  main.append(
    h("h1", { class: "visually-hidden" }, "Dashboard"),
    h("div", { class: "toolbar" }, title, preset, h("span", { class: "muted" }, describeRange(dashboard.from, dashboard.until))),
    h("div", { class: "toolbar" }, exportButton, h("label", { class: "inline" }, "Import ", importInput)),
    saveRow,
    status,
    grid,
    form.element,
  );
  if (dashboard.graphs.length === 0) status.textContent = "No graphs yet: add one below, or import a dashboard.";

  dashboard.graphs.forEach((graph, index) => {
    const box = h("div", { class: "chart" });
    const remove = h("button", { type: "button", class: "icon", "aria-label": `Remove graph ${index + 1}`, disabled: readOnly }, "×");
    remove.addEventListener("click", () => go({ ...dashboard, graphs: dashboard.graphs.filter((_, i) => i !== index) }));
    const open = h(
      "a",
      { href: href("graph", serializeGraphState({ ...defaultGraphState(), targets: graph.targets, from: dashboard.from, until: dashboard.until })), "data-nav": true },
      graph.title || graph.targets.join(", "),
    );
    const note = h("p", { class: "muted" });
    grid.append(h("section", { class: "panel dashboard-cell" }, h("div", { class: "row" }, h("h2", {}, open), h("span", { class: "spacer" }), remove), box, note));
    loadView(graph.targets, "", dashboard.from, dashboard.until, 600, signal)
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
}
