// Fetching what a view draws: each target its own /render call (in parallel), so every drawn
// series is known to come from its target, and a target's parse error is reported against it.
import { ApiError, getJson, type ListedEvent } from "./api.ts";
import { compareTargets, percentChange, type ComparedTarget } from "./compare.ts";
import { alignSeries, seriesStats, type Aligned, type RenderedSeries, type Stats } from "./series.ts";
import type { GraphState } from "./state.ts";

export interface DrawnSeries {
  name: string;
  /** Index into the view's compared targets. */
  target: number;
  source: number;
  shift: string | null;
  stats: Stats;
  /** For a shifted series: the change from it to the present series it mirrors, in per cent. */
  change: number | null;
}

export interface TargetError {
  /** Index of the user's target. */
  source: number;
  target: string;
  message: string;
  /** Where the parser stopped, when the API says. */
  position: number | null;
}

export interface ViewData {
  compared: ComparedTarget[];
  raw: RenderedSeries[];
  drawn: DrawnSeries[];
  aligned: Aligned;
  errors: TargetError[];
}

export function renderParams(targets: readonly string[], from: string, until: string, extra: Record<string, string> = {}) {
  const params = new URLSearchParams();
  for (const target of targets) params.append("target", target);
  params.set("from", from);
  params.set("until", until);
  for (const [key, value] of Object.entries(extra)) params.set(key, value);
  return params;
}

/** The position a parse error names: `invalid target "…": at position 7: expected …`. */
export function errorPosition(message: string): number | null {
  const match = /at position (\d+)/.exec(message);
  return match ? Number(match[1]) : null;
}

export async function loadView(
  targets: readonly string[],
  compare: string,
  from: string,
  until: string,
  maxDataPoints: number,
  signal?: AbortSignal,
): Promise<ViewData> {
  const compared = compareTargets(targets, compare);
  const answers = await Promise.all(
    compared.map((one) =>
      getJson<RenderedSeries[]>(
        "render",
        renderParams([one.target], from, until, { format: "json", maxDataPoints: String(maxDataPoints) }),
        signal,
      ).then(
        (series) => ({ series, error: null }),
        (error: unknown) => {
          if (error instanceof ApiError && error.status === 400) return { series: [], error };
          throw error;
        },
      ),
    ),
  );
  const errors: TargetError[] = [];
  const raw: RenderedSeries[] = [];
  /** Where each raw series comes from: its compared target and its order in that answer. */
  const origins: { target: number; order: number }[] = [];
  answers.forEach((answer, index) => {
    const one = compared[index]!;
    if (answer.error) {
      if (one.shift === null) {
        errors.push({
          source: one.source,
          target: one.target,
          message: answer.error.message,
          position: errorPosition(answer.error.message),
        });
      }
      return;
    }
    answer.series.forEach((series, order) => {
      raw.push(series);
      origins.push({ target: index, order });
    });
  });
  const aligned = alignSeries(raw);
  // The statistics read the aligned values, the arrays the chart draws (a gap adds a null,
  // which they skip), rather than a copy of every series made for them.
  // The present series of each user's target, by their order within its answer.
  const present = new Map<number, Stats[]>();
  const drawn = raw.map((series, position): DrawnSeries => {
    const { target, order } = origins[position]!;
    const one = compared[target]!;
    const stats = seriesStats(aligned.values[position]!);
    if (one.shift === null) {
      const list = present.get(one.source) ?? [];
      list[order] = stats;
      present.set(one.source, list);
    }
    const mirror = one.shift === null ? undefined : present.get(one.source)?.[order];
    return {
      name: series.target,
      target,
      source: one.source,
      shift: one.shift,
      stats,
      change: mirror ? percentChange(mirror.avg, stats.avg) : null,
    };
  });
  return { compared, raw, drawn, aligned, errors };
}

export async function loadEvents(from: string, until: string, tags: string, signal?: AbortSignal) {
  const params = new URLSearchParams({ from, until });
  if (tags) params.set("tags", tags);
  return getJson<ListedEvent[]>("events/get_data", params, signal);
}

/** What a Graph page draws: its targets' data and, when it shows events, the range's events. */
export type GraphAnswer = [ViewData, ListedEvent[]];

/** The Graph page's data for a chart `width` pixels wide (`maxDataPoints` is one per pixel). */
export function loadGraphView(state: GraphState, width: number, signal: AbortSignal): Promise<GraphAnswer> {
  return Promise.all([
    loadView(state.targets, state.compare, state.from, state.until, width, signal),
    state.events ? loadEvents(state.from, state.until, state.eventTags, signal) : Promise.resolve([]),
  ]);
}
