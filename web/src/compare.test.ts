import { test } from "node:test";
import assert from "node:assert/strict";
import { compareShifts, compareTargets, formatPercent, percentChange, shiftLabel } from "./compare.ts";

test("no comparison leaves the targets alone", () => {
  assert.deepEqual(compareTargets(["a", "b"], ""), [
    { target: "a", source: 0, shift: null },
    { target: "b", source: 1, shift: null },
  ]);
});

test("a day or a week back adds one timeShift per target, right after it", () => {
  assert.deepEqual(compareTargets(["a", "sumSeries(b.*)"], "1d"), [
    { target: "a", source: 0, shift: null },
    { target: "timeShift(a, '1d')", source: 0, shift: "1d" },
    { target: "sumSeries(b.*)", source: 1, shift: null },
    { target: "timeShift(sumSeries(b.*), '1d')", source: 1, shift: "1d" },
  ]);
  assert.deepEqual(
    compareTargets(["a"], "1w").map((one) => one.target),
    ["a", "timeShift(a, '1w')"],
  );
});

test("the last N weeks are each week back, nearest first", () => {
  assert.deepEqual(compareShifts("3w"), ["1w", "2w", "3w"]);
  assert.deepEqual(
    compareTargets(["x"], "3w").map((one) => one.target),
    ["x", "timeShift(x, '1w')", "timeShift(x, '2w')", "timeShift(x, '3w')"],
  );
  assert.deepEqual(compareShifts("9w"), []);
  assert.deepEqual(compareShifts("nonsense"), []);
});

test("labels read as a person says them", () => {
  assert.equal(shiftLabel("1d"), "1 day ago");
  assert.equal(shiftLabel("1w"), "1 week ago");
  assert.equal(shiftLabel("3w"), "3 weeks ago");
});

test("per cent change, and when it has no meaning", () => {
  assert.equal(percentChange(150, 100), 50);
  assert.equal(percentChange(50, 100), -50);
  assert.equal(percentChange(-50, -100), 50);
  assert.equal(percentChange(1, 0), null);
  assert.equal(percentChange(null, 3), null);
  assert.equal(formatPercent(12.345), "+12.3%");
  assert.equal(formatPercent(-4), "-4.0%");
  assert.equal(formatPercent(null), "–");
});
