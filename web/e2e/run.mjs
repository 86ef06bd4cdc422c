// The browser test of the web app, against a running Abacus stack that holds the data
// tests/tests/web_app.rs sent (over statsd and Graphite plaintext). Drives Debian's chromium
// with playwright-core; screenshots of each page go to web/test-results/.
//
//   ABACUS_URL        the app's URL, e.g. http://127.0.0.1:8080/
//   ABACUS_CHROMIUM   the chromium binary (tests/web/setup.sh prints it)
//   ABACUS_E2E_PREFIX the metric name prefix the test sent (e.g. web.e2e)
//
// Every check is a step; the script prints each step's outcome and ends with
// "e2e: N passed, N failed", exiting non-zero when a step failed.
import { chromium } from "playwright-core";
import AxeBuilder from "@axe-core/playwright";
import { mkdirSync } from "node:fs";
import http from "node:http";
import assert from "node:assert/strict";
import { stepRunner } from "./steps.mjs";

const base = new URL(process.env.ABACUS_URL ?? "http://127.0.0.1:8080/");
const prefix = process.env.ABACUS_E2E_PREFIX ?? "web.e2e";
const out = new URL("../test-results/", import.meta.url).pathname;
mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.ABACUS_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light" });
const page = await context.newPage();
page.setDefaultTimeout(20_000);
const consoleErrors = [];
// Chromium logs every 4xx answer as a console error; only the parse-error step expects one.
let expectBadRequest = false;
page.on("console", (message) => {
  if (message.type() !== "error") return;
  if (expectBadRequest && /status of 400/.test(message.text())) return;
  consoleErrors.push(`${page.url()}: ${message.text()}`);
});
page.on("pageerror", (error) => consoleErrors.push(`${page.url()}: ${error.message}`));

const { step, finish } = stepRunner(page, `${out}failed-`);

const url = (path) => new URL(path, base).toString();
const shot = (name) => page.screenshot({ path: `${out}${name}.png`, fullPage: true });

/** What the app's own formatter shows, re-implemented independently of the app's code. */
function compact(value) {
  if (value === null) return "–";
  const magnitude = Math.abs(value);
  if (magnitude === 0) return "0";
  const trim = (text) => (text.includes(".") && !text.includes("e") ? text.replace(/\.?0+$/, "") : text);
  for (const [size, suffix] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (magnitude >= size) return `${trim((value / size).toPrecision(3))}${suffix}`;
  }
  if (magnitude < 1e-3) return value.toExponential(2);
  return trim(value.toPrecision(4));
}

function stats(datapoints) {
  const values = datapoints.map((point) => point[0]).filter((value) => value !== null);
  if (values.length === 0) return { min: null, max: null, avg: null, last: null };
  return {
    min: Math.min(...values),
    max: Math.max(...values),
    avg: values.reduce((a, b) => a + b, 0) / values.length,
    last: values.at(-1),
  };
}

/** Records the /render answers the page receives (the very data it draws). */
function recordRenders() {
  const answers = [];
  const listener = (response) => {
    if (new URL(response.url()).pathname.endsWith("/render") && response.status() === 200) {
      const answer = response.json();
      // A failure is reported by stop(), not as an unhandled rejection before it is called.
      answer.catch(() => {});
      answers.push(answer);
    }
  };
  page.on("response", listener);
  return {
    async stop() {
      page.off("response", listener);
      return Promise.all(answers);
    },
  };
}

/** Opens a Graph page, waits until it has loaded, and returns the /render answers it drew. */
async function openGraph(path) {
  // Leave the previous page first, so none of its answers still in flight is recorded.
  await page.goto("about:blank");
  const renders = recordRenders();
  await page.goto(url(path));
  await page.waitForSelector("main[data-loaded]");
  return renders.stop();
}

async function legendRows() {
  return page.$$eval("#legend tbody tr", (rows) =>
    rows.map((row) => [...row.querySelectorAll("td")].map((cell) => cell.textContent.trim())),
  );
}

/** Pixels of the chart canvas close to a colour: proof that a series was drawn. */
async function pixelsOf(color) {
  return page.$eval(
    "#chart canvas",
    (canvas, [r, g, b]) => {
      const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      let count = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (Math.abs(data[i] - r) < 40 && Math.abs(data[i + 1] - g) < 40 && Math.abs(data[i + 2] - b) < 40 && data[i + 3] > 128) count += 1;
      }
      return count;
    },
    color,
  );
}

async function axe(name) {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((one) => one.impact === "serious" || one.impact === "critical");
  assert.deepEqual(
    bad.map((one) => `${one.id} (${one.impact}): ${one.nodes.slice(0, 3).map((node) => node.target.join(" ")).join(", ")}`),
    [],
    `accessibility violations on ${name}`,
  );
}

const counter = `${prefix}.requests`;
const graphitePath = `${prefix}.load`;

/** Types into the Metrics page's search and waits for that search's answer. */
async function search(text) {
  await page.fill("#metric-search", text);
  await page.waitForSelector(`#search-status[data-query="${text}"]`);
  return page.$$eval(".series-name", (links) => links.map((link) => link.textContent));
}

await step("metrics page: search finds the counter", async () => {
  await page.goto(url("./"));
  const names = await search("e2e.req");
  assert.deepEqual(names, [counter]);
  assert.match(page.url(), /\?q=e2e\.req$/);
  assert.deepEqual(await search("nothing-is-called-this"), []);
  await search("e2e");
  await shot("metrics-search");
});

await step("metrics page: the tree leads to the counter", async () => {
  await page.goto(url("./"));
  const segments = prefix.split(".");
  for (const segment of segments) {
    await page.locator(`#metric-tree button.branch[data-path$="${segment}"]`, { hasText: segment }).first().click();
  }
  const leaf = page.locator("#metric-tree a.leaf", { hasText: /^requests$/ }).first();
  await leaf.waitFor();
  await shot("metrics-tree");
  await leaf.click();
  await page.waitForSelector("main[data-loaded]");
  assert.equal(new URL(page.url()).searchParams.get("target"), counter);
});

await step("accessibility of the Metrics page", async () => {
  await page.goto(url("./"));
  await page.waitForSelector("#search-status[data-count]");
  await axe("Metrics");
});

await step("graph: the drawn series is what /render answers", async () => {
  await page.goto(url("./"));
  assert.deepEqual(await search(counter), [counter]);
  const renders = recordRenders();
  await page.locator(".series-name", { hasText: counter }).first().click();
  await page.waitForSelector("main[data-loaded]");
  assert.equal(new URL(page.url()).searchParams.get("target"), `stats.counters.${counter}.rate`);
  const answers = await renders.stop();
  assert.equal(answers.length, 1);
  const [answer] = answers;
  assert.equal(answer.length, 1);
  const expected = stats(answer[0].datapoints);
  assert.ok(expected.max > 0, "the counter has a rate above 0");
  const [row] = await legendRows();
  assert.deepEqual(row.slice(1), [expected.min, expected.max, expected.avg, expected.last].map(compact));
  assert.equal(await page.getAttribute("#chart", "data-points"), String(answer[0].datapoints.length));
  assert.ok((await pixelsOf([0x2f, 0x7e, 0xd8])) > 20, "the series' line is on the canvas");
  await shot("graph");
});

await step("graph: drag to zoom, double-click back", async () => {
  const before = new URL(page.url()).searchParams.get("from");
  // The points already drawn are drawn again at the new range (and, going back, what was drawn
  // there) before the range is fetched: main[data-held] changes each time.
  const held = () => page.getAttribute("main", "data-held");
  const heldChanged = (previous) => page.waitForFunction((previous) => document.querySelector("main")?.dataset.held !== previous, previous);
  const heldBeforeZoom = await held();
  const box = await page.locator("#chart .u-over").boundingBox();
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.7, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction(() => /^\d+$/.test(new URL(location.href).searchParams.get("from") ?? ""));
  const zoomed = new URL(page.url()).searchParams;
  assert.ok(Number(zoomed.get("until")) > Number(zoomed.get("from")));
  await heldChanged(heldBeforeZoom);
  await page.waitForSelector("main[data-loaded]");
  const heldBeforeBack = await held();
  await page.locator("#chart .u-over").dblclick();
  await page.waitForFunction((from) => new URL(location.href).searchParams.get("from") === from, before);
  await heldChanged(heldBeforeBack);
});

/** The Graph page's own code (a chunk of its own, web/src/main.ts). */
const GRAPH_CODE = /\/assets\/graph-[^/]*\.js$/;

await step("graph: a shared link asks for its data while the page's code loads", async () => {
  // The Graph page's code arrives half a second late here; its /render request must not wait
  // for it, and the page must draw that answer rather than ask again. (Routing turns off the
  // browser's cache, so the code is fetched.)
  const order = [];
  await page.goto("about:blank");
  await page.route(GRAPH_CODE, async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 500));
    order.push("graph code answered");
    await route.continue();
  });
  const onRequest = (request) => {
    if (new URL(request.url()).pathname.endsWith("/render")) order.push("render requested");
  };
  page.on("request", onRequest);
  try {
    await page.goto(url(`graph?target=${encodeURIComponent(counter)}&from=-1h`));
    await page.waitForSelector("main[data-loaded]");
  } finally {
    page.off("request", onRequest);
    await page.unroute(GRAPH_CODE);
  }
  assert.deepEqual(order, ["render requested", "graph code answered"]);
  assert.equal(await page.getAttribute("#chart", "data-series"), "1");
});

await step("a page whose code cannot be fetched says so", async () => {
  // Another tab, whose failed fetch is not one of this test's console errors.
  const other = await context.newPage();
  try {
    await other.route(GRAPH_CODE, (route) => route.abort());
    await other.goto(url(`graph?target=${encodeURIComponent(counter)}`));
    await other.getByRole("heading", { name: "This page cannot load" }).waitFor();
    assert.match(await other.getByRole("alert").textContent(), /Reloading the page fetches it again/);
  } finally {
    await other.close();
  }
});

await step("graph: compare a week back shows the change in per cent", async () => {
  await openGraph(`graph?target=${encodeURIComponent(graphitePath)}&from=-3h`);
  await page.selectOption("#compare", "1w");
  await page.waitForFunction(() => new URL(location.href).searchParams.get("compare") === "1w");
  await page.waitForFunction(() => document.querySelectorAll("#legend tbody tr").length === 2);
  const rows = await legendRows();
  assert.match(rows[1][0], /1 week ago/);
  // now: every point 10; a week ago: every point 5.
  assert.equal(rows[0][3], "10");
  assert.equal(rows[1][3], "5");
  assert.equal(rows[1][5], "+100.0%");
  await shot("graph-compare");
});

await step("graph: the sequential x-axis plots only the points there are", async () => {
  const [answer] = await openGraph(`graph?target=${encodeURIComponent(graphitePath)}&from=-3h`);
  const present = answer[0].datapoints.filter((point) => point[0] !== null).length;
  assert.ok(present > 1 && present < answer[0].datapoints.length, `${present} of ${answer[0].datapoints.length} points`);
  await page.check("#sequential");
  await page.waitForFunction(() => new URL(location.href).searchParams.get("x") === "seq");
  await page.waitForSelector("main[data-loaded]");
  assert.equal(await page.getAttribute("#chart", "data-points"), String(present));
  await shot("graph-sequential");
});

await step("graph: events are drawn as markers with their text", async () => {
  await openGraph(`graph?target=stats.counters.${counter}.rate&from=-1h&events=1`);
  const marker = page.locator(".event-marker").first();
  await marker.waitFor();
  assert.match(await marker.getAttribute("aria-label"), /deploy 42/);
  await marker.focus();
  await page.locator(".event-tip", { hasText: "deploy 42" }).waitFor({ state: "visible" });
  await shot("graph-events");
});

await step("accessibility of the Graph page", async () => {
  await axe("Graph");
});

await step("graph: a parse error is shown at its position", async () => {
  expectBadRequest = true;
  await openGraph(`graph?target=${encodeURIComponent("sumSeries(a.b,")}`);
  const error = page.locator(".target-error");
  await error.waitFor();
  assert.match(await error.textContent(), /position 14/);
  assert.match(await error.locator("pre").textContent(), /\n {14}\^$/);
  expectBadRequest = false;
});

await step("graph: Table and JSON tabs", async () => {
  await openGraph(`graph?target=${encodeURIComponent(graphitePath)}&from=-3h&tab=table`);
  assert.ok((await page.locator("#data-table tbody tr").count()) > 1);
  await openGraph(`graph?target=${encodeURIComponent(graphitePath)}&from=-3h&tab=json`);
  const parsed = JSON.parse(await page.textContent("#json-view"));
  assert.equal(parsed[0].target, graphitePath);
  const csv = await page.getAttribute("#download-csv", "href");
  const response = await fetch(new URL(csv, base));
  assert.equal(response.status, 200);
  assert.match(await response.text(), new RegExp(graphitePath.replace(/\./g, "\\.")));
});

await step("graph: the embed mode shows only the chart and legend", async () => {
  await openGraph(`graph?target=${encodeURIComponent(graphitePath)}&from=-3h&embed=1`);
  assert.equal(await page.isVisible("nav"), false);
  assert.equal(await page.isVisible(".target-input"), false);
  assert.equal((await legendRows()).length, 1);
  const link = page.locator("a.embed-only");
  assert.ok(await link.isVisible());
  assert.doesNotMatch(await link.getAttribute("href"), /embed/);
});

await step("render: svg and png pictures the browser decodes at the asked size", async () => {
  const picture = (format) =>
    url(`render?target=${encodeURIComponent(graphitePath)}&from=-3h&format=${format}&width=480&height=240&title=load`);
  for (const format of ["png", "svg"]) {
    const response = await page.request.get(picture(format));
    assert.equal(response.status(), 200, format);
    assert.equal(response.headers()["content-type"], format === "png" ? "image/png" : "image/svg+xml");
  }
  // The browser itself decodes both, as an <img> in a wiki or an e-mail would.
  // (A page without an icon makes the browser ask for /favicon.ico, which the API does not have.)
  await page.setContent(
    `<link rel="icon" href="data:,"><img id="png" src="${picture("png")}"><img id="svg" src="${picture("svg")}">`,
  );
  const sizes = await page.evaluate(async () =>
    Promise.all(
      ["png", "svg"].map(async (id) => {
        const image = document.getElementById(id);
        await image.decode();
        return [image.naturalWidth, image.naturalHeight];
      }),
    ),
  );
  assert.deepEqual(sizes, [
    [480, 240],
    [480, 240],
  ]);
  const refused = await page.request.get(url(`render?target=a&format=png&width=0`));
  assert.equal(refused.status(), 400);
  assert.match((await refused.json()).error, /invalid width/);
  await shot("render-pictures");
});

await step("dashboard: opened from its URL, every graph drawn", async () => {
  const dashboard = {
    title: "e2e",
    from: "-3h",
    until: "now",
    graphs: [
      { title: "requests", targets: [`stats.counters.${counter}.rate`] },
      { title: "load", targets: [graphitePath] },
    ],
  };
  await page.goto(url(`dashboard?d=${encodeURIComponent(JSON.stringify(dashboard))}`));
  await page.waitForFunction(() => document.querySelectorAll("#dashboard-grid .chart[data-series='1']").length === 2);
  await shot("dashboard");
});

await step("dashboard: add a graph with the target editor, a title and a preview", async () => {
  const empty = { title: "form", from: "-3h", until: "now", graphs: [] };
  await page.goto(url(`dashboard?d=${encodeURIComponent(JSON.stringify(empty))}`));
  await page.fill("#new-graph-title", "Load by form");
  // The Graph page's editor: a metric path completed from /metrics/find.
  const first = page.locator("#new-graph .target-input").first();
  await first.pressSequentially(graphitePath.slice(0, -2));
  await page.locator("#new-graph .suggestions li", { hasText: graphitePath }).first().click();
  assert.equal(await first.inputValue(), graphitePath);
  // A second target with a parse error: the preview names it, with a caret at its position.
  await page.click('#new-graph button:has-text("+ Target")');
  const second = page.locator("#new-graph .target-input").nth(1);
  expectBadRequest = true;
  await second.fill("sumSeries(a.b,");
  const renders = recordRenders();
  await page.click("#preview-graph");
  await page.waitForSelector("#graph-preview[data-series]");
  const answers = await renders.stop();
  expectBadRequest = false;
  const error = page.locator("#new-graph .target-error");
  assert.match(await error.textContent(), /^Target 2: .*position 14/);
  assert.match(await error.locator("pre").textContent(), /\n {14}\^$/);
  // The preview draws what /render answers for the good target.
  assert.equal(answers.length, 1);
  assert.equal(answers[0][0].target, graphitePath);
  assert.equal(await page.getAttribute("#graph-preview", "data-series"), "1");
  assert.equal(await page.getAttribute("#graph-preview", "data-points"), String(answers[0][0].datapoints.length));
  await shot("dashboard-add-graph");
  await axe("Dashboard");
  // Remove the bad target; Add puts the titled graph into the dashboard's URL and grid.
  await page.click('#new-graph button[aria-label="Remove target 2 of the new graph"]');
  await page.click("#add-graph");
  await page.waitForFunction(() => new URLSearchParams(location.search).get("d")?.includes("Load by form"));
  const added = JSON.parse(new URL(page.url()).searchParams.get("d"));
  assert.deepEqual(added.graphs, [{ title: "Load by form", targets: [graphitePath] }]);
  await page.waitForSelector("#dashboard-grid .chart[data-series='1']");
  assert.equal(await page.locator("#dashboard-grid h2").textContent(), "Load by form");
});

await step("status: the services' self-metrics with values and rates", async () => {
  await page.goto(url("status"));
  await page.waitForSelector("main[data-loaded]");
  const row = page.locator("#status-table tr", { has: page.locator("a", { hasText: /^packets_received$/ }) });
  const cells = await row.locator("td").allTextContents();
  assert.equal(cells[1], "counter");
  assert.ok(Number(cells[2]) > 0, `packets received: ${cells[2]}`);
  assert.match(cells[3], /\/s$/);
  await axe("Status");
  await shot("status");
  await page.goto(url("status?format=prettyjson"));
  const tree = JSON.parse(await page.locator("#status-json").textContent());
  assert.equal(tree.aggregator.packets_received.kind, "counter");
  // The storage worker publishes its own into the stream too: batches it stored.
  assert.equal(tree.storage_worker.batches_stored.kind, "counter");
  assert.ok(tree.storage_worker.batches_stored.value > 0, JSON.stringify(tree.storage_worker));
  // And the API: the requests this test made.
  assert.ok(tree.api.requests.value > 0, JSON.stringify(tree.api));
});

await step("graph: autocomplete of metric paths and functions", async () => {
  await openGraph("graph");
  const input = page.locator(".target-input").first();
  await input.fill("");
  await input.pressSequentially("stats.coun");
  await page.locator(".suggestions li", { hasText: "stats.counters." }).first().waitFor();
  await input.press("Enter");
  assert.equal(await input.inputValue(), "stats.counters.");
  await page.locator(".suggestions li", { hasText: `stats.counters.${prefix.split(".")[0]}.` }).first().waitFor();
  await input.fill("");
  await input.pressSequentially("sumSer");
  const option = page.locator(".suggestions li", { hasText: "sumSeries(" }).first();
  await option.waitFor();
  assert.match(await option.textContent(), /sumSeries\(seriesLists/);
  await input.press("Tab");
  assert.equal(await input.inputValue(), "sumSeries(");
});

await step("under a path prefix behind a reverse proxy", async () => {
  // A proxy serving the API under /abacus/, as nginx's `location /abacus/ { proxy_pass …/; }`.
  const proxy = http.createServer((request, response) => {
    if (!request.url.startsWith("/abacus/")) {
      response.writeHead(404).end();
      return;
    }
    const upstream = http.request(
      new URL(request.url.slice("/abacus".length), base),
      { method: request.method, headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode, answer.headers);
        answer.pipe(response);
      },
    );
    request.pipe(upstream);
  });
  await new Promise((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  try {
    const proxied = `http://127.0.0.1:${proxy.address().port}/abacus/`;
    await page.goto(`${proxied}graph?target=${encodeURIComponent(graphitePath)}&from=-3h`);
    await page.waitForSelector("main[data-loaded]");
    assert.equal((await legendRows()).length, 1);
    assert.equal(await page.getAttribute("nav a:first-child", "href"), "/abacus/");
    await page.click("nav a:first-child");
    assert.deepEqual(await search("e2e.lo"), [graphitePath]);
    assert.equal(new URL(page.url()).pathname, "/abacus/");
  } finally {
    await page.goto("about:blank");
    proxy.close();
  }
});

await step("readable on a phone: nothing wider than the screen", async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    for (const path of ["./", `graph?target=${encodeURIComponent(graphitePath)}&from=-3h&compare=1w`, "status"]) {
      await page.goto(url(path));
      await page.waitForTimeout(300);
      if (path !== "./") await page.waitForSelector("main[data-loaded]");
      const [scrollWidth, innerWidth] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      assert.ok(scrollWidth <= innerWidth, `${path}: ${scrollWidth}px wide on a ${innerWidth}px screen`);
    }
    await shot("status-phone");
    await page.goto(url(`graph?target=${encodeURIComponent(graphitePath)}&from=-3h&compare=1w`));
    await page.waitForSelector("main[data-loaded]");
    await shot("graph-phone");
  } finally {
    await page.setViewportSize({ width: 1280, height: 800 });
  }
});

await step("dark theme follows the system", async () => {
  await page.emulateMedia({ colorScheme: "dark" });
  await openGraph(`graph?target=${encodeURIComponent(graphitePath)}&from=-3h&compare=1w`);
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(background, "rgb(20, 23, 28)");
  await shot("graph-dark");
  await page.emulateMedia({ colorScheme: "light" });
});

await step("no console errors", async () => {
  assert.deepEqual(consoleErrors, []);
});

await browser.close();
finish();
