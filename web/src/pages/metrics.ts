// The Metrics page: every metric as a lazily expanded tree (/metrics/find) and as a list
// searched on the server (/api/v1/series), virtualized. Clicking a metric opens its graph.
import { ApiError, getJson, type CatalogSeries, type FindNode } from "../api.ts";
import { href } from "../base.ts";
import { h } from "../dom.ts";
import { defaultTargets, seriesSearch } from "../expr.ts";
import { latest } from "../latest.ts";
import { navigate, type Cleanup } from "../router.ts";
import { KINDS, parseMetricsState, serializeMetricsState, type MetricsState } from "../state.ts";
import { serializeGraphState, defaultGraphState } from "../state.ts";
import { virtualList } from "../vlist.ts";

/** How many series one search shows; the count says when there are more. */
export const SEARCH_LIMIT = 5000;

export function graphHref(targets: string[]): string {
  return href("graph", serializeGraphState({ ...defaultGraphState(), targets }));
}

function truthy(value: number | boolean | undefined): boolean {
  return value === true || value === 1;
}

function treeNode(node: FindNode, depth: number): HTMLElement {
  const item = h("li", { role: "treeitem", "aria-level": depth + 1 });
  if (truthy(node.leaf)) {
    item.append(
      h("a", { href: graphHref([node.id]), "data-nav": true, class: "leaf", title: node.id }, node.text),
    );
  }
  if (truthy(node.expandable)) {
    const children = h("ul", { role: "group", hidden: true });
    const toggle = h(
      "button",
      { type: "button", class: "branch", "aria-expanded": "false", "data-path": node.id },
      node.text,
    );
    let loaded = false;
    toggle.addEventListener("click", async () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      children.hidden = !open;
      if (open && !loaded) {
        loaded = true;
        await loadLevel(children, `${node.id}.*`, depth + 1);
      }
    });
    item.setAttribute("aria-expanded", "false");
    toggle.addEventListener("click", () =>
      item.setAttribute("aria-expanded", toggle.getAttribute("aria-expanded") ?? "false"),
    );
    item.append(toggle, children);
  }
  return item;
}

async function loadLevel(list: HTMLElement, query: string, depth: number) {
  list.replaceChildren(h("li", { class: "muted" }, "Loading…"));
  try {
    const nodes = await getJson<FindNode[]>("metrics/find", new URLSearchParams({ query }));
    list.replaceChildren(...nodes.map((node) => treeNode(node, depth)));
    if (nodes.length === 0) list.replaceChildren(h("li", { class: "muted" }, "No metrics yet."));
  } catch (error) {
    list.replaceChildren(h("li", { class: "error" }, `Cannot list ${query}: ${(error as Error).message}`));
  }
}

function relative(iso: string): string {
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 90) return `${Math.max(seconds, 0)}s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)}m ago`;
  if (seconds < 129600) return `${Math.round(seconds / 3600)}h ago`;
  return `${Math.round(seconds / 86400)}d ago`;
}

export function renderMetrics(main: HTMLElement, search: string): Cleanup {
  const state: MetricsState = parseMetricsState(search);
  // Each keystroke searches at once (the server answers a keystroke in a few milliseconds; a
  // wait for a pause in the typing would cost more than that), aborting the search before.
  const searches = latest((params: URLSearchParams, signal: AbortSignal) =>
    getJson<CatalogSeries[]>("api/v1/series", params, signal),
  );

  const input = h("input", {
    type: "search",
    id: "metric-search",
    placeholder: "Search: part of a name, or a glob like api.*.latency",
    value: state.query,
    autocomplete: "off",
    spellcheck: "false",
  });
  const kind = h(
    "select",
    { id: "metric-kind", "aria-label": "Kind" },
    h("option", { value: "" }, "every kind"),
    ...KINDS.map((one) => h("option", { value: one, selected: one === state.kind }, one)),
  );
  const status = h("p", { class: "muted", role: "status", id: "search-status" });
  const list = virtualList<CatalogSeries>(
    32,
    (series) =>
      h(
        "li",
        { class: "series-row" },
        h(
          "a",
          { href: graphHref(defaultTargets(series)), "data-nav": true, class: "series-name" },
          series.name,
        ),
        h("span", { class: `kind kind-${series.kind}` }, series.kind),
        h("span", { class: "tags" }, series.tags.join(" ")),
        h("span", { class: "seen", title: `last seen ${series.last_seen}` }, relative(series.last_seen)),
      ),
    "Series",
  );

  async function runSearch() {
    // What this search asked, which the text box may no longer say when the answer comes.
    const query = state.query;
    const params = new URLSearchParams({ limit: String(SEARCH_LIMIT) });
    for (const [key, value] of Object.entries(seriesSearch(query))) params.set(key, value);
    if (state.kind) params.set("kind", state.kind);
    status.textContent = "Searching…";
    const started = performance.now();
    try {
      const result = await searches.start(params);
      if (!result) return;
      const series = result.answer;
      list.setItems(series);
      const took = Math.round(performance.now() - started);
      status.textContent =
        series.length >= SEARCH_LIMIT
          ? `The first ${series.length} series (${took} ms); narrow the search to see the rest.`
          : `${series.length} series (${took} ms)`;
      status.dataset.count = String(series.length);
      status.dataset.query = query;
    } catch (error) {
      list.setItems([]);
      status.textContent =
        error instanceof ApiError ? `The search failed: ${error.message}` : `The search failed: ${String(error)}`;
      delete status.dataset.count;
      status.dataset.query = query;
    }
  }

  function update() {
    navigate(href("", serializeMetricsState(state)), { replace: true, rerender: false });
    void runSearch();
  }

  input.addEventListener("input", () => {
    state.query = input.value;
    update();
  });
  kind.addEventListener("change", () => {
    state.kind = kind.value;
    update();
  });

  const tree = h("ul", { role: "tree", class: "tree", "aria-label": "Metric tree", id: "metric-tree" });
  main.append(
    h("h1", { class: "visually-hidden" }, "Metrics"),
    h(
      "div",
      { class: "metrics-layout" },
      h("section", { class: "panel", "aria-labelledby": "tree-title" }, h("h2", { id: "tree-title" }, "Tree"), tree),
      h(
        "section",
        { class: "panel search-panel", "aria-labelledby": "search-title" },
        h("h2", { id: "search-title" }, "Series"),
        h(
          "div",
          { class: "row" },
          h("label", { for: "metric-search", class: "visually-hidden" }, "Search series"),
          input,
          kind,
        ),
        status,
        list.element,
      ),
    ),
  );
  void loadLevel(tree, "*", 0);
  void runSearch();
  input.focus();
  return () => searches.abort();
}
