"""The follow state file: round trip, atomic writes, corruption, locking, bounds."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from spamwatch.cli import cli
from spamwatch.errors import StateError
from spamwatch.follow import state as state_mod
from spamwatch.follow.state import AlertedKey, FollowState, StateFile
from spamwatch.sources.base import FilePosition

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def sample() -> FollowState:
    state = FollowState()
    state.files["/var/log/mail.log"] = FilePosition(64769, 1234, "ab" * 32, 1024, 98765)
    state.journal_cursor = "s=abc;i=1f;b=def"
    state.journal_time = 1795834800000000
    state.remember_alert(AlertedKey("burst", "mx1", "monika@example.com", "critical", "raised", T0))
    return state


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "follow.state"
    StateFile(str(path)).save(sample())
    loaded = StateFile(str(path)).load()
    assert loaded.to_json() == sample().to_json()
    assert loaded.alerted[("burst", "mx1", "monika@example.com")].severity == "critical"
    assert (path.stat().st_mode & 0o777) == 0o600


def test_missing_file_is_a_fresh_state(tmp_path: Path) -> None:
    loaded = StateFile(str(tmp_path / "none.state")).load()
    assert loaded.files == {} and loaded.journal_cursor is None and loaded.alerted == {}


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "follow.state"
    state_file = StateFile(str(path))
    assert state_file.save(sample()) is True
    assert state_file.save(sample()) is False  # unchanged: not rewritten
    changed = sample()
    changed.journal_cursor = "s=abc;i=20"
    assert state_file.save(changed) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["follow.state"]
    assert json.loads(path.read_text())["journal"]["cursor"] == "s=abc;i=20"


def test_a_failed_write_keeps_the_old_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "follow.state"
    StateFile(str(path)).save(sample())
    before = path.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(state_mod.os, "fsync", broken_fsync)
    changed = sample()
    changed.journal_cursor = "new"
    with pytest.raises(StateError, match="cannot write state file: No space left on device"):
        StateFile(str(path)).save(changed)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["follow.state"]


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[]", b'{"version": 99}', b'{"version": 1, "files": {"/x": {"dev": -1}}}'],
)
def test_corrupt_state_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "follow.state"
    path.write_bytes(content)
    with pytest.raises(StateError, match=r"corrupt state file .*move it away"):
        StateFile(str(path)).load()


def test_a_directory_is_not_a_state_file(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="is a directory"):
        StateFile(str(tmp_path)).load()


def test_unreadable_state_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(StateError, match="cannot read state file: Not a directory"):
        StateFile(str(blocker / "follow.state")).load()


def test_two_processes_cannot_share_a_state(tmp_path: Path) -> None:
    path = str(tmp_path / "follow.state")
    first = StateFile(path)
    first.lock()
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                StateFile(path).lock()
            except StateError as exc:
                os._exit(5 if "in use by another spamwatch follow" in str(exc) else 1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 5
    finally:
        first.unlock()
    StateFile(path).lock()  # free again


def test_resolved_findings_are_forgotten_and_the_table_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = sample()
    done = AlertedKey("burst", "mx1", "monika@example.com", "critical", "resolved", T0)
    state.remember_alert(done)
    assert state.alerted == {}
    monkeypatch.setattr(state_mod, "MAX_ALERTED", 3)
    for n in range(5):
        state.remember_alert(AlertedKey("auth", None, f"10.0.0.{n}", "warning", "raised", T0))
    assert [key for _, _, key in state.alerted] == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    later = T0 + state_mod.ALERTED_MAX_AGE + timedelta(seconds=1)
    state.remember_alert(AlertedKey("auth", None, "10.9.9.9", "warning", "raised", later))
    assert [key for _, _, key in state.alerted] == ["10.9.9.9"]


def test_follow_with_a_corrupt_state_exits_5(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(b"")
    bad = tmp_path / "follow.state"
    bad.write_bytes(b"\x00garbage")
    result = CliRunner().invoke(cli, ["follow", "--state", str(bad), str(log)])
    assert result.exit_code == 5
    assert result.stderr.startswith(f"spamwatch: error: {bad}: corrupt state file")
    assert result.stdout == ""
