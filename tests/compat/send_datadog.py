#!/usr/bin/env python3
"""Send a fixed set of metrics, an event and a service check through the PyPI `datadog`
package's DogStatsd client.

Usage: send_datadog.py HOST PORT

What is sent, and what tests/tests/compat_clients.rs expects to be stored (namespace `dd`,
constant tag `client:datadog` on everything):
  dd.requests#env:test,region:eu  counter  increment, increment 2 (tags in the other order),
                                           decrement                        -> 2
  dd.requests#env:prod            counter  increment 10                    -> 10
  dd.sampled                      counter  increment at rate 0.5, twice    -> 4
  dd.flagged#canary               counter  increment                       -> 1
  dd.queue_depth#queue:a          gauge    42, then 40                     -> 40
  dd.stamped                      gauge    7 with a `|T` timestamp of now  -> 7
  dd.payload_bytes                histogram 10, 20, 30                     -> count 3, sum 60
  dd.db_ms                        distribution 1.5, 2.5                    -> count 2, sum 4
  dd.render_ms                    timing 250                               -> count 1, sum 250
  dd.visitors                     set u1, u2, u3, u1                       -> 3 members
  event "Deployed" / "version 1.2", alert_type success, tag env:test
  service check dd.app.can_connect status 0 (OK), message "fine"
"""
import sys
import time

import datadog.dogstatsd.base as dogstatsd_base
from datadog.dogstatsd import DogStatsd


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    # The client drops a sampled call when random() > rate; always 0 sends every one, so the
    # test checks the `|@rate` scaling, not the dice.
    dogstatsd_base.random = lambda: 0.0
    client = DogStatsd(
        host=host,
        port=port,
        namespace="dd",
        constant_tags=["client:datadog"],
        # The client's own telemetry and container-origin tags would add series and tags that
        # depend on the machine; the test states exactly what is stored.
        disable_telemetry=True,
        origin_detection_enabled=False,
    )
    client.increment("requests", tags=["env:test", "region:eu"])
    client.increment("requests", 2, tags=["region:eu", "env:test"])
    client.decrement("requests", tags=["env:test", "region:eu"])
    client.increment("requests", 10, tags=["env:prod"])
    client.increment("sampled", sample_rate=0.5)
    client.increment("sampled", sample_rate=0.5)
    client.increment("flagged", tags=["canary"])
    client.gauge("queue_depth", 42, tags=["queue:a"])
    client.gauge("queue_depth", 40, tags=["queue:a"])
    client.gauge_with_timestamp("stamped", 7, int(time.time()))
    for value in (10, 20, 30):
        client.histogram("payload_bytes", value)
    for value in (1.5, 2.5):
        client.distribution("db_ms", value)
    client.timing("render_ms", 250)
    for member in ("u1", "u2", "u3", "u1"):
        client.set("visitors", member)
    client.event("Deployed", "version 1.2", alert_type="success", tags=["env:test"])
    client.service_check("app.can_connect", DogStatsd.OK, message="fine")
    client.flush()
    client.close_socket()


if __name__ == "__main__":
    main()
