// The Status page's model: the services' self-metrics (series under `abacus.`) as a tree of
// services and metrics, each with its current value and rate.

export const SELF_METRICS_PREFIX = "abacus";

export interface StatusMetric {
  name: string;
  kind: string;
  /** A counter: its count over the window; a gauge: its last value. */
  value: number | null;
  /** Per second: a counter's average rate over the window; a gauge's change over it. */
  rate: number | null;
}

/** A node of the tree: a metric at a leaf, children below a branch. */
export interface StatusNode {
  [segment: string]: StatusNode | StatusMetric;
}

export function isMetric(node: StatusNode | StatusMetric): node is StatusMetric {
  return typeof (node as StatusMetric).kind === "string" && typeof (node as StatusMetric).name === "string";
}

/** The render globs that read every self-metric of these names: one per kind and depth. */
export function statusTargets(names: readonly { name: string; kind: string }[]): string[] {
  const targets = new Set<string>();
  for (const { name, kind } of names) {
    if (!name.startsWith(`${SELF_METRICS_PREFIX}.`)) continue;
    const depth = name.split(".").length;
    const glob = [SELF_METRICS_PREFIX, ...Array(depth - 1).fill("*")].join(".");
    if (kind === "counter") {
      targets.add(`stats.counters.${glob}.count`);
      targets.add(`stats.counters.${glob}.rate`);
    } else if (kind === "gauge") {
      targets.add(`stats.gauges.${glob}`);
    }
  }
  return [...targets].sort();
}

type Points = [number | null, number][];

function present(points: Points): [number, number][] {
  return points.filter((point): point is [number, number] => point[0] !== null);
}

/** Builds the tree from the catalog's self-metric series and /render's answer for them. */
export function statusTree(
  series: readonly { name: string; kind: string }[],
  rendered: readonly { target: string; datapoints: Points }[],
): StatusNode {
  const byPath = new Map(rendered.map((one) => [one.target, one.datapoints]));
  const tree: StatusNode = {};
  for (const { name, kind } of [...series].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!name.startsWith(`${SELF_METRICS_PREFIX}.`)) continue;
    let value: number | null;
    let rate: number | null;
    if (kind === "counter") {
      const counts = present(byPath.get(`stats.counters.${name}.count`) ?? []);
      value = counts.length ? counts.reduce((sum, point) => sum + point[0], 0) : null;
      const rates = present(byPath.get(`stats.counters.${name}.rate`) ?? []);
      rate = rates.length ? rates.reduce((sum, point) => sum + point[0], 0) / rates.length : null;
    } else if (kind === "gauge") {
      const values = present(byPath.get(`stats.gauges.${name}`) ?? []);
      const first = values[0];
      const last = values.at(-1);
      value = last?.[0] ?? null;
      rate = first && last && last[1] > first[1] ? (last[0] - first[0]) / (last[1] - first[1]) : null;
    } else {
      continue;
    }
    const segments = name.split(".").slice(1);
    let node = tree;
    for (const segment of segments.slice(0, -1)) {
      const next = node[segment];
      if (next === undefined || isMetric(next)) {
        const branch: StatusNode = {};
        node[segment] = branch;
        node = branch;
      } else {
        node = next;
      }
    }
    node[segments.at(-1)!] = { name, kind, value, rate };
  }
  return tree;
}
