// The step runner the browser tests share (run.mjs, users.mjs, proxy.mjs): each step passes or
// fails on its own, so one broken page does not hide the others; each is printed as it ends,
// a failed one with the top of its stack and a screenshot of the page named after it; and the
// script ends with "e2e: N passed, N failed", exiting non-zero when a step failed.

/** A runner whose failed steps leave `${screenshotPrefix}<step name>.png` of `page`. */
export function stepRunner(page, screenshotPrefix) {
  let passed = 0;
  let failed = 0;
  async function step(name, run) {
    try {
      await run();
      passed += 1;
      console.log(`ok   ${name}`);
    } catch (error) {
      failed += 1;
      console.log(`FAIL ${name}\n     ${String(error?.stack ?? error).split("\n").slice(0, 6).join("\n     ")}`);
      await page.screenshot({ path: `${screenshotPrefix}${name.replace(/\W+/g, "-")}.png` }).catch(() => {});
    }
  }
  /** Prints the counts and exits: 0 when every step passed. */
  function finish() {
    console.log(`e2e: ${passed} passed, ${failed} failed`);
    process.exit(failed === 0 ? 0 : 1);
  }
  return { step, finish };
}
