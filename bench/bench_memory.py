#!/usr/bin/env python3
"""Peak memory of ``report`` and ``follow`` from 1M to 20M lines, against pflogsumm (issue 11).

    python3 bench/bench_memory.py --sizes 1,20 --from /tmp/month   # days of bench_learn.py
    python3 bench/bench_memory.py --sizes 1,4                      # days made here

Why: a busy server's day is millions of lines, and what spamwatch keeps must be
bounded (windows, open messages, incidents expire), so its peak RSS should stay
flat as the log grows, with the profile database on, while pflogsumm keeps
every message's statistics. Each size N is one plain file of N days of 1M
lines (``bench/genlog.py --steady``, 24 hours a day, ``--incidents`` every
third day, as ``bench_learn.py`` writes them: one server's month, the same
users every day; ``--from DIR`` takes that script's month instead of writing
days). The 1M file is the first day, a quiet one; ``--from`` a directory
holding one incident day as ``mail.log`` measures what an incident alone
costs. On each file, side by side in one run:

* ``pflogsumm FILE`` (peak RSS from its rusage)
* ``spamwatch report --format json --db FRESH FILE``: learns into an empty
  profile database as it reads, as the first report on a server does
* ``spamwatch follow --from-start --db FRESH --state S FILE``: read from the
  start to the end, then stopped (SIGTERM) once its saved position reaches
  the file's size; its peak is the kernel's high-water mark (``VmHWM``)

``--parallel 20`` runs the three at the same time on that size (a 20M-line
file takes each of them minutes; their peaks do not change, their times do).
Prints wall and CPU seconds, lines/s, peak MB and the load average for each;
the big files are deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from bench_follow import _caught_up, cpu_seconds, drain_stdout, follow, stop, wait_ready
from bench_job import SPAMWATCH, count_lines, load_average, measure
from bench_learn import day_name, make_month


def build(work: Path, days: int, source: Path | None) -> Path:
    """One plain file of ``days`` days (oldest first), from ``source``'s month or made here."""
    out = work / f"days-{days}.log"
    if out.exists():
        return out
    if source is None:
        source = work / "month"
        source.mkdir(exist_ok=True)
        make_month(source, days, 1_000_000)
        total = days
    else:
        total = len(list(source.glob("mail.log*")))
    files = [source / day_name(total - 1 - i) for i in range(days)]
    part = out.with_suffix(".part")
    with part.open("wb") as sink:
        for path in files:
            subprocess.run(["zcat", "-f", str(path)], stdout=sink, check=True)
    part.rename(out)
    return out


def run_follow(path: Path, work: Path) -> tuple[float, float, float]:
    """``follow --from-start`` over the file until caught up: wall, CPU s, peak MB (VmHWM)."""
    state, db = work / "follow.state", work / "follow.db"
    for old in [state, *work.glob("follow.db*")]:
        old.unlink(missing_ok=True)
    size = path.stat().st_size
    started = time.perf_counter()
    proc = follow(["--from-start", "--state", str(state), "--db", str(db), str(path)])
    wait_ready(proc)
    drain_stdout(proc)
    _caught_up(state, str(path), size)
    wall = time.perf_counter() - started
    cpu = cpu_seconds(proc.pid)
    peak = _hwm_mb(proc.pid)
    stop(proc)
    return wall, cpu, peak


def run_one(path: Path, lines: int, work: Path, name: str, argv: list[str] | None) -> None:
    """Run one command (None: follow) over ``path`` and print its row."""
    if argv is None:
        wall, cpu, peak = run_follow(path, work)
    else:
        run = measure(argv)
        wall, cpu, peak = run.wall, run.cpu, run.peak_mb
    print(
        f"  {lines:11,} {name:28} {wall:8.1f} {cpu:8.1f} {lines / wall:9,.0f}"
        f" {peak:8.1f}  {load_average()}",
        flush=True,
    )


def _hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1,20", help="days of 1M lines, comma-separated")
    ap.add_argument("--from", dest="source", help="bench_learn.py's month directory")
    ap.add_argument("--workdir", help="where the files go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the concatenated files")
    ap.add_argument(
        "--parallel",
        default="",
        help="sizes whose three commands run at the same time (peak RSS is the same; the"
        " times are then under each other's load)",
    )
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="spamwatch-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    source = Path(args.source) if args.source else None
    parallel = {int(days) for days in args.parallel.split(",") if days}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(
        f"  {'lines':>11} {'command':28} {'wall s':>8} {'CPU s':>8} {'lines/s':>9}"
        f" {'peak MB':>8}  load"
    )
    pflogsumm = shutil.which("pflogsumm")
    for days in map(int, args.sizes.split(",")):
        path = build(work, days, source)
        lines = count_lines(path)
        runs: dict[str, list[str] | None] = {}
        if pflogsumm:
            runs["pflogsumm"] = [pflogsumm, str(path)]
        db = work / "report.db"
        report = [*SPAMWATCH, "report", "--format", "json", "--db", str(db), str(path)]
        runs["spamwatch report --db"] = report
        runs["spamwatch follow --db"] = None
        for old in work.glob("report.db*"):
            old.unlink()

        one = partial(run_one, path, lines, work)
        if days in parallel:
            with ThreadPoolExecutor(len(runs)) as pool:
                list(pool.map(one, runs, runs.values()))
        else:
            for name, argv in runs.items():
                one(name, argv)
        if not args.keep:
            path.unlink()
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
