"""Containment against the real Postfix + Dovecot: lock, hold, release, purge, dry run.

Runs after test_postfix_e2e.py (file order) on the same private mail system,
with its own ``spamwatch follow`` processes started at the end of the log, and
its own users. The scenarios, in order:

1. ``contain --check`` names the missing main.cf line; with it added, passes.
2. A dry run (by hand, and a follow during an attack) changes nothing: the map
   and its database byte for byte, and no message goes on hold.
3. A botnet logs in as ``mallory`` from 12 addresses while ``oscar`` keeps
   sending: follow locks mallory by itself; the test prints the seconds from
   the botnet's first accepted message to the lock and how many of its
   messages were accepted before it. A new submission by mallory is refused
   with the configured text, oscar's are not; ``postqueue -j`` shows mallory's
   queued messages on hold and nobody else's.
4. ``release`` lets mallory send again and the held mail flows.
5. ``contain`` by hand holds trent's queued mail; ``release --purge`` deletes it.

The "internet" is down during 2, 3 and 5 (RelaySink stopped), so mail stays in
the queue where holding it matters.
"""

from __future__ import annotations

import contextlib
import json
import re
import smtplib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from follow_process import FollowProcess
from postfix_harness import MailSystem, run, which
from sinkutil import wait_until
from smtp_traffic import Mail, build, connect, in_parallel, send_session

pytestmark = pytest.mark.e2e

ACTION = "REJECT 5.7.1 account locked, contact support"
BOTNET = [f"127.0.1.{10 + n}" for n in range(12)]
SESSIONS = 20
"""Sessions per botnet address (2 messages each): 480 messages if nothing stopped them."""
LOCK_TARGET = 10.0


@dataclass
class Setup:
    """What the scenarios share: the map, the config files, the working directory."""

    ms: MailSystem
    workdir: Path
    map: Path
    config: Path
    dry_config: Path

    def spamwatch(self, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "spamwatch", *args, "--config", str(config or self.config)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=300)

    def map_bytes(self) -> tuple[bytes, bytes]:
        return self.map.read_bytes(), Path(f"{self.map}.db").read_bytes()

    def held(self) -> set[str]:
        return {str(m["queue_id"]) for m in self.ms.postfix.queue() if m["queue_name"] == "hold"}

    def audit(self) -> list[dict]:
        path = self.workdir / "state" / "contain-audit.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def config_text(ms: MailSystem, workdir: Path, dry_run: bool) -> str:
    return f"""local_domains = ["example.com"]

[contain]
dry_run = {"true" if dry_run else "false"}
lock = true
hold = true
auto = "critical"
map = "hash:{ms.postfix.config_dir}/spamwatch_sasl_access"
action = "{ACTION}"
postfix_config = "{ms.postfix.config_dir}"
state_dir = "{workdir / "state"}"
"""


@pytest.fixture(scope="module")
def setup(mail_system: MailSystem) -> Iterator[Setup]:
    ms = mail_system
    workdir = ms.root / "respond"
    workdir.mkdir()
    map_path = ms.postfix.config_dir / "spamwatch_sasl_access"
    map_path.touch()
    run([which("postmap") or "postmap", "-c", str(ms.postfix.config_dir), f"hash:{map_path}"])
    config = workdir / "spamwatch.toml"
    config.write_text(config_text(ms, workdir, dry_run=False))
    dry = workdir / "dry-run.toml"
    dry.write_text(config_text(ms, workdir, dry_run=True))
    try:
        yield Setup(ms, workdir, map_path, config, dry)
    finally:
        ms.relay.stop()  # whatever a scenario left, the internet is up again afterwards
        ms.relay.start()


def login_ids(ms: MailSystem, login: str) -> set[str]:
    """Queue ids the maillog joins to ``login`` (smtpd's client= line)."""
    pattern = re.compile(rf": ([0-9A-Za-z]+): client=.*sasl_username={re.escape(login)}$")
    return {
        m.group(1) for line in ms.maillog.read_text().splitlines() if (m := pattern.search(line))
    }


def queued_of(ms: MailSystem, login: str) -> dict[str, str]:
    """The login's messages in the queue now: queue id -> queue name."""
    ids = login_ids(ms, login)
    return {
        str(m["queue_id"]): str(m["queue_name"]) for m in ms.postfix.queue() if m["queue_id"] in ids
    }


def refused_text(exc: smtplib.SMTPException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return " ".join(
            f"{code} {msg.decode(errors='replace')}" for code, msg in exc.recipients.values()
        )
    return str(exc)


def try_send(ms: MailSystem, login: str, ip: str, subject: str = "hello") -> str | None:
    """Submit one message; None when accepted, else what Postfix answered."""
    account = ms.account(login, ip)
    client = connect(ms.port, ip)
    try:
        client.login(account.username, account.password)
        mail = Mail(f"{login}@example.com", ("friend@partner.test",), subject)
        client.sendmail(mail.sender, list(mail.recipients), build(mail))
    except smtplib.SMTPException as exc:
        return refused_text(exc)
    finally:
        client.quit()
    return None


# --- scenario 1 ---------------------------------------------------------------


def test_1_check_names_the_missing_line_then_passes(setup: Setup) -> None:
    ms = setup.ms
    before = setup.spamwatch("contain", "--check")
    assert before.returncode == 7, before.stdout + before.stderr
    spec = f"hash:{setup.map}"
    service = f"127.0.0.1:{ms.postfix.submission_port}/inet"
    expected = (
        f"missing: {service}: does not consult {spec}; add to main.cf:"
        f" smtpd_sender_restrictions = check_sasl_access {spec}"
    )
    assert expected in before.stdout, before.stdout
    postconf = which("postconf") or "postconf"
    line = f"smtpd_sender_restrictions = check_sasl_access {spec}"
    run([postconf, "-c", str(ms.postfix.config_dir), "-e", line])
    ms.postfix.postfix("reload")
    after = setup.spamwatch("contain", "--check")
    assert after.returncode == 0, after.stdout + after.stderr
    assert (
        f"ok: {service}: smtpd_sender_restrictions consults check_sasl_access {spec}"
        in after.stdout
    )
    print(f"\ncontain --check before the main.cf line:\n{before.stdout}after:\n{after.stdout}")
    wait_until(lambda: try_send(ms, "oscar", "127.0.0.30") is None, 30, "submission after reload")


# --- scenario 2 ---------------------------------------------------------------


def test_2_dry_run_changes_nothing(setup: Setup) -> None:
    ms = setup.ms
    ms.relay.stop()
    send_session(
        ms.port,
        ms.account("trent", "127.0.0.40"),
        [Mail("trent@example.com", ("a@partner.test",))] * 3,
    )
    wait_until(lambda: len(queued_of(ms, "trent")) == 3, 30, "trent's 3 messages queued")
    before = setup.map_bytes(), setup.held()
    by_hand = setup.spamwatch("contain", "trent", "--log", str(ms.maillog), "--dry-run")
    assert by_hand.returncode == 0, by_hand.stdout + by_hand.stderr
    assert f"  map line: trent {ACTION}" in by_hand.stdout
    assert "hold: dry-run: would hold 3 queued messages" in by_hand.stdout
    assert re.search(r"\$ \S*postsuper -c \S+ -h - < \(3 queue ids\)", by_hand.stdout)
    # A follow in dry-run mode during an attack: says what it would do, does nothing.
    workdir = setup.workdir / "follow-dry"
    workdir.mkdir()
    follow = FollowProcess(ms.maillog, workdir, setup.dry_config, ("--warmup", "0"))
    follow.start()
    try:
        follow.wait_ready()
        burst = [ms.account("walter", ip) for ip in BOTNET]
        mails = [Mail("walter@example.com", ("x@victims.test",), "Deal")] * 2
        in_parallel([lambda a=a: send_session(ms.port, a, mails) for a in burst])
        wait_until(
            lambda: "walter: dry run, nothing changed: would lock" in follow.stderr(),
            60,
            "the dry run",
        )
    finally:
        assert follow.stop() == 0
    assert f"dry run: map line: walter {ACTION}" in follow.stderr()
    assert (setup.map_bytes(), setup.held()) == before
    print("\nscenario 2, dry run by hand:\n" + by_hand.stdout)


# --- scenario 3 ---------------------------------------------------------------


@dataclass
class Botnet:
    """The attack's outcome per message: when it was accepted, or what refused it."""

    accepted: list[float] = field(default_factory=list)
    refused: list[tuple[float, str]] = field(default_factory=list)
    lock = threading.Lock()

    def run_address(self, ms: MailSystem, ip: str) -> int:
        account = ms.account("mallory", ip)
        for s in range(SESSIONS):
            try:
                client = connect(ms.port, ip)
            except OSError:
                continue
            try:
                client.login(account.username, account.password)
                for k in range(2):
                    sender = f"promo{s}.{k}@cheap-deals.test"
                    mail = Mail(sender, (f"t{ip.rsplit('.', 1)[1]}.{s}.{k}@victims.test",), "Deals")
                    try:
                        client.sendmail(mail.sender, list(mail.recipients), build(mail))
                        with self.lock:
                            self.accepted.append(time.time())
                    except smtplib.SMTPException as exc:
                        with self.lock:
                            self.refused.append((time.time(), refused_text(exc)))
            except smtplib.SMTPException as exc:
                with self.lock:
                    self.refused.append((time.time(), refused_text(exc)))
            finally:
                with contextlib.suppress(smtplib.SMTPException):
                    client.quit()
            time.sleep(0.05)
        return 0


def lock_time(setup: Setup, login: str) -> float | None:
    for record in setup.audit():
        if record["action"] == "lock" and record["login"] == login and record["outcome"] == "done":
            return datetime.fromisoformat(record["time"]).timestamp()
    return None


@pytest.fixture(scope="module")
def follow(setup: Setup) -> Iterator[FollowProcess]:
    workdir = setup.workdir / "follow"
    workdir.mkdir()
    process = FollowProcess(setup.ms.maillog, workdir, setup.config, ("--warmup", "0"))
    process.start()
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def test_3_follow_locks_the_botnet_login_and_holds_its_mail(
    setup: Setup, follow: FollowProcess
) -> None:
    ms = setup.ms
    ms.relay.stop()
    stop = threading.Event()
    oscar: list[str | None] = []

    def oscar_keeps_sending() -> None:
        while not stop.is_set():
            oscar.append(try_send(ms, "oscar", "127.0.0.30", "Minutes"))
            time.sleep(0.5)

    botnet = Botnet()
    other = threading.Thread(target=oscar_keeps_sending)
    other.start()
    try:
        in_parallel([lambda ip=ip: botnet.run_address(ms, ip) for ip in BOTNET], workers=12)
        locked_at = wait_until(
            lambda: lock_time(setup, "mallory"), 60, "mallory's lock in the audit log"
        )
        # A new submission by mallory, measured with an SMTP client:
        answer = try_send(ms, "mallory", "127.0.1.99")
        assert answer is not None and "account locked, contact support" in answer, answer
    finally:
        stop.set()
        other.join(60)
    assert oscar and all(result is None for result in oscar), oscar
    assert try_send(ms, "oscar", "127.0.0.30") is None

    first = min(botnet.accepted)
    before = sum(1 for t in botnet.accepted if t < locked_at)
    after = len(botnet.accepted) - before
    attempted = len(botnet.accepted) + len(botnet.refused)
    texts = {text for _, text in botnet.refused}
    print(
        f"\nscenario 3: botnet of {len(BOTNET)} addresses, {attempted} messages attempted:"
        f"\n  locked {locked_at - first:.2f} s after the botnet's first accepted message"
        f"\n  {before} botnet messages accepted before the lock, {after} after it (sessions"
        f" already open; held), {len(botnet.refused)} refused"
        f"\n  refused with: {sorted(texts)[:2]}"
    )
    assert locked_at - first < LOCK_TARGET, f"locked only after {locked_at - first:.1f}s"
    assert before < attempted / 2, "most of the burst should have been refused"
    assert all("account locked, contact support" in text for text in texts), texts

    # Every queued message of mallory is on hold; nobody else's is.
    def all_held() -> bool:
        mine = queued_of(ms, "mallory")
        return bool(mine) and set(mine.values()) == {"hold"}

    wait_until(all_held, 30, "mallory's queued messages on hold")
    mine = set(queued_of(ms, "mallory"))
    assert setup.held() == mine
    assert queued_of(ms, "oscar") and "hold" not in queued_of(ms, "oscar").values()
    assert len(mine) == len(botnet.accepted)  # the internet is down: all of them are still here
    listed = setup.spamwatch("contain", "--list")
    assert listed.stdout.startswith(f"mallory: locked, {len(mine)} held;"), listed.stdout
    assert "by spamwatch follow (auto)" in listed.stdout
    updated = [r for r in follow.records() if r["response"] and r["key"] == "mallory"]
    assert updated and updated[0]["response"]["containment"]["status"] == "contained"
    print(f"  follow's record: {updated[0]['summary']}")
    print(f"  postqueue -j: {len(mine)} of mallory's messages on hold, none of anybody else's")


# --- scenario 4 ---------------------------------------------------------------


def test_4_release_restores_sending_and_the_held_mail_flows(
    setup: Setup, follow: FollowProcess
) -> None:
    ms = setup.ms
    held = set(queued_of(ms, "mallory"))
    assert held
    received = ms.relay.received
    ms.relay.start()
    result = setup.spamwatch("release", "mallory")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("will touch:\nunlock: would remove from")
    assert "mallory: released: unlocked at" in result.stdout
    assert f"{len(held)} queued messages released" in result.stdout
    wait_until(
        lambda: try_send(ms, "mallory", "127.0.1.99", "Sorry") is None, 30, "mallory sending again"
    )
    ms.postfix.flush()
    wait_until(lambda: not queued_of(ms, "mallory"), 120, "mallory's released mail to leave")
    assert ms.relay.received >= received + len(held)
    assert setup.spamwatch("contain", "--list").stdout == "No login is contained by spamwatch.\n"
    print(f"\nscenario 4: released {len(held)} held messages; they reached the relay")


# --- scenario 5 ---------------------------------------------------------------


def test_5_contain_by_hand_and_purge(setup: Setup) -> None:
    ms = setup.ms
    ms.relay.stop()
    try:
        send_session(
            ms.port,
            ms.account("trent", "127.0.0.40"),
            [Mail("trent@example.com", ("b@partner.test",))] * 3,
        )
        wait_until(lambda: len(queued_of(ms, "trent")) == 3, 30, "trent's 3 messages queued")
        ids = set(queued_of(ms, "trent"))
        result = setup.spamwatch(
            "contain", "trent", "--log", str(ms.maillog), "--reason", "phished"
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert (
            "trent: contained: locked at" in result.stdout
            and "3 queued messages held" in result.stdout
        )
        assert set(queued_of(ms, "trent").values()) == {"hold"}
        answer = try_send(ms, "trent", "127.0.0.40")
        assert answer is not None and "account locked, contact support" in answer
        purged = setup.spamwatch("release", "trent", "--purge")
        assert purged.returncode == 0, purged.stdout + purged.stderr
        assert "3 queued messages deleted" in purged.stdout
        assert not ids & {str(m["queue_id"]) for m in ms.postfix.queue()}
        assert setup.map.read_text().count("trent") == 0
    finally:
        ms.relay.start()
    actions = [
        (r["action"], r["login"], r["outcome"]) for r in setup.audit() if r["login"] == "trent"
    ]
    assert ("purge_held", "trent", "done") in actions and ("lock", "trent", "done") in actions
    print(f"\nscenario 5: contained trent by hand (3 held), then purged them:\n{purged.stdout}")
