// The chart: uPlot with gaps for nulls, an optional right-hand axis, a sequential x-axis,
// event markers, and drag-to-zoom reported to the page (which keeps the range in the URL).
import uPlot from "uplot";
import type { ListedEvent } from "./api.ts";
import { h } from "./dom.ts";
import { formatValue } from "./series.ts";

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  color: string;
  dash?: number[];
  hidden: boolean;
  right: boolean;
}

export interface ChartInput {
  /** Unix seconds of each row. */
  times: number[];
  series: ChartSeries[];
  /** Plot rows at 1, 2, 3, … instead of at their times. */
  sequential: boolean;
  events: ListedEvent[];
  height: number;
  /** Cursor sync group (dashboards). */
  syncKey?: string;
  /** A range was dragged: unix seconds. */
  onZoom?: (from: number, until: number) => void;
  onReset?: () => void;
}

export const PALETTE = [
  "#2f7ed8",
  "#e4572e",
  "#29a745",
  "#9b59b6",
  "#f0a202",
  "#17a2b8",
  "#d63384",
  "#6c757d",
  "#8c564b",
  "#1f3a93",
];

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

// Made once: `toLocaleTimeString(…, options)` builds a formatter on every call, and the axes
// format their ticks several times per draw (4-6 ms of a Graph page's first drawing).
const DAY_FORMAT = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const TIME_FORMAT = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

function formatTime(seconds: number, span: number): string {
  return (span > 3 * 86400 ? DAY_FORMAT : TIME_FORMAT).format(seconds * 1000);
}

/** Draws a chart into `container`; returns it so the page can destroy it. */
export function drawChart(container: HTMLElement, input: ChartInput): uPlot {
  const text = cssVar("--text", "#222");
  const grid = cssVar("--grid", "rgba(128,128,128,0.2)");
  const x = input.sequential ? input.times.map((_, index) => index + 1) : input.times;
  const span = (input.times.at(-1) ?? 0) - (input.times[0] ?? 0);
  const hasRight = input.series.some((one) => one.right && !one.hidden);
  const markers = h("div", { class: "event-markers" });

  const axisBase = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
  const options: uPlot.Options = {
    width: Math.max(container.clientWidth, 300),
    height: input.height,
    legend: { show: false },
    scales: { x: { time: !input.sequential } },
    cursor: {
      drag: { x: true, y: false, setScale: false },
      sync: input.syncKey ? { key: input.syncKey } : undefined,
      bind: { dblclick: () => () => null },
    },
    series: [
      {},
      ...input.series.map((one) => ({
        label: one.label,
        stroke: one.color,
        width: 1.5,
        dash: one.dash,
        show: !one.hidden,
        scale: one.right ? "y2" : "y",
        spanGaps: false,
        // A value between two gaps has no line to be part of: draw it as a dot.
        points: { show: true, size: 5, fill: one.color, filter: isolatedPoints },
      })),
    ],
    axes: [
      {
        ...axisBase,
        values: input.sequential
          ? undefined
          : (_u: uPlot, splits: number[]) => splits.map((split) => formatTime(split, span)),
      },
      { ...axisBase, scale: "y", size: 60, values: (_u: uPlot, splits: number[]) => splits.map(formatValue) },
      ...(hasRight
        ? [{ ...axisBase, scale: "y2", side: 1, size: 60, grid: { show: false }, values: (_u: uPlot, splits: number[]) => splits.map(formatValue) }]
        : []),
    ],
    hooks: {
      setSelect: [
        (u) => {
          if (u.select.width < 2) return;
          const low = u.posToVal(u.select.left, "x");
          const high = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          if (!input.onZoom) return;
          if (input.sequential) {
            const first = input.times[Math.max(0, Math.floor(low) - 1)];
            const last = input.times[Math.min(input.times.length - 1, Math.ceil(high) - 1)];
            if (first !== undefined && last !== undefined) input.onZoom(first, last + 1);
          } else {
            input.onZoom(low, high);
          }
        },
      ],
      draw: [(u) => placeMarkers(u, markers, input)],
    },
  };
  const data: uPlot.AlignedData = [x, ...input.series.map((one) => one.values)];
  const plot = new uPlot(options, data, container);
  plot.over.addEventListener("dblclick", () => input.onReset?.());
  plot.root.querySelector(".u-wrap")?.append(markers);
  return plot;
}

/** Indices of the values whose neighbours are both gaps (so no line segment shows them). */
export function isolatedPoints(u: uPlot, seriesIndex: number): number[] | null {
  const values = u.data[seriesIndex] as (number | null | undefined)[];
  const found: number[] = [];
  for (let index = 0; index < values.length; index += 1) {
    if (values[index] == null) continue;
    if (values[index - 1] == null && values[index + 1] == null) found.push(index);
  }
  return found;
}

/** Event markers: a focusable line per event, with what, tags and data shown on hover/focus. */
function placeMarkers(u: uPlot, layer: HTMLElement, input: ChartInput) {
  layer.replaceChildren();
  if (input.sequential) return;
  const ratio = window.devicePixelRatio || 1;
  const left = u.bbox.left / ratio;
  const top = u.bbox.top / ratio;
  const height = u.bbox.height / ratio;
  const [low, high] = [u.scales.x?.min ?? 0, u.scales.x?.max ?? 0];
  for (const event of input.events) {
    if (event.when < low || event.when > high) continue;
    const position = left + u.valToPos(event.when, "x");
    const when = new Date(event.when * 1000).toLocaleString();
    layer.append(
      h(
        "button",
        {
          type: "button",
          // The tip opens towards the middle of the chart, so it stays on the page.
          class: position > left + u.bbox.width / ratio / 2 ? "event-marker tip-left" : "event-marker",
          style: `left:${position}px;top:${top}px;height:${height}px`,
          "aria-label": `Event at ${when}: ${event.what}`,
          "data-event-id": event.id,
        },
        h(
          "span",
          { class: "event-tip", role: "tooltip" },
          h("strong", {}, event.what),
          h("span", {}, when),
          event.tags.length ? h("span", {}, `tags: ${event.tags.join(" ")}`) : null,
          event.data ? h("span", {}, event.data) : null,
        ),
      ),
    );
  }
}
