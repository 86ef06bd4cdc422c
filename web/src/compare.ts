// Compare periods: the same targets a day, a week or each of the last N weeks back, as timeShift
// targets the API evaluates, and the change between a period and the present in per cent.

export interface ComparedTarget {
  /** The expression sent to /render. */
  target: string;
  /** Index of the user's target this one derives from. */
  source: number;
  /** The shift ("1d", "2w"), or null for the present. */
  shift: string | null;
}

/** The shifts a compare mode asks for, nearest first. */
export function compareShifts(mode: string): string[] {
  if (mode === "1d" || mode === "1w") return [mode];
  const weeks = /^([2-8])w$/.exec(mode);
  if (!weeks) return [];
  const count = Number(weeks[1]);
  return Array.from({ length: count }, (_, index) => `${index + 1}w`);
}

/** Every target of the view: the user's, each followed by its shifted copies. */
export function compareTargets(targets: readonly string[], mode: string): ComparedTarget[] {
  const shifts = compareShifts(mode);
  const result: ComparedTarget[] = [];
  targets.forEach((target, source) => {
    result.push({ target, source, shift: null });
    for (const shift of shifts) {
      result.push({ target: `timeShift(${target}, '${shift}')`, source, shift });
    }
  });
  return result;
}

/** A human label for a shift: "1 day ago", "2 weeks ago". */
export function shiftLabel(shift: string): string {
  const match = /^(\d+)([dw])$/.exec(shift);
  if (!match) return `${shift} ago`;
  const count = Number(match[1]);
  const unit = match[2] === "d" ? "day" : "week";
  return `${count} ${unit}${count === 1 ? "" : "s"} ago`;
}

/**
 * The change from `before` to `now` in per cent, or null when it has no meaning (either is
 * missing, or `before` is zero).
 */
export function percentChange(now: number | null, before: number | null): number | null {
  if (now === null || before === null || before === 0) return null;
  return ((now - before) / Math.abs(before)) * 100;
}

export function formatPercent(change: number | null): string {
  if (change === null || !Number.isFinite(change)) return "–";
  const sign = change > 0 ? "+" : "";
  return `${sign}${change.toFixed(1)}%`;
}
