import { test } from "node:test";
import assert from "node:assert/strict";
import { statusTargets, statusTree } from "./status-tree.ts";

const series = [
  { name: "abacus.aggregator.packets_received", kind: "counter" },
  { name: "abacus.aggregator.series", kind: "gauge" },
  { name: "abacus.storage_worker.batches.stored", kind: "counter" },
  { name: "web.other", kind: "counter" },
];

test("one glob per kind and depth reads every self-metric", () => {
  assert.deepEqual(statusTargets(series), [
    "stats.counters.abacus.*.*.*.count",
    "stats.counters.abacus.*.*.*.rate",
    "stats.counters.abacus.*.*.count",
    "stats.counters.abacus.*.*.rate",
    "stats.gauges.abacus.*.*",
  ]);
});

test("the tree holds each service's metrics with their values and rates", () => {
  const tree = statusTree(series, [
    { target: "stats.counters.abacus.aggregator.packets_received.count", datapoints: [[10, 100], [null, 110], [20, 120]] },
    { target: "stats.counters.abacus.aggregator.packets_received.rate", datapoints: [[1, 100], [2, 120]] },
    { target: "stats.gauges.abacus.aggregator.series", datapoints: [[100, 100], [160, 130], [null, 140]] },
  ]);
  assert.deepEqual(tree, {
    aggregator: {
      packets_received: { name: "abacus.aggregator.packets_received", kind: "counter", value: 30, rate: 1.5 },
      series: { name: "abacus.aggregator.series", kind: "gauge", value: 160, rate: 2 },
    },
    storage_worker: {
      batches: { stored: { name: "abacus.storage_worker.batches.stored", kind: "counter", value: null, rate: null } },
    },
  });
});
