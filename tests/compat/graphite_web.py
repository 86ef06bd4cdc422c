"""graphite-web 1.1.10 as the reference for Abacus's /render: writes whisper files and
evaluates render targets in-process, through graphite-web's own evaluator, on them.

Reads one JSON request on stdin and writes one JSON answer on stdout:

  {"storage": DIR, "functions": true}  ->  {"functions": [every name of SeriesFunctions()]}

or

  {"storage": DIR,
   "series": {"a.b": [[unix_seconds, value], ...], ...},   # written as whisper files first
   "events": [[unix_seconds, what, "tag tag"], ...],          # stored as Graphite events
   "from": F, "until": U, "now": N, "max_data_points": M or null,
   "targets": ["sumSeries(a.*)", ...]}

  -> {"a.b": [{"target": NAME, "tags": {...}, "datapoints": [[value, ts], ...]}, ...]
      or {"error": "..."} per target}

Whisper files have one archive, 10 s for a day, xFilesFactor 0 and average aggregation, like
the points Abacus stores at its default step. The datapoints are what graphite-web's
`/render?format=json` would answer: maxDataPoints is applied the way its JSON renderer does
(`consolidate` by the series' consolidation function into `valuesPerPoint` buckets).

Installed by tests/compat/setup.sh; run by tests/tests/compat_graphite.rs.
"""

import hashlib
import json
import math
import os
import sys


def whisper_path(path):
    """Where carbon writes a series: `a/b/c.wsp`, or for a tagged one (`a.b;k=v`, tags
    sorted) `_tagged/<sha256[0:3]>/<sha256[3:6]>/a_DOT_b;k=v.wsp`, as graphite-web's
    `TaggedSeries.encode` finds it."""
    if ";" not in path:
        return path.split(".")
    digest = hashlib.sha256(path.encode("utf8")).hexdigest()
    return ["_tagged", digest[0:3], digest[3:6], path.replace(".", "_DOT_")]


def write_whisper(storage, series):
    import whisper

    root = os.path.join(storage, "whisper")
    os.makedirs(root, exist_ok=True)
    for path, points in series.items():
        file_name = os.path.join(root, *whisper_path(path)) + ".wsp"
        os.makedirs(os.path.dirname(file_name), exist_ok=True)
        if os.path.exists(file_name):
            os.remove(file_name)
        whisper.create(file_name, [(10, 8640)], xFilesFactor=0, aggregationMethod="average")
        if points:
            whisper.update_many(file_name, [(int(t), float(v)) for t, v in points])


def configure(storage):
    os.environ["DJANGO_SETTINGS_MODULE"] = "graphite.settings"
    os.environ["GRAPHITE_STORAGE_DIR"] = storage
    os.makedirs(os.path.join(storage, "log", "webapp"), exist_ok=True)
    import warnings

    warnings.simplefilter("ignore")
    import django

    django.setup()


def store_in_database(series, events):
    """What graphite-web keeps in its own database (sqlite in the storage directory): the
    tagged series in its tag database, for `seriesByTag`, and the events, for `events()`."""
    from django.core.management import call_command
    from graphite.events.models import Event
    from graphite.storage import STORE
    from graphite.util import epoch_to_dt

    call_command("migrate", verbosity=0, interactive=False)
    for path in series:
        if ";" in path:
            STORE.tagdb.tag_series(path)
    for when, what, tags in events:
        Event.objects.create(when=epoch_to_dt(when), what=what, tags=tags, data="")


def number(value):
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return None
    return value


def evaluate(request):
    from datetime import datetime

    import pytz
    from graphite.render.evaluator import evaluateTarget

    tz = pytz.utc
    context = {
        "startTime": datetime.fromtimestamp(request["from"], tz),
        "endTime": datetime.fromtimestamp(request["until"], tz),
        "now": datetime.fromtimestamp(request["now"], tz),
        "localOnly": False,
        "data": [],
        "tzinfo": tz,
        "template": {},
        "args": ([], {}),
        "xFilesFactor": 0,
        "maxDataPoints": request.get("max_data_points"),
    }
    answers = {}
    for target in request["targets"]:
        try:
            # Each target gets its own context, as each is its own /render request to Abacus:
            # functions like stacked and setXFilesFactor leave state in the context for the
            # targets after them.
            series_list = evaluateTarget(dict(context), target)
        except Exception as error:  # the reference refusing a target is an answer too
            answers[target] = {"error": "%s: %s" % (type(error).__name__, error)}
            continue
        rendered = []
        max_points = request.get("max_data_points")
        # graphite.render.views.renderViewJson, line for line.
        if series_list:
            start_time = min(series.start for series in series_list)
            end_time = max(series.end for series in series_list)
            time_range = end_time - start_time
        for series in series_list:
            if max_points:
                if max_points == 1:
                    series.consolidate(len(series))
                else:
                    number_of_points = time_range / series.step
                    if max_points < number_of_points:
                        values_per_point = math.ceil(float(number_of_points) / float(max_points))
                        seconds_per_point = int(values_per_point * series.step)
                        nudge = (
                            seconds_per_point
                            + (series.start % series.step)
                            - (series.start % seconds_per_point)
                        )
                        series.start = series.start + nudge
                        values_to_lose = int(nudge / series.step)
                        for _ in range(1, values_to_lose):
                            del series[0]
                        series.consolidate(values_per_point)
            rendered.append(
                {
                    "target": series.name,
                    # graphite-web keeps some tag values as numbers (scale's factor is the
                    # float -1.0); a tag is text wherever it is used (in `name;k=v`, in
                    # seriesByTag), so compare Python's text of it.
                    "tags": {key: str(value) for key, value in series.tags.items()},
                    "datapoints": [
                        [number(value), timestamp] for value, timestamp in series.datapoints()
                    ],
                }
            )
        answers[target] = rendered
    return answers


def main():
    request = json.load(sys.stdin)
    storage = request["storage"]
    write_whisper(storage, request.get("series", {}))
    configure(storage)
    if request.get("functions"):
        from graphite.functions import SeriesFunctions

        json.dump({"functions": sorted(SeriesFunctions())}, sys.stdout)
        return
    series = request.get("series", {})
    if request.get("events") or any(";" in path for path in series):
        store_in_database(series, request.get("events", []))
    json.dump(evaluate(request), sys.stdout)


if __name__ == "__main__":
    main()
