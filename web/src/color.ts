// Series colours. Canvas strokes take any CSS colour, but not every browser's canvas parses
// newer syntax (color-mix), so a lighter shade is plain rgba.

/** `#rrggbb` with an alpha, as `rgba(r, g, b, a)`. */
export function withAlpha(hex: string, alpha: number): string {
  const match = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!match) return hex;
  const [r, g, b] = match.slice(1).map((part) => parseInt(part, 16));
  return `rgba(${r}, ${g}, ${b}, ${Math.min(1, Math.max(0, alpha))})`;
}

/**
 * The style of a drawn series: its target's palette colour; a shifted copy (compare periods)
 * dashed and fainter the further back it is.
 */
export function seriesStyle(
  palette: readonly string[],
  index: number,
  shift: string | null,
  source: number,
): { color: string; dash?: number[] } {
  if (shift === null) return { color: palette[index % palette.length]! };
  const base = palette[source % palette.length]!;
  const back = Number(/^(\d+)/.exec(shift)?.[1] ?? "1");
  return { color: withAlpha(base, Math.max(0.3, 0.75 - back * 0.12)), dash: [6, 4] };
}
