// An etsy statsd backend for tests/bench/aggregator.sh that only counts: at each flush it adds
// every counter named `bench.<run>.…` to a running total per run and rewrites a small file of
// `<run> <total>` lines (the path in config.countBackend.file). No console or network output,
// so the backend costs statsd next to nothing and the totals are the lines statsd counted.
'use strict';

const fs = require('fs');

exports.init = function init(startupTime, config, events) {
  const file = config.countBackend.file;
  const totals = {};
  events.on('flush', (timestamp, metrics) => {
    for (const [name, value] of Object.entries(metrics.counters)) {
      if (!name.startsWith('bench.')) continue;
      const run = name.split('.')[1];
      totals[run] = (totals[run] || 0) + value;
    }
    const text = Object.entries(totals)
      .map(([run, total]) => `${run} ${total}\n`)
      .join('');
    // Written aside and renamed, so the script never reads half a file.
    fs.writeFileSync(`${file}.tmp`, text);
    fs.renameSync(`${file}.tmp`, file);
  });
  return true;
};
