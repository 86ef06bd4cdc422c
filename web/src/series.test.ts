import { test } from "node:test";
import assert from "node:assert/strict";
import { alignSeries, formatValue, sequentialRows, seriesStats } from "./series.ts";

test("series on one grid are aligned without copying timestamps around", () => {
  const aligned = alignSeries([
    { target: "a", datapoints: [[1, 10], [null, 20], [3, 30]] },
    { target: "b", datapoints: [[4, 10], [5, 20], [null, 30]] },
  ]);
  assert.deepEqual(aligned.times, [10, 20, 30]);
  assert.deepEqual(aligned.values, [[1, null, 3], [4, 5, null]]);
});

test("series on different grids are aligned on the union, missing points as gaps", () => {
  const aligned = alignSeries([
    { target: "a", datapoints: [[1, 10], [2, 30]] },
    { target: "b", datapoints: [[7, 20], [8, 30]] },
  ]);
  assert.deepEqual(aligned.times, [10, 20, 30]);
  assert.deepEqual(aligned.values, [[1, null, 2], [null, 7, 8]]);
  assert.deepEqual(alignSeries([]), { times: [], values: [] });
});

test("the sequential axis numbers only the rows that have a value", () => {
  const rows = sequentialRows({
    times: [10, 20, 30, 40],
    values: [[1, null, null, 4], [null, null, 3, null]],
  });
  assert.deepEqual(rows.positions, [1, 2, 3]);
  assert.deepEqual(rows.times, [10, 30, 40]);
  assert.deepEqual(rows.values, [[1, null, 4], [null, 3, null]]);
});

test("statistics skip gaps", () => {
  assert.deepEqual(seriesStats([null, 2, 4, null, 6, null]), {
    min: 2,
    max: 6,
    avg: 4,
    last: 6,
    count: 3,
  });
  assert.deepEqual(seriesStats([null, null]), {
    min: null,
    max: null,
    avg: null,
    last: null,
    count: 0,
  });
});

test("values are compact", () => {
  assert.equal(formatValue(1234567), "1.23M");
  assert.equal(formatValue(1500), "1.5k");
  assert.equal(formatValue(0.5), "0.5");
  assert.equal(formatValue(12), "12");
  assert.equal(formatValue(0.0001234), "1.23e-4");
  assert.equal(formatValue(null), "–");
  assert.equal(formatValue(0), "0");
});
