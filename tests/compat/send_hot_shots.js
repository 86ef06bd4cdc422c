#!/usr/bin/env node
// Send a fixed set of metrics, an event and a service check through the npm `hot-shots`
// client (installed into .data/compat/node by tests/compat/setup.sh).
//
// Usage: NODE_PATH=.data/compat/node/node_modules node send_hot_shots.js HOST PORT
//
// What is sent, and what tests/tests/compat_clients.rs expects to be stored (prefix `node.`,
// global tag `client:hot-shots` on everything):
//   node.requests#env:test,region:eu  counter  increment, increment 2 (tags in the other
//                                              order), decrement                     -> 2
//   node.sampled                      counter  increment at rate 0.5, twice          -> 4
//   node.flagged#canary               counter  increment                             -> 1
//   node.queue_depth                  gauge    42, then delta -2                     -> 40
//   node.payload_bytes                histogram 10, 20, 30                           -> count 3, sum 60
//   node.db_ms                        distribution 1.5, 2.5                          -> count 2, sum 4
//   node.render_ms                    timing 250, at rate 0.5                        -> count 2, sum 500
//   node.visitors                     set u1, u2, u1                                 -> 2 members
//   event "node.Deployed" (hot-shots prefixes event titles too) / "version 1.2", alert_type success
//   service check node.app.can_connect status 0 (OK), message "fine"
'use strict';

const StatsD = require('hot-shots');

// hot-shots skips a sampled call when Math.random() >= rate; always 0 sends every one, so the
// test checks the `|@rate` scaling, not the dice.
Math.random = () => 0;

const [host, portText] = process.argv.slice(2);
const client = new StatsD({
  host,
  port: Number(portText),
  prefix: 'node.',
  globalTags: { client: 'hot-shots' },
  // No buffering: each call is one datagram, sent before its callback runs.
  maxBufferSize: 0,
  errorHandler: (error) => {
    console.error(error);
    process.exit(1);
  },
});

// Each hot-shots call takes a trailing callback; awaiting it means the datagram was handed to
// the socket before the next one and before close.
const sent = (call) =>
  new Promise((resolve, reject) => call((error) => (error ? reject(error) : resolve())));

async function main() {
  await sent((done) => client.increment('requests', 1, ['env:test', 'region:eu'], done));
  await sent((done) => client.increment('requests', 2, ['region:eu', 'env:test'], done));
  await sent((done) => client.decrement('requests', 1, ['env:test', 'region:eu'], done));
  await sent((done) => client.increment('sampled', 1, 0.5, done));
  await sent((done) => client.increment('sampled', 1, 0.5, done));
  await sent((done) => client.increment('flagged', 1, ['canary'], done));
  await sent((done) => client.gauge('queue_depth', 42, done));
  await sent((done) => client.gaugeDelta('queue_depth', -2, done));
  for (const value of [10, 20, 30]) {
    await sent((done) => client.histogram('payload_bytes', value, done));
  }
  for (const value of [1.5, 2.5]) {
    await sent((done) => client.distribution('db_ms', value, done));
  }
  await sent((done) => client.timing('render_ms', 250, 0.5, done));
  for (const member of ['u1', 'u2', 'u1']) {
    await sent((done) => client.set('visitors', member, done));
  }
  await sent((done) => client.event('Deployed', 'version 1.2', { alert_type: 'success' }, done));
  await sent((done) => client.check('app.can_connect', client.CHECKS.OK, { message: 'fine' }, done));
  await new Promise((resolve) => client.close(resolve));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
