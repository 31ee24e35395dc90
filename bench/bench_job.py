#!/usr/bin/env python3
"""The whole job against pflogsumm, side by side on the same file (prints figures).

    python3 bench/bench_job.py                         # 1M lines, 6 h, 3 rounds
    python3 bench/bench_job.py --lines 300000 --repeat 1 --scaling --spray

Why: what an admin runs is ``report`` over a day (and ``learn`` over a month),
not the parser alone; issue 11 asks for the whole job to be linear in the log
and faster than pflogsumm. ``bench/genlog.py`` writes, reproducibly, a busy
server's ``--hours`` of log with the usual incidents (``--incidents``: two
compromised accounts of thousands of single-recipient messages, a brute force,
a relay outage) and the same length without them. Then, in rounds (each
command once per round, so a change in the machine's load hits all of them),
each as a child process with stdout to /dev/null:

* ``pflogsumm FILE``
* ``spamwatch events --messages FILE`` (``--jobs 1`` and ``2`` when it has ``--jobs``)
* ``spamwatch report --format json --jobs 1 FILE`` (one process) and
  ``--jobs 2`` (two), when this spamwatch has ``--jobs``
* ``spamwatch report --format json FILE`` on the log without incidents
* ``spamwatch learn`` over the file, when this spamwatch has ``learn``

Every report and learn starts from an empty profile database (``--db`` in the
work directory, removed before each run) and learns as it reads, as the first
report on a server does.

and prints the median of the rounds: wall and CPU seconds (user + system of
that child and of the children it reaped: ``os.wait4``, so a second process's
CPU is counted), lines/s, the ratio to pflogsumm (its time divided by the
command's: above 1 is faster), peak RSS (of the largest one process) and the
1-minute load average when it started; then report's CPU per line with
and without the incidents. ``--scaling`` adds report on twice the lines (target
at most 2.2 times the CPU), ``--spray`` report on 50,000 and 100,000 SASL
failures from as many addresses (target at most 2.2 times). The load average
is printed before and after: the machine is shared, so compare within a run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPAMWATCH = [sys.executable, "-m", "spamwatch"]


@dataclass(frozen=True)
class Run:
    """One child process's cost."""

    wall: float
    cpu: float
    peak_mb: float
    load: float = 0.0  # the 1-minute load average when it started


def measure(argv: Sequence[str]) -> Run:
    """Run ``argv`` with stdout to /dev/null; its wall time and its own rusage."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    load = os.getloadavg()[0]
    with open(os.devnull, "wb") as null:
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=null, stderr=subprocess.PIPE, env=env)
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # report exits 1 when it found something
        print(f"  {' '.join(argv[-3:])} exited {code}: {err.decode(errors='replace')[-400:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, load)


def genlog(path: Path, *args: str) -> Path:
    """``bench/genlog.py ARGS --out path`` unless the file is there already."""
    if not path.exists():
        part = path.with_suffix(".part")
        cmd = [sys.executable, str(ROOT / "bench" / "genlog.py"), *args, "--out", str(part)]
        subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
        part.rename(path)
    return path


def count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))


def has(command: Sequence[str], text: str) -> bool:
    """Does this spamwatch's ``--help`` of ``command`` mention ``text``?"""
    out = subprocess.run(
        [*SPAMWATCH, *command, "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    return out.returncode == 0 and text in out.stdout


def median(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.wall for r in runs),
        statistics.median(r.cpu for r in runs),
        statistics.median(r.peak_mb for r in runs),
        statistics.median(r.load for r in runs),
    )


def rounds(commands: dict[str, list[str]], repeat: int) -> dict[str, Run]:
    """Each command once per round, ``repeat`` rounds; the median of each.

    A ``--db PATH`` in a command is removed before each run: every run starts
    from no profile at all, as the first report on a server does.
    """
    seen: dict[str, list[Run]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, argv in commands.items():
            if "--db" in argv:
                db = Path(argv[argv.index("--db") + 1])
                for part in db.parent.glob(db.name + "*"):
                    part.unlink()
            seen[name].append(measure(argv))
    return {name: median(runs) for name, runs in seen.items()}


def table(results: dict[str, Run], lines: dict[str, int], base: str | None) -> None:
    ref = results.get(base) if base else None
    print(
        f"  {'command':44} {'wall s':>7} {'CPU s':>7} {'lines/s':>9} "
        f"{'x pflogsumm wall':>16} {'x cpu':>6} {'peak MB':>8} {'load':>5}"
    )
    for name, run in results.items():
        rate = lines[name] / run.wall if run.wall else 0.0
        vs = f"{ref.wall / run.wall:16.2f} {ref.cpu / run.cpu:6.2f}" if ref else " " * 23
        print(
            f"  {name:44} {run.wall:7.2f} {run.cpu:7.2f} {rate:9,.0f} {vs} {run.peak_mb:8.1f}"
            f" {run.load:5.1f}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--repeat", type=int, default=3, help="rounds (medians are printed)")
    ap.add_argument("--workdir", help="where logs are written and reused (default: a temp dir)")
    ap.add_argument("--scaling", action="store_true", help="also report on twice the lines")
    ap.add_argument("--spray", action="store_true", help="also 50k/100k SASL spray reports")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="spamwatch-job-"))
    work.mkdir(parents=True, exist_ok=True)
    n, hours = str(args.lines), str(args.hours)
    inc = genlog(work / f"day-{n}-incidents.log", "--lines", n, "--hours", hours, "--incidents")
    plain = genlog(work / f"day-{n}-plain.log", "--lines", n, "--hours", hours)
    lines = {"inc": count_lines(inc), "plain": count_lines(plain)}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {load_average()}")
    print(f"{inc.name}: {lines['inc']:,} lines; {plain.name}: {lines['plain']:,} lines")
    report = [*SPAMWATCH, "report", "--format", "json", "--db", str(work / "report.db")]
    commands: dict[str, list[str]] = {}
    pflogsumm = shutil.which("pflogsumm")
    if pflogsumm:
        commands["pflogsumm"] = [pflogsumm, str(inc)]
    events = [*SPAMWATCH, "events", "--messages"]
    if has(["events"], "--jobs"):
        commands["spamwatch events --messages (1 process)"] = [*events, "--jobs", "1", str(inc)]
        commands["spamwatch events --messages (2 processes)"] = [*events, "--jobs", "2", str(inc)]
    else:
        commands["spamwatch events --messages"] = [*events, str(inc)]
    if has(["report"], "--jobs"):
        commands["spamwatch report (1 process)"] = [*report, "--jobs", "1", str(inc)]
        commands["spamwatch report (2 processes)"] = [*report, "--jobs", "2", str(inc)]
    else:
        commands["spamwatch report"] = [*report, str(inc)]
    commands["spamwatch report, no incident"] = [*report, str(plain)]
    if has(["learn"], "Usage"):
        db = work / "learn.db"
        commands["spamwatch learn"] = [*SPAMWATCH, "learn", "--db", str(db), str(inc)]
    results = rounds(commands, args.repeat)
    counts = {name: lines["plain" if "no incident" in name else "inc"] for name in commands}
    print(f"\nmedian of {args.repeat} round(s), load after {load_average()}:")
    table(results, counts, "pflogsumm" if pflogsumm else None)
    single = next(r for name, r in results.items() if name.startswith("spamwatch report"))
    calm = results["spamwatch report, no incident"]
    with_us, without_us = single.cpu / lines["inc"] * 1e6, calm.cpu / lines["plain"] * 1e6
    print(
        f"\nreport CPU per line: {with_us:.2f} us with the incidents, {without_us:.2f} us"
        f" without: {with_us / without_us:.2f}x (target <= 1.5)"
    )
    if args.scaling:
        double = str(2 * args.lines)
        big = genlog(
            work / f"day-{double}-incidents.log",
            *("--lines", double, "--hours", str(2 * args.hours), "--incidents"),
        )
        twice = rounds({"1x": [*report, str(inc)], "2x": [*report, str(big)]}, args.repeat)
        print(
            f"report on {count_lines(big):,} lines: {twice['2x'].cpu:.2f} s CPU,"
            f" {twice['2x'].cpu / twice['1x'].cpu:.2f}x {lines['inc']:,} lines (target <= 2.2);"
            f" peak {twice['1x'].peak_mb:.0f} -> {twice['2x'].peak_mb:.0f} MB"
        )
    if args.spray:
        small = genlog(work / "spray-50000.log", "--sasl-spray", "50000")
        large = genlog(work / "spray-100000.log", "--sasl-spray", "100000")
        spray = rounds({"50k": [*report, str(small)], "100k": [*report, str(large)]}, args.repeat)
        print(
            f"report on SASL sprays: 50,000 {spray['50k'].cpu:.2f} s, 100,000"
            f" {spray['100k'].cpu:.2f} s CPU: {spray['100k'].cpu / spray['50k'].cpu:.2f}x"
            f" (target <= 2.2); peak {spray['50k'].peak_mb:.0f} -> {spray['100k'].peak_mb:.0f} MB"
        )
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def load_average() -> str:
    """The three load averages, printed beside every figure of a shared machine."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
