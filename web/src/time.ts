// Time ranges: the presets, absolute ranges as unix seconds, and how a range reads.

export interface Preset {
  label: string;
  from: string;
}

export const PRESETS: readonly Preset[] = [
  { label: "5 min", from: "-5min" },
  { label: "15 min", from: "-15min" },
  { label: "1 hour", from: "-1h" },
  { label: "3 hours", from: "-3h" },
  { label: "6 hours", from: "-6h" },
  { label: "12 hours", from: "-12h" },
  { label: "24 hours", from: "-24h" },
  { label: "2 days", from: "-2d" },
  { label: "7 days", from: "-7d" },
  { label: "30 days", from: "-30d" },
  { label: "90 days", from: "-90d" },
  { label: "1 year", from: "-1y" },
];

/** Is this from/until an absolute range in unix seconds? */
export function isAbsolute(value: string): boolean {
  return /^\d{9,11}$/.test(value);
}

/** A zoomed or typed range as the URL keeps it: whole unix seconds, from before until. */
export function absoluteRange(fromSeconds: number, untilSeconds: number): { from: string; until: string } {
  const from = Math.floor(Math.min(fromSeconds, untilSeconds));
  let until = Math.ceil(Math.max(fromSeconds, untilSeconds));
  if (until <= from) until = from + 1;
  return { from: String(from), until: String(until) };
}

/** `<input type="datetime-local">` value (local time) ↔ unix seconds. */
export function toLocalInput(seconds: number): string {
  const date = new Date(seconds * 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function fromLocalInput(value: string): number | null {
  if (!value) return null;
  const millis = new Date(value).getTime();
  return Number.isNaN(millis) ? null : Math.floor(millis / 1000);
}

/** How a range reads in the toolbar. */
export function describeRange(from: string, until: string): string {
  const preset = PRESETS.find((one) => one.from === from);
  if (preset && until === "now") return `last ${preset.label}`;
  const show = (value: string) =>
    isAbsolute(value) ? new Date(Number(value) * 1000).toLocaleString() : value;
  return `${show(from)} → ${show(until)}`;
}
