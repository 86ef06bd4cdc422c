import { test } from "node:test";
import assert from "node:assert/strict";
import {
  defaultGraphState,
  parseGraphState,
  parseMetricsState,
  serializeGraphState,
  serializeMetricsState,
} from "./state.ts";

test("an empty query string is the default state, and serializes to nothing", () => {
  assert.deepEqual(parseGraphState(""), defaultGraphState());
  assert.equal(serializeGraphState(defaultGraphState()), "");
});

test("every field survives a round trip through the URL", () => {
  const state = {
    targets: ["stats.counters.deploys.rate", "sumSeries(a.*.b, c)"],
    from: "1700000000",
    until: "1700003600",
    compare: "3w",
    sequential: true,
    refresh: 30,
    tab: "table" as const,
    hidden: [1, 4],
    rightAxis: [0],
    events: true,
    eventTags: "deploy env:prod",
    embed: true,
  };
  const query = serializeGraphState(state);
  assert.deepEqual(parseGraphState(query), state);
  assert.deepEqual(parseGraphState(`?${query}`), state);
});

test("targets keep their order and repeat as Graphite's target parameter", () => {
  const query = serializeGraphState({ ...defaultGraphState(), targets: ["b", "a", "b"] });
  assert.equal(query, "target=b&target=a&target=b");
});

test("invalid values fall back to their defaults instead of breaking the page", () => {
  const state = parseGraphState(
    "target=&target=%20x%20&compare=9w&refresh=7&tab=nope&hide=1,x,1,0&x=time&events=yes",
  );
  assert.deepEqual(state.targets, ["x"]);
  assert.equal(state.compare, "");
  assert.equal(state.refresh, 0);
  assert.equal(state.tab, "graph");
  assert.deepEqual(state.hidden, [0, 1]);
  assert.equal(state.sequential, false);
  assert.equal(state.events, false);
});

test("compare modes: a day, a week, or 2 to 8 weeks", () => {
  for (const mode of ["1d", "1w", "2w", "8w"]) {
    assert.equal(parseGraphState(`compare=${mode}`).compare, mode);
  }
  for (const mode of ["1w2", "1x", "9w", "0w"]) {
    assert.equal(parseGraphState(`compare=${mode}`).compare, "");
  }
});

test("the Metrics page keeps its search and kind in the URL", () => {
  const state = { query: "api.*", kind: "timer" };
  assert.deepEqual(parseMetricsState(serializeMetricsState(state)), state);
  assert.deepEqual(parseMetricsState("kind=bogus"), { query: "", kind: "" });
  assert.equal(serializeMetricsState({ query: "", kind: "" }), "");
});
