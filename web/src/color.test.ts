import { test } from "node:test";
import assert from "node:assert/strict";
import { seriesStyle, withAlpha } from "./color.ts";

test("hex colours get an alpha", () => {
  assert.equal(withAlpha("#2f7ed8", 0.5), "rgba(47, 126, 216, 0.5)");
  assert.equal(withAlpha("#FFFFFF", 2), "rgba(255, 255, 255, 1)");
  assert.equal(withAlpha("red", 0.5), "red");
});

test("shifted copies take their target's colour, dashed and fainter further back", () => {
  const palette = ["#000001", "#000002"];
  assert.deepEqual(seriesStyle(palette, 0, null, 0), { color: "#000001" });
  assert.deepEqual(seriesStyle(palette, 3, null, 1), { color: "#000002" });
  assert.deepEqual(seriesStyle(palette, 1, "1w", 0), { color: "rgba(0, 0, 1, 0.63)", dash: [6, 4] });
  assert.deepEqual(seriesStyle(palette, 2, "4w", 1), { color: "rgba(0, 0, 2, 0.3)", dash: [6, 4] });
});
