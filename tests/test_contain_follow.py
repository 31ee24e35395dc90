"""Automatic containment from ``follow``: the response stage, in-process and as a process.

The in-process tests drive the Responder with the correlator's updates and
records built by hand (what it holds, when, and what it tells the sinks); the
process tests run ``spamwatch follow`` on a compromised account's log with
stand-in Postfix commands, as an admin would, and read the map, the ledger,
the JSON records and stderr.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import synthlog
from containutil import FakePostfix
from followutil import VICTIM, FollowProcess, until

from spamwatch.contain.ledger import Ledger
from spamwatch.contain.responder import Responder
from spamwatch.model import (
    Event,
    Finding,
    FindingState,
    Incident,
    IncidentState,
    Message,
    MessageUpdate,
    Severity,
    Stage,
)


def record(login: str = "dave", severity: Severity = Severity.CRITICAL) -> Incident:
    now = datetime.now(UTC)
    return Incident(
        id=f"sasl_username:{login}:1",
        state=IncidentState.OPENED,
        severity=severity,
        key=login,
        key_kind="sasl_username",
        summary=f"{login} logged in from 12 networks",
        reason="many networks with: foreign_sender",
        first_seen=now,
        last_seen=now,
        opened_at=now,
        time=now,
        counts={"addresses.networks": 12},
        findings=(evidence(login, severity, now),),
    )


def evidence(login: str, severity: Severity, now: datetime) -> Finding:
    """The addresses detector's finding inside the login's incident."""
    return Finding(f"addresses:{login}:1", FindingState.RAISED, "addresses", severity, login,
                   "sasl_username", "s", now, now, now, now)  # fmt: skip


def update(stage: Stage, qid: str, login: str = "dave", ip: str = "203.0.113.7") -> MessageUpdate:
    now = datetime.now(UTC)
    message = Message(
        host="mx",
        queue_id=qid,
        first_seen=now,
        last_seen=now,
        sasl_username=login,
        client_ip=ip,
        sender=f"{login}@example.com",
    )
    event = Event(now, "mx", "postfix/qmgr", "qmgr", 1, qid, "queued")
    return MessageUpdate(stage, message, event)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def responder(fake: FakePostfix, **settings) -> tuple[Responder, list[Incident], list[str], Clock]:
    sent: list[Incident] = []
    said: list[str] = []
    clock = Clock()
    stage = Responder(
        fake.settings(**settings), sent.append, lambda key, text: said.append(text), clock=clock
    )
    stage.start()
    return stage, sent, said, clock


def test_a_critical_record_locks_holds_and_is_followed_by_an_updated_record(
    tmp_path: Path,
) -> None:
    fake = FakePostfix(tmp_path)
    fake.queue(("AAAAA1", "deferred", "dave@example.com"), ("BBBBB1", "deferred", "x@y"))
    stage, sent, said, clock = responder(fake)
    stage.on_update(update(Stage.QUEUED, "AAAAA1"))
    stage.on_update(update(Stage.QUEUED, "GONE01"))
    stage.on_update(update(Stage.DONE, "GONE01"))  # delivered before the lock
    stage.on_update(update(Stage.QUEUED, "BBBBB1", login="erin"))
    stage.on_record(record())
    assert fake.map.read_text().splitlines()[-1].startswith("dave REJECT")
    assert fake.listing() == {"AAAAA1": "hold", "BBBBB1": "deferred"}
    (updated,) = sent
    assert updated.state is IncidentState.UPDATED and updated.id == "sasl_username:dave:1"
    containment = updated.response["containment"]
    assert containment["status"] == "contained"
    assert "contained: locked at" in updated.summary and "1 queued message held" in updated.summary
    assert any("dave: contained: locked at" in line for line in said)
    # Another detector's record about dave does not contain him twice.
    stage.on_record(record())
    assert len(sent) == 1 and len(fake.calls("postmap")) == 1
    # A session opened before the lock queues more: held within a second, in one batch.
    fake.queue(*[(f"LATE0{i}", "incoming", "dave@example.com") for i in range(3)])
    for i in range(3):
        stage.on_update(update(Stage.QUEUED, f"LATE0{i}"))
    stage.poll()
    assert set(fake.listing().values()) == {"incoming"}
    clock.now += 1.5
    stage.poll()
    assert set(fake.listing().values()) == {"hold"}
    assert fake.calls("postsuper")[-1]["stdin"] == "LATE00\nLATE01\nLATE02\n"
    assert Ledger(fake.settings().ledger_path).load().entries["dave"].held == [
        "AAAAA1", "LATE00", "LATE01", "LATE02",
    ]  # fmt: skip


def test_after_a_release_new_mail_of_the_login_is_not_held(tmp_path: Path) -> None:
    fake = FakePostfix(tmp_path)
    stage, _, _, clock = responder(fake)
    stage.on_record(record())
    stage.containment.release("dave")
    fake.queue(("LATE01", "incoming", "dave@example.com"))
    stage.on_update(update(Stage.QUEUED, "LATE01"))
    clock.now += 2
    stage.poll()
    assert fake.listing() == {"LATE01": "incoming"}


def test_a_failed_lock_is_an_updated_record_that_says_exactly_why(tmp_path: Path) -> None:
    """Issue 10: the alert says "locked at ..." or exactly why it could not (the command's
    own error), and a lock whose postmap failed is reported as not locked."""
    fake = FakePostfix(tmp_path)
    fake.fail("postmap", "postmap: fatal: open /etc/postfix/x.db: Permission denied")
    stage, sent, said, _ = responder(fake, hold=False)
    stage.on_record(record())
    (updated,) = sent
    assert updated.state is IncidentState.UPDATED
    containment = updated.response["containment"]
    assert containment["status"] == "containment failed"
    assert "containment failed: lock failed:" in updated.summary
    assert "postmap: fatal: open /etc/postfix/x.db: Permission denied" in updated.summary
    assert "NOT locked" in updated.summary
    assert any("dave: containment failed" in line for line in said)
    assert "dave" not in (fake.map.read_text() if fake.map.exists() else "")


def test_warnings_and_allow_listed_logins_only_alert(tmp_path: Path) -> None:
    fake = FakePostfix(tmp_path)
    stage, sent, _, _ = responder(fake, allow_users=["postmaster"])
    stage.on_record(record(severity=Severity.WARNING))
    assert sent == [] and fake.calls() == []
    stage.on_record(record("postmaster"))
    (updated,) = sent
    assert "not contained: on the allow-list" in updated.summary
    assert not fake.map.exists() and fake.calls() == []


def test_the_hourly_limit_turns_locks_into_alerts(tmp_path: Path) -> None:
    fake = FakePostfix(tmp_path)
    stage, sent, _, _ = responder(fake, max_auto_per_hour=1, hold=False)
    stage.on_record(record("u1"))
    stage.on_record(record("u2"))
    assert [r.response["containment"]["status"] for r in sent] == ["contained", "refused"]
    assert "hourly limit reached" in sent[1].summary
    assert "u2" not in fake.map.read_text()


def test_an_unwritable_audit_log_is_reported_and_retried(tmp_path: Path) -> None:
    fake = FakePostfix(tmp_path)
    (tmp_path / "audit").mkdir()
    stage, sent, _, _ = responder(fake, audit_log=str(tmp_path / "audit"))
    stage.on_record(record())
    stage.on_record(record())
    assert len(sent) == 2 and all("cannot write the audit log" in r.summary for r in sent)
    assert not fake.map.exists()


# --- as a process --------------------------------------------------------------------


def attack_log(path: Path) -> list[str]:
    """A compromised account's log whose attack is happening now."""
    start = datetime.now(UTC) - timedelta(minutes=13)
    records = synthlog.compromised_account(
        start, messages=400, duration=timedelta(minutes=12), seed=7
    )
    lines = list(synthlog.render(records, "rfc3339"))
    path.write_text("\n".join(lines) + "\n")
    return lines


def config(tmp_path: Path, fake: FakePostfix, **extra: object) -> Path:
    table = {
        "dry_run": False,
        "lock": True,
        "hold": True,
        "auto": "critical",
        "map": f"hash:{fake.map}",
        "command_directory": str(fake.bin),
        "state_dir": str(tmp_path / "state"),
        **extra,
    }
    body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in table.items())
    path = tmp_path / "spamwatch.toml"
    path.write_text(f"[contain]\n{body}\n")
    return path


def contained(process: FollowProcess) -> list[dict]:
    """The records that say what containment did (``response``)."""
    return [r for r in process.records() if r["state"] == "updated" and r["response"]]


def run_follow(tmp_path: Path, conf: Path, log: Path) -> FollowProcess:
    process = FollowProcess(
        ["--format", "json", "--config", str(conf), "--state", str(tmp_path / "follow.state"),
         "--from-start", str(log)]
    )  # fmt: skip
    return process


def test_follow_locks_the_victim_automatically(tmp_path: Path) -> None:
    fake = FakePostfix(tmp_path)
    log = tmp_path / "mail.log"
    attack_log(log)
    conf = config(tmp_path, fake)
    process = run_follow(tmp_path, conf, log)
    try:
        line = process.wait_err(f"{VICTIM}: contained: locked at")
        updated = until(lambda: contained(process), what="the containment record")
    finally:
        assert process.stop() == 0
    assert f"{VICTIM} REJECT 5.7.1 account locked" in fake.map.read_text()
    (entry,) = Ledger(str(tmp_path / "state" / "contain.json")).load().entries.values()
    assert entry.trigger == "auto" and entry.by == "spamwatch follow" and entry.locked
    assert updated[0]["key"] == VICTIM and updated[0]["severity"] == "critical"
    assert updated[0]["response"]["containment"]["status"] == "contained"
    assert "contained: locked at" in updated[0]["summary"] and "contained" in line
    assert len(contained(process)) == 1


def test_follow_in_dry_run_prints_the_plan_and_changes_nothing(tmp_path: Path) -> None:
    fake = FakePostfix(tmp_path)
    fake.map.write_text("bob REJECT by hand\n")
    log = tmp_path / "mail.log"
    attack_log(log)
    conf = config(tmp_path, fake, dry_run=True)
    process = run_follow(tmp_path, conf, log)
    try:
        process.wait_err(f"{VICTIM}: dry run, nothing changed: would lock the login in the map")
        process.wait_err(f"dry run: map line: {VICTIM} REJECT 5.7.1 account locked")
        process.wait_err(f"dry run: {fake.bin}/postmap hash:")
    finally:
        assert process.stop() == 0
    assert fake.map.read_text() == "bob REJECT by hand\n"
    assert [c["argv"][0] for c in fake.calls()] in ([], [str(fake.bin / "postqueue")])
