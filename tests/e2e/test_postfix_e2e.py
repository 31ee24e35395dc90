"""spamwatch against a real Postfix: the scenarios of issue 6, in order.

One private Postfix + Dovecot (conftest.mail_system) writes its own
``maillog_file``; one ``spamwatch follow`` subprocess watches it from the
first line with a jsonl sink and a state file. The tests run in file order and
share that log: each scenario uses its own users and client addresses, and the
last one checks that ``spamwatch report`` over the whole log agrees with what
follow alerted live.
"""

from __future__ import annotations

import json
import re
import smtplib
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from follow_process import FollowProcess, Record
from postfix_harness import CONF_DIR, PASSWORDS, MailSystem
from sinkutil import wait_until
from smtp_traffic import (
    Mail,
    failed_logins,
    in_parallel,
    send_session,
    send_unauthenticated,
)

from spamwatch.sources.queue import QueueProbe

pytestmark = pytest.mark.e2e

CONFIG = CONF_DIR / "spamwatch.toml"
NORMAL_USERS = ("alice", "bob", "carol", "news")
CATCH_UP = 60.0
"""Seconds follow may take to reach the end of the log (it saves its place every 5 s)."""


@pytest.fixture(scope="module")
def follow(mail_system: MailSystem) -> Iterator[FollowProcess]:
    """``spamwatch follow`` on the live maillog, started before any traffic."""
    workdir = mail_system.root / "follow"
    workdir.mkdir()
    proc = FollowProcess(mail_system.maillog, workdir, CONFIG)
    proc.start(from_start=True)
    try:
        yield proc
    finally:
        proc.stop()


def caught_up(follow: FollowProcess) -> None:
    """Wait until follow's saved position is the end of the log."""
    wait_until(follow.caught_up, CATCH_UP, "follow to read the whole log")


def about(records: list[Record], *keys: str) -> list[Record]:
    """Incident records whose key or findings name any of ``keys``."""
    out = []
    for record in records:
        text = json.dumps([record["key"], record.get("findings", [])])
        if record["key"] in keys or any(f'"{k}"' in text for k in keys):
            out.append(record)
    return out


def named_ips(record: Record) -> set[str]:
    """The 127.x client addresses the findings of an incident record name."""
    evidence = [f["evidence"] for f in record.get("findings", [])]
    return set(re.findall(r"127\.0\.0\.\d+", json.dumps(evidence)))


def detectors(record: Record) -> set[str]:
    """The detectors whose findings are in an incident record."""
    return {f["detector"] for f in record["findings"]}


def finding_of(record: Record, detector: str) -> dict[str, Any]:
    """The finding of ``detector`` inside an incident record."""
    return next(f for f in record["findings"] if f["detector"] == detector)


def botnet_jobs(ms: MailSystem, user: str, ips: list[str], per_ip: int, sessions: int) -> list:
    """One job per (address, session): single-recipient mails, every other one forged."""
    jobs = []
    per_session = per_ip // sessions
    for n, ip in enumerate(ips):
        for s in range(sessions):
            mails = []
            for k in range(per_session):
                i = s * per_session + k
                sender = f"{user}@example.com" if i % 2 else f"promo{n}.{i}@cheap-deals.test"
                mails.append(Mail(sender, (f"target{n}.{i}@victims.test",), "Cheap deals"))
            account = ms.account(user, ip)
            jobs.append(lambda a=account, m=mails: send_session(ms.port, a, m))
    return jobs


# --- scenario 1 ---------------------------------------------------------------


def normal_traffic(ms: MailSystem) -> int:
    """A few users mailing a few people each, and a newsletter to 25 readers."""
    jobs = []
    for n, user in enumerate(("alice", "bob", "carol")):
        account = ms.account(user, f"127.0.0.{10 + n}")
        mails = [
            Mail(f"{user}@example.com", (f"friend{k}@partner.test", "boss@example.com"), "Hi")
            for k in range(3)
        ]
        jobs.append(lambda a=account, m=mails: send_session(ms.port, a, m))
    news = ms.account("news", "127.0.0.20")
    letters = [
        Mail("news@example.com", tuple(f"reader{k}@readers.test" for k in range(25)), "News")
        for _ in range(2)
    ]
    jobs.append(lambda: send_session(ms.port, news, letters))
    return in_parallel(jobs)


def test_1_normal_traffic_gives_no_incident(mail_system: MailSystem, follow: FollowProcess) -> None:
    ms = mail_system
    sent = normal_traffic(ms)
    # carol mistypes her password once, then logs in.
    typo = [("carol", "typo"), ("carol", PASSWORDS["carol"])]
    assert failed_logins(ms.port, "127.0.0.12", typo) == 1
    # A scanner tries to relay without logging in: submission refuses it.
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send_unauthenticated(ms.port, "127.0.0.66", Mail("x@scan.test", ("y@victims.test",)))
    wait_until(lambda: ms.relay.received >= sent, 60, "the internet to receive the normal mail")
    caught_up(follow)
    assert follow.records() == []
    log = ms.maillog.read_text()
    assert "sasl_username=alice" in log and "postfix/submission/smtpd" in log


# --- scenario 2 ---------------------------------------------------------------

BOTNET = [f"127.0.0.{100 + n}" for n in range(8)]


def test_2_compromised_account_found_within_seconds(
    mail_system: MailSystem, follow: FollowProcess
) -> None:
    ms = mail_system
    jobs = botnet_jobs(ms, "dave", BOTNET, per_ip=40, sessions=4)
    sent: list[int] = []
    start = time.monotonic()
    thread = threading.Thread(target=lambda: sent.append(in_parallel(jobs)))
    thread.start()
    first_seen: dict[str, float] = {}

    def critical() -> bool:
        for record in about(follow.records(), "dave"):
            first_seen.setdefault(record["state"], time.monotonic() - start)
        return any(r["severity"] == "critical" for r in about(follow.records(), "dave"))

    wait_until(critical, 60, "a critical incident about dave")
    thread.join(120)
    assert sent == [320]
    caught_up(follow)
    records = about(follow.records(), "dave")
    print("\nscenario 2: seconds from the botnet's first connection to each record kind:")
    order = sorted(first_seen.items(), key=lambda item: item[1])
    print("  " + ", ".join(f"{state} {t:.2f}s" for state, t in order))
    for record in records:
        found = sorted(detectors(record))
        print(f"  {record['state']} {record['severity']} {found}: {record['reason']}")
    # ONE incident for the compromised login, its findings inside it (a finding that joins
    # after the last record comes in the next "updated", rate-limited; report has them all)
    assert {r["id"] for r in records} == {records[0]["id"]}
    assert records[0]["state"] == "opened" and records[0]["key"] == "dave"
    assert {"burst", "sender"} <= set().union(*(detectors(r) for r in records))
    assert any(r["severity"] == "critical" for r in records)
    paging = [r for r in records if r["state"] in ("opened", "escalated", "resolved")]
    assert len(paging) <= 5, paging
    latency = min(first_seen.values())
    assert latency < 30, f"first record only after {latency:.1f}s"
    # follow alerts when the threshold (5 addresses) is crossed; report (scenario 6)
    # shows the final count of all 8.
    for record in records:
        if "addresses" in detectors(record):
            addresses = finding_of(record, "addresses")
            named = named_ips({"findings": [addresses]})
            assert len(named) == addresses["counts"]["addresses"] >= 5
            assert named <= set(BOTNET)
    assert not about(follow.records(), *NORMAL_USERS)


# --- scenario 3 ---------------------------------------------------------------

BRUTE = [f"127.0.0.{200 + n}" for n in range(5)]
GUESSED = ("frank", "admin", "info", "alice", "postmaster", "sales")


def test_3_brute_force_then_success(mail_system: MailSystem, follow: FollowProcess) -> None:
    ms = mail_system
    jobs = []
    for n, ip in enumerate(BRUTE):
        attempts = [(GUESSED[(n + k) % len(GUESSED)], f"guess{k}") for k in range(12)]
        jobs.append(lambda ip=ip, a=attempts: failed_logins(ms.port, ip, a))
    assert in_parallel(jobs) == 12 * len(BRUTE)
    # The guess that works: frank's password from one of the failing addresses.
    send_session(ms.port, ms.account("frank", BRUTE[2]), [Mail("frank@example.com", ("x@y.test",))])
    wait_until(
        lambda: any(r["key"] == "frank" and r["severity"] == "critical" for r in follow.records()),
        CATCH_UP,
        "a critical incident about frank's breached account",
    )
    auth = [r for r in follow.records() if "auth" in detectors(r)]
    print("\nscenario 3:")
    for record in auth:
        print(f"  {record['state']} {record['key']} {record['severity']}: {record['reason']}")
    findings = [f for r in auth for f in r["findings"] if f["detector"] == "auth"]
    named = json.dumps([[f["key"], f["evidence"]] for f in findings])
    assert all(ip in named for ip in BRUTE), "not every failing address was named"
    assert all(f'"{name}"' in named for name in GUESSED), "an attacked username is not named"
    breach = [r for r in auth if r["key"] == "frank" and r["severity"] == "critical"]
    assert breach and BRUTE[2] in named_ips(breach[-1])
    assert breach[-1]["reason"] == "a login succeeded after failed attempts"


# --- scenario 4 ---------------------------------------------------------------


def keep_alive(ms: MailSystem, rounds: int) -> None:
    """Ordinary mail now and then: findings resolve in log time, so the log must go on."""
    users = ("alice", "bob", "carol", "gina")
    user = users[rounds % len(users)]
    mail = Mail(f"{user}@example.com", ("a@partner.test", "b@partner.test"), "Later")
    send_session(ms.port, ms.account(user, f"127.0.0.{10 + users.index(user)}"), [mail])


def keep_alive_until(ms: MailSystem, condition: Callable[[], object], what: str) -> int:
    """Send ordinary mail every 2 s until ``condition()``; returns how many were sent."""
    rounds = 0
    deadline = time.monotonic() + 240
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        keep_alive(ms, rounds)
        rounds += 1
        time.sleep(2)  # pacing the keep-alive traffic; the condition is what is awaited
    return rounds


def queue_records(follow: FollowProcess) -> list[Record]:
    """Records of the incidents that hold a queue finding: the host's, or a login's that
    took the queue finding in (scenario 2's botnet filled the queue with dave's mail)."""
    return [r for r in follow.records() if "queue" in detectors(r)]


def open_queue_findings(follow: FollowProcess) -> set[str]:
    """Ids of incidents holding a queue finding, opened and not resolved yet."""
    records = queue_records(follow)
    return {r["id"] for r in records} - {r["id"] for r in records if r["state"] == "resolved"}


def probe_in_the_detector(ms: MailSystem, queued: int) -> Record:
    """A second follow, started now with the probe on, sees the queue it never saw fill.

    It starts at the end of the log without warm-up, so its log-derived estimate
    knows none of the queued messages; only ``postqueue -j`` can tell.
    """
    workdir = ms.root / "follow-probe"
    workdir.mkdir()
    config = workdir / "spamwatch.toml"
    config.write_text(CONFIG.read_text() + 'probe = true\nprobe_interval = "2s"\n')
    proc = FollowProcess(
        ms.maillog, workdir, config, ("--warmup", "0"), {"MAIL_CONFIG": str(ms.postfix.config_dir)}
    )
    proc.start()
    try:
        proc.wait_ready()
        keep_alive(ms, 3)  # one more message: the detector looks at the queue again
        found = wait_until(
            lambda: [
                f
                for r in proc.records()
                for f in r["findings"]
                if f["detector"] == "queue" and "real_queue" in f["evidence"]
            ],
            CATCH_UP,
            "a queue finding with the real queue",
        )
    finally:
        assert proc.stop() == 0
    real = found[0]["evidence"]["real_queue"]
    assert real["queue_size"] >= queued and real["source"] == "postqueue -j"
    assert real["oldest_age_seconds"] >= 0 and found[0]["counts"]["queued"] >= queued
    assert "unavailable" not in proc.stderr()
    return found[0]


def test_4_queue_grows_then_drains(mail_system: MailSystem, follow: FollowProcess) -> None:
    ms = mail_system
    # The botnet of scenario 2 may have filled the queue for a moment: let that
    # finding end first, so the one below is this scenario's own.
    caught_up(follow)
    keep_alive_until(ms, lambda: not open_queue_findings(follow), "earlier queue findings to end")
    earlier = {r["id"] for r in queue_records(follow)}
    probe = QueueProbe(interval=0, config_directory=str(ms.postfix.config_dir))
    empty = probe.take()
    assert empty is not None and empty.size == len(ms.postfix.queue())
    ms.relay.stop()
    try:
        jobs = []
        for n, user in enumerate(("alice", "bob", "carol", "gina")):
            account = ms.account(user, f"127.0.0.{10 + n}")
            rcpts = (f"p{n}@partner.test", f"q{n}@partner.test")
            mails = [Mail(f"{user}@example.com", rcpts, f"Report {k}") for k in range(12)]
            jobs.append(lambda a=account, m=mails: send_session(ms.port, a, m))
        queued = in_parallel(jobs)
        wait_until(lambda: len(ms.postfix.queue()) >= queued, 60, f"{queued} queued messages")
        snapshot = probe.take()
        assert snapshot is not None
        # the probe and postqueue are two reads: a notice may be queued in between
        assert snapshot.size >= queued
        assert abs(snapshot.size - len(ms.postfix.queue())) <= 2
        assert snapshot.recipients >= 2 * queued
        assert snapshot.oldest_age is not None and snapshot.oldest_age >= 0
        print(f"\nscenario 4: postqueue -j probe: {snapshot}")
        ours = wait_until(
            lambda: [r for r in queue_records(follow) if r["id"] not in earlier],
            CATCH_UP,
            "a queue finding",
        )[0]
        probed = probe_in_the_detector(ms, queued)
    finally:
        ms.relay.start()
    print(f"  {ours['state']} {ours['key']} {ours['severity']}: {ours['summary']}")
    print(f"  with the probe, started after the queue filled: {probed['summary']}")
    print(f"    real_queue: {probed['evidence']['real_queue']}")
    ms.postfix.flush()
    wait_until(lambda: not ms.postfix.queue(), 120, "the queue to drain")
    drained = probe.take()
    assert drained is not None and drained.size == 0 and drained.oldest_age is None
    rounds = keep_alive_until(
        ms, lambda: ours["id"] not in open_queue_findings(follow), "the queue finding to resolve"
    )
    print(f"  resolved after {rounds} keep-alive messages")


# --- scenario 5 ---------------------------------------------------------------

ERIN_BOTNET = [f"127.0.0.{150 + n}" for n in range(8)]


def test_5_restart_in_the_middle_of_an_attack(
    mail_system: MailSystem, follow: FollowProcess
) -> None:
    ms = mail_system
    in_parallel(botnet_jobs(ms, "erin", ERIN_BOTNET, per_ip=10, sessions=1))
    wait_until(lambda: about(follow.records(), "erin"), CATCH_UP, "an incident about erin")
    caught_up(follow)
    assert follow.stop() == 0
    before = about(follow.records(), "erin")
    # Mail keeps coming while follow is down; then it comes back with its state.
    in_parallel(botnet_jobs(ms, "erin", ERIN_BOTNET, per_ip=10, sessions=1))
    follow.start()
    in_parallel(botnet_jobs(ms, "erin", ERIN_BOTNET, per_ip=10, sessions=1))
    caught_up(follow)
    after = about(follow.records(), "erin")[len(before) :]
    erins = [r for r in before + after if r["key"] == "erin"]
    print("\nscenario 5: erin's records, before and after the restart:")
    for record in erins:
        when = "after " if record in after else "before"
        print(f"  {when} {record['state']} {record['severity']} {sorted(detectors(record))}")
    # one incident, opened once, under one id across the restart
    assert {r["id"] for r in erins} == {erins[0]["id"]}
    assert [r["state"] for r in erins].count("opened") == 1
    assert not [r for r in after if r["state"] == "opened" and r["key"] == "erin"]
    assert {"addresses", "sender"} <= set().union(*(detectors(r) for r in erins))
    # Critical before the stop: what the restart re-derived from the warm-up is not news,
    # so nothing is sent again unless it grew (an "updated" record of the same incident).
    assert any(r["severity"] == "critical" for r in before)
    assert all(r["state"] in ("updated", "resolved") for r in after)
    # No record of any incident (erin's or earlier scenarios') was sent twice.
    seen = [(r["id"], r["state"], json.dumps(r["counts"])) for r in follow.records()]
    twice = sorted({s for s in seen if seen.count(s) > 1})
    assert not twice, f"sent again after the restart: {twice}"


# --- scenario 6 ---------------------------------------------------------------

STOPPED = re.compile(r"stopped after (\d+) lines")


def final_states(records: list[Record]) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Per incident (key kind, key, opened at): highest severity, and whether it was resolved.

    Keyed by what it is about rather than by id: a follow restart keeps the id
    of the incident it continues, which a report over the whole log names by
    its own opening line.
    """
    order = ["info", "warning", "critical"]
    out: dict[tuple[str, str], tuple[Any, ...]] = {}
    for r in records:
        slot = (r["key_kind"], r["key"])
        severity, resolved = out.get(slot, ("info", False))
        severity = max(severity, r["severity"], key=order.index)
        out[slot] = (severity, resolved or r["state"] == "resolved")
    return out


def test_6_report_agrees_with_follow(mail_system: MailSystem, follow: FollowProcess) -> None:
    ms = mail_system
    caught_up(follow)
    assert follow.stop() == 0
    # Every line up to follow's final position was read exactly once over both runs.
    offset = follow.offset()
    assert offset is not None
    lines = ms.maillog.read_bytes()[:offset].count(b"\n")
    counted = [int(m) for run in (1, 2) for m in STOPPED.findall(follow.stderr(run))]
    assert sum(counted) == lines, f"follow read {counted} lines, the log had {lines}"
    argv = [sys.executable, "-m", "spamwatch", "report", "--config", str(CONFIG)]
    argv += ["--format", "json", "--fail-on", "never", str(ms.maillog)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = [json.loads(line) for line in proc.stdout.splitlines()]
    live = follow.records()
    assert live and final_states(report) == final_states(live)
    (incident,) = [r for r in report if r["key"] == "dave"]  # one incident for dave
    dave = {f["detector"]: f for f in incident["findings"]}
    print(f"\nscenario 6: report over {lines} lines: {len(report)} incidents, as follow")
    print(f"  {incident['state']} {incident['severity']}: {incident['reason']}")
    for finding in dave.values():
        print(f"    {finding['detector']} {finding['severity']}: {finding['summary']}")
    assert incident["severity"] == "critical"
    assert named_ips({"findings": [dave["addresses"]]}) == set(BOTNET)
    assert dave["burst"]["counts"]["messages_short"] == 320
    assert dave["sender"]["counts"]["messages"] == 160
