import { test } from "node:test";
import assert from "node:assert/strict";
import { completionQuery, defaultTargets, quote, seriesSearch, tokenAt } from "./expr.ts";

test("each kind has its sensible default targets", () => {
  assert.deepEqual(defaultTargets({ name: "deploys", kind: "counter", tags: [] }), [
    "stats.counters.deploys.rate",
  ]);
  assert.deepEqual(defaultTargets({ name: "queue.depth", kind: "gauge", tags: [] }), [
    "stats.gauges.queue.depth",
  ]);
  assert.deepEqual(defaultTargets({ name: "api.latency", kind: "timer", tags: [] }), [
    "stats.timers.api.latency.median",
    "stats.timers.api.latency.upper_90",
    "stats.timers.api.latency.upper_99",
    "stats.timers.api.latency.upper",
  ]);
  assert.deepEqual(defaultTargets({ name: "users", kind: "set", tags: [] }), [
    "stats.sets.users.count",
  ]);
  assert.deepEqual(defaultTargets({ name: "carbon.cpu", kind: "raw", tags: [] }), ["carbon.cpu"]);
});

test("a tagged series is selected by name and all its tags", () => {
  assert.deepEqual(
    defaultTargets({ name: "hits", kind: "counter", tags: ["env:prod", "canary", "url:a:b"] }),
    ["seriesByTag('name=hits', 'env=prod', 'canary=', 'url=a:b')"],
  );
});

test("quoting escapes quotes and backslashes", () => {
  assert.equal(quote("it's"), "'it\\'s'");
  assert.equal(quote("a\\b"), "'a\\\\b'");
});

test("search text: globs as typed, plain text as a substring", () => {
  assert.deepEqual(seriesSearch("  "), {});
  assert.deepEqual(seriesSearch(" demo.lo "), { contains: "demo.lo" });
  assert.deepEqual(seriesSearch("api.*.latency"), { match: "api.*.latency" });
  assert.deepEqual(seriesSearch("api.{a,b}"), { match: "api.{a,b}" });
  assert.deepEqual(seriesSearch("host-04*."), { match: "host-04*.*" });
  assert.deepEqual(seriesSearch("demo."), { contains: "demo." });
});

test("the token under the cursor stops at function syntax", () => {
  const text = "sumSeries(stats.coun";
  assert.deepEqual(tokenAt(text, text.length), { start: 10, token: "stats.coun" });
  assert.deepEqual(tokenAt("alias(a.b, 'x')", 8), { start: 6, token: "a." });
  assert.deepEqual(tokenAt("", 0), { start: 0, token: "" });
  assert.equal(completionQuery("stats.coun"), "stats.coun*");
});
