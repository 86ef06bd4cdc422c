// `make bench-web`: how fast the Graph page draws, beside bare uPlot drawing the same data on a
// blank page, in the same run and the same browser (Debian's chromium driven by
// playwright-core, set up by tests/web/setup.sh). Two ways, both run by `make bench-web`:
//
// * Every point drawn (the default): a small HTTP server in this process serves the built app
//   (web/dist, with the SPA fallback the API has) and a seeded synthetic /render answer: 10
//   series × 10,000 points (a random walk, one point every 10 s), in the JSON shape the API
//   answers, fed to the app's real data path (loadView → alignSeries → drawChart, the legend's
//   statistics, the event layer). This server ignores maxDataPoints, which the real API
//   consolidates to about one point per pixel: every point is drawn, the worst case.
// * The real API (BENCH_API set; tests/src/bin/web-bench.rs stores 10 series × 8,640 points, a
//   day at 10 s, and runs this): the same server passes every request but the blank page's to
//   the API, which serves the app it embedded and answers /render itself, consolidating to the
//   maxDataPoints the page asks for. This is issue 18's figure.
//
// The blank page loads only uPlot's own build from web/node_modules (the very version the app
// bundles) and fetches the very /render URL the app requested (its maxDataPoints included).
//
// For each page, per round:
//   load     navigation start → the chart drawn (performance.now() in the page, whose origin is
//            the navigation's start, read when the page marks itself drawn: the app's
//            main[data-loaded], set right after its chart and legend; the blank page's uPlot
//            draw hook)
//   zoom     a mouse drag over the middle half of the chart: mouseup → drawn again. The app
//            first draws the points it holds at the new range (main[data-held]), as bare uPlot
//            rescales the data it holds, then puts the range in the URL and asks /render for it
//            (so the answer here is cut to the range, as the API would) and draws that
//            (main[data-loaded]): both are timed.
//   back     a double-click: → drawn again (the app goes back in history and draws what it drew
//            there at once, then fetches it afresh; bare uPlot resets)
// and the bare fetch: navigation start → the /render JSON parsed, on the blank page.
//
// Rounds alternate which page goes first; medians are printed with the ratio app / bare.
// Nothing is asserted about speed; the script fails only if a page did not draw all the points.
//
//   ABACUS_CHROMIUM   the chromium binary (tests/web/setup.sh prints it)
//   BENCH_ROUNDS      measured rounds (default 7), after one warm-up round
//   BENCH_SERIES, BENCH_POINTS   the answer's shape (default 10 × 10,000)
//   BENCH_API         the API's root URL: draw what it stores instead (with BENCH_TARGET,
//                     BENCH_FROM and BENCH_UNTIL, the series and range it holds; BENCH_SERIES
//                     and BENCH_POINTS then say what it stores, for the report)
// The functions handed to the page run in the browser, where these are globals.
/* global performance, MutationObserver */
import { launchBrowser, seeded } from "./browser.mjs";
import { readFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";

const WEB_DIR = new URL("..", import.meta.url).pathname;
const DIST = path.join(WEB_DIR, "dist");
const UPLOT_DIST = path.join(WEB_DIR, "node_modules", "uplot", "dist");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const SERIES = Number(process.env.BENCH_SERIES ?? 10);
const POINTS = Number(process.env.BENCH_POINTS ?? 10_000);
const STEP = 10;
const API = process.env.BENCH_API ? new URL(process.env.BENCH_API) : null;
/** The range the pages ask for: exactly the answer's points, (FROM, UNTIL]. */
const FROM = API ? Number(process.env.BENCH_FROM) : 1_767_225_600; // 2026-01-01 00:00 UTC
const UNTIL = API ? Number(process.env.BENCH_UNTIL) : FROM + POINTS * STEP;
const TARGET = API ? process.env.BENCH_TARGET : "bench.*";
if (API && !(TARGET && Number.isFinite(FROM) && Number.isFinite(UNTIL))) {
  throw new Error("BENCH_API needs BENCH_TARGET, BENCH_FROM and BENCH_UNTIL");
}

const { version: uplotVersion } = JSON.parse(await readFile(path.join(WEB_DIR, "node_modules", "uplot", "package.json"), "utf8"));

// ---- the /render answer ----------------------------------------------------------------------
const random = seeded(18);
const allSeries = Array.from({ length: API ? 0 : SERIES }, (_, index) => {
  let value = 100 * (index + 1);
  const datapoints = [];
  for (let point = 1; point <= POINTS; point += 1) {
    value = Math.max(0, value + (random() - 0.5) * 10);
    datapoints.push([Math.round(value * 1000) / 1000, FROM + point * STEP]);
  }
  const name = `bench.s${String(index).padStart(2, "0")}`;
  return { target: name, tags: { name }, datapoints };
});
const fullAnswer = JSON.stringify(allSeries);

/** The answer for (from, until], as /render cuts it. */
function answerFor(from, until) {
  if (from <= FROM && until >= UNTIL) return fullAnswer;
  return JSON.stringify(
    allSeries.map((one) => ({ ...one, datapoints: one.datapoints.filter(([, time]) => time > from && time <= until) })),
  );
}

// ---- the server -------------------------------------------------------------------------------
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".json": "application/json" };

const BARE_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bare uPlot</title>
<link rel="stylesheet" href="/uplot/uPlot.min.css"><script src="/uplot/uPlot.iife.min.js"></script></head>
<body><div id="chart"></div><script>
const size = new URLSearchParams(location.hash.slice(1));
fetch("/render" + location.search, { headers: { Accept: "application/json" } })
  .then((response) => response.json())
  .then((series) => {
    window.__fetchedAt = performance.now();
    const data = [series[0].datapoints.map((point) => point[1]), ...series.map((one) => one.datapoints.map((point) => point[0]))];
    let draws = 0;
    new uPlot({
      width: Number(size.get("w") || 1200),
      height: Number(size.get("h") || 360),
      series: [{}, ...series.map((one, index) => ({ label: one.target, stroke: "hsl(" + index * 36 + ",70%,45%)", width: 1.5 }))],
      hooks: { draw: [() => { document.body.dataset.loaded = String(++draws); }] },
    }, data, document.getElementById("chart"));
    document.getElementById("chart").dataset.points = String(data[0].length);
    document.getElementById("chart").dataset.series = String(series.length);
  });
</script></body></html>`;

// The API's cache headers (api/src/web.rs): hashed assets are immutable, pages are revalidated.
// uPlot's own build, which the blank page loads, is cached as the app's assets are.
const IMMUTABLE = "public, max-age=31536000, immutable";

async function serveFile(response, file, cache = "no-cache") {
  try {
    const body = await readFile(file);
    response.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream", "cache-control": cache });
    response.end(body);
    return true;
  } catch {
    return false;
  }
}

/** Passes a request to the API as it came, and its answer back as it comes. */
function passToApi(request, response) {
  const upstream = http.request(
    new URL(request.url, API),
    { method: request.method, headers: { ...request.headers, host: API.host } },
    (answer) => {
      response.writeHead(answer.statusCode, answer.headers);
      answer.pipe(response);
    },
  );
  upstream.on("error", (error) => {
    response.writeHead(502, { "content-type": "application/json" });
    response.end(JSON.stringify({ error: `the API did not answer: ${error.message}` }));
  });
  request.pipe(upstream);
}

const server = http.createServer(async (request, response) => {
  const url = new URL(request.url, "http://bench");
  if (url.pathname === "/bare.html") {
    response.writeHead(200, { "content-type": TYPES[".html"], "cache-control": "no-cache" });
    response.end(BARE_PAGE);
    return;
  }
  if (url.pathname.startsWith("/uplot/") && (await serveFile(response, path.join(UPLOT_DIST, path.basename(url.pathname)), IMMUTABLE))) return;
  if (API) {
    passToApi(request, response);
    return;
  }
  if (url.pathname === "/render") {
    const from = Number(url.searchParams.get("from"));
    const until = Number(url.searchParams.get("until"));
    if (url.searchParams.get("target") !== TARGET || !Number.isFinite(from) || !Number.isFinite(until)) {
      response.writeHead(400, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: `this benchmark answers only target=${TARGET} with absolute from and until` }));
      return;
    }
    response.writeHead(200, { "content-type": "application/json" });
    response.end(answerFor(from, until));
    return;
  }
  if (url.pathname.startsWith("/assets/") && (await serveFile(response, path.join(DIST, "assets", path.basename(url.pathname)), IMMUTABLE))) return;
  // Anything else is a page of the app (the API's SPA fallback); its API calls are not needed.
  if (path.extname(url.pathname) === "") {
    await serveFile(response, path.join(DIST, "index.html"));
    return;
  }
  response.writeHead(404, { "content-type": "application/json" });
  response.end(JSON.stringify({ error: "not found" }));
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

// ---- the browser ------------------------------------------------------------------------------
const { browser, context } = await launchBrowser();
// Every page marks, in its own clock, each time it says it has drawn (the data-loaded attribute
// changes) and each mouseup / double-click, so the figures do not include playwright's polling.
await context.addInitScript(() => {
  window.__marks = [];
  const mark = (kind) => window.__marks.push([kind, performance.now()]);
  new MutationObserver((mutations) => {
    for (const mutation of mutations) mark(mutation.attributeName === "data-held" ? "held" : "drawn");
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-loaded", "data-held"] });
  window.addEventListener("mouseup", () => mark("mouseup"), true);
  window.addEventListener("dblclick", () => mark("dblclick"), true);
});
const page = await context.newPage();
page.setDefaultTimeout(60_000);
const pageErrors = [];
page.on("pageerror", (error) => pageErrors.push(error.message));

const range = `target=${encodeURIComponent(TARGET)}&from=${FROM}&until=${UNTIL}`;
/** The query of the app's first /render request (read in the warm-up), which the blank page
 * sends as it is; and the points the app drew from its answer, which the blank page must draw
 * too. (Every point, unless the real API consolidated them.) */
let renderQuery = null;
let expectedPoints = API ? null : SERIES * POINTS;
const PAGES = {
  app: { url: () => `${origin}/graph?${range}`, marked: "main[data-loaded]" },
  bare: { url: (size) => `${origin}/bare.html${renderQuery}#w=${size.width}&h=${size.height}`, marked: "body[data-loaded]" },
};

/** Milliseconds from the last mark of `kind` (or navigation) to the first `drawn` mark after it
 * ("drawn": the page's data-loaded; "held": the app's data-held). */
async function drawnAfter(kind, drawn = "drawn") {
  const handle = await page.waitForFunction(
    ([kind, drawn]) => {
      const marks = window.__marks;
      let start = 0;
      if (kind) {
        const index = marks.findLastIndex((one) => one[0] === kind);
        if (index < 0) return null;
        start = marks[index][1];
        const found = marks.slice(index).find((one) => one[0] === drawn);
        return found ? found[1] - start : null;
      }
      const found = marks.find((one) => one[0] === drawn);
      return found ? found[1] - start : null;
    },
    [kind, drawn],
  );
  return handle.jsonValue();
}

async function chartSize() {
  return page.$eval("#chart canvas", (canvas) => ({ width: Math.round(canvas.getBoundingClientRect().width), height: Math.round(canvas.getBoundingClientRect().height) }));
}

async function drawnPoints() {
  return page.$eval("#chart", (chart) => Number(chart.dataset.series) * Number(chart.dataset.points));
}

/** One page's round: load, zoom into the middle half, double-click back. */
async function measure(which, size) {
  await page.goto("about:blank");
  await page.goto(PAGES[which].url(size));
  await page.waitForSelector(PAGES[which].marked);
  const load = await drawnAfter(null);
  const fetched = which === "bare" ? await page.evaluate(() => window.__fetchedAt) : null;
  const points = await drawnPoints();
  if (points !== expectedPoints) throw new Error(`${which}: drew ${points} points, not ${expectedPoints}`);

  const box = await page.locator("#chart .u-over").boundingBox();
  const middle = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.25, middle);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.75, middle, { steps: 5 });
  await page.mouse.up();
  const zoom = await drawnAfter("mouseup");
  // Bare uPlot's redraw is its only one; the app's first is the held points at the new range.
  const zoomHeld = which === "app" ? await drawnAfter("mouseup", "held") : zoom;
  const zoomedPoints = which === "app" ? await drawnPoints() : null;
  // The real API answers a narrower range at a finer step: as many points, or fewer.
  if (zoomedPoints !== null && !(zoomedPoints > 0 && (API ? zoomedPoints <= expectedPoints : zoomedPoints < expectedPoints))) {
    throw new Error(`app: the zoomed chart holds ${zoomedPoints} points`);
  }
  if (which === "app" && !(Number(new URL(page.url()).searchParams.get("from")) > FROM)) throw new Error("app: the zoom did not narrow the range");

  await page.mouse.dblclick(box.x + box.width / 2, middle);
  const back = await drawnAfter("dblclick");
  const backHeld = which === "app" ? await drawnAfter("dblclick", "held") : back;
  if (which === "app" && (await drawnPoints()) !== expectedPoints) throw new Error("app: double-click did not go back to the whole range");
  return { load, zoom, zoomHeld, back, backHeld, fetched };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const ms = (value) => `${value.toFixed(1)} ms`;

// The warm-up round also reads the app's chart size, which the bare page then takes, its
// /render request and the points it drew.
const firstRender = page.waitForResponse((response) => new URL(response.url()).pathname === "/render");
await page.goto(PAGES.app.url());
await page.waitForSelector(PAGES.app.marked);
const rendered = await firstRender;
renderQuery = new URL(rendered.url()).search;
const answerBytes = (await rendered.body()).length;
expectedPoints ??= await drawnPoints();
const size = await chartSize();
console.log(
  `bench-web: ${SERIES} series × ${POINTS.toLocaleString("en")} points = ${(SERIES * POINTS).toLocaleString("en")} points ` +
    `${API ? `stored, ${expectedPoints.toLocaleString("en")} drawn as the API consolidated them (${renderQuery.match(/maxDataPoints=\d+/)})` : "drawn"}, ` +
    `chart ${size.width}×${size.height} px, uPlot ${uplotVersion}, ${(answerBytes / 1e6).toFixed(2)} MB of /render JSON, ` +
    `${ROUNDS} rounds after a warm-up, chromium ${browser.version()}`,
);
await measure("app", size);
await measure("bare", size);

const results = { app: [], bare: [] };
for (let round = 0; round < ROUNDS; round += 1) {
  const order = round % 2 ? ["bare", "app"] : ["app", "bare"];
  for (const which of order) results[which].push(await measure(which, size));
}
await browser.close();
server.close();

const pick = (which, key) => results[which].map((one) => one[key]);
const rows = [
  ["navigation → chart drawn", "load"],
  ["zoom (drag) → held redrawn", "zoomHeld"],
  ["zoom (drag) → range fetched", "zoom"],
  ["double-click → held redrawn", "backHeld"],
  ["double-click → fetched again", "back"],
];
console.log(`${"".padEnd(30)}${"app (median, min-max)".padEnd(30)}${"bare uPlot (median, min-max)".padEnd(32)}app / bare`);
for (const [label, key] of rows) {
  const app = pick("app", key);
  const bare = pick("bare", key);
  const spread = (values) => `${ms(median(values))} (${Math.min(...values).toFixed(0)}-${Math.max(...values).toFixed(0)})`;
  console.log(`${label.padEnd(30)}${spread(app).padEnd(30)}${spread(bare).padEnd(32)}${(median(app) / median(bare)).toFixed(2)}×`);
}
const fetchOnly = median(pick("bare", "fetched"));
console.log(
  `bare fetch (navigation → /render JSON parsed, blank page): ${ms(fetchOnly)}; app load / bare fetch: ${(median(pick("app", "load")) / fetchOnly).toFixed(2)}×`,
);
if (pageErrors.length) {
  console.log(`page errors:\n  ${pageErrors.join("\n  ")}`);
  process.exit(1);
}
