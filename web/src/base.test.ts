import { test } from "node:test";
import assert from "node:assert/strict";
import { nextPath } from "./base.ts";

test("sign-in goes back only to a page of this app", () => {
  const cases: [string, string, string][] = [
    ["?next=%2Fgraph%3Ftarget%3Da", "/", "/graph?target=a"],
    ["?next=%2Fabacus%2Fdashboard%3Fid%3D3", "/abacus/", "/abacus/dashboard?id=3"],
    ["", "/", "/"],
    ["?next=%2F%2Fevil.example%2F", "/", "/"],
    ["?next=https%3A%2F%2Fevil.example%2F", "/", "/"],
    ["?next=%2Fother%2Fgraph", "/abacus/", "/abacus/"],
    ["?next=%2Fsignin%3Fnext%3D%2F", "/", "/"],
    ["?next=%2F%5Cevil.example", "/", "/"],
  ];
  for (const [search, base, expected] of cases) assert.equal(nextPath(search, base), expected, search);
});
