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
from spamwatch.follow.state import FollowState, SentIncident, StateFile
from spamwatch.sources.base import FilePosition
from tests.followutil import TIMEOUT, FollowProcess, as_nobody, open_dir, within

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def sent(
    key: str, severity: str = "critical", state: str = "opened", time: datetime = T0
) -> SentIncident:
    return SentIncident(
        "sasl_username", key, f"sasl_username:{key}:1", severity, state, T0, time, time
    )


def sample() -> FollowState:
    state = FollowState()
    state.files["/var/log/mail.log"] = FilePosition(64769, 1234, "ab" * 32, 1024, 98765)
    state.journal_cursor = "s=abc;i=1f;b=def"
    state.journal_time = 1795834800000000
    state.remember_incident(sent("monika@example.com"))
    return state


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "follow.state"
    StateFile(str(path)).save(sample())
    loaded = StateFile(str(path)).load()
    assert loaded.to_json() == sample().to_json()
    assert loaded.incidents[("sasl_username", "monika@example.com")].severity == "critical"
    assert (path.stat().st_mode & 0o777) == 0o600


def test_missing_file_is_a_fresh_state(tmp_path: Path) -> None:
    loaded = StateFile(str(tmp_path / "none.state")).load()
    assert loaded.files == {} and loaded.journal_cursor is None and loaded.incidents == {}


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


def test_resolved_incidents_are_forgotten_and_the_table_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = sample()
    state.remember_incident(sent("monika@example.com", state="resolved"))
    assert state.incidents == {}
    monkeypatch.setattr(state_mod, "MAX_ALERTED", 3)
    for n in range(5):
        state.remember_incident(sent(f"u{n}@example.com", "warning"))
    assert [key for _, key in state.incidents] == [f"u{n}@example.com" for n in (2, 3, 4)]
    later = T0 + state_mod.ALERTED_MAX_AGE + timedelta(seconds=1)
    state.remember_incident(sent("late@example.com", "warning", time=later))
    assert [key for _, key in state.incidents] == ["late@example.com"]


def test_follow_with_a_corrupt_state_exits_5(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(b"")
    bad = tmp_path / "follow.state"
    bad.write_bytes(b"\x00garbage")
    result = CliRunner().invoke(cli, ["follow", "--state", str(bad), str(log)])
    assert result.exit_code == 5
    assert result.stderr.startswith(f"spamwatch: error: {bad}: corrupt state file")
    assert result.stdout == ""


# --- hostile files and directories (issue 14 §4) ---------------------------------


def test_a_fifo_as_the_state_file_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "follow.state"
    os.mkfifo(path)
    with pytest.raises(StateError, match="not a regular file"):
        within(5, StateFile(str(path)).load, path)


def test_a_deeply_nested_state_is_a_corrupt_state_not_an_internal_error(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(b"")
    nested = tmp_path / "follow.state"
    nested.write_bytes(b"[" * 200_000 + b"]" * 200_000)
    result = CliRunner().invoke(cli, ["follow", "--state", str(nested), str(log)])
    assert result.exit_code == 5, result.output
    assert result.stderr.startswith(f"spamwatch: error: {nested}: corrupt state file")


def test_a_symlink_as_the_lock_file_is_refused_and_its_target_never_made(tmp_path: Path) -> None:
    target = tmp_path / "made-by-root"
    (tmp_path / "follow.state.lock").symlink_to(target)
    with pytest.raises(StateError, match=r"follow\.state\.lock: .*symbolic link"):
        StateFile(str(tmp_path / "follow.state")).lock()
    assert not target.exists()


def test_a_symlink_as_the_state_file_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.json"
    real.write_text(json.dumps(sample().to_json()))
    (tmp_path / "follow.state").symlink_to(real)
    with pytest.raises(StateError, match="symbolic link"):
        StateFile(str(tmp_path / "follow.state")).load()


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o770])
def test_a_state_directory_others_may_write_to_is_refused(tmp_path: Path, mode: int) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    state = StateFile(str(shared / "follow.state"))
    with pytest.raises(StateError, match=r"writable by others .*choose a directory"):
        state.lock()
    assert list(shared.iterdir()) == []  # nothing was created in it


def test_a_state_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a directory to nobody")
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, 65534, 65534)
    with pytest.raises(StateError, match=r"belongs to another user \(uid 65534\)"):
        StateFile(str(theirs / "follow.state")).lock()


def test_a_planted_lock_symlink_in_a_shared_directory_is_not_followed(tmp_path: Path) -> None:
    """The report's attack, as nobody, with fs.protected_symlinks=0 or a non-sticky directory."""
    with open_dir() as base:
        shared = base / "shared"
        shared.mkdir()
        shared.chmod(0o777)  # not sticky: the kernel's protected_symlinks does not apply
        target = tmp_path / "root-only"
        as_nobody(lambda: os.symlink(target, shared / "follow.state.lock"))
        assert (shared / "follow.state.lock").is_symlink()
        log = tmp_path / "mail.log"
        log.write_bytes(b"")
        process = FollowProcess(["--state", str(shared / "follow.state"), str(log)])
        try:
            assert process.proc.wait(TIMEOUT) == 5
        finally:
            process.kill()
        process.stop()
        assert any("writable by others" in line for line in process.err), process.err
        assert not target.exists()
