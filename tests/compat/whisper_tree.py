"""Whisper files written and read by the reference `whisper` package (PyPI, installed by
tests/compat/setup.sh whisper), for tests/tests/compat_whisper_import.rs and
`make bench-import` (tests/src/bin/import-bench.rs).

    whisper_tree.py write DIR --seed S --now T [--shape compat|bench] [--files N]
        writes a tree of whisper files under DIR, as carbon would have written them up to
        the time T (unix seconds, a multiple of 10), and DIR/manifest.json: T, and each
        file's metric name, aggregation method and xFilesFactor.
    whisper_tree.py append DIR --seed S --until T
        carbon's next writes: every file gets a point every 10 s after the manifest's time up
        to T, written at the time (into every archive), and the manifest's time becomes T.
    whisper_tree.py fetch DIR
        prints, as JSON, what whisper's own fetch shows of every file at T: each archive
        (its step, the first time of its window, its values, null where empty) and the
        points of every archive where the finest wins ("points": [[time, value], ...]).
    whisper_tree.py time-fetch DIR
        reads every archive of every file with whisper.fetch (what whisper-fetch.py does
        for one archive) and prints the seconds it took and the points read, as JSON.
    whisper_tree.py overwrite DIR --at T --writes JSON
        writes one time T again and again into a new file DIR/overwrite.wsp (10s:1d), as
        carbon writes each point it receives: JSON is a list of rounds, each a list of values
        written in order; prints, as JSON, the value whisper.fetch shows at T after each round.

The data is a seeded function of the arguments, so a failure reproduces. Each `compat` file
has three archives (10s:1d, 1m:30d, 1h:1y) and is written as carbon writes: old points
straight into the archive their age puts them in (whisper.update_many), live points into
the finest archive and propagated to the coarser ones by the file's aggregation method and
xFilesFactor. Between the eras are no points in the hour on either side of an archive's
retention edge, so the seconds between writing the files and storing their points cannot
move a point into another archive.
"""

import bisect
import json
import os
import random
import sys
import time

import whisper

DAY = 86400
HOUR = 3600
METHODS = ["average", "sum", "min", "max", "last"]


def carbon_name(root, path):
    relative = os.path.relpath(path, root)
    return relative[: -len(".wsp")].replace(os.sep, ".")


def walk(root):
    for directory, _, names in os.walk(root):
        for name in sorted(names):
            if name.endswith(".wsp"):
                yield os.path.join(directory, name)


class Series:
    """A random walk with gaps: `fill` is the chance a slot has a point."""

    def __init__(self, rng, fill):
        self.rng = rng
        self.fill = fill
        self.level = rng.uniform(-50, 50)
        # Spans without points: [start, end) in unix seconds, set per era.
        self.gaps = []

    def value(self):
        self.level += self.rng.uniform(-5, 5)
        # Two decimals, as a client would send.
        return round(self.level, 2)

    def points(self, start, end, step, fill=None):
        """Points in [start, end] every `step` seconds (at a random 10 s inside the step)."""
        fill = self.fill if fill is None else fill
        out = []
        t = start - start % step
        while t <= end:
            at = t + self.rng.randrange(0, step, 10) if step > 10 else t
            if start <= at <= end and self.rng.random() < fill and not any(
                a <= at < b for a, b in self.gaps
            ):
                out.append((at, self.value()))
            t += step
        return out

    def add_gaps(self, start, end, count, longest):
        for _ in range(count):
            length = self.rng.randrange(60, longest, 10)
            at = self.rng.randrange(start, max(start + 1, end - length), 10)
            self.gaps.append((at, at + length))


def write_compat_file(path, rng, method, xff, now):
    whisper.create(path, [(10, 8640), (60, 43200), (3600, 8760)], xFilesFactor=xff,
                   aggregationMethod=method)
    series = Series(rng, fill=rng.uniform(0.55, 0.9))
    # A burst of live points three hours past the minute archive's edge, written at the time
    # (into every archive): what is left of it in the 10 s and minute rings is outside their
    # retention at `now`, and whisper serves that time from the hour archive.
    burst_start = now - 30 * DAY - 3 * HOUR
    burst = [(burst_start + 10 * i, series.value()) for i in range(60)]
    whisper.update_many(path, burst, now=burst_start + 600)
    series.add_gaps(now - 365 * DAY, now, 6, 3 * DAY)
    # Hours older than the minute archive: straight into the hour archive.
    old = series.points(now - 365 * DAY + 2 * HOUR, now - 31 * DAY, HOUR)
    # Minutes older than a day: straight into the minute archive, then the hour's.
    middle = series.points(now - 30 * DAY + HOUR, now - DAY - HOUR, 60)
    # The last day, every 10 s, into all three.
    live_end = now
    tail = []
    if xff > 0:
        # The last four hours nearly empty: xFilesFactor leaves the newest minutes and hours
        # unwritten, so the minute ring's newest slot is hours before `now`.
        live_end = now - 4 * HOUR
        tail = series.points(live_end + 10, now - 10, 10, fill=0.04)
    live = series.points(now - DAY + HOUR, live_end, 10) + tail + [(now, series.value())]
    for era in (old, middle, live):
        whisper.update_many(path, era, now=now)


def write_bench_file(path, rng, now):
    # Smaller archives than carbon's defaults so a thousand files stay small on disk.
    whisper.create(path, [(60, 1440), (3600, 720)], xFilesFactor=0.0,
                   aggregationMethod=rng.choice(METHODS))
    series = Series(rng, fill=0.9)
    old = series.points(now - 30 * DAY + 2 * HOUR, now - DAY - HOUR, HOUR)
    live = series.points(now - DAY + HOUR, now - 60, 60) + [(now, series.value())]
    for era in (old, live):
        whisper.update_many(path, era, now=now)


def write(root, seed, now, shape, files):
    rng = random.Random(seed)
    manifest = {"now": now, "files": {}}
    paths = []
    if shape == "compat":
        for method in METHODS:
            for xff in (0.0, 0.5):
                paths.append((os.path.join(root, method, "xff%d" % (xff * 100), "web1.wsp"),
                              method, xff))
        # A file whose method no aggregation rule of the test names: the import lists it.
        paths.append((os.path.join(root, "unruled", "load.wsp"), "max", 0.1))
    else:
        for index in range(files):
            paths.append((os.path.join(root, "host%03d" % (index // 50), "m%04d.wsp" % index),
                          None, 0.0))
    for path, method, xff in paths:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        file_rng = random.Random(rng.getrandbits(64))
        if shape == "compat":
            write_compat_file(path, file_rng, method, xff, now)
        else:
            write_bench_file(path, file_rng, now)
        header = whisper.info(path)
        manifest["files"][carbon_name(root, path)] = {
            "path": os.path.relpath(path, root),
            "method": header["aggregationMethod"],
            "xff": header["xFilesFactor"],
        }
    with open(os.path.join(root, "manifest.json"), "w") as out:
        json.dump(manifest, out)


def append(root, seed, until):
    manifest_path = os.path.join(root, "manifest.json")
    with open(manifest_path) as manifest_file:
        manifest = json.load(manifest_file)
    rng = random.Random(seed)
    for entry in manifest["files"].values():
        series = Series(random.Random(rng.getrandbits(64)), fill=1.0)
        path = os.path.join(root, entry["path"])
        for at in range(manifest["now"] + 10, until + 1, 10):
            whisper.update(path, series.value(), timestamp=at, now=at)
    manifest["now"] = until
    with open(manifest_path, "w") as out:
        json.dump(manifest, out)


def fetch_archives(path, now):
    """Each archive as whisper.fetch shows it at `now`: (step, first time, values)."""
    archives = []
    for archive in whisper.info(path)["archives"]:
        step = archive["secondsPerPoint"]
        (start, _, fetched_step), values = whisper.fetch(
            path, now - archive["retention"], now, now=now, archiveToSelect=step)
        assert fetched_step == step
        archives.append((step, start, values))
    return archives


def finest_wins(archives):
    """The points of every archive, finest first; a coarser point only where no finer
    archive holds a point in its bucket."""
    points = []
    finer = []
    for step, start, values in archives:
        held = [(start + i * step, v) for i, v in enumerate(values) if v is not None]
        for t, v in held:
            first = bisect.bisect_left(finer, t)
            if first == len(finer) or finer[first] >= t + step:
                points.append((t, v))
        finer = sorted(finer + [t for t, _ in held])
    return sorted(points)


def fetch(root):
    with open(os.path.join(root, "manifest.json")) as manifest_file:
        manifest = json.load(manifest_file)
    now = manifest["now"]
    answer = {}
    for metric, entry in manifest["files"].items():
        archives = fetch_archives(os.path.join(root, entry["path"]), now)
        answer[metric] = {
            "method": entry["method"],
            "xff": entry["xff"],
            "archives": [{"step": s, "start": t, "values": v} for s, t, v in archives],
            "points": finest_wins(archives),
        }
    json.dump({"now": now, "files": answer}, sys.stdout)


def time_fetch(root):
    with open(os.path.join(root, "manifest.json")) as manifest_file:
        manifest = json.load(manifest_file)
    now = manifest["now"]
    started = time.perf_counter()
    points = 0
    for entry in manifest["files"].values():
        for _, _, values in fetch_archives(os.path.join(root, entry["path"]), now):
            points += sum(1 for v in values if v is not None)
    json.dump({"seconds": time.perf_counter() - started, "points": points}, sys.stdout)


def overwrite(root, at, rounds):
    path = os.path.join(root, "overwrite.wsp")
    whisper.create(path, [(10, DAY // 10)])
    shown = []
    for values in rounds:
        for value in values:
            whisper.update(path, value, at)
        (start, _, step), fetched = whisper.fetch(path, at - 10, at)
        shown.append(fetched[(at - at % step - start) // step])
    json.dump(shown, sys.stdout)


def main(argv):
    if len(argv) < 3 or argv[1] not in ("write", "append", "fetch", "time-fetch", "overwrite"):
        sys.exit(__doc__)
    command, root, options = argv[1], argv[2], argv[3:]
    settings = dict(zip(options[::2], options[1::2]))
    if command == "write":
        now = int(settings["--now"])
        if now % 10:
            sys.exit("--now must be a multiple of 10")
        write(root, int(settings.get("--seed", "1")), now, settings.get("--shape", "compat"),
              int(settings.get("--files", "1000")))
    elif command == "append":
        until = int(settings["--until"])
        if until % 10:
            sys.exit("--until must be a multiple of 10")
        append(root, int(settings.get("--seed", "1")), until)
    elif command == "fetch":
        fetch(root)
    elif command == "overwrite":
        overwrite(root, int(settings["--at"]), json.loads(settings["--writes"]))
    else:
        time_fetch(root)


if __name__ == "__main__":
    main(sys.argv)
