// What the two browser benchmarks (graph.mjs, search.mjs) share: the same browser, set up the
// same way, and the same seeded generator, so every run draws and types the same.
import { chromium } from "playwright-core";

/** Debian's chromium (tests/web/setup.sh prints its path into ABACUS_CHROMIUM) and a 1280×800
 * light-themed context, as the figures in tests/bench/README.md were taken. */
export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.ABACUS_CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light" });
  return { browser, context };
}

/** A small seeded generator (mulberry32): numbers in [0, 1). */
export function seeded(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
