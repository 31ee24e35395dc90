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

``--incidents`` mixes the usual incidents of a busy day into the background
(the shape of issue 11's log): two compromised accounts sending thousands of
single-recipient messages (``--incident-messages``, 6,000 by default, and half
that), a brute force and a relay outage, placed at fixed fractions of the
span, so the same arguments without ``--incidents`` give a log of the same
length and shape without them (the "with / without a large incident" pair).
``--sasl-spray N`` writes instead N SASL failures (one line each,
``sasl_username=`` set) from N distinct client addresses, ``--spray-rate`` a
second (200: 100,000 of them fit in the auth detector's 10-minute window): the
cheap attack on spamwatch itself.

    python bench/genlog.py --lines 1000000 --hours 6 --incidents --out /tmp/day.log
    python bench/genlog.py --sasl-spray 100000 --out /tmp/spray.log

``--steady`` writes a day of one server's continuous month (``bench_learn.py``
writes each day with its own ``--seed``): the users are the same every day
(drawn from a seed of their own, not the day's), and mail deferred for days is
a few messages retried under their own queue ids until they expire after
Postfix's five days, then removed. Without it each day has a new population
of 200 logins, and each retry of old mail is a new queue id never seen again
(about 470 a day): fine for one day, but a month of such days is a server
whose users change daily and whose queue never lets go of a message.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import synthlog

LINES_PER_SECOND_OF_LOG = 10.6
"""Mean log lines per second of log time at the default rate (measured, for --end)."""
FLAT_LINES_PER_EVENT = 7.6
"""Mean log lines per event of flat traffic (measured, for --hours)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description="Write a synthetic Postfix mail log.")
    p.add_argument("--lines", type=int, default=0, help="number of lines to write")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--out", required=True, help="output file ('-' for stdout)")
    p.add_argument("--start", default="2026-11-20 00:00", help="first line's time (UTC)")
    p.add_argument("--end", help="last line's approximate time (UTC); overrides --start")
    p.add_argument("--style", choices=synthlog.STYLES, default="rfc3164", help="timestamp form")
    p.add_argument("--rate", type=float, default=2.0, help="events per second (default 2)")
    p.add_argument("--hours", type=float, help="flat traffic, --lines in this many hours")
    p.add_argument("--incidents", action="store_true", help="mix in a busy day's incidents")
    p.add_argument("--steady", action="store_true", help="a day of one server's month")
    p.add_argument("--incident-messages", type=int, default=6000, help="the larger incident's size")
    p.add_argument("--sasl-spray", type=int, metavar="N", help="N SASL failures, N addresses")
    p.add_argument("--spray-rate", type=float, default=200.0, help="--sasl-spray lines per second")
    args = p.parse_args(argv)
    if not args.lines and not args.sasl_spray:
        p.error("--lines is required (or --sasl-spray)")
    return args


def spray_lines(count: int, start: datetime, rate: float) -> Iterator[str]:
    """``count`` SASL failures, one line each, from ``count`` distinct addresses."""
    t = synthlog.epoch(start)
    for i in range(count):
        ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        peer = f"unknown[{ip}]"
        text = (
            f"postfix/submission/smtpd[{1000 + i % 30000}]: warning: {peer}: SASL LOGIN"
            f" authentication failed: (reason unavailable), sasl_username=user{i % 500}@example.com"
        )
        yield from synthlog.render([(t + i / rate, "mail.example.com", text)])


def incident_lines(args: argparse.Namespace, start: datetime) -> Iterator[str]:
    """The background with a busy day's incidents at fixed fractions of ``--hours``."""
    hours = args.hours or 6.0
    span = hours * 3600
    t0 = synthlog.epoch(start)
    mx, ip, _ = synthlog.PROVIDERS["outlook.com"]
    outage = synthlog.Outage("outlook.com", t0 + 0.6 * span, t0 + 0.6 * span + 3600, mx, ip)
    mix = synthlog.TrafficMix(
        rate=_rate(args),
        flat=True,
        outages=(outage,) if args.incidents else (),
        exclude=("monika.keller@example.com", "jonas.weber@example.net"),
        **_steady(args),
    )
    streams = [synthlog.background(mix, t0, t0 + span, args.seed)]
    if args.incidents:
        streams += [
            synthlog.compromised_account(t0 + 0.25 * span, messages=args.incident_messages),
            synthlog.compromised_account(
                t0 + 0.5 * span,
                user="jonas.weber@example.net",
                messages=args.incident_messages // 2,
                duration=timedelta(minutes=30),
                lane=6,
                seed=6,
            ),
            synthlog.brute_force(t0 + 0.4 * span, attempts=600),
            synthlog.queue_growth(t0 + 0.6 * span),
        ]
    return islice(synthlog.render(synthlog.merge(*streams), args.style), args.lines)


def _steady(args: argparse.Namespace) -> dict[str, Any]:
    """What ``--steady`` asks of a TrafficMix: one population, old mail kept under its ids."""
    return {"population_seed": 1 if args.steady else None, "steady_queue": args.steady}


def _rate(args: argparse.Namespace) -> float:
    if not args.hours:
        return args.rate
    return args.lines / (args.hours * 3600) / FLAT_LINES_PER_EVENT


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    """Generate and write; returns the exit status."""
    args = parse_args(argv)
    mix = synthlog.TrafficMix(rate=args.rate, **_steady(args))
    if args.sasl_spray:
        lines: Iterator[str] = spray_lines(args.sasl_spray, _when(args.start), args.spray_rate)
    elif args.incidents or args.hours:
        lines = incident_lines(args, _when(args.start))
    elif args.end:
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
