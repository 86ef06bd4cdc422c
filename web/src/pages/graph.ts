// The Graph page: any Graphite expressions over a range, with compare periods, events, a
// sequential x-axis, a legend, Table and JSON tabs and downloads. All state is in the URL.
import type uPlot from "uplot";
import { postJson, type ListedEvent, type SavedGraph } from "../api.ts";
import { href } from "../base.ts";
import { drawChart, PALETTE, type ChartSeries } from "../chart.ts";
import { seriesStyle } from "../color.ts";
import { shiftLabel, formatPercent } from "../compare.ts";
import { loadGraphView, renderParams, type ViewData } from "../data.ts";
import { firstChartWidth, takeFirstGraphView } from "../first-view.ts";
import { h } from "../dom.ts";
import { targetInput } from "../editor.ts";
import { targetErrorAlerts } from "../target-errors.ts";
import { navigate, type Cleanup } from "../router.ts";
import { formatValue, sequentialRows } from "../series.ts";
import { parseGraphState, REFRESH_CHOICES, serializeGraphState, TABS, type GraphState } from "../state.ts";
import { loadSession } from "../session.ts";
import { graphControls } from "./saved.ts";
import { absoluteRange, describeRange, fromLocalInput, isAbsolute, PRESETS, toLocalInput } from "../time.ts";

const COMPARE_CHOICES: [string, string][] = [
  ["", "no comparison"],
  ["1d", "a day back"],
  ["1w", "a week back"],
  ["2w", "the last 2 weeks"],
  ["3w", "the last 3 weeks"],
  ["4w", "the last 4 weeks"],
];

/** Rows the Table tab shows; the CSV download has them all. */
const TABLE_ROWS = 1000;

function go(state: GraphState) {
  navigate(href("graph", serializeGraphState(state)));
}

/** What a Graph page drew: shown again at once while the page fetches it afresh. */
interface HeldView {
  view: ViewData;
  events: ListedEvent[];
}

/** The last graphs drawn, by their URL's query, so that going back to one draws it at once. */
const heldViews = new Map<string, HeldView>();
const HELD_VIEWS = 8;

function holdView(search: string, held: HeldView) {
  heldViews.delete(search);
  heldViews.set(search, held);
  for (const oldest of heldViews.keys()) {
    if (heldViews.size <= HELD_VIEWS) break;
    heldViews.delete(oldest);
  }
}

function query(search: string): string {
  return search.startsWith("?") ? search.slice(1) : search;
}

export function renderGraph(main: HTMLElement, initialSearch: string): Cleanup {
  const state = parseGraphState(initialSearch);
  /** The URL's query: a zoom changes it without building the page again. */
  let search = query(initialSearch);
  let plot: uPlot | null = null;
  // The shell asked for this URL's data while this code loaded (first-view.ts); else ask now,
  // before the page is built, so the request goes out when a page that only fetched would
  // send it. The first load() takes this answer.
  const early = takeFirstGraphView(initialSearch);
  let controller = early?.controller ?? new AbortController();
  let firstAnswer =
    early?.answer ?? (state.targets.length > 0 ? loadGraphView(state, firstChartWidth(main), controller.signal) : null);
  let timer: ReturnType<typeof setInterval> | undefined;
  let view: ViewData | null = null;
  let events: ListedEvent[] = [];

  // ---- targets -----------------------------------------------------------------------------
  const editors: (HTMLElement & { input: HTMLInputElement })[] = [];
  const targetList = h("ol", { class: "targets" });
  const errorsBox = h("div", { class: "target-errors", "aria-live": "polite" });
  function submitTargets() {
    state.targets = editors.map((one) => one.input.value.trim()).filter((one) => one !== "");
    state.hidden = [];
    go(state);
  }
  function addEditor(value: string) {
    const index = editors.length;
    const editor = targetInput(value, `Target ${index + 1}`, submitTargets);
    editors.push(editor);
    const right = h("input", { type: "checkbox", checked: state.rightAxis.includes(index) });
    right.addEventListener("change", () => {
      state.rightAxis = right.checked
        ? [...state.rightAxis, index].sort((a, b) => a - b)
        : state.rightAxis.filter((one) => one !== index);
      go(state);
    });
    const remove = h("button", { type: "button", class: "icon", "aria-label": `Remove target ${index + 1}` }, "×");
    remove.addEventListener("click", () => {
      editors.splice(editors.indexOf(editor), 1);
      item.remove();
      submitTargets();
    });
    const item = h("li", {}, editor, h("label", { class: "inline" }, right, "right axis"), remove);
    targetList.append(item);
    return editor;
  }
  for (const target of state.targets) addEditor(target);
  if (state.targets.length === 0) addEditor("");
  const addButton = h("button", { type: "button" }, "+ Target");
  addButton.addEventListener("click", () => addEditor("").input.focus());
  const drawButton = h("button", { type: "button", class: "primary", id: "draw" }, "Draw");
  drawButton.addEventListener("click", submitTargets);

  // ---- toolbar -----------------------------------------------------------------------------
  const preset = h(
    "select",
    { id: "range-preset", "aria-label": "Time range" },
    ...PRESETS.map((one) => h("option", { value: one.from, selected: state.until === "now" && one.from === state.from }, `Last ${one.label}`)),
    h("option", { value: "", selected: !(state.until === "now" && PRESETS.some((one) => one.from === state.from)) }, "Custom range"),
  );
  preset.addEventListener("change", () => {
    if (!preset.value) return;
    state.from = preset.value;
    state.until = "now";
    go(state);
  });
  const now = Math.floor(Date.now() / 1000);
  const fromInput = h("input", {
    type: "datetime-local",
    "aria-label": "From",
    value: toLocalInput(isAbsolute(state.from) ? Number(state.from) : now - 3600),
  });
  const untilInput = h("input", {
    type: "datetime-local",
    "aria-label": "Until",
    value: toLocalInput(isAbsolute(state.until) ? Number(state.until) : now),
  });
  const applyRange = h("button", { type: "button" }, "Apply range");
  applyRange.addEventListener("click", () => {
    const from = fromLocalInput(fromInput.value);
    const until = fromLocalInput(untilInput.value);
    if (from === null || until === null) return;
    Object.assign(state, absoluteRange(from, until));
    go(state);
  });
  const refresh = h(
    "select",
    { "aria-label": "Auto-refresh", id: "refresh" },
    ...REFRESH_CHOICES.map((seconds) =>
      h("option", { value: seconds, selected: seconds === state.refresh }, seconds ? `refresh every ${seconds < 60 ? `${seconds}s` : `${seconds / 60}m`}` : "no auto-refresh"),
    ),
  );
  refresh.addEventListener("change", () => {
    state.refresh = Number(refresh.value);
    go(state);
  });
  const compare = h(
    "select",
    { "aria-label": "Compare with", id: "compare" },
    ...COMPARE_CHOICES.map(([value, label]) => h("option", { value, selected: value === state.compare }, `Compare: ${label}`)),
  );
  compare.addEventListener("change", () => {
    state.compare = compare.value;
    state.hidden = [];
    go(state);
  });
  const sequential = h("input", { type: "checkbox", id: "sequential", checked: state.sequential });
  sequential.addEventListener("change", () => {
    state.sequential = sequential.checked;
    go(state);
  });
  const showEvents = h("input", { type: "checkbox", id: "show-events", checked: state.events });
  showEvents.addEventListener("change", () => {
    state.events = showEvents.checked;
    go(state);
  });
  const eventTags = h("input", {
    type: "text",
    id: "event-tags",
    "aria-label": "Event tags",
    placeholder: "event tags",
    value: state.eventTags,
    size: 12,
  });
  eventTags.addEventListener("change", () => {
    state.eventTags = eventTags.value.trim();
    go(state);
  });

  // ---- result area -------------------------------------------------------------------------
  const rangeHint = " · drag to zoom, double-click to go back";
  const rangeText = h("p", { class: "muted", id: "range-text" }, describeRange(state.from, state.until), rangeHint);
  const tabButtons = TABS.map((tab) => {
    const button = h(
      "button",
      { type: "button", role: "tab", id: `tab-${tab}`, "aria-selected": String(tab === state.tab), "aria-controls": "tab-panel" },
      tab === "graph" ? "Graph" : tab === "table" ? "Table" : "JSON",
    );
    button.addEventListener("click", () => {
      state.tab = tab;
      go(state);
    });
    return button;
  });
  const panel = h("div", { id: "tab-panel", role: "tabpanel", "aria-labelledby": `tab-${state.tab}` });
  const chartBox = h("div", { class: "chart", id: "chart" });
  const legend = h("table", { class: "legend", id: "legend" });
  const eventList = h("ul", { class: "event-list", id: "event-list" });
  const message = h("p", { class: "muted", role: "status", id: "graph-status" });
  const all = () => (view ? view.compared.map((one) => one.target) : []);
  const downloadParams = (format: string) => renderParams(all(), state.from, state.until, { format });
  const csvLink = h("a", { id: "download-csv", download: "abacus.csv" }, "CSV");
  const jsonLink = h("a", { id: "download-json", download: "abacus.json" }, "JSON");

  // ---- history: a signed-in user's graphs are kept (api/v1/graphs), to star and name ------
  const saveBox = h("span", { class: "row", id: "graph-save" });
  let recorded = false;
  async function recordView() {
    if (recorded || state.embed || state.targets.length === 0) return;
    recorded = true;
    // Asked by the shell while this page drew (the page is drawn before it is known).
    if (!(await loadSession())) return;
    try {
      const saved = await postJson<SavedGraph>("api/v1/graphs", { targets: state.targets, from: state.from, until: state.until });
      const fill = (graph: SavedGraph) => saveBox.replaceChildren(...graphControls(graph, fill, message));
      fill(saved);
    } catch (error) {
      saveBox.replaceChildren(h("span", { class: "muted" }, `Not kept in your history: ${(error as Error).message}`));
    }
  }

  // ---- events form -------------------------------------------------------------------------
  const eventWhat = h("input", { type: "text", "aria-label": "Event", placeholder: "what happened (e.g. deploy v1.2)", required: true });
  const eventTagsNew = h("input", { type: "text", "aria-label": "Tags of the new event", placeholder: "tags", value: "deploy" });
  const eventForm = h(
    "form",
    { class: "row event-form" },
    eventWhat,
    eventTagsNew,
    h("button", { type: "submit" }, "Post event"),
  );
  eventForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!eventWhat.value.trim()) return;
    try {
      await postJson("events/", { what: eventWhat.value.trim(), tags: eventTagsNew.value.trim(), data: "" });
      message.textContent = "Event posted; it shows once stored (a few seconds).";
      eventWhat.value = "";
      setTimeout(() => void load(), 3000);
    } catch (error) {
      message.textContent = `Cannot post the event: ${(error as Error).message}`;
    }
  });

  // Embedded (an iframe elsewhere): the chart and its legend only, with a link to the full view.
  document.body.classList.toggle("embed", state.embed);
  const full = h("a", { href: href("graph", serializeGraphState({ ...state, embed: false })), target: "_blank", rel: "noopener", class: "embed-only" }, "Open in Abacus");
  main.append(
    h("h1", { class: "visually-hidden" }, "Graph"),
    full,
    h(
      "section",
      { class: "panel no-embed", "aria-label": "Targets" },
      targetList,
      h("div", { class: "row" }, addButton, drawButton),
      errorsBox,
    ),
    h(
      "div",
      { class: "toolbar no-embed", role: "group", "aria-label": "View" },
      preset,
      fromInput,
      untilInput,
      applyRange,
      refresh,
      compare,
      h("label", { class: "inline" }, sequential, "sequential x"),
      h("label", { class: "inline" }, showEvents, "events"),
      eventTags,
    ),
    rangeText,
    h(
      "div",
      { class: "row no-embed" },
      h("div", { class: "tabs", role: "tablist", "aria-label": "Views" }, ...tabButtons),
      h("span", { class: "spacer" }),
      saveBox,
      h("span", { class: "muted" }, "Download:"),
      csvLink,
      jsonLink,
    ),
    message,
    panel,
  );

  // ---- drawing -----------------------------------------------------------------------------
  function drawGraph() {
    plot?.destroy();
    plot = null;
    if (!view) return;
    const rows = state.sequential ? sequentialRows(view.aligned) : view.aligned;
    const series: ChartSeries[] = view.drawn.map((one, index) => ({
      label: one.name,
      values: rows.values[index] ?? [],
      hidden: state.hidden.includes(index),
      right: state.rightAxis.includes(one.source),
      ...seriesStyle(PALETTE, index, one.shift, one.source),
    }));
    const height = Math.max(240, Math.min(420, Math.round(window.innerHeight * 0.45)));
    plot = drawChart(chartBox, {
      times: rows.times,
      series,
      sequential: state.sequential,
      events: state.events ? events : [],
      height,
      onZoom: (from, until) => {
        Object.assign(state, absoluteRange(from, until));
        // At once, the points held at the new range, as uPlot alone redraws; then the range at
        // its own resolution. The page stays: only what shows the range follows it.
        if (!state.sequential) {
          plot?.setScale("x", { min: from, max: until });
          main.dataset.held = String(Date.now());
        }
        search = serializeGraphState(state);
        navigate(href("graph", search), { state: { zoom: true }, rerender: false });
        showRange();
        clearInterval(timer);
        recorded = false;
        void load();
      },
      onReset: () => {
        if ((window.history.state as { zoom?: boolean } | null)?.zoom) window.history.back();
      },
    });
    chartBox.dataset.series = String(series.length);
    chartBox.dataset.points = String(rows.times.length);
  }

  function drawLegend() {
    if (!view) return;
    const compared = view.drawn.some((one) => one.shift !== null);
    legend.replaceChildren(
      h(
        "thead",
        {},
        h("tr", {}, h("th", {}, "series"), h("th", {}, "min"), h("th", {}, "max"), h("th", {}, "avg"), h("th", {}, "last"), compared ? h("th", {}, "change") : null),
      ),
      h(
        "tbody",
        {},
        ...view.drawn.map((one, index) => {
          const style = seriesStyle(PALETTE, index, one.shift, one.source);
          const hidden = state.hidden.includes(index);
          const toggle = h(
            "button",
            { type: "button", class: "legend-toggle", "aria-pressed": String(!hidden), title: hidden ? "Show" : "Hide" },
            h("span", { class: `swatch${style.dash ? " dashed" : ""}`, style: `--swatch:${style.color}` }),
            one.shift ? `${one.name} (${shiftLabel(one.shift)})` : one.name,
          );
          toggle.addEventListener("click", () => {
            state.hidden = hidden ? state.hidden.filter((i) => i !== index) : [...state.hidden, index].sort((a, b) => a - b);
            navigate(href("graph", serializeGraphState(state)), { replace: true, rerender: false });
            plot?.setSeries(index + 1, { show: hidden });
            drawLegend();
          });
          return h(
            "tr",
            { class: hidden ? "hidden-series" : null },
            h("td", {}, toggle),
            h("td", {}, formatValue(one.stats.min)),
            h("td", {}, formatValue(one.stats.max)),
            h("td", {}, formatValue(one.stats.avg)),
            h("td", {}, formatValue(one.stats.last)),
            compared ? h("td", { title: one.shift ? "now against this period (averages)" : "" }, one.shift ? formatPercent(one.change) : "") : null,
          );
        }),
      ),
    );
  }

  function drawTable() {
    if (!view) return;
    const { times, values } = view.aligned;
    const first = Math.max(0, times.length - TABLE_ROWS);
    const rows: HTMLElement[] = [];
    for (let row = times.length - 1; row >= first; row -= 1) {
      rows.push(
        h("tr", {}, h("td", {}, new Date(times[row]! * 1000).toLocaleString()), ...values.map((column) => h("td", {}, column[row] === null ? "" : String(column[row])))),
      );
    }
    panel.replaceChildren(
      times.length > TABLE_ROWS ? h("p", { class: "muted" }, `The newest ${TABLE_ROWS} of ${times.length} rows; the CSV has them all.`) : "",
      h(
        "div",
        { class: "table-scroll" },
        h("table", { class: "data-table", id: "data-table" }, h("thead", {}, h("tr", {}, h("th", {}, "time"), ...view.drawn.map((one) => h("th", {}, one.name)))), h("tbody", {}, ...rows)),
      ),
    );
  }

  function drawEvents() {
    eventList.replaceChildren(
      ...events.map((event) =>
        h("li", {}, h("time", {}, new Date(event.when * 1000).toLocaleString()), " ", h("strong", {}, event.what), event.tags.length ? ` [${event.tags.join(" ")}]` : "", event.data ? ` ${event.data}` : ""),
      ),
    );
  }

  function showErrors() {
    errorsBox.replaceChildren(...targetErrorAlerts(view?.errors ?? []));
  }

  /** The Graph tab's panel: the chart, its legend, and the events when they are shown. */
  function showGraphPanel() {
    panel.replaceChildren(chartBox, legend, state.events ? h("section", { "aria-label": "Events" }, h("h2", {}, "Events"), eventList, eventForm) : "");
  }

  /** Draws what this URL last drew, before it is fetched again. */
  function drawHeld() {
    const held = heldViews.get(search);
    if (!held || state.tab !== "graph" || state.targets.length === 0) return;
    view = held.view;
    events = held.events;
    showGraphPanel();
    drawGraph();
    drawLegend();
    main.dataset.held = String(Date.now());
  }

  /** The range's description and inputs, after a zoom changed it in place. */
  function showRange() {
    rangeText.replaceChildren(describeRange(state.from, state.until), rangeHint);
    preset.value = "";
    if (isAbsolute(state.from)) fromInput.value = toLocalInput(Number(state.from));
    if (isAbsolute(state.until)) untilInput.value = toLocalInput(Number(state.until));
  }

  async function load() {
    const asked = firstAnswer;
    firstAnswer = null;
    if (!asked) {
      controller.abort();
      controller = new AbortController();
    }
    const signal = controller.signal;
    if (state.targets.length === 0) {
      message.textContent = "Type a target (a metric path or any Graphite expression) and press Draw, or pick one on the Metrics page.";
      main.dataset.loaded = String(Date.now());
      return;
    }
    message.textContent = "Loading…";
    const width = Math.max(300, chartBox.clientWidth || main.clientWidth || 800);
    try {
      const [data, found] = await (asked ?? loadGraphView(state, width, signal));
      view = data;
      events = found;
      csvLink.href = href("render", downloadParams("csv"));
      jsonLink.href = href("render", downloadParams("json"));
      showErrors();
      message.textContent = view.drawn.length === 0 && view.errors.length === 0 ? "No series match these targets in this range." : "";
      if (state.tab === "graph") {
        showGraphPanel();
        drawGraph();
        drawLegend();
        drawEvents();
      } else if (state.tab === "table") {
        drawTable();
      } else {
        const text = JSON.stringify(view.raw, null, 1);
        panel.replaceChildren(h("pre", { class: "json", id: "json-view", tabindex: 0 }, text.length > 400_000 ? `${text.slice(0, 400_000)}\n… (download the JSON for the rest)` : text));
      }
      holdView(search, { view, events });
      main.dataset.loaded = String(Date.now());
      void recordView();
    } catch (error) {
      if ((error as Error).name === "AbortError") return;
      message.textContent = `Cannot draw: ${(error as Error).message}`;
    }
  }

  const onResize = () => {
    if (plot) plot.setSize({ width: Math.max(chartBox.clientWidth, 300), height: plot.height });
  };
  window.addEventListener("resize", onResize);
  if (state.refresh && !isAbsolute(state.until)) timer = setInterval(() => void load(), state.refresh * 1000);
  void load();
  // While the fetch is under way (load has sent it), what this URL last drew.
  drawHeld();
  return () => {
    controller.abort();
    clearInterval(timer);
    window.removeEventListener("resize", onResize);
    plot?.destroy();
    document.body.classList.remove("embed");
  };
}
