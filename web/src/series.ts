// From /render's JSON to what the chart, legend and table show: series aligned on one x-axis,
// nulls kept as gaps, and per-series statistics.

export interface RenderedSeries {
  target: string;
  tags?: Record<string, string>;
  datapoints: [number | null, number][];
}

export interface Aligned {
  /** Unix seconds, ascending. */
  times: number[];
  /** One array per series, `null` where it has no value (a gap). */
  values: (number | null)[][];
}

/** Aligns series on the union of their timestamps. */
export function alignSeries(series: readonly RenderedSeries[]): Aligned {
  if (series.length === 0) return { times: [], values: [] };
  const first = series[0]!.datapoints;
  const sameGrid = series.every(
    (one) =>
      one.datapoints.length === first.length &&
      one.datapoints.every((point, index) => point[1] === first[index]![1]),
  );
  if (sameGrid) {
    return {
      times: first.map((point) => point[1]),
      values: series.map((one) => one.datapoints.map((point) => point[0])),
    };
  }
  const all = new Set<number>();
  for (const one of series) for (const point of one.datapoints) all.add(point[1]);
  const times = [...all].sort((a, b) => a - b);
  const position = new Map(times.map((time, index) => [time, index]));
  const values = series.map((one) => {
    const row: (number | null)[] = new Array(times.length).fill(null);
    for (const [value, time] of one.datapoints) row[position.get(time)!] = value;
    return row;
  });
  return { times, values };
}

/** Keeps only the rows where some series has a value, for the sequential x-axis. */
export function sequentialRows(aligned: Aligned): Aligned & { positions: number[] } {
  const keep: number[] = [];
  for (let row = 0; row < aligned.times.length; row += 1) {
    if (aligned.values.some((values) => values[row] !== null)) keep.push(row);
  }
  return {
    times: keep.map((row) => aligned.times[row]!),
    values: aligned.values.map((values) => keep.map((row) => values[row]!)),
    positions: keep.map((_, index) => index + 1),
  };
}

export interface Stats {
  min: number | null;
  max: number | null;
  avg: number | null;
  last: number | null;
  count: number;
}

export function seriesStats(values: readonly (number | null)[]): Stats {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let count = 0;
  let last: number | null = null;
  for (const value of values) {
    if (value === null || !Number.isFinite(value)) continue;
    if (value < min) min = value;
    if (value > max) max = value;
    sum += value;
    count += 1;
    last = value;
  }
  if (count === 0) return { min: null, max: null, avg: null, last: null, count };
  return { min, max, avg: sum / count, last, count };
}

/** A compact number for legends and tables: 1234567 → "1.23M", 0.000123 → "1.23e-4". */
export function formatValue(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return "–";
  const magnitude = Math.abs(value);
  if (magnitude === 0) return "0";
  const units: [number, string][] = [
    [1e12, "T"],
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "k"],
  ];
  for (const [size, suffix] of units) {
    if (magnitude >= size) return `${trim((value / size).toPrecision(3))}${suffix}`;
  }
  if (magnitude < 1e-3) return value.toExponential(2);
  return trim(value.toPrecision(4));
}

function trim(text: string): string {
  return text.includes(".") && !text.includes("e") ? text.replace(/\.?0+$/, "") : text;
}
