// The Graph page's whole view state, read from and written to the URL's query string, so that
// every view is a link that reproduces it. Defaults are left out of the URL to keep links short.

export type Tab = "graph" | "table" | "json";
export const TABS: readonly Tab[] = ["graph", "table", "json"];

/** "" (no comparison), "1d", "1w", or "Nw" for each of the last N weeks (2 ≤ N ≤ 8). */
export type CompareMode = string;

export interface GraphState {
  targets: string[];
  from: string;
  until: string;
  compare: CompareMode;
  /** Plot points by their order (1, 2, 3, …) instead of by time. */
  sequential: boolean;
  /** Auto-refresh period in seconds; 0 is off. */
  refresh: number;
  tab: Tab;
  /** Indices of the drawn series the user hid (legend click). */
  hidden: number[];
  /** Indices of the targets drawn against the right-hand y-axis. */
  rightAxis: number[];
  events: boolean;
  /** Space-separated event tags to filter by; empty is every event. */
  eventTags: string;
  /** Only the chart and its legend, for an iframe elsewhere. */
  embed: boolean;
}

export const DEFAULT_FROM = "-1h";
export const DEFAULT_UNTIL = "now";
export const REFRESH_CHOICES = [0, 10, 30, 60, 300] as const;

export function defaultGraphState(): GraphState {
  return {
    targets: [],
    from: DEFAULT_FROM,
    until: DEFAULT_UNTIL,
    compare: "",
    sequential: false,
    refresh: 0,
    tab: "graph",
    hidden: [],
    rightAxis: [],
    events: false,
    eventTags: "",
    embed: false,
  };
}

export function isCompareMode(value: string): boolean {
  if (value === "" || value === "1d" || value === "1w") return true;
  const weeks = /^([2-8])w$/.exec(value);
  return weeks !== null;
}

function indices(value: string | null): number[] {
  if (!value) return [];
  const seen = new Set<number>();
  for (const part of value.split(",")) {
    if (/^\d+$/.test(part)) seen.add(Number(part));
  }
  return [...seen].sort((a, b) => a - b);
}

/** Reads a Graph state from a query string; anything invalid falls back to its default. */
export function parseGraphState(search: string | URLSearchParams): GraphState {
  const params = typeof search === "string" ? new URLSearchParams(search) : search;
  const state = defaultGraphState();
  state.targets = params
    .getAll("target")
    .map((target) => target.trim())
    .filter((target) => target !== "");
  state.from = params.get("from")?.trim() || DEFAULT_FROM;
  state.until = params.get("until")?.trim() || DEFAULT_UNTIL;
  const compare = params.get("compare") ?? "";
  state.compare = isCompareMode(compare) ? compare : "";
  state.sequential = params.get("x") === "seq";
  const refresh = Number(params.get("refresh") ?? "0");
  state.refresh = (REFRESH_CHOICES as readonly number[]).includes(refresh) ? refresh : 0;
  const tab = params.get("tab") as Tab | null;
  state.tab = tab && TABS.includes(tab) ? tab : "graph";
  state.hidden = indices(params.get("hide"));
  state.rightAxis = indices(params.get("y2"));
  state.events = params.get("events") === "1";
  state.eventTags = (params.get("eventTags") ?? "").trim();
  state.embed = params.get("embed") === "1";
  return state;
}

/** Writes a Graph state as a query string (without "?"), defaults left out, in a fixed order. */
export function serializeGraphState(state: GraphState): string {
  const params = new URLSearchParams();
  for (const target of state.targets) {
    if (target.trim() !== "") params.append("target", target.trim());
  }
  if (state.from !== DEFAULT_FROM) params.set("from", state.from);
  if (state.until !== DEFAULT_UNTIL) params.set("until", state.until);
  if (state.compare) params.set("compare", state.compare);
  if (state.sequential) params.set("x", "seq");
  if (state.refresh) params.set("refresh", String(state.refresh));
  if (state.tab !== "graph") params.set("tab", state.tab);
  if (state.hidden.length) params.set("hide", state.hidden.join(","));
  if (state.rightAxis.length) params.set("y2", state.rightAxis.join(","));
  if (state.events) params.set("events", "1");
  if (state.eventTags) params.set("eventTags", state.eventTags);
  if (state.embed) params.set("embed", "1");
  return params.toString();
}

/** The Metrics page's state: the search text and kind filter. */
export interface MetricsState {
  query: string;
  kind: string;
}

export const KINDS = ["counter", "gauge", "timer", "set", "raw"] as const;

export function parseMetricsState(search: string): MetricsState {
  const params = new URLSearchParams(search);
  const kind = params.get("kind") ?? "";
  return {
    query: params.get("q") ?? "",
    kind: (KINDS as readonly string[]).includes(kind) ? kind : "",
  };
}

export function serializeMetricsState(state: MetricsState): string {
  const params = new URLSearchParams();
  if (state.query) params.set("q", state.query);
  if (state.kind) params.set("kind", state.kind);
  return params.toString();
}
