"""How much does ``spamwatch report --since 1h`` cost on a big log? (prints figures)

    python bench/bench_since.py                 # 5M and 1M lines, in a temp dir
    python bench/bench_since.py --large 2000000 --small 400000 --keep /tmp/since

Builds one synthetic log of ``--large`` lines with bench/genlog.py and takes
its last ``--small`` lines as the second file, so both end with exactly the
same bytes (the same last hour). Then runs, in a fresh interpreter each time,

    spamwatch report --since 1h --now <last line's time> --format text FILE

(with report's default ``--warmup 1h``, so two hours of log are parsed: the
hour before ``--since`` refills the detectors) ``--repeat`` times per file and
prints the best and median wall time, the bytes the child read (``rchar`` from
its /proc/self/io, which counts every read() including Python's own start-up;
a run on an empty log gives that baseline) and the log lines it parsed. The
claim to check: the cost follows the window, not the file, so both rows read
about the same number of bytes and lines.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spamwatch.parse import ParseOptions, Parser  # noqa: E402
from spamwatch.sources.seek import last_time  # noqa: E402

CHILD = (
    "import atexit, sys\n"
    "def _io():\n"
    "    with open('/proc/self/io') as f:\n"
    "        sys.stderr.write('\\nIO ' + f.read().replace('\\n', ' ') + '\\n')\n"
    "atexit.register(_io)\n"
    "from spamwatch.cli import main\n"
    "main(sys.argv[1:])\n"
)
"""Runs the CLI and, at exit, writes the process's own I/O counters to stderr."""


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--large", type=int, default=5_000_000, help="lines in the big log")
    p.add_argument("--small", type=int, default=1_000_000, help="lines in the small log")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3, help="runs per file (best is printed)")
    p.add_argument("--since", default="1h", help="the window (default 1h)")
    p.add_argument("--warmup", default="1h", help="report's --warmup (default 1h, as report)")
    p.add_argument("--keep", metavar="DIR", help="build the logs in DIR and keep them")
    p.add_argument(
        "--full", action="store_true", help="also time a whole-file read of the small log"
    )
    return p.parse_args()


def build_logs(workdir: Path, large: int, small: int, seed: int) -> tuple[Path, Path]:
    """The big log from genlog, the small one as its tail (same last hour, same bytes)."""
    big, little = workdir / f"mail-{large}.log", workdir / f"mail-{small}.log"
    if not big.exists():
        genlog = [sys.executable, str(ROOT / "bench" / "genlog.py")]
        options = ["--lines", str(large), "--seed", str(seed), "--out", str(big)]
        subprocess.run([*genlog, *options], check=True)
    if not little.exists():
        with open(little, "wb") as out:
            subprocess.run(["tail", "-n", str(small), str(big)], stdout=out, check=True)
    stamp = os.stat(big).st_mtime
    os.utime(little, (stamp, stamp))  # same anchor for year-less dates
    return big, little


Run = tuple[float, float, int, int]
"""One child run: wall seconds, CPU seconds, bytes read, log lines parsed."""


def run_report(path: Path, since: str | None, now: str, warmup: str = "1h") -> Run:
    """One child run of report (see ``Run``); CPU time is less disturbed by a busy machine."""
    args = ["report", "--timezone", "UTC", "--now", now, "--format", "text", "--fail-on", "never"]
    args += ["--since", since, "--warmup", warmup, str(path)] if since else [str(path)]
    began, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=False
    )
    took, cpu = time.perf_counter() - began, _children_cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit(f"report failed ({proc.returncode}): {proc.stderr}")
    rchar = int(re.search(r"rchar: (\d+)", proc.stderr).group(1))
    found = re.search(r"read:\s+(\d+) lines", proc.stdout)
    return took, cpu, rchar, int(found.group(1)) if found else 0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def row(path: Path, runs: list[Run], baseline: int) -> None:
    """One table row: best and median wall and CPU time, the last run's bytes and lines."""
    wall = sorted(r[0] for r in runs)
    cpu = sorted(r[1] for r in runs)
    _, _, rchar, parsed = runs[-1]
    middle = len(runs) // 2
    print(
        f"{path.name:<18}{count_lines(path):>10,}{path.stat().st_size:>13,}"
        f"{wall[0]:>7.2f}{wall[middle]:>7.2f}{cpu[0]:>7.2f}{cpu[middle]:>7.2f}"
        f"{rchar:>13,}{rchar - baseline:>13,}{parsed:>11,}"
    )


def count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b""))


def main() -> int:
    args = parse_args()
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="since-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        big, little = build_logs(workdir, args.large, args.small, args.seed)
        parser = Parser(ParseOptions(timezone=UTC))
        parser.begin_source(datetime.fromtimestamp(os.stat(big).st_mtime, UTC))
        end = last_time(str(big), parser.line_time)
        if end is None:
            raise SystemExit("the generated log has no timestamp")
        now = end.isoformat()
        empty = workdir / "empty.log"
        empty.write_bytes(b"")
        _, _, baseline, _ = run_report(empty, args.since, now, args.warmup)
        command = f"--since {args.since} --warmup {args.warmup} --now {now} --format text FILE"
        print(f"spamwatch report {command}")
        print(f"python start-up and imports read {baseline:,} bytes (empty log)")
        print("wall and CPU seconds: best and median; bytes read: rchar, and minus start-up")
        header = f"{'file':<18}{'lines':>10}{'size':>13}{'wall':>7}{'(med)':>7}{'cpu':>7}"
        print(header + f"{'(med)':>7}{'bytes read':>13}{'- start-up':>13}{'parsed':>11}")
        for path in (little, big):
            runs = [run_report(path, args.since, now, args.warmup) for _ in range(args.repeat)]
            row(path, runs, baseline)
        if args.full:
            print(f"the whole small log, no --since ({args.repeat} runs):")
            row(little, [run_report(little, None, now) for _ in range(args.repeat)], baseline)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
