#!/usr/bin/env python3
"""Send a fixed set of metrics through the PyPI `statsd` client (jsocol/pystatsd).

Usage: send_python_statsd.py HOST PORT

What is sent, and what tests/tests/compat_clients.rs expects to be stored (prefix `py`):
  py.requests   counter  incr, incr 4, decr 2               -> 3
  py.sampled    counter  incr 1 at rate 0.5, twice            -> 4
  py.temperature gauge   20, then delta +5                    -> 25
  py.below_zero gauge    -5 (the client sends `0|g` then `-5|g` in one datagram so the
                         leading `-` is not read as a delta)   -> -5
  py.latency    timer    100, 200, 300 ms                     -> count 3, sum 600
  py.sampled_latency timer 50 ms at rate 0.25                  -> count 4, sum 200
  py.users      set      alice, bob, alice                    -> 2 members
  py.piped, py.piped_latency: a pipeline (one datagram): incr, incr 2, timing 7
                                                              -> 3; count 1, sum 7
"""
import random
import sys

from statsd import StatsClient


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    # The client drops a sampled call when random.random() > rate. Always 0 makes every sampled
    # call go out, so what is tested is the `|@rate` scaling, not the client's dice.
    random.random = lambda: 0.0
    client = StatsClient(host, port, prefix="py")
    client.incr("requests")
    client.incr("requests", 4)
    client.decr("requests", 2)
    client.incr("sampled", 1, rate=0.5)
    client.incr("sampled", 1, rate=0.5)
    client.gauge("temperature", 20)
    client.gauge("temperature", 5, delta=True)
    client.gauge("below_zero", -5)
    for milliseconds in (100, 200, 300):
        client.timing("latency", milliseconds)
    client.timing("sampled_latency", 50, rate=0.25)
    for member in ("alice", "bob", "alice"):
        client.set("users", member)
    with client.pipeline() as pipe:
        pipe.incr("piped")
        pipe.incr("piped", 2)
        pipe.timing("piped_latency", 7)


if __name__ == "__main__":
    main()
