"""Regenerate the bundled sample logs and, with --golden, their expected findings.

    python samples/generate.py            # rewrite samples/*.log from the seeds
    python samples/generate.py --check    # exit 1 if a sample differs from its seed
    python samples/generate.py --golden   # also rewrite samples/*.expected.jsonl
    python samples/generate.py --only compromised-account --golden

Every sample is built by synthlog from fixed seeds: a normal server's
background traffic merged with one incident or benign look-alike. Timestamps
are RFC 3339 with an explicit +01:00 offset, so what spamwatch reads from them
depends neither on today's date (no year inference) nor on the local zone.

The golden files hold exactly what ``spamwatch report --format json
--config /dev/null SAMPLE`` prints (built-in defaults, no site config).
Rewrite them only after an intentional change in detection, and read the diff
(``git diff samples/``) before committing: tests/test_golden.py compares them
byte for byte, so a regenerated golden file hides whatever changed.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tools"))

import synthlog  # noqa: E402
from synthlog import Outage, Record, TrafficMix  # noqa: E402

ZONE = timezone(timedelta(hours=1))
DAY = datetime(2026, 11, 26, tzinfo=ZONE)
HOST = "mail.example.com"


def at(hour: int, minute: int = 0) -> datetime:
    """A time on the samples' day (Thursday 2026-11-26, +01:00)."""
    return DAY.replace(hour=hour, minute=minute)


def before(hour: int, minute: int = 0) -> datetime:
    """A time on the day before the samples' day (a history day)."""
    return at(hour, minute) - timedelta(days=1)


def mix(rate: float = 0.05, exclude: tuple[str, ...] = (), **knobs: object) -> TrafficMix:
    """A small company server: 40 mailboxes, a few events a minute."""
    return TrafficMix(host=HOST, users=40, rate=rate, exclude=exclude, **knobs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Sample:
    """One sample log: its name, what it shows, and how to build its records."""

    name: str
    about: str
    start: datetime
    end: datetime
    build: Callable[[], Iterator[Record]]
    benign: bool = False
    shows: tuple[tuple[str, str], ...] = ()
    """(detector, key) pairs the report must raise at warning or above: what the
    sample is for. The golden test checks them apart from the golden file, so
    regenerating a golden file can never quietly accept a missed detection."""
    allow_info: bool = False
    """A benign sample that may raise an ``info`` finding (the backup MX, a list expansion)."""
    outage: tuple[str, str] | None = None
    """(destination, failure): a look-alike whose one incident is an ``info`` one about
    the host, naming the unreachable destination or relay and how it fails (a relay
    outage), none about the users whose mail waits."""
    history: Callable[[], Iterator[Record]] | None = None
    """The day before (``NAME.history.log.gz``), learned into a fresh profile
    database before the report: the sample is quiet once its profile has a day
    of its normal traffic (records already cut at their end)."""


def _compromised() -> Iterator[Record]:
    user = "monika.keller@example.com"
    return synthlog.merge(
        synthlog.background(mix(rate=0.03, exclude=(user,)), at(8), at(9, 30), seed=101),
        synthlog.compromised_account(
            at(9, 5), user=user, messages=250, duration=timedelta(minutes=4), bots=6, seed=1
        ),
    )


def _slow() -> Iterator[Record]:
    user = "peter.wolf@example.net"
    return synthlog.merge(
        synthlog.background(mix(rate=0.006, exclude=(user,)), at(8), at(10, 45), seed=102),
        synthlog.slow_sender(at(8, 15), user=user, duration=timedelta(hours=2), seed=2),
    )


def _spraying() -> Iterator[Record]:
    return synthlog.merge(
        synthlog.background(mix(rate=0.03), at(8), at(9), seed=103),
        synthlog.password_spraying(
            at(8, 10), duration=timedelta(minutes=30), sources=30, attempts=300, seed=3
        ),
    )


def _brute() -> Iterator[Record]:
    return synthlog.merge(
        synthlog.background(mix(rate=0.03), at(8), at(9), seed=104),
        synthlog.brute_force(at(8, 15), attempts=240, seed=4),
    )


def _queue() -> Iterator[Record]:
    mx, ip, _ = synthlog.PROVIDERS["outlook.com"]
    outage = Outage("outlook.com", at(8, 20).timestamp(), at(9, 5).timestamp(), mx, ip)
    return synthlog.merge(
        synthlog.background(mix(rate=0.02, outages=(outage,)), at(8), at(10, 15), seed=105),
        synthlog.queue_growth(at(8, 20), outage=timedelta(minutes=45), rate=0.02, seed=5),
    )


def _newsletter() -> Iterator[Record]:
    user = "newsletter@example.org"
    return synthlog.merge(
        synthlog.background(mix(rate=0.03, exclude=(user,)), at(8), at(9), seed=106),
        synthlog.newsletter(at(8, 15), user=user, messages=15, recipients=(30, 60), seed=6),
    )


def _notifications() -> Iterator[Record]:
    return synthlog.merge(
        synthlog.background(mix(rate=0.004), at(7), at(15), seed=107),
        synthlog.notifications(at(7), duration=timedelta(hours=8), interval=(180.0, 360.0), seed=7),
    )


def _traveller() -> Iterator[Record]:
    user = "clara.braun@example.com"
    return synthlog.merge(
        synthlog.background(mix(rate=0.006, exclude=(user,)), at(8), at(17), seed=108),
        synthlog.traveller(at(8, 20), user=user, duration=timedelta(hours=8), seed=8),
    )


def _mailing_list() -> Iterator[Record]:
    return synthlog.merge(
        synthlog.background(mix(rate=0.03), at(8), at(9, 30), seed=109),
        synthlog.mailing_list(at(8, 10), posts=6, members=120, seed=9),
    )


def _backup_mx() -> Iterator[Record]:
    noise = {"reject": 8.0, "postscreen": 9.0, "auth_scan": 2.0, "lost": 2.0}
    quiet = TrafficMix(host="mx2.example.com", users=5, rate=0.006, weights=noise)
    return synthlog.merge(
        synthlog.background(quiet, at(8), at(11, 30), seed=110),
        synthlog.backup_mx(at(8), outage=timedelta(hours=2), rate=0.012, seed=10),
    )


def _ticketing(day: datetime, hours: tuple[int, int], seed: int) -> Iterator[Record]:
    user = "helpdesk@example.com"
    start, end = day.replace(hour=hours[0]), day.replace(hour=hours[1])
    return synthlog.until(
        synthlog.merge(
            synthlog.background(mix(rate=0.003, exclude=(user,)), start, end, seed=seed),
            synthlog.ticketing(start, end - start, per_hour=(45.0, 60.0), seed=seed),
        ),
        end.timestamp(),
    )


def _verp() -> Iterator[Record]:
    return synthlog.merge(
        synthlog.background(mix(rate=0.01), at(8), at(9), seed=113),
        synthlog.verp_list(at(8, 20), members=260, duration=timedelta(minutes=6), seed=13),
    )


SCANNED = (HOST, "mx2.example.com")


def _scanners(start: datetime, end: datetime, seed: int) -> Iterator[Record]:
    return synthlog.until(
        synthlog.merge(
            synthlog.background(mix(rate=0.002), start, end, seed=seed),
            synthlog.sasl_scanners(start, end - start, hosts=SCANNED, seed=seed),
        ),
        end.timestamp(),
    )


def _relay_outage() -> Iterator[Record]:
    outage = synthlog.relay_outage_of(at(11), timedelta(minutes=90))
    return synthlog.merge(
        synthlog.background(mix(rate=0.004, outages=(outage,)), at(10, 45), at(12, 45), seed=115),
        synthlog.relay_outage(at(11), timedelta(minutes=90), users=3, per_hour=25.0, seed=15),
    )


def _foreign_habit(day: datetime, hours: tuple[int, int], seed: int) -> Iterator[Record]:
    user = "anna.schmidt@example.com"
    start, end = day.replace(hour=hours[0]), day.replace(hour=hours[1])
    return synthlog.until(
        synthlog.merge(
            synthlog.background(mix(rate=0.003, exclude=(user,)), start, end, seed=seed),
            synthlog.foreign_habit(start, end - start, seed=seed),
        ),
        end.timestamp(),
    )


def _normal() -> Iterator[Record]:
    return synthlog.background(mix(rate=0.004), at(0), at(23, 59), seed=111)


SAMPLES = (
    Sample(
        "compromised-account",
        "a botnet of 6 addresses logs in as monika.keller@example.com and sends 250"
        " single-recipient messages in 4 minutes, half with forged @yahoo.ph senders;"
        " deferrals and bounces follow",
        at(8),
        at(9, 30),
        _compromised,
        shows=(
            ("burst", "monika.keller@example.com"),
            ("addresses", "monika.keller@example.com"),
            ("sender", "monika.keller@example.com"),
        ),
    ),
    Sample(
        "slow-sender",
        "peter.wolf@example.net sends one single-recipient message every 20-60 s for two"
        " hours from 3 addresses",
        at(8),
        at(10, 45),
        _slow,
        shows=(("burst", "peter.wolf@example.net"),),
    ),
    Sample(
        "password-spraying",
        "30 addresses try 24 role logins (300 failures in 30 minutes), then one login as"
        " sales@example.com succeeds and sends a message",
        at(8),
        at(9),
        _spraying,
        shows=(("auth", "mail.example.com"), ("auth", "sales@example.com")),
    ),
    Sample(
        "brute-force",
        "one address fails 240 times to log in as info@example.com",
        at(8),
        at(9),
        _brute,
        shows=(("auth", "185.196.8.185"),),  # the attacking address (from seed 4)
    ),
    Sample(
        "queue-growth",
        "benign (at most info): outlook.com's MX times out for 45 minutes: mail to it is"
        " deferred, the queue grows, then drains; one info incident about the host naming"
        " the MX",
        at(8),
        at(10, 15),
        _queue,
        benign=True,
        allow_info=True,
        outage=("outlook-com.olc.protection.outlook.com", "Connection timed out"),
    ),
    Sample(
        "newsletter",
        "benign: newsletter@example.org sends 15 messages with 30-60 recipients each"
        " from its CRM server",
        at(8),
        at(9),
        _newsletter,
        benign=True,
    ),
    Sample(
        "notifications",
        "benign: alerts@example.com sends one single-recipient message every 3-6"
        " minutes for 8 hours from one fixed address",
        at(7),
        at(15),
        _notifications,
        benign=True,
    ),
    Sample(
        "traveller",
        "benign: clara.braun@example.com sends 9 mails over a day from home, a hotel"
        " and mobile IPv6",
        at(8),
        at(17),
        _traveller,
        benign=True,
    ),
    Sample(
        "mailing-list",
        "benign: 6 posts to a 120-member list arrive and are re-sent to every member",
        at(8),
        at(9, 30),
        _mailing_list,
        benign=True,
    ),
    Sample(
        "backup-mx",
        "benign (at most info): the backup MX mx2.example.com queues the domain's mail"
        " for 2 hours while the primary is down, then drains",
        at(8),
        at(11, 30),
        _backup_mx,
        benign=True,
        allow_info=True,
    ),
    Sample(
        "ticketing",
        "benign once learned: helpdesk@example.com, a ticketing system, sends 45-60"
        " single-recipient messages an hour from one address (its history: the day before,"
        " 07:00-19:00)",
        at(8),
        at(11),
        lambda: _ticketing(DAY, (8, 11), 116),
        benign=True,
        history=lambda: _ticketing(DAY - timedelta(days=1), (7, 19), 216),
    ),
    Sample(
        "verp-list",
        "benign without a profile: lists@lists.example.org expands a list post to 260"
        " members in 6 minutes (VERP: one message each, members-bounces+LOCAL=DOMAIN@"
        " senders) from the list host's one address",
        at(8),
        at(9),
        _verp,
        benign=True,
        allow_info=True,
    ),
    Sample(
        "scanners",
        "benign once learned: SASL scanners, 5-20 failing addresses per 10 minutes on both"
        " hosts (mail, mx2) all day (its history: the whole day before)",
        at(8),
        at(10),
        lambda: _scanners(at(8), at(10), 117),
        benign=True,
        history=lambda: _scanners(before(0), at(0), 217),
    ),
    Sample(
        "relay-outage",
        "benign (at most info): the relayhost is down 11:00-12:30: every remote delivery"
        " waits, three busy users' too; one info incident about the host naming the relay,"
        " none about the users",
        at(10, 45),
        at(12, 45),
        _relay_outage,
        benign=True,
        allow_info=True,
        outage=("relay.example.net", "Connection timed out"),
    ),
    Sample(
        "foreign-habit",
        "benign once learned: anna.schmidt@example.com sends 4-8 messages an hour as"
        " anna@schmidt-consulting.de, her own business (its history: the day before)",
        at(8),
        at(13),
        lambda: _foreign_habit(DAY, (8, 13), 118),
        benign=True,
        history=lambda: _foreign_habit(DAY - timedelta(days=1), (8, 17), 218),
    ),
    Sample(
        "normal-day",
        "benign: a whole ordinary day of a small company server",
        at(0),
        at(23, 59),
        _normal,
        benign=True,
    ),
)
BY_NAME = {s.name: s for s in SAMPLES}


def log_lines(sample: Sample) -> Iterator[str]:
    """The sample's log lines, cut at its end time (later retries are not logged yet)."""
    records = synthlog.until(sample.build(), sample.end.timestamp())
    return synthlog.render(records, style="rfc3339", tz=ZONE)


def write_log(sample: Sample, folder: Path) -> Path:
    """Write ``folder/NAME.log`` (and its history, gzipped); returns the log's path."""
    path = folder / f"{sample.name}.log"
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for line in log_lines(sample):
            out.write(line + "\n")
    if sample.history is not None:
        history = history_of(sample, folder)
        assert history is not None
        lines = synthlog.render(sample.history(), style="rfc3339", tz=ZONE)
        with open(history, "wb") as raw, gzip.GzipFile("", "wb", 9, raw, mtime=0) as packed:
            for line in lines:
                packed.write(line.encode() + b"\n")
    return path


def history_of(sample: Sample, folder: Path) -> Path | None:
    """``folder/NAME.history.log.gz`` for a sample with a history day, else None."""
    return folder / f"{sample.name}.history.log.gz" if sample.history is not None else None


def run_report(log: Path, history: Path | None = None) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``spamwatch report --format json`` on a log.

    Built-in defaults only (``--config /dev/null``) and a profile database of
    its own, fresh, holding only ``history`` (learned first) when given: a
    site config or earlier runs on the machine running the tests cannot
    change the result.
    """
    from click.testing import CliRunner

    from spamwatch.cli import cli

    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "profiles.db")
        if history is not None:
            learned = CliRunner().invoke(
                cli, ["learn", "--config", os.devnull, "--db", db, str(history)]
            )
            if learned.exit_code != 0:
                return learned.exit_code, learned.stdout, learned.stderr
        args = ["report", "--format", "json", "--config", os.devnull, "--db", db, str(log)]
        result = CliRunner().invoke(cli, args)
    return result.exit_code, result.stdout, result.stderr


def write_golden(sample: Sample, folder: Path) -> Path:
    """Write ``folder/NAME.expected.jsonl`` from the report on ``folder/NAME.log``."""
    log = folder / f"{sample.name}.log"
    status, stdout, stderr = run_report(log, history_of(sample, folder))
    if status not in (0, 1):
        raise SystemExit(f"{sample.name}: report failed with status {status}: {stderr.strip()}")
    path = folder / f"{sample.name}.expected.jsonl"
    path.write_text(stdout, encoding="utf-8")
    return path


def check(samples: list[Sample], folder: Path) -> list[str]:
    """Names of samples whose committed log differs from a fresh build."""
    stale = []
    with tempfile.TemporaryDirectory() as tmp:
        for sample in samples:
            fresh = write_log(sample, Path(tmp)).read_bytes()
            kept = folder / f"{sample.name}.log"
            if not kept.exists() or kept.read_bytes() != fresh:
                stale.append(sample.name)
            if _history_differs(history_of(sample, folder), history_of(sample, Path(tmp))):
                stale.append(f"{sample.name}.history")
    return stale


def _history_differs(kept: Path | None, fresh: Path | None) -> bool:
    """Compared uncompressed: another zlib may pack the same lines otherwise."""
    if kept is None or fresh is None:
        return False
    unpacked = gzip.decompress(fresh.read_bytes())
    return not kept.exists() or gzip.decompress(kept.read_bytes()) != unpacked


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description="Regenerate spamwatch's sample logs.")
    p.add_argument("--golden", action="store_true", help="also rewrite *.expected.jsonl")
    p.add_argument("--check", action="store_true", help="only compare logs with a fresh build")
    p.add_argument("--only", action="append", choices=sorted(BY_NAME), help="one sample")
    p.add_argument("--out", type=Path, default=HERE, help="folder (default: samples/)")
    args = p.parse_args(argv)
    chosen = [BY_NAME[n] for n in args.only] if args.only else list(SAMPLES)
    if args.check:
        stale = check(chosen, args.out)
        for name in stale:
            print(f"{name}.log differs from its seed", file=sys.stderr)
        return 1 if stale else 0
    for sample in chosen:
        path = write_log(sample, args.out)
        print(f"{path.name}: {path.stat().st_size:,} bytes")
        if args.golden:
            print(f"  {write_golden(sample, args.out).name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
