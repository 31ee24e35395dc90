#!/usr/bin/env python3
"""Speed benchmark: ``spamwatch events --messages`` against pflogsumm on the same log.

Why a script and not a test: timing depends on the machine and its load, so
the figures are printed for a human (and the README), never asserted in CI.

For each size (default 1M and 5M lines) it writes, reproducibly from ``--seed``,
a realistic mail log with ``synthlog`` (inbound MX mail through
postscreen, authenticated submission, deferrals, bounces, rejects, SASL
scanners, noise from dovecot/amavis/opendkim), then runs, as child processes
on that same file:

* ``spamwatch events --messages FILE > /dev/null`` (the issue's target),
* the parser alone, as ``events --messages`` drives it
  (``Parser(kinds=<the correlator's kinds>, queue_ids_only=True).parse_block``
  over the file's blocks),
* ``pflogsumm FILE > /dev/null``,

and prints wall time, lines/s, CPU seconds and peak RSS of each (rusage of
that child alone, from ``os.wait4``), the spamwatch/pflogsumm speed ratio (wall
time, the target; and CPU time, steadier on a loaded machine) and
whether the targets hold: >= 2x pflogsumm's lines/s (issue 11), peak memory below
pflogsumm's, and spamwatch's peak memory flat between the smallest and
largest size (within 20%).

    python3 bench/bench_events.py                  # 1M and 5M lines, seed 1
    python3 bench/bench_events.py --sizes 200000 --seed 7 --workdir /tmp/swbench
    python3 bench/bench_events.py --file /tmp/b11/inc.log --repeat 3   # any log, 3 rounds

``events --messages`` is timed with one process (its default) and with
``--jobs 2``; each command once per round, medians printed with the load
average when it started. Then report's stages alone, CPU seconds in one
process: its reading parser over the file, and the correlator over those
events with every milestone built (what ``report`` spends on them).
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 11, 2, tzinfo=UTC)
PARSER_ONLY = """
import sys
from spamwatch.correlate import KINDS
from spamwatch.parse import Parser
from spamwatch.sources.files import iter_blocks, open_binary
parser = Parser(kinds=KINDS, queue_ids_only=True)
parse_block = parser.parse_block
for block in iter_blocks(open_binary(sys.argv[1]), sys.argv[1]):
    parse_block(block)
print(parser.stats, file=sys.stderr)
"""
"""The parser as ``events --messages`` drives it: blocks, the queue-id
prefilter, the correlator's kinds."""
STAGES = """
import gc, sys, time
from spamwatch.config import Config
from spamwatch.correlate import Correlator
from spamwatch.detectors import build_detectors
from spamwatch.parse import ParseOptions
from spamwatch.pipeline import reading_parser
from spamwatch.sources.files import iter_blocks, open_binary
parser = reading_parser(ParseOptions(), build_detectors(Config()))
events = []
started = time.process_time()
for block in iter_blocks(open_binary(sys.argv[1]), sys.argv[1]):
    events += parser.parse_block(block)
parsed = time.process_time()
gc.freeze()  # the events held here are not the correlator's cost
correlator = Correlator.from_config(Config())
updates = sum(len(correlator.feed_many(events[i : i + 4096])) for i in range(0, len(events), 4096))
updates += len(correlator.flush())
done = time.process_time()
print(f"{parsed - started:.2f} {len(events)} {done - parsed:.2f} {updates}")
"""
"""Report's stages alone, CPU seconds in one process: its reading parser
(``pipeline.reading_parser``) over the file's blocks, then a correlator with
every stage over those events (each update a ``Message`` snapshot)."""


@dataclass(frozen=True)
class Run:
    """One child process's cost."""

    name: str
    wall: float
    cpu: float
    peak_mb: float
    status: int

    def rate(self, lines: int) -> float:
        return lines / self.wall if self.wall > 0 else 0.0


def write_log(path: Path, lines: int, seed: int) -> None:
    """The synthetic log, streamed to disk (synth holds only bounded state)."""
    sys.path.insert(0, str(ROOT / "tools"))
    from synthlog import generate

    tmp = path.with_suffix(".part")
    with tmp.open("w", encoding="utf-8", newline="\n") as out:
        for line in generate(START, lines=lines, seed=seed):
            out.write(line)
            out.write("\n")
    tmp.rename(path)


def measure(name: str, argv: list[str]) -> Run:
    """Run ``argv`` with stdout to /dev/null; wall time and its own rusage."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(os.devnull, "wb") as null:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=null, stderr=subprocess.PIPE, env=env)
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        print(f"  {name} exited {proc.returncode}: {err.decode(errors='replace')[-500:]}")
    peak_mb = usage.ru_maxrss / 1024  # Linux: kilobytes
    return Run(name, wall, usage.ru_utime + usage.ru_stime, peak_mb, proc.returncode)


def count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))


def bench_size(workdir: Path, lines: int, seed: int, pflogsumm: str | None) -> dict[str, Run]:
    log = workdir / f"synth-seed{seed}-{lines}.log"
    if not log.exists():
        started = time.perf_counter()
        write_log(log, lines, seed)
        print(f"  generated {log} in {time.perf_counter() - started:.1f}s")
    return bench_file(log, pflogsumm, 1)


def bench_file(log: Path, pflogsumm: str | None, repeat: int) -> dict[str, Run]:
    """Each command on ``log`` once per round (a change of load hits them all);
    the medians, and report's stages alone."""
    actual = count_lines(log)
    print(f"\n{actual:,} lines, {log.stat().st_size / 1e6:.0f} MB ({log})")
    spamwatch = [sys.executable, "-m", "spamwatch", "events", "--messages"]
    commands = {
        "spamwatch": ("spamwatch events --messages", [*spamwatch, str(log)]),
        "jobs2": ("events --messages --jobs 2", [*spamwatch, "--jobs", "2", str(log)]),
        "parser": ("parser only", [sys.executable, "-c", PARSER_ONLY, str(log)]),
    }
    if pflogsumm:
        commands["pflogsumm"] = ("pflogsumm", [pflogsumm, str(log)])
    rounds: dict[str, list[Run]] = {key: [] for key in commands}
    loads: dict[str, list[float]] = {key: [] for key in commands}
    for _ in range(repeat):
        for key, (name, argv) in commands.items():
            loads[key].append(os.getloadavg()[0])
            rounds[key].append(measure(name, argv))
    runs = {key: _median(found) for key, found in rounds.items()}
    print(f"  {'command':30} {'wall s':>8} {'lines/s':>10} {'cpu s':>8} {'peak MB':>8} {'load':>5}")
    for key, run in runs.items():
        print(
            f"  {run.name:30} {run.wall:8.2f} {run.rate(actual):10,.0f} {run.cpu:8.2f} "
            f"{run.peak_mb:8.1f} {statistics.median(loads[key]):5.1f}"
        )
    if "pflogsumm" in runs:
        pf = runs["pflogsumm"]
        for key in ("spamwatch", "jobs2"):
            sw = runs[key]
            print(
                f"  {sw.name}: {pf.wall / sw.wall:.2f}x pflogsumm's speed (wall), "
                f"{pf.cpu / sw.cpu:.2f}x (cpu); target >= 2x wall"
            )
    out = subprocess.run(
        [sys.executable, "-c", STAGES, str(log)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout.split()
    print(
        f"  report's stages alone (CPU s, load {os.getloadavg()[0]:.1f}): reading parser "
        f"{out[0]} s for {int(out[1]):,} events, correlator {out[2]} s for {int(out[3]):,} updates"
    )
    return runs


def _median(runs: list[Run]) -> Run:
    """The run of median wall time (its own CPU and peak with it)."""
    return sorted(runs, key=lambda run: run.wall)[len(runs) // 2]


def verdicts(results: dict[int, dict[str, Run]]) -> list[str]:
    """The issue's targets, judged on the figures just printed."""
    out = []
    for lines, runs in results.items():
        if "pflogsumm" not in runs:
            continue
        sw, pf = runs["spamwatch"], runs["pflogsumm"]
        ratio = pf.wall / sw.wall if sw.wall else 0.0
        cpu_ratio = pf.cpu / sw.cpu if sw.cpu else 0.0
        out.append(
            f"{lines:,} lines: speed {ratio:.2f}x pflogsumm (cpu {cpu_ratio:.2f}x): "
            + _ok(ratio >= 2)
        )
        out.append(
            f"{lines:,} lines: peak {sw.peak_mb:.0f} MB vs pflogsumm {pf.peak_mb:.0f} MB: "
            + _ok(sw.peak_mb < pf.peak_mb)
        )
    sizes = sorted(results)
    if len(sizes) > 1:
        small, large = results[sizes[0]]["spamwatch"], results[sizes[-1]]["spamwatch"]
        flat = large.peak_mb <= small.peak_mb * 1.2
        out.append(
            f"peak memory {sizes[0]:,} -> {sizes[-1]:,} lines: {small.peak_mb:.0f} -> "
            f"{large.peak_mb:.0f} MB: " + _ok(flat)
        )
    return out


def _ok(good: bool) -> str:
    return "met" if good else "NOT met"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000000,5000000", help="comma-separated line counts")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", help="where logs are written and reused (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir's logs")
    ap.add_argument("--file", help="time this log instead of generating one (any mail log)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds, medians printed (--file)")
    args = ap.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="spamwatch-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    pflogsumm = shutil.which("pflogsumm")
    if pflogsumm is None:
        print("pflogsumm not found (apt-get install pflogsumm); timing spamwatch only")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    try:
        if args.file:
            results = {
                count_lines(Path(args.file)): bench_file(Path(args.file), pflogsumm, args.repeat)
            }
        else:
            results = {n: bench_size(workdir, n, args.seed, pflogsumm) for n in sizes}
    finally:
        if not args.workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    for line in verdicts(results):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
