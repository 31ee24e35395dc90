#!/usr/bin/env python3
"""``spamwatch learn`` over a month of rotated logs (prints figures; issue 11).

    python3 bench/bench_learn.py --days 30 --lines-per-day 1000000 --workdir /tmp/month
    python3 bench/bench_learn.py --days 4 --lines-per-day 250000      # a quick look

Why: the first thing an admin runs is ``learn`` over the history on disk, a
month of a busy server: 30 rotated files, all but the newest two gzipped, as
logrotate leaves them (``mail.log``, ``mail.log.1``, ``mail.log.2.gz`` ...
``mail.log.29.gz``). Issue 11 asks for 30M lines in under 10 minutes on a
2-core machine. ``bench/genlog.py --steady`` writes each day (seed = the day's
number, ``--incidents`` on every third day, 24 hours from the day's midnight),
two days at a time; the files are kept in ``--workdir`` for the next run.
``--steady``: one server's month, the same users every day and its old
deferred mail retried under its own queue ids until it expires (months
written before it had a new population each day and a new queue id per
retry; delete them to get the steady one).

Then, each as a child process from an empty profile database:
``spamwatch learn --jobs 1`` and ``--jobs 2`` (``--jobs`` picks; ``pflogsumm``
over the same files concatenated is printed beside them for scale, with
``--pflogsumm``), and prints wall and CPU seconds (user + system of the child
and its children), lines/s, peak RSS of the largest process and the load
average before and after each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench_job import SPAMWATCH, load_average

ROOT = Path(__file__).resolve().parents[1]
FIRST_DAY = datetime(2026, 10, 1)


def day_name(age: int) -> str:
    """logrotate's name of the file ``age`` rotations old (0: the current log)."""
    if age == 0:
        return "mail.log"
    return f"mail.log.{age}" if age == 1 else f"mail.log.{age}.gz"


def make_day(work: Path, days: int, index: int, lines: int) -> subprocess.Popen[bytes] | None:
    """Start writing day ``index`` (0: the oldest) unless its file is there."""
    age = days - 1 - index
    path = work / day_name(age)
    if path.exists():
        return None
    start = (FIRST_DAY + timedelta(days=index)).strftime("%Y-%m-%d %H:%M")
    gen = [sys.executable, str(ROOT / "bench" / "genlog.py"), "--lines", str(lines)]
    gen += ["--hours", "24", "--start", start, "--seed", str(index + 1), "--steady", "--out", "-"]
    if index % 3 == 2:
        gen.append("--incidents")
    part = path.with_name(path.name + ".part")
    tail = f" | gzip -1 > '{part}'" if path.name.endswith(".gz") else f" > '{part}'"
    cmd = " ".join(f"'{a}'" for a in gen) + " 2>/dev/null" + tail + f" && mv '{part}' '{path}'"
    return subprocess.Popen(["sh", "-c", cmd])


def make_month(work: Path, days: int, lines: int) -> list[Path]:
    """The month's files, oldest first (written two at a time when missing)."""
    running: list[subprocess.Popen[bytes]] = []
    for index in range(days):
        proc = make_day(work, days, index, lines)
        if proc is not None:
            running.append(proc)
        while len(running) >= 2:
            running.pop(0).wait()
    for proc in running:
        proc.wait()
    return [work / day_name(days - 1 - i) for i in range(days)]


def measure(argv: list[str]) -> tuple[float, float, float]:
    """Wall s, CPU s and peak RSS MB of the child with the children it waited for.

    Linux's ``wait4`` counts the child's reaped descendants in its usage, so
    ``learn --jobs 2``'s file processes are in both figures (the peak is the
    largest one process's).
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(argv, stdout=null, stderr=subprocess.PIPE, env=env)
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code:
        print(f"  exited {code}: {err.decode(errors='replace')[-400:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--lines-per-day", type=int, default=1_000_000)
    ap.add_argument("--jobs", default="1,2", help="learn --jobs values to run (comma-separated)")
    ap.add_argument("--workdir", help="where the month is written and kept (default: temp dir)")
    ap.add_argument("--pflogsumm", action="store_true", help="also pflogsumm over the month")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir's files")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="spamwatch-month-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    files = make_month(work, args.days, args.lines_per_day)
    made = time.perf_counter() - started
    size = sum(f.stat().st_size for f in files)
    total = args.days * args.lines_per_day
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(
        f"{args.days} files, {total:,} lines, {size / 1e6:,.0f} MB on disk"
        f" ({sum(f.name.endswith('.gz') for f in files)} gzipped); written in {made:.0f} s"
    )
    print(
        f"  {'command':34} {'wall s':>8} {'CPU s':>8} {'lines/s':>9} {'peak MB':>8}"
        f"  load before/after"
    )
    runs: list[tuple[str, list[str]]] = []
    if args.pflogsumm and shutil.which("pflogsumm"):
        gz = " ".join(f"'{f}'" for f in files)
        runs.append(("pflogsumm (zcat -f | pflogsumm)", ["sh", "-c", f"zcat -f {gz} | pflogsumm"]))
    for jobs in args.jobs.split(","):
        db = work / f"learn-jobs{jobs}.db"
        argv = [*SPAMWATCH, "learn", "--jobs", jobs, "--db", str(db), *map(str, files)]
        runs.append((f"spamwatch learn --jobs {jobs}", argv))
    for name, argv in runs:
        for part in work.glob("learn-jobs*.db*"):
            part.unlink()
        load = load_average()
        wall, cpu, peak = measure(argv)
        print(
            f"  {name:34} {wall:8.1f} {cpu:8.1f} {total / wall:9,.0f} {peak:8.1f}"
            f"  {load} / {load_average()}",
            flush=True,
        )
    if not args.workdir and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
