// The app shell: a router over the History API. Every page renders from the URL alone, so
// reloading or sharing a link reproduces the view.
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { BASE, href, routeOf } from "./base.ts";
import { h } from "./dom.ts";
import { renderMetrics } from "./pages/metrics.ts";
import { renderGraph } from "./pages/graph.ts";
import { renderDashboard } from "./pages/dashboard.ts";
import { renderStatus } from "./pages/status.ts";
import { renderSignIn } from "./pages/signin.ts";
import { renderTokens } from "./pages/tokens.ts";
import { renderSaved } from "./pages/saved.ts";
import { navigate, setRenderer, type Cleanup } from "./router.ts";
import { loadSession, signedInByProxy, signOut, type Session } from "./session.ts";

interface Page {
  route: string;
  title: string;
  render: (main: HTMLElement, search: string, session: Session | null) => Cleanup;
  /** Reached from the user menu, not the page list. */
  inMenu?: boolean;
  /** Rendered before the session is known (given null; it asks for the session itself where
   * it needs it), so that its data is fetched at once rather than after a round trip. */
  early?: boolean;
}

const PAGES: Page[] = [
  { route: "", title: "Metrics", render: renderMetrics, early: true },
  { route: "graph", title: "Graph", render: renderGraph, early: true },
  { route: "dashboard", title: "Dashboard", render: renderDashboard },
  { route: "saved", title: "Users' graphs", render: renderSaved },
  { route: "status", title: "Status", render: renderStatus, early: true },
  { route: "signin", title: "Sign in", render: renderSignIn, inMenu: true },
  { route: "tokens", title: "Tokens", render: renderTokens, inMenu: true },
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

async function render() {
  const mine = ++renderCount;
  const route = routeOf(window.location.pathname);
  const page = PAGES.find((one) => one.route === route);
  const asked = loadSession();
  if (page?.early) show(page, null);
  const session = await asked;
  // A newer navigation started while the session was asked for: it renders instead.
  if (mine !== renderCount) return;
  if (!page?.early) show(page, session);
  showUserMenu(session);
}

function show(page: Page | undefined, session: Session | null) {
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
  cleanup = page ? page.render(main, window.location.search, session) : notFound(main);
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
