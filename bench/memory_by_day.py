#!/usr/bin/env python3
"""``report``'s memory day by day of log, in one run over a long file (prints figures).

    python3 bench/memory_by_day.py FILE [--jobs 2] [--every 5000]

Why: ``bench_memory.py`` gives the peak of a whole run, once per size; when
that peak is higher at 20M lines than at 1M, the question is whether it keeps
growing with the log or rose once (a first incident, a week of history
filling) and stays. This runs ``spamwatch report --format json --db FRESH
FILE`` in this process with the pipeline's ``feed_event`` wrapped, and at the
first event of each log day (checked every ``--every`` events) prints the
correlating process's resident memory and its high-water mark, in MiB. With
``--jobs 2`` the log is read and parsed in a second process; the figures are
of the first, the one ``bench_memory.py`` reports as report's peak. The report
itself goes to /dev/null.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_follow import rss_mib  # noqa: E402

from spamwatch.cli import main as spamwatch  # noqa: E402
from spamwatch.pipeline import Pipeline  # noqa: E402


def peak() -> float:
    """This process's high-water mark of resident memory, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def watch_days(every: int) -> None:
    """Wrap ``Pipeline.feed_event`` to print the memory when a new log day starts."""
    feed_event = Pipeline.feed_event
    seen = {"events": 0, "day": None}
    out = sys.stdout  # the report's own output goes to /dev/null meanwhile
    started = time.monotonic()

    def feed(self: Pipeline, event: Any) -> Any:
        seen["events"] += 1
        if seen["events"] % every == 0:
            day: date = event.time.date()
            if day != seen["day"]:
                seen["day"] = day
                print(
                    f"{day}  {seen['events']:>12,}  {rss_mib(os.getpid()):8.1f}  {peak():8.1f}"
                    f"  {time.monotonic() - started:8.1f}",
                    file=out,
                    flush=True,
                )
        return feed_event(self, event)

    Pipeline.feed_event = feed  # type: ignore[method-assign]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--jobs", default="2", help="report --jobs (default 2)")
    ap.add_argument("--every", type=int, default=5000, help="events between two looks")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"{'log day':10}  {'events':>12}  {'RSS MiB':>8}  {'peak MiB':>8}  {'wall s':>8}")
    watch_days(args.every)
    with tempfile.TemporaryDirectory(prefix="memory-by-day-") as tmp:
        argv = ["report", "--format", "json", "--fail-on", "never", "--jobs", args.jobs]
        argv += ["--db", str(Path(tmp) / "profiles.db"), args.file]
        try:
            with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
                spamwatch(argv)
            code: object = 0
        except SystemExit as done:
            code = done.code
    print(f"end: peak {peak():.1f} MiB, exit {code}")


if __name__ == "__main__":
    main()
