"""Write a realistic synthetic Postfix mail log for the benches.

    python bench/genlog.py --lines 5000000 --seed 1 --out /tmp/mail.log
    python bench/genlog.py --lines 1000000 --seed 1 --out /tmp/small.log --end "2026-11-28 12:00"

The log is a normal server's traffic (synthlog.TrafficMix): inbound MX
mail, authenticated submission, deferrals, bounces, rejects, SASL scanners and
dovecot/amavis/opendkim/CRON noise. The same seed gives the same bytes.

``--end`` pins the log's end: the start is chosen from the mean line rate so
that the log ends at ``--end``; the output stops at ``--end`` or after
``--lines`` lines, whichever comes first, so the count is within a few per cent
of ``--lines`` (5,000,000 asked gives about 4.94M). For two logs with the very
same last hour, generate the large one and take the small one as its tail
(bench/bench_since.py does). Without ``--end``, the log starts at ``--start``
and has exactly ``--lines`` lines. Prints lines, bytes, seconds and lines/s to
stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import synthlog

LINES_PER_SECOND_OF_LOG = 10.6
"""Mean log lines per second of log time at the default rate (measured, for --end)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description="Write a synthetic Postfix mail log.")
    p.add_argument("--lines", type=int, required=True, help="number of lines to write")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--out", required=True, help="output file ('-' for stdout)")
    p.add_argument("--start", default="2026-11-20 00:00", help="first line's time (UTC)")
    p.add_argument("--end", help="last line's approximate time (UTC); overrides --start")
    p.add_argument("--style", choices=synthlog.STYLES, default="rfc3164", help="timestamp form")
    p.add_argument("--rate", type=float, default=2.0, help="events per second (default 2)")
    return p.parse_args(argv)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    """Generate and write; returns the exit status."""
    args = parse_args(argv)
    mix = synthlog.TrafficMix(rate=args.rate)
    if args.end:
        end = _when(args.end)
        per_second = LINES_PER_SECOND_OF_LOG * args.rate / 2.0
        start = end - timedelta(seconds=args.lines / per_second)
        lines = synthlog.generate(
            start, lines=args.lines, duration=end - start, seed=args.seed, mix=mix, style=args.style
        )
    else:
        lines = synthlog.generate(
            _when(args.start), lines=args.lines, seed=args.seed, mix=mix, style=args.style
        )
    began = time.perf_counter()
    count = size = 0
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    try:
        for line in lines:
            out.write(line)
            out.write("\n")
            count += 1
            size += len(line) + 1
    finally:
        if out is not sys.stdout:
            out.close()
    took = time.perf_counter() - began
    print(
        f"genlog: {count} lines, {size} bytes in {took:.1f} s ({count / took:,.0f} lines/s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
