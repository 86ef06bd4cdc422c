// The Graph page's first data, asked for by the shell the moment it runs, while the page's own
// code (and uPlot with it) is still being fetched and evaluated: the request leaves when it
// would on a page that only fetched (17-24 ms after navigation start here, where it waited for
// ~70 KB of code). The load is one thread's work, so this moves the code's evaluation into the
// wait for the answer rather than removing it (tests/bench/README.md has the figures).
import { loadGraphView, type GraphAnswer } from "./data.ts";
import { parseGraphState } from "./state.ts";

export interface FirstView {
  answer: Promise<GraphAnswer>;
  /** Aborts the requests; the page that takes the answer owns it. */
  controller: AbortController;
}

let pending: (FirstView & { search: string }) | null = null;

/** How wide the page's chart will be before the page is built: as wide as `main`. */
export function firstChartWidth(main: HTMLElement): number {
  return Math.max(300, main.clientWidth || 800);
}

/** Asks for what the Graph page at `search` will draw in `main`. */
export function askFirstGraphView(search: string, main: HTMLElement) {
  dropFirstGraphView();
  const state = parseGraphState(search);
  if (state.targets.length === 0) return;
  const controller = new AbortController();
  const answer = loadGraphView(state, firstChartWidth(main), controller.signal);
  // Taken or dropped later; until then a failure must not be reported as unhandled.
  answer.catch(() => {});
  pending = { search, answer, controller };
}

/** The answer asked for this very URL, once; null when none was (or another URL's was). */
export function takeFirstGraphView(search: string): FirstView | null {
  if (pending?.search !== search) {
    dropFirstGraphView();
    return null;
  }
  const taken = pending;
  pending = null;
  return taken;
}

/** Aborts an answer no page took (the user went elsewhere before the page's code arrived). */
export function dropFirstGraphView() {
  pending?.controller.abort();
  pending = null;
}
