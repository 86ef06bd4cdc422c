import { test } from "node:test";
import assert from "node:assert/strict";
import { latest } from "./latest.ts";

/** A run whose answers the test hands out, in any order. */
function controlledRun() {
  const calls: { query: string; signal: AbortSignal; answer: (value: string) => void; fail: (error: Error) => void }[] = [];
  const run = (query: string, signal: AbortSignal) =>
    new Promise<string>((resolve, reject) => {
      calls.push({ query, signal, answer: resolve, fail: reject });
    });
  return { calls, run };
}

test("each query starts at once, without waiting for a pause", () => {
  const { calls, run } = controlledRun();
  const searches = latest(run);
  void searches.start("h");
  assert.deepEqual(calls.map((call) => call.query), ["h"]);
  void searches.start("ho");
  void searches.start("hos");
  assert.deepEqual(calls.map((call) => call.query), ["h", "ho", "hos"]);
});

test("a new query aborts the one before, which then resolves to nothing", async () => {
  const { calls, run } = controlledRun();
  const searches = latest(run);
  const first = searches.start("h");
  const second = searches.start("ho");
  assert.equal(calls[0]!.signal.aborted, true);
  assert.equal(calls[1]!.signal.aborted, false);
  calls[0]!.fail(Object.assign(new Error("aborted"), { name: "AbortError" }));
  calls[1]!.answer("answer to ho");
  assert.equal(await first, undefined);
  assert.deepEqual(await second, { answer: "answer to ho" });
});

test("an older answer arriving after a newer query started is dropped", async () => {
  const { calls, run } = controlledRun();
  const searches = latest(run);
  const first = searches.start("h");
  const second = searches.start("ho");
  // The older run ignores its abort signal and answers anyway, last.
  calls[1]!.answer("answer to ho");
  calls[0]!.answer("answer to h");
  assert.deepEqual(await second, { answer: "answer to ho" });
  assert.equal(await first, undefined);
});

test("the newest query's error is its own; abort() silences the one in flight", async () => {
  const { calls, run } = controlledRun();
  const searches = latest(run);
  const failing = searches.start("h*.");
  calls[0]!.fail(new Error("invalid match"));
  await assert.rejects(failing, /invalid match/);
  const aborted = searches.start("h");
  searches.abort();
  assert.equal(calls[1]!.signal.aborted, true);
  calls[1]!.answer("too late");
  assert.equal(await aborted, undefined);
});
