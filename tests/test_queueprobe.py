"""The postqueue -j probe with stand-in commands (the real queue: tests/e2e scenario 4)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from builders import Stream, at, raised, run

from spamwatch.config import Config
from spamwatch.detectors.queue import describe
from spamwatch.sources.queue import QueueProbe, parse_queue, probe_from_options, queue_probe

RECORDS = [
    {
        "queue_name": "deferred",
        "queue_id": "4F2A120C0B1",
        "arrival_time": 1000,
        "message_size": 500,
        "sender": "dave@example.com",
        "recipients": [{"address": "a@x.test", "delay_reason": "connect refused"}],
    },
    {
        "queue_name": "active",
        "queue_id": "5A1B220C0B2",
        "arrival_time": 1090,
        "message_size": 700,
        "sender": "",
        "recipients": [{"address": "b@x.test"}, {"address": "c@x.test"}],
    },
]


def stand_in(tmp_path: Path, body: str, name: str = "postqueue") -> str:
    """An executable script standing in for postqueue; it logs its arguments."""
    script = tmp_path / name
    script.write_text(f'#!/bin/sh\necho "$@" >> "{tmp_path}/calls"\n{body}\n')
    script.chmod(0o755)
    return str(script)


def calls(tmp_path: Path) -> list[str]:
    path = tmp_path / "calls"
    return path.read_text().splitlines() if path.exists() else []


def test_parse_counts_size_recipients_queues_and_oldest_age() -> None:
    lines = [json.dumps(r) for r in RECORDS] + ["not json", "[1, 2]", ""]
    snap = parse_queue(lines, now=1100.0)
    assert (snap.size, snap.recipients, snap.oldest_age) == (2, 3, 100.0)
    assert dict(snap.by_queue) == {"deferred": 1, "active": 1}
    assert describe(snap)["oldest_age_seconds"] == 100


def test_empty_queue_has_no_oldest_message() -> None:
    snap = parse_queue([], now=5.0)
    assert (snap.size, snap.oldest_age) == (0, None)


def test_probe_runs_the_command_with_the_instance_and_respects_the_interval(
    tmp_path: Path,
) -> None:
    lines = "\n".join(json.dumps(r) for r in RECORDS)
    command = stand_in(tmp_path, f"cat <<'EOF'\n{lines}\nEOF")
    now = [1100.0]
    probe = QueueProbe(interval=60, config_directory="/etc/postfix-out", command=command)
    probe.clock = lambda: now[0]
    first = probe.poll()
    assert first is not None and first.size == 2 and first.oldest_age == 100.0
    now[0] += 30
    assert probe.poll() is first  # within the interval: no new run
    now[0] += 31
    again = probe.poll()
    assert again is not None and again is not first and again.oldest_age == 161.0
    assert calls(tmp_path) == ["-c /etc/postfix-out -j", "-c /etc/postfix-out -j"]


def test_the_probe_only_answers_for_live_log_lines(tmp_path: Path) -> None:
    command = stand_in(tmp_path, "exit 0")
    probe = QueueProbe(interval=0, command=command, clock=lambda: 1_000_000.0)
    live = datetime.fromtimestamp(1_000_000.0 - 20, tz=UTC)
    old = datetime.fromtimestamp(1_000_000.0 - 86_400, tz=UTC)
    assert probe.poll_live(old) is None and calls(tmp_path) == []
    snap = probe.poll_live(live)
    assert snap is not None and snap.size == 0 and len(calls(tmp_path)) == 1


def test_a_refused_probe_says_so_once_and_stays_off(tmp_path: Path) -> None:
    command = stand_in(
        tmp_path, "echo 'postqueue: fatal: User nobody(65534) is not allowed' >&2; exit 1"
    )
    warnings: list[str] = []
    probe = QueueProbe(interval=0, command=command, warn=warnings.append)
    assert probe.poll() is None
    assert probe.poll() is None
    assert len(warnings) == 1 and "not allowed" in warnings[0]
    assert "log-derived" in warnings[0]
    assert len(calls(tmp_path)) == 1


def test_a_missing_command_says_so_once(tmp_path: Path) -> None:
    warnings: list[str] = []
    probe = QueueProbe(command=str(tmp_path / "nowhere" / "postqueue"), warn=warnings.append)
    assert probe.take() is None and probe.poll() is None
    assert len(warnings) == 1 and "could not run" in warnings[0]


def test_a_slow_command_is_retried_after_the_interval_and_reported_once(
    tmp_path: Path,
) -> None:
    command = stand_in(tmp_path, "exec sleep 30")
    warnings: list[str] = []
    now = [0.0]
    probe = QueueProbe(interval=60, command=command, timeout=0.3, warn=warnings.append)
    probe.clock = lambda: now[0]
    assert probe.poll() is None
    now[0] += 10
    assert probe.poll() is None  # not retried within the interval
    now[0] += 60
    assert probe.poll() is None and probe.unavailable is None
    assert len(calls(tmp_path)) == 2 and len(warnings) == 1 and "took over" in warnings[0]


def test_terminal_codes_from_the_command_are_not_repeated(tmp_path: Path) -> None:
    command = stand_in(tmp_path, "printf 'bad\\033[2J thing\\n' >&2; exit 75")
    warnings: list[str] = []
    QueueProbe(command=command, warn=warnings.append).take()
    assert "\033" not in warnings[0] and "bad\\x1b[2J thing" in warnings[0]  # textsafe's escape


@pytest.mark.parametrize(
    ("options", "interval"),
    [({"probe": True}, 60.0), ({"probe": True, "probe_interval": "2m"}, 120.0)],
)
def test_probe_from_options(options: dict, interval: float) -> None:
    probe = probe_from_options(options)
    assert probe is not None
    assert (probe.interval, probe.config_directory) == (interval, None)


def test_probe_is_off_unless_asked_for() -> None:
    assert probe_from_options({}) is None
    assert probe_from_options({"probe": False, "probe_interval": "1m"}) is None


def test_no_probe_when_the_queue_detector_is_off() -> None:
    table = {"probe": True, "probe_interval": "2m"}
    assert queue_probe(Config(data={"detectors": {"queue": table}})) is not None
    off = {"detectors": {"queue": {**table, "enabled": False}}}
    assert queue_probe(Config(data=off)) is None


# --- in the queue detector (stand-in postqueue on PATH) ---------------------------

PROBE_CONFIG = {"detectors": {"queue": {"probe": True, "probe_interval": "1s"}}}


def full_queue_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """A postqueue on PATH that lists ``size`` deferred messages, the oldest an hour old."""
    old = int(datetime.now(UTC).timestamp()) - 3600
    record = {"queue_name": "deferred", "arrival_time": old, "recipients": [{"address": "x@y"}]}
    lines = "\n".join(json.dumps({**record, "queue_id": f"Q{n}"}) for n in range(size))
    stand_in(tmp_path, f"cat <<'EOF'\n{lines}\nEOF")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")


def one_deferred_message(time: datetime) -> Stream:
    stream = Stream()
    stream.submission(time, "alice@example.com", "192.0.2.1", status="deferred")
    return stream


def test_the_detector_reports_the_true_queue_for_a_live_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full_queue_on_path(tmp_path, monkeypatch, 120)
    records = run(one_deferred_message(datetime.now(UTC)), config=PROBE_CONFIG)
    (found,) = raised(records, "queue")
    real = found.evidence["real_queue"]
    assert (real["queue_size"], real["source"]) == (120, "postqueue -j")
    assert 3590 <= real["oldest_age_seconds"] <= 3700
    assert found.counts["queued"] == 120 and "120 messages in the queue" in found.summary
    assert calls(tmp_path) == ["-j"]


def test_the_detector_leaves_an_old_log_to_the_estimate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full_queue_on_path(tmp_path, monkeypatch, 120)
    records = run(one_deferred_message(at(0)), config=PROBE_CONFIG)
    assert raised(records, "queue") == [] and calls(tmp_path) == []


def test_the_detector_is_unchanged_without_the_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full_queue_on_path(tmp_path, monkeypatch, 120)
    records = run(one_deferred_message(datetime.now(UTC)))
    assert raised(records, "queue") == [] and calls(tmp_path) == []


def test_a_refused_probe_in_the_detector_keeps_the_estimate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stand_in(tmp_path, "echo 'postqueue: fatal: not allowed' >&2; exit 69")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    stream = Stream()
    now = datetime.now(UTC)
    for n in range(3):
        stream.submission(
            now + timedelta(seconds=n), "alice@example.com", "192.0.2.1", status="deferred"
        )
    assert raised(run(stream, config=PROBE_CONFIG), "queue") == []
    err = capsys.readouterr().err
    assert err.count("real-queue probe unavailable") == 1 and "not allowed" in err
