"""Issue 14 §2 against a real ``spamwatch follow``, a real webhook and a real ``kill -9``.

A slow webhook and a SIGKILL while alerts wait; a SIGKILL in the middle of
the replay of a full spool: every record of the attack is delivered in the
end, in the order it was made, and none twice but the one that may have been
on the wire at the kill (at least once: the server may have had it).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import synthlog
from followutil import ATTACK_START, ROOT, FollowProcess, until
from sinkutil import WebhookServer

from spamwatch.model import Incident
from spamwatch.sinks.record import alert_id
from spamwatch.sinks.spool import Spool

ALL_KINDS = "opened,escalated,updated,resolved"


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    srv = WebhookServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def scene(tmp_path: Path) -> dict[str, Path]:
    log = tmp_path / "mail.log"
    log.write_text("\n".join(attack_log()) + "\n")
    config = tmp_path / "spamwatch.toml"
    config.write_text(
        f'[alerts]\nspool_dir = "{tmp_path / "spool"}"\n'
        '[sinks.webhook]\nretries = 0\nmax_backoff = "1s"\ndrain_timeout = "1s"\n'
    )
    return {"log": log, "config": config, "state": tmp_path / "follow.state",
            "spool": tmp_path / "spool"}  # fmt: skip


def attack_log() -> list[str]:
    """Four compromised logins one after the other: about 20 incident records in all."""
    streams = [
        synthlog.compromised_account(
            ATTACK_START + timedelta(minutes=40 * n), user=f"victim{n}@example.com",
            messages=300, duration=timedelta(minutes=12), lane=n + 1, seed=7 + n,
        )
        for n in range(4)
    ]  # fmt: skip
    return list(synthlog.render(synthlog.merge(*streams), "rfc3339"))


def made(log: Path) -> list[str]:
    """The alert ids of every record of the log, in the order they are made.

    The webhook below asks for every record kind (``records=``), so these are
    what it must get.
    """
    out = subprocess.run(
        [sys.executable, "-m", "spamwatch", "report", "--all-records", "--format", "json",
         "--fail-on", "never", str(log)],
        capture_output=True, text=True, check=True, cwd=ROOT, timeout=120,
    ).stdout  # fmt: skip
    return [alert_id(Incident.from_json(json.loads(line))) for line in out.splitlines()]


def start(scene: dict[str, Path], server: WebhookServer) -> FollowProcess:
    args = ["--config", str(scene["config"]), "--from-start", "--state", str(scene["state"]),
            "--alert", f"webhook+{server.url}/hook?records={ALL_KINDS}", "--format", "plain",
            str(scene["log"])]  # fmt: skip
    return FollowProcess(args)


def recover_and_check(scene: dict[str, Path], server: WebhookServer, expected: list[str]) -> None:
    """The webhook works again: one more start delivers everything, once, in order."""
    server.mode = "ok"
    last = start(scene, server)
    try:
        until(lambda: set(expected) <= set(server.delivered_alerts()), what="every record")
    finally:
        assert last.stop(signal.SIGTERM) == 0
    got = server.delivered_alerts()
    assert list(dict.fromkeys(got)) == expected  # none lost, in the order they were made
    assert len(got) - len(set(got)) <= 1, "only the one on the wire at the kill may repeat"
    assert Spool(scene["spool"]).pending() == []


def test_kill_9_while_alerts_wait_for_a_slow_webhook_loses_none(
    scene: dict[str, Path], server: WebhookServer
) -> None:
    expected = made(scene["log"])
    assert len(expected) >= 20
    assert len(set(expected)) == len(expected) and made(scene["log"]) == expected  # unique, stable
    server.mode = "slow"
    first = start(scene, server)
    try:
        until(lambda: len(server.delivered_alerts()) >= 3, what="three slow deliveries")
    finally:
        first.kill()  # SIGKILL: no drain, no goodbye
    assert Spool(scene["spool"]).pending()  # what waited is on disk, not lost with the process
    recover_and_check(scene, server, expected)


def test_kill_9_during_the_replay_of_a_full_spool_loses_none(
    scene: dict[str, Path], server: WebhookServer
) -> None:
    expected = made(scene["log"])
    server.mode = "fail"
    down = start(scene, server)
    try:
        until(lambda: len(Spool(scene["spool"]).pending()) == len(expected), what="all spooled")
        down.wait_err("delivery failing")
    finally:
        down.kill()
    server.mode = "slow"
    replaying = start(scene, server)
    try:
        replaying.wait_err(f"{len(expected)} alert(s) left in the spool")
        until(lambda: len(server.delivered_alerts()) >= 3, what="three replayed")
    finally:
        replaying.kill()
    assert Spool(scene["spool"]).pending()
    recover_and_check(scene, server, expected)
