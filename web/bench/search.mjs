// `make bench-web`, last part: the Metrics page's search, keystroke by keystroke, against a
// running Abacus that holds the benchmark's 100,000 series (tests/src/bin/web-bench.rs starts
// the pipeline, sends them over statsd and runs this script).
//
// Debian's chromium (playwright-core) types the TEXTS below into the search box, a character at
// a time, with backspaces and clears (Ctrl+A, Backspace), at a typist's pace: the next key
// comes a seeded 100-220 ms after the one before (about 75 words a minute), or as soon as the
// previous keystroke was answered if that took longer, so each keystroke is timed alone.
//
// A keystroke's time, in the page's own clock (so playwright's polling is not counted):
//   from  the keydown event's timeStamp
//   to    the search status marking that the list now holds the answer for exactly the text
//         the box held after that key (#search-status[data-query], set by the app right after
//         it filled the list), as a MutationObserver sees it ("DOM updated"), and the next
//         animation frame after that ("frame": the frame that shows it). A failed search (a
//         400, e.g. for an unclosed `{`) is answered too: the list shows why.
// The baseline ("bare fetch"): in the same browser and origin, the very /api/v1/series URLs the
// page requested for those keystrokes, each fetched alone and its JSON parsed, at the same
// pace. Rounds alternate which goes first, after one warm-up round of each.
//
// Nothing is asserted about time. The script fails if the page showed a different count of
// series than the bare fetch got for the same URL, or on a page error.
//
//   ABACUS_URL       the app's URL (the API's root)
//   ABACUS_CHROMIUM  the chromium binary (tests/web/setup.sh prints it)
//   BENCH_ROUNDS     measured rounds (default 4), after one warm-up round
//   BENCH_SERIES     how many series the catalog holds (for the report)
/* global performance, MutationObserver, requestAnimationFrame */
import { launchBrowser, seeded } from "./browser.mjs";

const base = new URL(process.env.ABACUS_URL ?? "http://127.0.0.1:8080/");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const SERIES = Number(process.env.BENCH_SERIES ?? 0);

// What is typed. A string is typed a character at a time; { back: n } is n backspaces;
// CLEAR selects everything and deletes it (one measured keystroke: the Backspace). The names
// are host-NNNN.<service>.<metric>, 500 hosts × 20 services × 10 metrics.
const CLEAR = "clear";
const TEXTS = [
  // Substrings: a service, then one of its metrics, a backspace and another.
  ["checkout.lat", { back: 3 }, "err"],
  // A host, one of its services' metrics, back out, another.
  [CLEAR, "host-0421", ".pay", "ments.err", { back: 12 }, "cart.req"],
  // A typo, corrected.
  [CLEAR, "memroy", { back: 3 }, "ory_bytes"],
  // Globs, typed as they come: each prefix is searched (one ending in "." for any segment next).
  [CLEAR, "host-04*.search.latency", { back: 7 }, "errors"],
  [CLEAR, "*.payments.errors", { back: 6 }, "latency"],
  // A wide substring.
  [CLEAR, "latency"],
];

/** Every keystroke of TEXTS: the key pressed, the box's text after it, the pause planned after it. */
function keystrokes() {
  const pace = seeded(18);
  const keys = [];
  let text = "";
  const press = (key, next) => {
    text = next;
    keys.push({ key, text, pause: 100 + Math.floor(pace() * 120) });
  };
  for (const script of TEXTS) {
    for (const action of script) {
      if (action === CLEAR) press(CLEAR, "");
      else if (typeof action === "object") for (let n = 0; n < action.back; n += 1) press("Backspace", text.slice(0, -1));
      else for (const character of action) press(character, text + character);
    }
  }
  return keys;
}
const KEYS = keystrokes();

const { browser, context } = await launchBrowser();
// Each keydown and each answer the status marks, in the page's clock.
await context.addInitScript(() => {
  window.__keys = [];
  window.__answers = [];
  window.addEventListener("keydown", (event) => window.__keys.push({ key: event.key, at: event.timeStamp }), true);
  new MutationObserver((records) => {
    const now = performance.now();
    for (const record of records) {
      const status = record.target;
      const answer = { query: status.dataset.query, count: status.dataset.count ?? null, dom: now, frame: null };
      window.__answers.push(answer);
      requestAnimationFrame(() => {
        answer.frame = performance.now();
      });
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-query"] });
});
const page = await context.newPage();
page.setDefaultTimeout(30_000);
const pageErrors = [];
page.on("pageerror", (error) => pageErrors.push(error.message));
const requested = [];
page.on("request", (request) => {
  if (new URL(request.url()).pathname.endsWith("/api/v1/series")) requested.push(request.url());
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The request the page made for the box's `text` (the last one, if several). */
function requestFor(text) {
  const wanted = text.trim();
  for (let index = requested.length - 1; index >= 0; index -= 1) {
    const parameters = new URL(requested[index]).searchParams;
    const asked = parameters.get("contains") ?? parameters.get("match") ?? "";
    if (asked === wanted) return requested[index];
  }
  throw new Error(`the page made no /api/v1/series request for ${JSON.stringify(text)}`);
}

/** One round of the app: every keystroke typed into the Metrics page. */
async function appRound() {
  await page.goto("about:blank");
  requested.length = 0;
  await page.goto(new URL("./", base).toString());
  await page.waitForFunction(() => window.__answers.some((answer) => answer.query === "" && answer.frame !== null));
  const input = page.locator("#metric-search");
  await input.focus();
  const results = [];
  for (const { key, text, pause } of KEYS) {
    const before = await page.evaluate(() => window.__keys.length);
    if (key === CLEAR) {
      await page.keyboard.press("ControlOrMeta+A");
      await page.keyboard.press("Backspace");
    } else {
      await page.keyboard.press(key);
    }
    const pressed = key === CLEAR ? "Backspace" : key;
    const handle = await page.waitForFunction(
      ({ before, pressed, text }) => {
        const press = window.__keys.slice(before).findLast((one) => one.key === pressed);
        if (!press) return null;
        const answer = window.__answers.find((one) => one.query === text && one.dom >= press.at && one.frame !== null);
        return answer ? { dom: answer.dom - press.at, frame: answer.frame - press.at, count: answer.count } : null;
      },
      { before, pressed, text },
    );
    const answer = await handle.jsonValue();
    results.push({ text, ...answer, url: requestFor(text) });
    if (pause > answer.frame) await sleep(pause - answer.frame);
  }
  const left = await input.inputValue();
  if (left !== KEYS.at(-1).text) throw new Error(`the box holds ${JSON.stringify(left)}, not ${JSON.stringify(KEYS.at(-1).text)}`);
  return results;
}

/** One round of the bare fetches: each keystroke's request, alone, at the same pace. */
async function bareRound(urls) {
  await page.goto(new URL("./version", base).toString());
  const results = [];
  for (const [index, url] of urls.entries()) {
    const result = await page.evaluate(async (url) => {
      const started = performance.now();
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      const body = await response.json();
      return { took: performance.now() - started, status: response.status, count: Array.isArray(body) ? body.length : null };
    }, url);
    results.push(result);
    const pause = KEYS[index].pause;
    if (pause > result.took) await sleep(pause - result.took);
  }
  return results;
}

const warmUp = await appRound();
const urls = warmUp.map((one) => one.url);
await bareRound(urls);
console.log(
  `bench-web search: ${SERIES.toLocaleString("en")} series, ${KEYS.length} keystrokes a round (${TEXTS.length} typed texts), ` +
    `${ROUNDS} rounds after a warm-up, chromium ${browser.version()}`,
);

const app = [];
const bare = [];
for (let round = 0; round < ROUNDS; round += 1) {
  const order = round % 2 ? ["bare", "app"] : ["app", "bare"];
  for (const which of order) {
    if (which === "app") app.push(...(await appRound()));
    else bare.push(...(await bareRound(urls)));
  }
}
await browser.close();

// The page must have shown what the API answered: as many series, or no count for a refusal.
for (const [index, one] of app.entries()) {
  const alone = bare[index];
  const shown = one.count === null ? null : Number(one.count);
  const expected = alone.status === 200 ? alone.count : null;
  if (shown !== expected) {
    throw new Error(`${JSON.stringify(one.text)}: the page showed ${shown} series, the bare fetch got ${expected} (status ${alone.status})`);
  }
}

const sorted = (values) => [...values].sort((a, b) => a - b);
/** The nearest-rank percentile. */
const percentile = (values, p) => {
  const ordered = sorted(values);
  return ordered[Math.min(ordered.length, Math.max(1, Math.ceil((p / 100) * ordered.length))) - 1];
};
const row = (label, values) =>
  `${label.padEnd(44)}${percentile(values, 50).toFixed(1).padStart(8)}${percentile(values, 95).toFixed(1).padStart(8)}` +
  `${Math.max(...values).toFixed(1).padStart(8)}${String(values.length).padStart(7)}`;

const frames = app.map((one) => one.frame);
console.log(`${"ms".padEnd(44)}${"p50".padStart(8)}${"p95".padStart(8)}${"max".padStart(8)}${"n".padStart(7)}`);
console.log(row("keystroke → list shown (next frame)", frames));
console.log(row("keystroke → list updated (DOM)", app.map((one) => one.dom)));
console.log(row("bare fetch of the same request", bare.map((one) => one.took)));
console.log(
  `app / bare: p50 ${(percentile(frames, 50) / percentile(bare.map((one) => one.took), 50)).toFixed(2)}×, ` +
    `p95 ${(percentile(frames, 95) / percentile(bare.map((one) => one.took), 95)).toFixed(2)}×; ` +
    `issue 18's target, p95 under 100 ms: ${percentile(frames, 95) < 100 ? "met" : "NOT met"}`,
);
const late = app.filter((one, index) => one.frame > KEYS[index % KEYS.length].pause).length;
console.log(`keystrokes answered after the typist's next key would have come: ${late} of ${app.length}`);

// Where the time goes: by the size of the answer, the page beside the bare fetch.
const classes = [
  ["5,000 series (the page's limit)", (count) => count === 5000],
  ["1-4,999 series", (count) => count > 0 && count < 5000],
  ["no series", (count) => count === 0],
  ["refused (400)", (count) => count === null],
];
console.log(`by answer${"".padEnd(35)}${"app p50".padStart(8)}${"p95".padStart(8)}${"bare p50".padStart(10)}${"p95".padStart(8)}${"n".padStart(7)}`);
for (const [label, accepts] of classes) {
  const members = [...app.keys()].filter((index) => accepts(app[index].count === null ? null : Number(app[index].count)));
  if (members.length === 0) continue;
  const shown = members.map((index) => app[index].frame);
  const alone = members.map((index) => bare[index].took);
  console.log(
    `  ${label.padEnd(42)}${percentile(shown, 50).toFixed(1).padStart(8)}${percentile(shown, 95).toFixed(1).padStart(8)}` +
      `${percentile(alone, 50).toFixed(1).padStart(10)}${percentile(alone, 95).toFixed(1).padStart(8)}${String(members.length).padStart(7)}`,
  );
}
const slowest = sorted(app.map((one) => one.frame)).at(-5);
const worst = app.filter((one) => one.frame >= slowest).sort((a, b) => b.frame - a.frame);
console.log(`slowest keystrokes: ${worst.map((one) => `${JSON.stringify(one.text)} ${one.frame.toFixed(0)} ms`).join(", ")}`);
if (pageErrors.length) {
  console.log(`page errors:\n  ${pageErrors.join("\n  ")}`);
  process.exit(1);
}
