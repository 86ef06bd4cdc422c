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
import { navigate, setRenderer, type Cleanup } from "./router.ts";


interface Page {
  route: string;
  title: string;
  render: (main: HTMLElement, search: string) => Cleanup;
}

const PAGES: Page[] = [
  { route: "", title: "Metrics", render: renderMetrics },
  { route: "graph", title: "Graph", render: renderGraph },
  { route: "dashboard", title: "Dashboard", render: renderDashboard },
  { route: "status", title: "Status", render: renderStatus },
];

let cleanup: Cleanup | null = null;

function notFound(main: HTMLElement): Cleanup {
  main.append(
    h("h1", {}, "Not found"),
    h("p", {}, "There is no page here. ", h("a", { href: href(""), "data-nav": true }, "See the metrics"), "."),
  );
  return () => {};
}

function render() {
  cleanup?.();
  const main = document.getElementById("main")!;
  main.replaceChildren();
  const route = routeOf(window.location.pathname);
  const page = PAGES.find((one) => one.route === route);
  document.title = page ? `${page.title} · Abacus` : "Not found · Abacus";
  const nav = document.getElementById("nav")!;
  nav.replaceChildren(
    ...PAGES.map((one) =>
      h(
        "a",
        { href: href(one.route), "data-nav": true, "aria-current": one === page ? "page" : null },
        one.title,
      ),
    ),
  );
  cleanup = page ? page.render(main, window.location.search) : notFound(main);
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

setRenderer(render);
window.addEventListener("popstate", render);
render();
