"""Parses OpenMetrics text from stdin with the reference parser of Prometheus' Python client
(strict: it refuses what Prometheus would refuse) and prints the families as JSON:
{"<family>": {"type": "...", "help": "...", "samples": {"<name>{labels}": value}}}."""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

families = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    samples = {}
    for sample in family.samples:
        labels = ",".join(f'{key}="{value}"' for key, value in sorted(sample.labels.items()))
        samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    families[family.name] = {"type": family.type, "help": family.documentation, "samples": samples}
json.dump(families, sys.stdout, sort_keys=True)
