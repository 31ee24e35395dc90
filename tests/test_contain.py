"""Containment of a login: the map, the queue, the hook, the audit log, each failure.

Every test runs the real code against stand-in Postfix commands (real
executables in a temporary directory, see containutil) and checks the files
and the queue they leave, and exactly which commands ran with which input.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from containutil import FakePostfix
from programs import find

from spamwatch.config import Config
from spamwatch.contain.accessmap import map_key
from spamwatch.contain.audit import FIELDS
from spamwatch.contain.check import check
from spamwatch.contain.engine import Containment
from spamwatch.contain.ledger import Ledger
from spamwatch.contain.policy import ContainPolicy
from spamwatch.contain.settings import ContainSettings
from spamwatch.errors import ConfigError, ContainError
from spamwatch.model import Finding, FindingState, Incident, IncidentState, Severity

HOSTILE = [
    "dave smith",
    "dave\nevil REJECT",
    "dave\tx",
    "dave\x00",
    "#dave",
    '"dave"',
    "dävé",
    "dave\x1b[31m",
    "",
    "x" * 400,
]


@pytest.fixture
def fake(tmp_path: Path) -> FakePostfix:
    return FakePostfix(tmp_path)


def audit(settings: ContainSettings) -> list[dict]:
    path = Path(settings.audit_log)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --- the map key: what may reach a map line ---------------------------------


@pytest.mark.parametrize("login", HOSTILE)
def test_a_login_that_cannot_be_a_map_key_is_refused(login: str) -> None:
    with pytest.raises(ContainError):
        map_key(login)


@pytest.mark.parametrize("login", ["dave", "Dave@Example.COM", "a#b", "x$(id)`y`;z|&<>", "q\\d"])
def test_printable_logins_are_keys_folded_to_lower_case(login: str) -> None:
    assert map_key(login) == login.lower()


@pytest.mark.parametrize("login", HOSTILE[:-2])
def test_a_hostile_login_never_reaches_the_map_or_a_command(fake: FakePostfix, login: str) -> None:
    fake.map.write_text("keep REJECT by hand\n")
    before = fake.map.read_bytes()
    fake.queue(("AAAAA1", "deferred", "x@y.test"))
    settings = fake.settings()
    outcome = Containment(settings).contain(login, queued={"AAAAA1": "x@y.test"})
    assert outcome.status == "containment failed"
    assert outcome.step("lock").status == "failed"
    assert "NOT locked" in outcome.step("lock").detail
    assert fake.map.read_bytes() == before
    assert not fake.calls("postmap")
    for call in fake.calls():  # the hold still works, by queue id on stdin only
        assert all(login not in arg for arg in call["argv"]) and login not in call["stdin"]
    assert fake.listing() == {"AAAAA1": "hold"}


def test_shell_metacharacters_in_a_login_are_only_text(fake: FakePostfix, tmp_path: Path) -> None:
    hook = tmp_path / "hook"
    seen = tmp_path / "seen.json"
    hook.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        "got = {'argv': sys.argv[1:], 'stdin': json.load(sys.stdin)}\n"
        f"json.dump(got, open({str(seen)!r}, 'w'))\n"
    )
    hook.chmod(0o755)
    login = "a$(touch${IFS}PWNED)`touch${IFS}PWNED2`;touch${IFS}PWNED3|x"
    settings = fake.settings(hook=[str(hook), "--flag"])
    outcome = Containment(settings).contain(login, incident="burst:1")
    assert outcome.status == "contained", outcome.summary()
    assert fake.map.read_text().splitlines()[-1].startswith(login.lower() + " REJECT")
    got = json.loads(seen.read_text())
    assert got["argv"][:3] == ["--flag", login, "burst:1"]
    assert got["stdin"]["login"] == login and got["stdin"]["action"] == "contain"
    assert Path(got["argv"][3]).is_file()
    assert not list(Path.cwd().glob("PWNED*")) and not list(tmp_path.glob("PWNED*"))


# --- the lock -----------------------------------------------------------------


def test_lock_writes_the_line_builds_the_database_and_keeps_other_lines(
    fake: FakePostfix,
) -> None:
    fake.map.write_text("# mine\nbob REJECT by hand\n  continued\n")
    settings = fake.settings(hold=False)
    outcome = Containment(settings).contain("Dave")
    assert outcome.status == "contained"
    text = fake.map.read_text()
    assert text == (
        "# mine\nbob REJECT by hand\n  continued\n"
        "dave REJECT 5.7.1 account locked, contact support\n"
    )
    assert Path(str(fake.map) + ".db").read_text() == "DB:" + text
    (postmap,) = fake.calls("postmap")
    assert postmap["argv"][1].startswith(f"hash:{fake.map_dir}/.spamwatch_sasl_access.")
    assert sorted(p.name for p in fake.map_dir.iterdir()) == [
        "spamwatch_sasl_access",
        "spamwatch_sasl_access.db",
    ]
    again = Containment(settings).contain("dave")
    assert again.step("lock").detail == "already locked in the map"
    assert fake.map.read_text() == text


def test_postmap_missing_means_not_locked_and_nothing_changed(fake: FakePostfix) -> None:
    fake.remove("postmap")
    settings = fake.settings(hold=False)
    outcome = Containment(settings).contain("dave")
    assert outcome.status == "containment failed"
    detail = outcome.step("lock").detail
    assert "postmap: command not found" in detail and "NOT locked" in detail
    assert not fake.map.exists()
    assert list(fake.map_dir.iterdir()) == []
    assert Ledger(settings.ledger_path).load().entries == {}
    assert "lock failed: postmap: command not found" in outcome.summary()


def test_postmap_failing_leaves_the_map_and_database_byte_for_byte(fake: FakePostfix) -> None:
    fake.map.write_text("bob REJECT by hand\n")
    db = Path(str(fake.map) + ".db")
    db.write_bytes(b"old database")
    fake.fail("postmap", "postmap: fatal: open database /x: Permission denied")
    settings = fake.settings(hold=False)
    outcome = Containment(settings).contain("dave")
    assert outcome.status == "containment failed"
    detail = outcome.step("lock").detail
    assert "postmap: fatal: open database /x: Permission denied" in detail
    assert "the map is unchanged" in detail and "NOT locked" in detail
    assert fake.map.read_text() == "bob REJECT by hand\n" and db.read_bytes() == b"old database"
    assert sorted(p.name for p in fake.map_dir.iterdir()) == [
        "spamwatch_sasl_access",
        "spamwatch_sasl_access.db",
    ]
    records = [r for r in audit(settings) if r["action"] == "lock"]
    assert records[-1]["outcome"] == "failed" and "Permission denied" in records[-1]["detail"]


def test_texthash_needs_no_postmap(fake: FakePostfix) -> None:
    settings = fake.settings(hold=False, map=f"texthash:{fake.map}")
    assert Containment(settings).contain("dave").status == "contained"
    assert not fake.calls("postmap") and fake.map.read_text().endswith(
        "dave REJECT 5.7.1 account locked, contact support\n"
    )


def test_reload_failure_with_texthash_is_not_locked(fake: FakePostfix) -> None:
    fake.fail("postfix", "postfix: fatal: not running")
    settings = fake.settings(hold=False, map=f"texthash:{fake.map}", reload=True)
    outcome = Containment(settings).contain("dave")
    assert outcome.status == "containment failed"
    assert "postfix: fatal: not running" in outcome.step("lock").detail
    assert "NOT locked" in outcome.step("lock").detail


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """``directory`` not writable by this process: chmod 555, or immutable for root."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(directory)]).returncode != 0:
        pytest.skip("root, and chattr +i is not available to make a directory read-only")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(directory)], check=True)


def test_a_read_only_map_directory_is_a_clear_error(fake: FakePostfix) -> None:
    with read_only(fake.map_dir):
        outcome = Containment(fake.settings(hold=False)).contain("dave")
    assert outcome.status == "containment failed"
    detail = outcome.step("lock").detail
    assert "cannot write in the map directory" in detail and "Minimum rights" in detail
    assert "NOT locked" in detail
    assert list(fake.map_dir.iterdir()) == [] and not fake.calls("postmap")


# --- the queue ------------------------------------------------------------------


def test_hold_confirms_each_id_and_holds_in_batches_on_stdin(fake: FakePostfix) -> None:
    fake.queue(
        ("AAAAA1", "deferred", "a@x.test"),
        ("AAAAA2", "active", "b@x.test"),
        ("AAAAA3", "incoming", ""),
        ("AAAAA4", "deferred", "c@x.test"),
        ("AAAAA5", "hold", "d@x.test"),
        ("REUSED", "deferred", "someone-else@x.test"),
        ("OTHER1", "deferred", "other@x.test"),
    )
    queued = {
        "AAAAA1": "a@x.test",
        "AAAAA2": "B@x.test",
        "AAAAA3": "",
        "AAAAA4": None,
        "AAAAA5": "d@x.test",
        "REUSED": "dave@x.test",
        "GONE01": "e@x.test",
    }
    settings = fake.settings(lock=False, hold_batch=2)
    outcome = Containment(settings).contain("dave", queued=queued)
    assert outcome.status == "contained"
    hold = outcome.step("hold")
    assert hold.queue_ids == ["AAAAA1", "AAAAA2", "AAAAA3", "AAAAA4"]
    assert "1 already on hold" in hold.detail and "1 already sent" in hold.detail
    assert "1 now naming other mail" in hold.detail
    listing = fake.listing()
    assert [q for q, name in listing.items() if name == "hold"] == [
        f"AAAAA{i}" for i in range(1, 6)
    ]
    assert listing["REUSED"] == listing["OTHER1"] == "deferred"
    calls = fake.calls("postsuper")
    assert [c["stdin"] for c in calls] == ["AAAAA1\nAAAAA2\n", "AAAAA3\nAAAAA4\n"]
    assert all(c["argv"][1:] == ["-h", "-"] for c in calls)
    assert Ledger(settings.ledger_path).load().entries["dave"].held == hold.queue_ids


def test_postsuper_failing_part_way_says_how_far_it_got(fake: FakePostfix) -> None:
    fake.queue(*[(f"AAAAA{i}", "deferred", "") for i in range(1, 5)])
    settings = fake.settings(lock=False, hold_batch=2)
    engine = Containment(settings)
    real = engine.queue.runner.run
    calls = []

    def flaky(argv, stdin=None, **kw):  # the second batch fails
        if os.path.basename(argv[0]) == "postsuper":
            calls.append(stdin)
            if len(calls) == 2:
                raise ContainError("postsuper: fatal: queue file write error")
        return real(argv, stdin=stdin, **kw)

    engine.queue.runner.run = flaky  # type: ignore[method-assign]
    outcome = engine.contain("dave", queued={f"AAAAA{i}": "" for i in range(1, 5)})
    assert outcome.status == "containment failed"
    hold = outcome.step("hold")
    assert "queue file write error" in hold.detail and "2 of 4 held" in hold.detail
    assert hold.queue_ids == ["AAAAA1", "AAAAA2"]


def test_postqueue_failing_holds_nothing(fake: FakePostfix) -> None:
    fake.fail("postqueue", "postqueue: fatal: Queue report unavailable - mail system is down")
    settings = fake.settings(lock=False)
    outcome = Containment(settings).contain("dave", queued={"AAAAA1": ""})
    assert outcome.status == "containment failed"
    assert "mail system is down" in outcome.step("hold").detail
    assert not fake.calls("postsuper")


# --- never lock: allow-list and hourly limit ----------------------------------------


@pytest.mark.parametrize("login", ["postmaster", "Postmaster@example.com", "monitor@example.com"])
def test_allow_listed_logins_are_never_touched(fake: FakePostfix, login: str) -> None:
    fake.queue(("AAAAA1", "deferred", ""))
    settings = fake.settings(allow_users=["postmaster", "monitor@example.com"])
    outcome = Containment(settings).contain(login, queued={"AAAAA1": ""})
    assert outcome.status == "refused" and "allow-list" in outcome.reason
    assert fake.calls() == [] and not fake.map.exists()
    assert [r["action"] for r in audit(settings)] == ["refused"]


def test_a_login_seen_from_an_allowed_network_is_never_touched(fake: FakePostfix) -> None:
    config = Config({"contain": {}, "allow": {"networks": ["192.0.2.0/24"]}})
    settings = fake.settings(allow_networks=["2001:db8::/32"])
    merged = ContainSettings.from_config(config)
    assert any(str(n) == "192.0.2.0/24" for n in merged.allow_networks)
    engine = Containment(settings)
    out = engine.contain("tickets", addresses=["203.0.113.9", "2001:db8::5"])
    assert out.status == "refused" and "2001:db8::5" in out.reason
    assert engine.contain("dave", addresses=["203.0.113.9"]).status == "contained"


def test_the_hourly_limit_stops_automatic_locks_only(fake: FakePostfix) -> None:
    settings = fake.settings(hold=False, max_auto_per_hour=2)
    engine = Containment(settings)
    assert engine.contain("u1", trigger="auto").status == "contained"
    assert engine.contain("u2", trigger="auto").status == "contained"
    third = engine.contain("u3", trigger="auto")
    assert third.status == "refused" and "hourly limit reached: 2 automatic locks" in third.reason
    assert "u3" not in fake.map.read_text()
    assert engine.contain("u3", trigger="manual").status == "contained"
    ledger = Ledger(settings.ledger_path)
    with ledger.locked() as data:  # an hour later, automatic locks may go on
        old = (datetime.now(UTC) - timedelta(minutes=61)).isoformat()
        data.auto_locks = [old, old]
    assert engine.contain("u4", trigger="auto").status == "contained"


# --- dry run --------------------------------------------------------------------


def test_dry_run_prints_everything_and_changes_nothing(fake: FakePostfix) -> None:
    fake.map.write_text("bob REJECT by hand\n")
    fake.queue(("AAAAA1", "deferred", ""), ("AAAAA2", "deferred", ""))
    queue_before = (fake.base / "queue.jsonl").read_bytes()
    hook = fake.bin / "postfix"  # any executable
    settings = fake.settings(dry_run=True, hook=[str(hook)], reload=True)
    outcome = Containment(settings).contain("dave", queued={"AAAAA1": "", "AAAAA2": ""})
    assert outcome.status == "dry run" and outcome.ok
    assert fake.map.read_text() == "bob REJECT by hand\n"
    assert (fake.base / "queue.jsonl").read_bytes() == queue_before
    assert [os.path.basename(c["argv"][0]) for c in fake.calls()] == ["postqueue"]
    lock, hold, hook_step = outcome.steps
    assert lock.map_line == "dave REJECT 5.7.1 account locked, contact support\n"
    assert lock.commands[0].endswith(".spamwatch_sasl_access.XXXXXXXX.new")
    assert lock.commands[1].endswith("postfix reload")
    assert hold.commands == [f"{fake.bin}/postsuper -h - < (2 queue ids)"]
    assert hook_step.commands[0].startswith(f"{hook} dave ")
    assert outcome.summary() == (
        "dry run, nothing changed: would lock the login in the map, hold 2 queued messages,"
        " run the hook"
    )
    assert Ledger(settings.ledger_path).load().entries == {}
    assert {r["outcome"] for r in audit(settings)} == {"dry-run"}


# --- release ----------------------------------------------------------------------


def test_release_unlocks_and_releases_only_what_spamwatch_held(fake: FakePostfix) -> None:
    fake.map.write_text("bob REJECT by hand\n")
    fake.queue(("AAAAA1", "deferred", ""), ("AAAAA2", "deferred", ""), ("ADMIN1", "hold", ""))
    settings = fake.settings()
    engine = Containment(settings)
    engine.contain("dave", queued={"AAAAA1": "", "AAAAA2": "", "ADMIN1": ""})
    plan = engine.release("dave", dry_run=True)
    assert plan.status == "dry run" and fake.listing()["AAAAA1"] == "hold"
    assert plan.step("release_held").queue_ids == ["AAAAA1", "AAAAA2"]
    outcome = engine.release("dave")
    assert outcome.status == "released", outcome.summary()
    assert fake.map.read_text() == "bob REJECT by hand\n"
    assert fake.listing() == {"AAAAA1": "deferred", "AAAAA2": "deferred", "ADMIN1": "hold"}
    assert engine.entries() == []
    with pytest.raises(ContainError, match="not locked by spamwatch"):
        engine.release("dave")


def test_release_purge_deletes_only_held_mail(fake: FakePostfix) -> None:
    fake.queue(("AAAAA1", "deferred", ""), ("AAAAA2", "deferred", ""), ("OTHER1", "deferred", ""))
    settings = fake.settings()
    engine = Containment(settings)
    engine.contain("dave", queued={"AAAAA1": "", "AAAAA2": ""})
    outcome = engine.release("dave", purge=True)
    assert outcome.summary().endswith("2 queued messages deleted")
    assert fake.listing() == {"OTHER1": "deferred"}
    (purge,) = [c for c in fake.calls("postsuper") if c["argv"][1] == "-d"]
    assert purge["argv"][1:] == ["-d", "-", "hold"] and purge["stdin"] == "AAAAA1\nAAAAA2\n"


# --- audit log, hook -------------------------------------------------------------------


def test_every_audit_record_has_the_documented_fields(fake: FakePostfix) -> None:
    fake.queue(("AAAAA1", "deferred", ""))
    settings = fake.settings()
    engine = Containment(settings)
    engine.contain("dave", queued={"AAAAA1": ""}, incident="burst:dave:1", reason="burst")
    engine.release("dave")
    records = audit(settings)
    assert [r["action"] for r in records] == [
        "contain", "lock", "hold", "contain", "release", "unlock", "release_held", "release",
    ]  # fmt: skip
    assert all(tuple(r) == FIELDS for r in records)
    assert records[0]["outcome"] == "planned" and records[3]["outcome"] == "done"
    assert records[2]["queue_ids"] == ["AAAAA1"] and records[1]["map_line"].startswith("dave ")


def test_no_audit_log_means_no_action(fake: FakePostfix, tmp_path: Path) -> None:
    (tmp_path / "audit").mkdir()
    settings = fake.settings(audit_log=str(tmp_path / "audit"))  # a directory: not writable
    with pytest.raises(ContainError, match="cannot write the audit log"):
        Containment(settings).contain("dave")
    assert not fake.map.exists() and fake.calls() == []


def test_a_hung_hook_is_killed_and_reported(fake: FakePostfix, tmp_path: Path) -> None:
    hook = tmp_path / "slow-hook"
    hook.write_text("#!/bin/sh\nsleep 30\n")
    hook.chmod(0o755)
    settings = fake.settings(lock=False, hold=False, hook=[str(hook)], hook_timeout="1s")
    outcome = Containment(settings).contain("dave")
    assert outcome.status == "containment failed"
    assert "killed after 1s timeout" in outcome.step("hook").detail


# --- the automatic trigger ------------------------------------------------------------------


def finding(**changes) -> Incident:
    now = datetime.now(UTC)
    values = {
        "id": "sasl_username:dave:1",
        "state": IncidentState.OPENED,
        "severity": Severity.CRITICAL,
        "key": "Dave",
        "key_kind": "sasl_username",
        "summary": "dave logged in from 12 networks",
        "reason": "many networks with: foreign_sender",
        "first_seen": now,
        "last_seen": now,
        "opened_at": now,
        "time": now,
        "findings": (evidence("addresses"),),
    }
    values.update(changes)
    return Incident(**values)


def test_policy_decides_on_live_critical_login_records_only(fake: FakePostfix) -> None:
    policy = ContainPolicy(fake.settings())
    assert policy.decide(finding()) == "dave"
    assert policy.decide(finding(state=IncidentState.ESCALATED)) == "dave"
    assert policy.decide(finding(severity=Severity.WARNING)) is None
    assert policy.decide(finding(state=IncidentState.RESOLVED)) is None
    assert policy.decide(finding(key_kind="host", key="mx1")) is None
    old = datetime.now(UTC) - timedelta(hours=2)
    assert policy.decide(finding(time=old)) is None  # follow --from-start over old logs
    assert ContainPolicy(fake.settings(auto="off")).decide(finding()) is None
    assert ContainPolicy(fake.settings(lock=False, hold=False)).decide(finding()) is None
    assert (
        ContainPolicy(fake.settings(auto="warning")).decide(finding(severity=Severity.WARNING))
        == "dave"
    )


def evidence(detector: str, state: FindingState = FindingState.RAISED) -> Finding:
    """One detector's finding inside dave's incident."""
    now = datetime.now(UTC)
    return Finding(f"{detector}:dave:1", state, detector, Severity.CRITICAL, "dave",
                   "sasl_username", "s", now, now, now, now)  # fmt: skip


def test_auto_detectors_wants_that_many_detectors_to_agree(fake: FakePostfix) -> None:
    policy = ContainPolicy(fake.settings(auto_detectors=2))
    alone = finding(findings=(evidence("addresses"),))
    assert policy.decide(alone) is None  # addresses alone: an alert, not a lock
    two = finding(findings=(evidence("addresses"), evidence("burst")))
    assert policy.decide(two) == "dave"
    over = finding(findings=(evidence("addresses"), evidence("burst", FindingState.RESOLVED)))
    assert policy.decide(over) is None  # burst's finding is over: one detector left


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"map": "dbm:/etc/postfix/x"}, "contain.map: map type 'dbm' cannot be updated"),
        ({"map": "hash:relative/x"}, "contain.map: needs an absolute path"),
        ({"map": "/etc/postfix/x"}, "contain.map: expected TYPE:/path"),
        ({"action": "OK"}, "contain.action: must start with REJECT"),
        ({"action": "REJECT a\nb"}, "contain.action: must be one line"),
        ({"auto": "sometimes"}, "contain.auto: expected off, warning or critical"),
        ({"hook": ["relative-hook"]}, "contain.hook: the program must be an absolute path"),
        ({"hold_batch": 0}, "contain.hold_batch: must be at least 1"),
        ({"auto_detectors": 0}, "contain.auto_detectors: must be at least 1"),
        ({"allow_networks": ["nope"]}, "contain.allow_networks: not a network"),
        ({"locks": True}, "contain.locks: unknown option"),
        ({"dry_run": "no"}, "contain.dry_run: expected true or false"),
        # relative: each working directory its own ledger, and release could not find the lock
        ({"state_dir": "state"}, "contain.state_dir: needs an absolute path"),
        ({"audit_log": "audit.jsonl"}, "contain.audit_log: needs an absolute path"),
    ],
)
def test_bad_contain_options_name_the_key(table: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        ContainSettings.from_config(Config({"contain": table}))


def test_defaults_are_off_and_dry_run() -> None:
    settings = ContainSettings.from_config(Config({}))
    assert settings.dry_run and settings.actions == () and settings.auto is None
    assert settings.max_auto_per_hour == 3 and settings.map_spec.startswith("hash:/etc/postfix/")
    assert settings.action == "REJECT 5.7.1 account locked, contact support"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can make files another user's")
def test_root_by_hand_leaves_the_service_users_state_usable(fake: FakePostfix) -> None:
    """README's order: the service runs as ``spamwatch`` in its StateDirectory, then the admin
    tries ``spamwatch contain --dry-run`` in a root shell. The audit log, the ledger's lock and
    the evidence directory root creates there must belong to the directory's owner: a root
    0600 audit log refused the service's every automatic lock ("no audit log, no action")."""
    service_uid, service_gid = 65534, 65534  # nobody: any user but root
    state = fake.base / "state"
    state.mkdir(mode=0o750)
    os.chown(state, service_uid, service_gid)
    settings = fake.settings(hook=["/bin/true"])
    fake.queue(("AAAAA1", "deferred", "dave@example.com"))
    Containment(settings).contain("dave", queued={"AAAAA1": "dave@example.com"})
    made = [Path(settings.audit_log), state / "contain.json.lock", state / "contain.json"]
    made += [p for p in state.rglob("*") if p.is_dir()]
    assert made[3:], "the hook's evidence directory was made"
    owners = {str(p.relative_to(state)): (p.stat().st_uid, p.stat().st_gid) for p in made}
    assert owners == dict.fromkeys(owners, (service_uid, service_gid))


@pytest.mark.parametrize("name", ["contain-audit.jsonl", "contain.json.lock", "evidence"])
def test_a_link_planted_in_the_state_directory_is_never_followed(
    fake: FakePostfix, tmp_path: Path, name: str
) -> None:
    """The state directory belongs to the service user; root runs ``contain`` there by hand.
    A symlink planted there (by a compromised service) must not make root append to, create
    or write into what it points at: the action is refused, the target untouched."""
    state = fake.base / "state"
    state.mkdir(mode=0o750)
    victim = tmp_path / "victim"
    victim.mkdir() if name == "evidence" else victim.write_text("root's own file\n")
    (state / name).symlink_to(victim)
    settings = fake.settings(hook=["/bin/true"])
    fake.queue(("AAAAA1", "deferred", "dave@example.com"))
    with contextlib.suppress(ContainError):
        outcome = Containment(settings).contain("dave", queued={"AAAAA1": "dave@example.com"})
        assert not outcome.ok
    if name == "evidence":
        assert list(victim.iterdir()) == []
    else:
        assert victim.read_text() == "root's own file\n"


# --- running as a non-root user (README "Minimum rights") --------------------------------

README = Path(__file__).resolve().parent.parent / "README.md"
FAKE_SUDO = """#!{python}
import json, os, sys
with open({calls!r}, "a") as log:
    log.write(json.dumps({{"argv": sys.argv, "stdin": ""}}) + "\\n")
if sys.argv[1:3] == ["-n", "-l"]:  # sudo -n -l CMD: "is this allowed?"
    sys.exit(0 if {allowed!r} else 1)
assert sys.argv[1] == "-n", sys.argv
os.execv(sys.argv[2], sys.argv[2:])
"""


def sudoers_commands() -> set[tuple[str, ...]]:
    """The commands README's sudoers line allows, program by its base name."""
    (line,) = [text for text in README.read_text().splitlines() if "NOPASSWD:" in text]
    allowed = line.split("NOPASSWD:", 1)[1].split(",")
    return {(os.path.basename(words[0]), *words[1:]) for words in map(str.split, allowed)}


@pytest.fixture
def sudo(fake: FakePostfix, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in ``sudo`` first on PATH: records its argv, then runs the command."""
    where = fake.base / "sudo-bin"
    where.mkdir()
    script = where / "sudo"
    calls = str(fake.base / "calls.jsonl")
    script.write_text(FAKE_SUDO.format(python=sys.executable, calls=calls, allowed=True))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{where}:{os.environ['PATH']}")
    return script


def test_with_sudo_exactly_the_readme_sudoers_commands_run_through_it(
    fake: FakePostfix, sudo: Path
) -> None:
    fake.queue(("AAAAA1", "deferred", ""), ("AAAAA2", "deferred", ""))
    engine = Containment(fake.settings(sudo=True, reload=True))
    assert engine.contain("dave", queued={"AAAAA1": "", "AAAAA2": ""}).ok
    engine.release("dave")
    engine.contain("erin", queued={"AAAAA1": ""})
    engine.release("erin", purge=True)
    through_sudo = [c["argv"][2:] for c in fake.calls("sudo")]
    ran = {(os.path.basename(argv[0]), *argv[1:]) for argv in through_sudo}
    assert ran == sudoers_commands()  # each README line used, nothing else
    assert all(c["argv"][1] == "-n" for c in fake.calls("sudo"))  # never asks for a password
    for name in ("postmap", "postqueue"):  # need no root: never through sudo
        assert fake.calls(name) and all(argv[0] != name for argv in through_sudo)
    assert fake.listing() == {"AAAAA2": "deferred"}  # the commands really ran


def test_the_check_says_what_a_non_root_user_lacks(
    fake: FakePostfix, sudo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    plain, with_sudo = fake.settings(), fake.settings(sudo=True)
    said = check(plain, Containment(plain).runner)
    missing = [line.text for line in said if line.kind == "missing"]
    assert any("hold needs root for postsuper" in text and "sudo = true" in text
               for text in missing), missing  # fmt: skip
    allowed = check(with_sudo, Containment(with_sudo).runner)
    assert any(line.text == "sudo -n may run postsuper" for line in allowed), allowed
    sudo.write_text(sudo.read_text().replace("True", "False"))  # sudoers line not installed
    refused = check(with_sudo, Containment(with_sudo).runner)
    assert any(
        line.kind == "missing" and "sudo -n may not run postsuper" in line.text
        and "README 'Minimum rights'" in line.text
        for line in refused
    ), refused  # fmt: skip


def test_sudo_missing_is_one_clear_error_and_the_lock_still_stands(fake: FakePostfix) -> None:
    fake.queue(("AAAAA1", "deferred", ""))
    settings = fake.settings(sudo=True, command_directory=str(fake.bin))
    path = os.environ["PATH"]
    try:
        os.environ["PATH"] = str(fake.bin)  # no sudo anywhere on PATH
        if any(os.access(p, os.X_OK) for p in ("/usr/bin/sudo", "/bin/sudo")):
            pytest.skip("sudo is installed here")
        engine = Containment(settings)
        outcome = engine.contain("dave", queued={"AAAAA1": ""})
        assert outcome.status == "containment failed" and not outcome.ok
        assert "sudo: not found, but [contain] sudo = true" in outcome.step("hold").detail
        assert outcome.step("lock").status == "done"  # what was done is reported as done
        assert fake.listing() == {"AAAAA1": "deferred"}  # and what was not, as not
        # never half-done: the lock is in the ledger and the audit log, so release undoes it
        ((entry, in_map),) = engine.entries()
        assert entry.locked and in_map and entry.held == []
        assert audit(settings)[-1]["action"] == "contain"
        assert engine.release("dave").status == "released"
        assert "dave" not in fake.map.read_text()
    finally:
        os.environ["PATH"] = path


@pytest.mark.parametrize("action", ["HOLD", "DEFER", "DEFER_IF_PERMIT", "450 4.7.1 try later"])
def test_the_alternative_actions_are_the_map_line(fake: FakePostfix, action: str) -> None:
    assert Containment(fake.settings(action=action)).contain("dave").ok
    assert fake.map.read_text().splitlines()[-1] == f"dave {action}"


def test_postsuper_missing_fails_the_hold_not_the_lock_and_release_undoes_it(
    fake: FakePostfix,
) -> None:
    fake.queue(("AAAAA1", "deferred", ""))
    fake.remove("postsuper")
    settings = fake.settings(command_directory=str(fake.bin))
    engine = Containment(settings)
    outcome = engine.contain("dave", queued={"AAAAA1": ""})
    assert outcome.status == "containment failed"
    assert "postsuper: command not found" in outcome.step("hold").detail
    assert outcome.summary().startswith("containment failed: locked at ")
    assert "nothing was held" in outcome.summary()
    assert [entry.login for entry, _ in engine.entries()] == ["dave"]
    assert engine.release("dave").status == "released"


def real_map_types() -> list[str]:
    """The map types spamwatch builds that this machine's Postfix supports (postconf -m)."""
    postconf = find("postconf")
    if postconf is None:
        return []
    listed = subprocess.run([postconf, "-m"], capture_output=True, text=True, check=False)
    return [kind for kind in ("hash", "btree", "cdb", "lmdb") if kind in listed.stdout.split()]


@pytest.mark.parametrize("kind", real_map_types() or ["hash"])
def test_the_real_postmap_answers_the_lock_and_then_not(tmp_path: Path, kind: str) -> None:
    """The map and database built by the real ``postmap`` (no stand-in), read back with
    ``postmap -q`` as smtpd would look the login up: locked, then released."""
    postmap = find("postmap")
    if postmap is None:
        pytest.skip("Postfix is not installed (postmap)")
    table = tmp_path / "sasl_access"
    table.write_text("bob REJECT by hand\n")
    subprocess.run([postmap, f"{kind}:{table}"], check=True)
    settings = ContainSettings.from_config(Config({"contain": {
        "dry_run": False, "lock": True, "map": f"{kind}:{table}",
        "command_directory": os.path.dirname(postmap), "state_dir": str(tmp_path / "state"),
    }}))  # fmt: skip
    engine = Containment(settings)

    def lookup(login: str) -> str:
        found = subprocess.run([postmap, "-q", login, f"{kind}:{table}"], capture_output=True,
                               text=True, check=False)  # fmt: skip
        return found.stdout.strip()

    assert engine.contain("Dave@Example.com").status == "contained"
    assert lookup("dave@example.com") == "REJECT 5.7.1 account locked, contact support"
    assert lookup("bob") == "REJECT by hand"
    assert engine.release("dave@example.com").status == "released"
    assert lookup("dave@example.com") == "" and lookup("bob") == "REJECT by hand"


POSTQUEUE_AS_NOBODY = """
from spamwatch.config import Config
from spamwatch.contain.check import check
from spamwatch.contain.commands import Runner
from spamwatch.contain.settings import ContainSettings
from spamwatch.errors import ContainError
settings = ContainSettings.from_config(Config({"contain": {"hold": True}}))
runner = Runner(settings)
try:
    runner.run(runner.argv("postqueue", "-j"))
    print("postqueue -j ran")
except ContainError as exc:
    print(exc)
print("\\n".join(line.text for line in check(settings, runner) if line.kind == "missing"))
"""


@pytest.mark.parametrize("no_new_privs", [True, False], ids=["no-new-privs", "plain"])
def test_a_sandbox_that_ignores_postqueue_s_setgid_is_named(no_new_privs: bool) -> None:
    """Under systemd's NoNewPrivileges=yes (the shipped unit) postqueue, set-group-ID
    postdrop, cannot reach the queue: the error says why, not only "Permission denied"."""
    setpriv, postqueue = find("setpriv"), find("postqueue")
    if os.geteuid() != 0 or setpriv is None or postqueue is None:
        pytest.skip("needs root, setpriv and Postfix's postqueue")
    if not os.stat(postqueue).st_mode & 0o2000:
        pytest.skip("postqueue is not set-group-ID here")
    flags = ["--no-new-privs"] if no_new_privs else []
    done = subprocess.run(
        [setpriv, *flags, "--reuid=65534", "--regid=65534", "--clear-groups",
         sys.executable, "-c", POSTQUEUE_AS_NOBODY],
        capture_output=True, text=True, timeout=60, check=False, cwd="/",
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    failure, *missing = done.stdout.splitlines()
    hint = "may not gain privileges (systemd NoNewPrivileges=yes?)"
    if no_new_privs:
        assert "Permission denied" in failure and hint in failure
        assert "set-group-ID" in failure and "README 'Running as a service'" in failure
        assert any(hint in line for line in missing), missing
    else:  # its setgid worked: it reached the queue's door (the mail system is down here)
        assert "Permission denied" not in failure and hint not in failure
        assert not any(hint in line for line in missing), missing


def test_readme_and_man_page_list_the_audit_fields_and_actions_the_code_writes() -> None:
    """The audit log's documented fields are FIELDS, in order, in README and the man page."""
    readme = " ".join(README.read_text().split())
    fields = readme.split("never rewritten. Fields: ", 1)[1].split(". What was locked", 1)[0]
    listed = re.findall(r"`(\w+)`(?: \([^)]*\))?", fields)
    assert tuple(listed) == FIELDS
    man = (Path(__file__).resolve().parent.parent / "man" / "spamwatch.1").read_text()
    section = man.split(".SS The audit log", 1)[1].split(".SH", 1)[0].replace("\\-", "-")
    named = re.findall(r"^\.BR? (\w+)", section, re.M)
    assert tuple(named) == FIELDS
    actions = re.search(r"`action` \(([^)]*)\)", fields)
    assert actions is not None
    for action in ("contain", "release", "lock", "unlock", "hold", "release_held", "purge_held",
                   "hook", "release_hook", "refused"):  # fmt: skip
        assert action in actions.group(1).split(", ")
