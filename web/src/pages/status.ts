// The Status page: every service's self-metrics (the series under `abacus.`, which the
// services publish into the stream like any other series) as a tree with current values and
// rates over the last five minutes. `?format=json` shows the same tree as JSON.
import { getJson, type CatalogSeries } from "../api.ts";
import { href } from "../base.ts";
import { renderParams } from "../data.ts";
import { download, h } from "../dom.ts";
import { defaultTargets } from "../expr.ts";
import type { Cleanup } from "../router.ts";
import { formatValue, type RenderedSeries } from "../series.ts";
import { defaultGraphState, serializeGraphState } from "../state.ts";
import { isMetric, SELF_METRICS_PREFIX, statusTargets, statusTree, type StatusNode } from "../status-tree.ts";

const WINDOW = "-5min";

function rows(node: StatusNode, depth: number): HTMLElement[] {
  return Object.entries(node).flatMap(([segment, child]) => {
    if (isMetric(child)) {
      const graph = href("graph", serializeGraphState({ ...defaultGraphState(), targets: defaultTargets({ ...child, tags: [] }), from: "-1h" }));
      return [
        h(
          "tr",
          {},
          h("td", { style: `padding-left:${depth * 16 + 8}px` }, h("a", { href: graph, "data-nav": true }, segment)),
          h("td", {}, child.kind),
          h("td", { class: "number" }, formatValue(child.value)),
          h("td", { class: "number" }, child.rate === null ? "–" : `${formatValue(child.rate)}/s`),
        ),
      ];
    }
    return [
      h("tr", { class: "status-branch" }, h("th", { colspan: 4, scope: "rowgroup", style: `padding-left:${depth * 16 + 8}px` }, segment)),
      ...rows(child, depth + 1),
    ];
  });
}

export function renderStatus(main: HTMLElement, search: string): Cleanup {
  const format = new URLSearchParams(search).get("format");
  const controller = new AbortController();
  const message = h("p", { class: "muted", role: "status", id: "status-message" }, "Loading…");
  const body = h("div", { id: "status-body" });
  main.append(h("h1", {}, "Status"), h("p", { class: "muted" }, `The services' self-metrics over the last 5 minutes. `, h("a", { href: href("status", "format=json"), "data-nav": true }, "As JSON"), "."), message, body);

  (async () => {
    const params = new URLSearchParams({ contains: `${SELF_METRICS_PREFIX}.`, limit: "100000" });
    const series = (await getJson<CatalogSeries[]>("api/v1/series", params, controller.signal)).filter(
      (one) => one.name.startsWith(`${SELF_METRICS_PREFIX}.`) && one.tags.length === 0,
    );
    const targets = statusTargets(series);
    const rendered = targets.length
      ? await getJson<RenderedSeries[]>("render", renderParams(targets, WINDOW, "now", { format: "json" }), controller.signal)
      : [];
    const tree = statusTree(series, rendered);
    message.textContent = series.length ? "" : "No self-metrics yet: the services publish them every flush.";
    if (format === "json" || format === "prettyjson") {
      const text = JSON.stringify(tree, null, format === "prettyjson" ? 2 : undefined);
      const save = h("button", { type: "button" }, "Download");
      save.addEventListener("click", () => download("abacus-status.json", text, "application/json"));
      body.replaceChildren(save, h("pre", { class: "json", id: "status-json", tabindex: 0 }, text));
      return;
    }
    body.replaceChildren(
      h(
        "table",
        { class: "status-table", id: "status-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "metric"), h("th", {}, "kind"), h("th", {}, "value"), h("th", {}, "rate"))),
        h("tbody", {}, ...rows(tree, 0)),
      ),
    );
    main.dataset.loaded = String(Date.now());
  })().catch((error: unknown) => {
    if ((error as Error).name !== "AbortError") message.textContent = `Cannot read the status: ${(error as Error).message}`;
  });
  return () => controller.abort();
}
