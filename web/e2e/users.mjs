// The browser test of users in the web app, against a running Abacus stack whose API keeps the
// default policy (`auth.writes = "token"`) and has users alice and bob
// (tests/tests/web_app.rs made them and sent a counter). Drives Debian's chromium with
// playwright-core: sign in (and back to the page that asked), post an event (a write, with the
// session's CSRF header), a viewed graph lands in the history, star and name it, build and save
// a dashboard, make and revoke a token, sign out; then as bob see alice's dashboard read-only
// and fail to change it. Screenshots go to web/test-results/users-*.png.
//
//   ABACUS_URL        the app's URL, e.g. http://127.0.0.1:8080/
//   ABACUS_CHROMIUM   the chromium binary (tests/web/setup.sh prints it)
//   ABACUS_E2E_METRIC a counter's target with data, e.g. stats.counters.web.users.hits.count
//   ABACUS_E2E_USERS  "alice:password,bob:password"
//
// Prints each step's outcome and ends with "e2e: N passed, N failed".
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import assert from "node:assert/strict";
import { stepRunner } from "./steps.mjs";

const base = new URL(process.env.ABACUS_URL ?? "http://127.0.0.1:8080/");
const metric = process.env.ABACUS_E2E_METRIC ?? "stats.counters.web.users.hits.count";
const [[alice, alicePassword], [bob, bobPassword]] = (process.env.ABACUS_E2E_USERS ?? "alice:alice's password,bob:bob's password")
  .split(",")
  .map((pair) => [pair.slice(0, pair.indexOf(":")), pair.slice(pair.indexOf(":") + 1)]);
const out = new URL("../test-results/", import.meta.url).pathname;
mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.ABACUS_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light" });
const page = await context.newPage();
page.setDefaultTimeout(20_000);
page.on("dialog", (dialog) => void dialog.accept());
const consoleErrors = [];
// Chromium logs every 4xx answer as a console error; a wrong password expects a 401, trying
// to change another user's dashboard a 403.
let expectedStatus = null;
page.on("console", (message) => {
  if (message.type() !== "error") return;
  if (expectedStatus && message.text().includes(`status of ${expectedStatus}`)) return;
  consoleErrors.push(`${page.url()}: ${message.text()}`);
});
page.on("pageerror", (error) => consoleErrors.push(`${page.url()}: ${error.message}`));

const { step, finish } = stepRunner(page, `${out}users-failed-`);

const url = (path) => new URL(path, base).toString();
const shot = (name) => page.screenshot({ path: `${out}users-${name}.png`, fullPage: true });
const graphPath = `graph?target=${encodeURIComponent(metric)}&from=-1h&events=1`;

/** The API answer to a request the page itself makes, with its session cookie. */
function apiFromPage(method, path, body, withCsrf = true) {
  return page.evaluate(
    async ([method, path, body, withCsrf, baseHref]) => {
      const who = await (await fetch(new URL("api/v1/session", baseHref))).json();
      const headers = { "Content-Type": "application/json" };
      if (withCsrf) headers["X-Abacus-CSRF"] = who.csrf_token;
      const response = await fetch(new URL(path, baseHref), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: response.status, body: await response.json() };
    },
    [method, path, body, withCsrf, base.toString()],
  );
}

async function signInAs(user, password) {
  await page.fill("#signin-user", user);
  await page.fill("#signin-password", password);
  await page.click("#signin-submit");
  await page.waitForSelector(`#signed-in-user:has-text("${user}")`);
}

let dashboardId = null;

await step("sign in from a page, and back to it", async () => {
  await page.goto(url(graphPath));
  await page.waitForSelector("main[data-loaded]");
  await page.click('#user-menu a:has-text("Sign in")');
  await page.waitForSelector("#signin-user");
  await shot("signin");
  await page.fill("#signin-user", alice);
  await page.fill("#signin-password", "not her password");
  expectedStatus = 401;
  await page.click("#signin-submit");
  await page.waitForSelector('#signin-status:has-text("wrong user name or password")');
  expectedStatus = null;
  await signInAs(alice, alicePassword);
  assert.equal(new URL(page.url()).pathname + new URL(page.url()).search, new URL(url(graphPath)).pathname + new URL(url(graphPath)).search);
  await page.waitForSelector("main[data-loaded]");
});

await step("a signed-in user posts an event (writes need a token or a session)", async () => {
  await page.fill('input[aria-label="Event"]', "deploy from the browser");
  await page.click('button:has-text("Post event")');
  await page.waitForSelector('#graph-status:has-text("Event posted")');
});

await step("the graph lands in the history; star and name it", async () => {
  await page.waitForSelector("#graph-save button.star");
  const history = await apiFromPage("GET", "api/v1/graphs/history");
  assert.equal(history.status, 200);
  assert.deepEqual(history.body[0].targets, [metric]);
  await page.click("#graph-save button.star");
  await page.waitForSelector('#graph-save button.star[aria-pressed="true"]');
  await page.fill("#graph-save input.graph-name", "Hits");
  await page.click("#graph-save button.save-name");
  await page.waitForSelector('#graph-status:has-text("Named")');
  await shot("graph-saved");
  await page.click('nav a:has-text("Users\' graphs")');
  await page.waitForSelector('#history li a:has-text("Hits")');
  await page.waitForSelector('#named-graphs li a:has-text("Hits")');
  await shot("saved");
});

await step("build and save a dashboard", async () => {
  await page.click('nav a:has-text("Dashboard")');
  await page.fill('input[aria-label="Dashboard title"]', "Alice's board");
  await page.press('input[aria-label="Dashboard title"]', "Enter");
  await page.waitForFunction(() => new URLSearchParams(window.location.search).get("d")?.includes("Alice"));
  await page.fill(".target-input", metric);
  await page.click('button:has-text("Add graph")');
  await page.waitForSelector("#dashboard-grid .chart[data-series]");
  await page.click("#dashboard-save-button");
  await page.waitForFunction(() => new URLSearchParams(window.location.search).has("id"));
  dashboardId = new URLSearchParams(new URL(page.url()).search).get("id");
  await page.waitForSelector('#dashboard-save-button:has-text("Saved")');
  await page.waitForSelector("#dashboard-grid .chart[data-series]");
  await shot("dashboard-saved");
});

await step("make a token, shown once, and revoke it", async () => {
  await page.click('#user-menu a:has-text("Tokens")');
  await page.fill("#token-name", "from the browser");
  await page.selectOption("#token-scope", "read");
  await page.click("#token-create");
  const secret = await page.textContent("#token-secret");
  assert.match(secret, /^abacus_/);
  await page.waitForSelector('#token-table tr:has-text("from the browser")');
  await shot("tokens");
  await page.click('#token-table button[aria-label="Revoke token from the browser"]');
  await page.waitForSelector('#tokens-status:has-text("Revoked")');
  assert.equal(await page.locator('#token-table tr:has-text("from the browser")').count(), 0);
});

await step("sign out", async () => {
  await page.click("#sign-out");
  await page.waitForSelector('#user-menu a:has-text("Sign in")');
});

await step("another user views the dashboard read-only and cannot change it", async () => {
  await page.goto(url("signin"));
  await signInAs(bob, bobPassword);
  await page.goto(url("saved"));
  await page.click(`#saved-dashboards a:has-text("Alice's board")`);
  await page.waitForSelector('#read-only:has-text("alice")');
  await page.waitForSelector("#dashboard-grid .chart[data-series]");
  assert.equal(await page.locator("#dashboard-save-button").count(), 0, "no Save for another's dashboard");
  assert.equal(await page.locator("#dashboard-delete").count(), 0, "no Delete either");
  assert.ok(await page.locator('input[aria-label="Dashboard title"]').isDisabled(), "the title cannot be edited");
  assert.ok(await page.locator('button:has-text("Add graph")').isDisabled(), "no graph can be added");
  await shot("dashboard-read-only");
  expectedStatus = 403;
  const edit = await apiFromPage("PUT", `api/v1/dashboards/${dashboardId}`, { title: "Bob's now", graphs: [] });
  assert.equal(edit.status, 403);
  assert.match(edit.body.error, /belongs to "alice"/);
  const rename = await apiFromPage("PATCH", `api/v1/graphs/${(await apiFromPage("GET", "api/v1/graphs")).body[0].id}`, { name: "mine" });
  assert.equal(rename.status, 403);
  expectedStatus = null;
  const still = await apiFromPage("GET", `api/v1/dashboards/${dashboardId}`);
  assert.equal(still.body.title, "Alice's board");
  await page.click("#dashboard-duplicate");
  await page.waitForSelector('#dashboard-save-button:has-text("Saved")');
  await page.waitForSelector('input[aria-label="Dashboard title"][value="Copy of Alice\'s board"]');
});

await step("no console errors", async () => {
  assert.deepEqual(consoleErrors, []);
});

await browser.close();
finish();
