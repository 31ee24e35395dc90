#!/usr/bin/env python3
"""Incidents on realistic days: found, false, how fast, how many records (issue 9 §5).

For each seed: a preceding day of a normal server with the look-alikes
(``synthlog.LOOKALIKES`` when present: ticketing system, VERP list,
newsletter, traveller, SASL scanners, relay outage, a user's daily foreign
domain; else the older benign scenarios) is learned with ``spamwatch learn``;
then ``spamwatch report`` reads the day under test, which has the same
look-alikes and three injected incidents: a fast burst from a botnet (a
compromised account), a slow sender with forged senders, and a distributed
SASL attack ending in a successful login. ``spamwatch follow`` reads the same
day (from the start, on standard input, with a copy of the learned database)
to count the records a sink would get.

Printed per seed: incidents found / injected, false incidents at warning or
above on the day, log time from an incident's first line to its first record
at warning or above (per kind), and follow's records per injected incident
(all / paging = opened, escalated, resolved). Targets: every incident found,
0 false, one incident per compromised account, <= 5 paging records per
compromised-account incident, fast burst within 2 min, slow sender within
20, distributed SASL within 10.

    python bench/bench_incidents.py --seeds 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import synthlog  # noqa: E402

HOST = "mail.example.com"
LEARN_DAY = datetime(2026, 11, 25, tzinfo=UTC)
TEST_DAY = LEARN_DAY + timedelta(days=1)
LEVELS = {"info": 1, "warning": 2, "critical": 3}
PAGING = {"opened", "escalated", "resolved"}


@dataclass
class Injected:
    """One incident put into the day under test, and how to recognise its incidents."""

    kind: str
    start: datetime
    keys: tuple[tuple[str, str], ...]  # (key_kind, key) of the incidents it may raise
    target: timedelta
    records: Iterator[synthlog.Record] = field(repr=False, default=iter(()))


def injected(seed: int) -> list[Injected]:
    """The three incidents of the day under test (their logins differ per seed)."""
    victim, slow = f"victim{seed}@example.com", f"slowpoke{seed}@example.net"
    burst_at = TEST_DAY + timedelta(hours=9, minutes=seed % 7)
    slow_at = TEST_DAY + timedelta(hours=10, minutes=30)
    spray_at = TEST_DAY + timedelta(hours=7, minutes=15)
    return [
        Injected(
            "fast burst", burst_at, (("sasl_username", victim),), timedelta(minutes=2),
            synthlog.compromised_account(burst_at, user=victim, messages=1500,
                                         duration=timedelta(minutes=30), bots=8,
                                         host=HOST, lane=1, seed=seed),
        ),
        Injected(
            "slow sender", slow_at, (("sasl_username", slow),), timedelta(minutes=20),
            synthlog.slow_sender(slow_at, user=slow, duration=timedelta(hours=2),
                                 host=HOST, lane=2, seed=seed),
        ),
        Injected(
            "distributed SASL", spray_at,
            (("host", HOST), ("sasl_username", "sales@example.com")), timedelta(minutes=10),
            synthlog.password_spraying(spray_at, sources=40, attempts=600,
                                       host=HOST, lane=3, seed=seed),
        ),
    ]  # fmt: skip


def lookalike_days(
    midnight: datetime, seed: int
) -> tuple[list[Iterable[synthlog.Record]], list, list[str]]:
    """(record streams, background outages, logins) of the look-alikes on one day."""
    table = getattr(synthlog, "LOOKALIKES", None)
    if table is not None:
        streams = [item.day(midnight, seed, HOST) for item in table]
        outages = [o for item in table for o in item.outages(midnight)]
        logins = [login for item in table for login in item.logins]
        return streams, outages, logins
    at = lambda hours: midnight + timedelta(hours=hours)  # noqa: E731
    streams = [
        synthlog.notifications(at(7), host=HOST, seed=seed),
        synthlog.newsletter(at(9), host=HOST, seed=seed),
        synthlog.mailing_list(at(10), host=HOST, seed=seed),
        synthlog.traveller(at(8), host=HOST, seed=seed),
    ]
    logins = ["alerts@example.com", "newsletter@example.org", "clara.braun@example.com"]
    return streams, [], logins


def write_day(path: Path, midnight: datetime, hours: float, seed: int,
              extra: Iterable[Iterable[synthlog.Record]], exclude: list[str],
              rate: float) -> int:  # fmt: skip
    """A day of a normal server plus ``extra`` streams, rendered RFC 3339; lines written."""
    streams, outages, logins = lookalike_days(midnight, seed)
    mix = synthlog.TrafficMix(
        host=HOST, rate=rate, users=120, exclude=tuple(exclude + logins), outages=tuple(outages)
    )
    end = midnight + timedelta(hours=hours)
    background = synthlog.background(mix, midnight, end, seed)
    merged = synthlog.until(synthlog.merge(background, *streams, *extra), end.timestamp())
    count = 0
    with path.open("w") as handle:
        for line in synthlog.render(merged, "rfc3339"):
            handle.write(line + "\n")
            count += 1
    return count


def spamwatch(*args: str, stdin: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("SPAMWATCH_CONFIG", None)
    command = [sys.executable, "-m", "spamwatch", *args]
    with stdin.open("rb") if stdin else open(os.devnull, "rb") as handle:
        return subprocess.run(command, stdin=handle, capture_output=True, text=True,
                              env=env, cwd=ROOT, check=False, timeout=3600)  # fmt: skip


def records_of(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def incidents(records: list[dict]) -> dict[str, dict]:
    """Per incident id: key, highest severity, first record at warning+, records."""
    out: dict[str, dict] = {}
    for record in records:
        entry = out.setdefault(record["id"], {"key": (record["key_kind"], record["key"]),
                                              "severity": "info", "alerted": None,
                                              "records": [], "detectors": set(),
                                              "facts": set()})  # fmt: skip
        entry["records"].append(record["state"])
        entry["detectors"] |= {f["detector"] for f in record["findings"]}
        entry["facts"] |= set(record["facts"])
        if LEVELS[record["severity"]] > LEVELS[entry["severity"]]:
            entry["severity"] = record["severity"]
        if entry["alerted"] is None and LEVELS[record["severity"]] >= 2:
            entry["alerted"] = datetime.fromisoformat(record["time"])
    return out


def matches(item: Injected, entry: dict) -> bool:
    """Is this incident the injected one? (a host incident only during the attack)."""
    if entry["key"] not in item.keys:
        return False
    if entry["key"][0] == "host":
        return (
            "auth" in entry["detectors"]
            and entry["alerted"] is not None
            and (item.start <= entry["alerted"] <= item.start + timedelta(hours=1))
        )
    return True


@dataclass
class SeedResult:
    seed: int
    lines: int
    found: int = 0
    injected: int = 0
    false: list[str] = field(default_factory=list)
    expected_host: list[str] = field(default_factory=list)
    delays: dict[str, float | None] = field(default_factory=dict)
    per_account: int = 0
    follow: dict[str, tuple[int, int]] = field(default_factory=dict)
    seconds: float = 0.0


def run_seed(seed: int, hours: float, rate: float, do_follow: bool, work: Path) -> SeedResult:
    started = time.monotonic()
    learn_log, test_log = work / f"learn-{seed}.log", work / f"test-{seed}.log"
    db = work / f"profiles-{seed}.db"
    items = injected(seed)
    logins = [key for item in items for kind, key in item.keys if kind == "sasl_username"]
    write_day(learn_log, LEARN_DAY, 24, seed, [], logins, rate)
    lines = write_day(test_log, TEST_DAY, hours, seed, [i.records for i in items], logins, rate)
    learned = spamwatch("learn", "--config", "/dev/null", "--db", str(db), str(learn_log))
    if learned.returncode != 0:
        raise SystemExit(f"learn failed: {learned.stderr}")
    follow_db = work / f"follow-{seed}.db"
    shutil.copy(db, follow_db)
    report = spamwatch("report", "--config", "/dev/null", "--db", str(db), "--no-learn",
                       "--format", "json", "--all-records", "--fail-on", "never",
                       str(test_log))  # fmt: skip
    if report.returncode != 0:
        raise SystemExit(f"report failed: {report.stderr}")
    found = incidents(records_of(report.stdout))
    result = SeedResult(seed, lines, injected=len(items))
    claimed: set[str] = set()
    for item in items:
        mine = {i: e for i, e in found.items() if matches(item, e)}
        loud = {i: e for i, e in mine.items() if e["alerted"] is not None}
        claimed |= set(mine)
        if loud:
            result.found += 1
            first = min(e["alerted"] for e in loud.values())
            result.delays[item.kind] = (first - item.start).total_seconds()
        else:
            result.delays[item.kind] = None
        if item.kind == "fast burst":
            result.per_account = len(loud)
    for ident, entry in found.items():
        if ident in claimed:
            continue
        if entry["key"][0] == "host" and "outage" in entry["facts"]:
            result.expected_host.append(f"{entry['severity']} {entry['key'][1]}")  # info by design
        if LEVELS[entry["severity"]] >= 2:
            result.false.append(f"{entry['severity']} {entry['key'][0]} {entry['key'][1]}")
    if do_follow:
        state = work / f"follow-{seed}.state"
        live = spamwatch("follow", "--config", "/dev/null", "--db", str(follow_db),
                         "--from-start", "--format", "json", "--state", str(state), "-",
                         stdin=test_log)  # fmt: skip
        sent = incidents(records_of(live.stdout))
        for item in items:
            mine = [e for e in sent.values() if matches(item, e) or (
                e["key"] in item.keys and e["key"][0] == "sasl_username")]  # fmt: skip
            total = sum(len(e["records"]) for e in mine)
            paging = sum(1 for e in mine for state_ in e["records"] if state_ in PAGING)
            result.follow[item.kind] = (total, paging)
    result.seconds = time.monotonic() - started
    return result


def minutes(value: float | None) -> str:
    return "missed" if value is None else f"{value / 60:.1f} min"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--hours", type=float, default=14.0, help="length of the day under test")
    parser.add_argument("--rate", type=float, default=0.3, help="background events per second")
    parser.add_argument("--no-follow", action="store_true", help="skip follow's record counts")
    parser.add_argument("--keep", type=Path, help="keep the logs and databases here")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-incidents-"))
    work.mkdir(parents=True, exist_ok=True)
    source = "synthlog.LOOKALIKES" if hasattr(synthlog, "LOOKALIKES") else "older benign scenarios"
    print(f"look-alikes: {source}; learn 24h, report {args.hours:g}h, background rate {args.rate}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = []
    try:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            result = run_seed(seed, args.hours, args.rate, not args.no_follow, work)
            results.append(result)
            print_seed(result)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if all(ok(r) for r in results) else 1


def print_seed(r: SeedResult) -> None:
    delays = ", ".join(f"{kind} {minutes(v)}" for kind, v in r.delays.items())
    print(f"seed {r.seed}: {r.lines} lines on the day, {r.seconds:.0f} s")
    print(f"  found {r.found}/{r.injected}; false at warning+: {len(r.false)}"
          + (f" ({'; '.join(r.false)})" if r.false else ""))  # fmt: skip
    if r.expected_host:
        shown = "; ".join(r.expected_host)
        print(f"  look-alike host incidents (relay outage: outage, info by design): {shown}")
    print(f"  first alert (log time from the first line): {delays}")
    print(f"  incidents for the compromised account: {r.per_account}")
    if r.follow:
        counts = ", ".join(f"{k} {t} ({p} paging)" for k, (t, p) in r.follow.items())
        print(f"  follow records per incident: {counts}")
    print(f"  targets: {'met' if ok(r) else 'NOT met'}")


def ok(r: SeedResult) -> bool:
    targets = {"fast burst": 120, "slow sender": 1200, "distributed SASL": 600}
    fast = all(r.delays.get(k) is not None and r.delays[k] <= t for k, t in targets.items())
    paging = not r.follow or r.follow.get("fast burst", (0, 0))[1] <= 5
    return r.found == r.injected and not r.false and r.per_account == 1 and fast and paging


if __name__ == "__main__":
    sys.exit(main())
