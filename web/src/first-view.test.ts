import { test } from "node:test";
import assert from "node:assert/strict";
import { askFirstGraphView, dropFirstGraphView, takeFirstGraphView } from "./first-view.ts";

/** Records each request the module makes (the network is not needed: these requests never
 * answer) and whether it was aborted. */
function recordFetches() {
  const requests: { url: URL; signal: AbortSignal }[] = [];
  globalThis.fetch = ((input: string, init?: RequestInit) => {
    requests.push({ url: new URL(input, "http://app"), signal: init!.signal! });
    return new Promise(() => {});
  }) as typeof fetch;
  return requests;
}

const main = { clientWidth: 1000 } as HTMLElement;

test("the page takes the answer asked for its own URL, once", () => {
  const requests = recordFetches();
  askFirstGraphView("?target=a.b&target=c&from=-6h", main);
  assert.deepEqual(
    requests.map((one) => [one.url.pathname.replace(/.*\//, ""), one.url.searchParams.get("target"), one.url.searchParams.get("maxDataPoints")]),
    [
      ["render", "a.b", "1000"],
      ["render", "c", "1000"],
    ],
  );
  const taken = takeFirstGraphView("?target=a.b&target=c&from=-6h");
  assert.ok(taken);
  assert.equal(takeFirstGraphView("?target=a.b&target=c&from=-6h"), null);
  assert.ok(requests.every((one) => !one.signal.aborted));
  taken.controller.abort();
});

test("an answer for another URL is aborted, not taken", () => {
  const requests = recordFetches();
  askFirstGraphView("?target=a.b", main);
  assert.equal(takeFirstGraphView("?target=x.y"), null);
  assert.equal(requests.length, 1);
  assert.ok(requests[0]!.signal.aborted);
});

test("asking again, or going to another page, aborts what was asked", () => {
  const requests = recordFetches();
  askFirstGraphView("?target=a", main);
  askFirstGraphView("?target=b", main);
  assert.deepEqual(
    requests.map((one) => one.signal.aborted),
    [true, false],
  );
  dropFirstGraphView();
  assert.ok(requests[1]!.signal.aborted);
  assert.equal(takeFirstGraphView("?target=b"), null);
});

test("a Graph page without targets asks for nothing", () => {
  const requests = recordFetches();
  askFirstGraphView("?from=-1h", main);
  assert.equal(requests.length, 0);
  assert.equal(takeFirstGraphView("?from=-1h"), null);
});
