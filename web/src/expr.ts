// Building Graphite expressions: the default targets of a series by its kind, quoting, and the
// glob a search box's text becomes.

export type SeriesKind = "counter" | "gauge" | "timer" | "set" | "raw";

export interface SeriesRef {
  name: string;
  kind: string;
  tags: string[];
}

/** Quotes a string argument for a Graphite expression. */
export function quote(text: string): string {
  return `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/**
 * The paths that show a series sensibly: a timer as median, p90, p99 and upper, a counter as
 * its rate, a gauge as its value, a set as its count, a raw series as its points.
 */
export function defaultPaths(name: string, kind: string): string[] {
  switch (kind) {
    case "counter":
      return [`stats.counters.${name}.rate`];
    case "gauge":
      return [`stats.gauges.${name}`];
    case "timer":
      return ["median", "upper_90", "upper_99", "upper"].map(
        (field) => `stats.timers.${name}.${field}`,
      );
    case "set":
      return [`stats.sets.${name}.count`];
    default:
      return [name];
  }
}

/** Catalog tags (`key:value`, or a flag `key`) as seriesByTag expressions (`key=value`). */
export function tagExpressions(tags: readonly string[]): string[] {
  return tags.map((tag) => {
    const colon = tag.indexOf(":");
    return colon < 0 ? `${tag}=` : `${tag.slice(0, colon)}=${tag.slice(colon + 1)}`;
  });
}

/**
 * The default targets of one catalog series. A tagged series is selected with seriesByTag on
 * its catalog name and tags (its kind's default field: a counter's count, a timer's mean), so
 * that its untagged namesake and other tag sets are not drawn with it.
 */
export function defaultTargets(series: SeriesRef): string[] {
  if (series.tags.length === 0) return defaultPaths(series.name, series.kind);
  const expressions = [`name=${series.name}`, ...tagExpressions(series.tags)];
  return [`seriesByTag(${expressions.map(quote).join(", ")})`];
}

/**
 * What the search box's text asks /api/v1/series for: a glob (`match`) when it has glob syntax,
 * else a substring of the name (`contains`; a glob's `*` would stay within one segment).
 */
export function seriesSearch(text: string): { match?: string; contains?: string } {
  const trimmed = text.trim();
  if (trimmed === "") return {};
  // A glob typed up to a dot asks what comes next (as the tree shows it): any next segment,
  // rather than a glob with an empty last segment, which the API refuses.
  if (/[*?[\]{}]/.test(trimmed)) return { match: trimmed.endsWith(".") ? `${trimmed}*` : trimmed };
  return { contains: trimmed };
}

/** The metric-path token under the cursor, for autocompletion: where it starts and its text. */
export function tokenAt(text: string, cursor: number): { start: number; token: string } {
  let start = cursor;
  while (start > 0 && /[A-Za-z0-9_.*?\-[\]{}:;=~]/.test(text[start - 1] ?? "")) start -= 1;
  return { start, token: text.slice(start, cursor) };
}

/** The /metrics/find query that lists what can follow a partly typed path. */
export function completionQuery(token: string): string {
  return `${token}*`;
}
