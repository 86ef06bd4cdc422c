// Users' graphs (`/saved?user=<name>`): the signed-in user's history (every graph they viewed,
// the last 100) with star and name; everyone's named graphs and dashboards, by user, as
// graphite-web's "User Graphs" had them. Anyone who may read sees the named ones; only their
// owner changes them.
import { getJson, sendJson, type SavedDashboard, type SavedGraph } from "../api.ts";
import { href } from "../base.ts";
import { h } from "../dom.ts";
import type { Cleanup } from "../router.ts";
import type { Session } from "../session.ts";
import { defaultGraphState, serializeGraphState } from "../state.ts";

export function graphLink(graph: Pick<SavedGraph, "targets" | "from" | "until">, text: string): HTMLAnchorElement {
  const state = { ...defaultGraphState(), targets: graph.targets, from: graph.from, until: graph.until };
  return h("a", { href: href("graph", serializeGraphState(state)), "data-nav": true }, text);
}

/** Star and name controls of one of the user's own graphs; `changed` gets the new graph. */
export function graphControls(graph: SavedGraph, changed: (graph: SavedGraph) => void, status: HTMLElement): HTMLElement[] {
  const star = h(
    "button",
    { type: "button", class: "star", "aria-pressed": String(graph.starred), "aria-label": graph.starred ? "Unstar this graph" : "Star this graph" },
    graph.starred ? "★ Starred" : "☆ Star",
  );
  star.addEventListener("click", async () => {
    try {
      changed(await sendJson<SavedGraph>("PATCH", `api/v1/graphs/${graph.id}`, { starred: !graph.starred }));
    } catch (error) {
      status.textContent = `Cannot star: ${(error as Error).message}`;
    }
  });
  const name = h("input", { type: "text", class: "graph-name", "aria-label": "Graph name", placeholder: "name it to share it", value: graph.name ?? "", size: 18 });
  const save = h("button", { type: "button", class: "save-name" }, "Save name");
  save.addEventListener("click", async () => {
    try {
      changed(await sendJson<SavedGraph>("PATCH", `api/v1/graphs/${graph.id}`, { name: name.value.trim() }));
      status.textContent = name.value.trim() ? `Named "${name.value.trim()}": everyone can see it.` : "Name removed.";
    } catch (error) {
      status.textContent = `Cannot name: ${(error as Error).message}`;
    }
  });
  return [star, name, save];
}

function byOwner<T extends { owner: string }>(items: T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(item.owner, [...(groups.get(item.owner) ?? []), item]);
  return groups;
}

export function renderSaved(main: HTMLElement, search: string, session: Session | null): Cleanup {
  const user = new URLSearchParams(search).get("user") ?? "";
  const query = user ? new URLSearchParams({ user }) : undefined;
  const status = h("p", { role: "status", class: "muted", id: "saved-status" });
  const historySection = h("section", { class: "panel", id: "history", "aria-label": "My history" });
  const usersNav = h("p", { id: "saved-users" });
  const named = h("section", { class: "panel", id: "named-graphs", "aria-label": "Named graphs" });
  const boards = h("section", { class: "panel", id: "saved-dashboards", "aria-label": "Dashboards" });
  main.append(h("h1", {}, user ? `${user}'s graphs` : "Users' graphs"), status, usersNav, historySection, named, boards);

  async function loadHistory() {
    if (!session || user) {
      historySection.remove();
      return;
    }
    const history = await getJson<SavedGraph[]>("api/v1/graphs/history");
    const list = h("ul", { class: "saved-list" });
    for (const graph of history) {
      const item = h("li", { "data-graph": graph.id });
      const fill = (one: SavedGraph) =>
        item.replaceChildren(
          graphLink(one, one.name ?? one.targets.join(", ")),
          h("span", { class: "muted" }, `${one.from} … ${one.until}`),
          ...graphControls(one, fill, status),
        );
      fill(graph);
      list.append(item);
    }
    historySection.replaceChildren(
      h("h2", {}, "My history"),
      history.length ? list : h("p", { class: "muted" }, "Graphs you view land here."),
    );
  }

  async function loadShared() {
    const [graphs, dashboards] = await Promise.all([
      getJson<SavedGraph[]>("api/v1/graphs", query),
      getJson<SavedDashboard[]>("api/v1/dashboards", query),
    ]);
    const owners = [...new Set([...graphs, ...dashboards].map((one) => one.owner))].sort();
    usersNav.replaceChildren(
      "By user: ",
      h("a", { href: href("saved"), "data-nav": true, "aria-current": user ? null : "page" }, "everyone"),
      ...owners.flatMap((owner) => [" · ", h("a", { href: href("saved", new URLSearchParams({ user: owner })), "data-nav": true, "aria-current": owner === user ? "page" : null }, owner)]),
    );
    named.replaceChildren(h("h2", {}, "Named graphs"));
    for (const [owner, list] of byOwner(graphs)) {
      named.append(
        h("h3", {}, owner),
        h("ul", { class: "saved-list" }, ...list.map((graph) => h("li", { "data-graph": graph.id }, graphLink(graph, graph.name ?? ""), graph.starred ? h("span", { "aria-label": "starred" }, "★") : null))),
      );
    }
    if (graphs.length === 0) named.append(h("p", { class: "muted" }, "No named graphs yet."));
    boards.replaceChildren(h("h2", {}, "Dashboards"));
    for (const [owner, list] of byOwner(dashboards)) {
      boards.append(
        h("h3", {}, owner),
        h("ul", { class: "saved-list" }, ...list.map((board) => h("li", { "data-dashboard": board.id }, h("a", { href: href("dashboard", new URLSearchParams({ id: String(board.id) })), "data-nav": true }, board.title), h("span", { class: "muted" }, `${board.graphs.length} graphs`)))),
      );
    }
    if (dashboards.length === 0) boards.append(h("p", { class: "muted" }, "No dashboards yet."));
  }

  Promise.all([loadHistory(), loadShared()]).catch((error: unknown) => {
    status.textContent = `Cannot load: ${(error as Error).message}`;
  });
  return () => {};
}
