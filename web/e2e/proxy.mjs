// The browser test of single sign-on behind a proxy, against a running Abacus stack whose API
// believes `X-Forwarded-User` from 127.0.0.1 (`auth.proxy_user_header`, `auth.trusted_proxies`;
// tests/tests/web_app.rs set it up and sent a counter). The browser connects from 127.0.0.1
// and sends the header on every request, as oauth2-proxy would in front of it: the app shows
// the user signed in without a sign-in form, offers no sign-out (that is the proxy's), and a
// viewed graph lands in their history (a POST that repeats the user's CSRF token). A browser
// without the header is nobody. Screenshots go to web/test-results/proxy-*.png.
//
//   ABACUS_URL        the app's URL, e.g. http://127.0.0.1:8080/
//   ABACUS_CHROMIUM   the chromium binary (tests/web/setup.sh prints it)
//   ABACUS_E2E_METRIC a counter's target with data
//   ABACUS_E2E_USER   the user the "proxy" names, e.g. erin
//
// Prints each step's outcome and ends with "e2e: N passed, N failed".
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import assert from "node:assert/strict";
import { stepRunner } from "./steps.mjs";

const base = new URL(process.env.ABACUS_URL ?? "http://127.0.0.1:8080/");
const metric = process.env.ABACUS_E2E_METRIC ?? "stats.counters.web.proxy.hits.count";
const user = process.env.ABACUS_E2E_USER ?? "erin";
const out = new URL("../test-results/", import.meta.url).pathname;
mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.ABACUS_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const consoleErrors = [];
async function newPage(extraHTTPHeaders) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light", extraHTTPHeaders });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(`${page.url()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => consoleErrors.push(`${page.url()}: ${error.message}`));
  return page;
}
const behindProxy = await newPage({ "X-Forwarded-User": user });
const direct = await newPage({});

const { step, finish } = stepRunner(behindProxy, `${out}proxy-failed-`);

const url = (path) => new URL(path, base).toString();

await step("the proxy's user is shown signed in, with no sign-in form and no sign-out", async () => {
  await behindProxy.goto(url(""));
  await behindProxy.waitForSelector(`#signed-in-user:has-text("Signed in as ${user}")`);
  assert.equal(await behindProxy.locator("#sign-out").count(), 0);
  assert.equal(await behindProxy.locator('#user-menu a:has-text("Sign in")').count(), 0);
  await behindProxy.screenshot({ path: `${out}proxy-signed-in.png`, fullPage: true });
});

await step("a viewed graph lands in the proxy user's history", async () => {
  await behindProxy.goto(url(`graph?target=${encodeURIComponent(metric)}&from=-1h`));
  await behindProxy.waitForSelector("#graph-save button.star");
  const history = await behindProxy.evaluate(async (baseHref) => {
    const response = await fetch(new URL("api/v1/graphs/history", baseHref));
    return { status: response.status, body: await response.json() };
  }, base.toString());
  assert.equal(history.status, 200);
  assert.deepEqual(history.body[0].targets, [metric]);
  // Starring is a PATCH: it needs the CSRF token the app took from GET api/v1/session.
  await behindProxy.click("#graph-save button.star");
  await behindProxy.waitForSelector('#graph-save button.star[aria-pressed="true"]');
});

await step("a browser without the proxy's header is not signed in", async () => {
  await direct.goto(url(""));
  await direct.waitForSelector('#user-menu a:has-text("Sign in")');
  assert.equal(await direct.locator("#signed-in-user").count(), 0);
});

await step("no console errors", async () => {
  assert.deepEqual(consoleErrors, []);
});

await browser.close();
finish();
