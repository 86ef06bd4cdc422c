import { test } from "node:test";
import assert from "node:assert/strict";
import { parseDashboard, serializeDashboard, validDashboard } from "./dashboard-state.ts";

test("a dashboard survives the URL", () => {
  const dashboard = {
    title: "api",
    from: "-24h",
    until: "now",
    graphs: [{ title: "hits", targets: ["stats.counters.hits.rate", "sumSeries(a.*)"] }],
  };
  assert.deepEqual(parseDashboard(serializeDashboard(dashboard)), dashboard);
});

test("an empty or broken URL is an empty dashboard, an import says what is wrong", () => {
  assert.deepEqual(parseDashboard(""), { title: "", from: "-6h", until: "now", graphs: [] });
  assert.deepEqual(parseDashboard("d=%7Bnope").graphs, []);
  assert.throws(() => parseDashboard("d=%7Bnope", true));
  assert.throws(() => validDashboard({ graphs: [{ targets: [] }] }), /graph 1 has no targets/);
  assert.throws(() => validDashboard({ graphs: "x" }), /graphs must be a list/);
  assert.throws(() => validDashboard(3), /JSON object/);
});
