// The app shell: a router over the History API. Every page renders from the URL alone, so
// reloading or sharing a link reproduces the view.
//
// Each page's code is its own chunk, fetched when the page is first shown: the shell is small
// and evaluated at once, so it can ask for a Graph page's data (first-view.ts) while the page's
// code and uPlot are still on their way. Chunks are immutable hashed assets, cached after the
// first visit. uPlot's stylesheet (1.6 KB) is the shell's: a chunk with a stylesheet of its own
// is evaluated only after that stylesheet's load event, which queues behind the answer's
// download and parse, and the page's code then came 30-60 ms late.
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { BASE, href, routeOf } from "./base.ts";
import { h } from "./dom.ts";
import { askFirstGraphView, dropFirstGraphView } from "./first-view.ts";
import { navigate, setRenderer, type Cleanup } from "./router.ts";
import { loadSession, signedInByProxy, signOut, type Session } from "./session.ts";

type Render = (main: HTMLElement, search: string, session: Session | null) => Cleanup;

interface Page {
  route: string;
  title: string;
  /** The page's code, fetched the first time the page is shown. */
  load: () => Promise<Render>;
  /** Asks for the page's data while its code loads. */
  ask?: (search: string, main: HTMLElement) => void;
  /** Reached from the user menu, not the page list. */
  inMenu?: boolean;
  /** Rendered before the session is known (given null; it asks for the session itself where
   * it needs it), so that its data is fetched at once rather than after a round trip. */
  early?: boolean;
}

const PAGES: Page[] = [
  { route: "", title: "Metrics", load: () => import("./pages/metrics.ts").then((code) => code.renderMetrics), early: true },
  {
    route: "graph",
    title: "Graph",
    load: () => import("./pages/graph.ts").then((code) => code.renderGraph),
    ask: askFirstGraphView,
    early: true,
  },
  { route: "dashboard", title: "Dashboard", load: () => import("./pages/dashboard.ts").then((code) => code.renderDashboard) },
  { route: "saved", title: "Users' graphs", load: () => import("./pages/saved.ts").then((code) => code.renderSaved) },
  { route: "status", title: "Status", load: () => import("./pages/status.ts").then((code) => code.renderStatus), early: true },
  { route: "signin", title: "Sign in", load: () => import("./pages/signin.ts").then((code) => code.renderSignIn), inMenu: true },
  { route: "tokens", title: "Tokens", load: () => import("./pages/tokens.ts").then((code) => code.renderTokens), inMenu: true },
];

/** Who is signed in, with sign-out; or a link to sign in that comes back here. */
function userMenu(session: Session | null): HTMLElement {
  if (!session) {
    const back = window.location.pathname + window.location.search;
    return h(
      "div",
      { class: "user-menu", id: "user-menu" },
      h("a", { href: href("signin", new URLSearchParams({ next: back })), "data-nav": true }, "Sign in"),
    );
  }
  const who = h("span", { id: "signed-in-user" }, `Signed in as ${session.user}${session.admin ? " (admin)" : ""}`);
  const tokens = h("a", { href: href("tokens"), "data-nav": true }, "Tokens");
  // The sign-in proxy signs this browser in on every request: signing out is the proxy's.
  if (signedInByProxy(session)) return h("div", { class: "user-menu", id: "user-menu" }, who, tokens);
  const out = h("button", { type: "button", id: "sign-out" }, "Sign out");
  out.addEventListener("click", async () => {
    await signOut().catch(() => {});
    render();
  });
  return h("div", { class: "user-menu", id: "user-menu" }, who, tokens, out);
}

let cleanup: Cleanup | null = null;

function notFound(main: HTMLElement): Cleanup {
  main.append(
    h("h1", {}, "Not found"),
    h("p", {}, "There is no page here. ", h("a", { href: href(""), "data-nav": true }, "See the metrics"), "."),
  );
  return () => {};
}

let renderCount = 0;

/** A page whose code cannot be fetched (most often: a new version was deployed since this tab
 * loaded, and the old chunks are gone). */
function cannotLoad(error: unknown): Render {
  return (main) => {
    main.append(
      h("h1", {}, "This page cannot load"),
      h("p", { role: "alert" }, `Its code did not arrive (${(error as Error).message}). Reloading the page fetches it again.`),
    );
    return () => {};
  };
}

async function render() {
  const mine = ++renderCount;
  const route = routeOf(window.location.pathname);
  const page = PAGES.find((one) => one.route === route);
  if (page?.ask) page.ask(window.location.search, document.getElementById("main")!);
  else dropFirstGraphView();
  const code = page ? page.load().catch(cannotLoad) : Promise.resolve(notFound);
  const asked = loadSession();
  if (page?.early) {
    const renderPage = await code;
    // A newer navigation started while the code was fetched: it renders instead.
    if (mine !== renderCount) return;
    show(page, renderPage, null);
  }
  const session = await asked;
  // A newer navigation started while the session was asked for: it renders instead.
  if (mine !== renderCount) return;
  if (!page?.early) {
    const renderPage = await code;
    if (mine !== renderCount) return;
    show(page, renderPage, session);
  }
  showUserMenu(session);
}

function show(page: Page | undefined, renderPage: Render, session: Session | null) {
  cleanup?.();
  const main = document.getElementById("main")!;
  main.replaceChildren();
  document.title = page ? `${page.title} · Abacus` : "Not found · Abacus";
  const nav = document.getElementById("nav")!;
  nav.replaceChildren(
    ...PAGES.filter((one) => !one.inMenu).map((one) =>
      h(
        "a",
        { href: href(one.route), "data-nav": true, "aria-current": one === page ? "page" : null },
        one.title,
      ),
    ),
  );
  cleanup = renderPage(main, window.location.search, session);
}

function showUserMenu(session: Session | null) {
  document.getElementById("user-menu")?.remove();
  document.getElementById("nav")!.after(userMenu(session));
}

document.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = (event.target as Element).closest?.("a[data-nav]");
  if (!(link instanceof HTMLAnchorElement)) return;
  if (!link.pathname.startsWith(BASE)) return;
  event.preventDefault();
  navigate(link.pathname + link.search);
});

setRenderer(() => void render());
window.addEventListener("popstate", () => void render());
void render();
