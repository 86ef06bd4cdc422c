// Navigation inside the app: History API entries, rendered by the shell (main.ts).

let renderPage: () => void = () => {};

export function setRenderer(render: () => void) {
  renderPage = render;
}

/** Goes to an app URL: a new history entry, or the current one replaced (no re-render then
 * unless `rerender`). */
export function navigate(url: string, options: { replace?: boolean; state?: unknown; rerender?: boolean } = {}) {
  const { replace = false, state = null, rerender = true } = options;
  if (replace) window.history.replaceState(state, "", url);
  else window.history.pushState(state, "", url);
  if (rerender) renderPage();
}

/** What a page returns: a function that releases its timers, requests and charts. */
export type Cleanup = () => void;
