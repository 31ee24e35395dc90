"""The file follower against real files: one test per way a log file changes under us.

Modelled on mtail's and fail2ban's tailer tests: every rotation style,
a partial line, a missing file, permission denied, inode reuse, and resuming
from a saved position (also across a rotation that happened while stopped).
"""

from __future__ import annotations

import gzip
import os
import shutil
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from spamwatch.errors import InputError
from spamwatch.sources import files as files_mod
from spamwatch.sources.backwards import read_back, time_before
from spamwatch.sources.base import FilePosition
from spamwatch.sources.tail import TailFile
from spamwatch.sources.watch import DirectoryWatcher
from tests.followutil import open_dir, within


class Said:
    """Collects notices as the runner would show them (once per key)."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self._keys: set[str] = set()

    def __call__(self, key: str, message: str) -> None:
        if key not in self._keys:
            self._keys.add(key)
            self.messages.append(message)


def lines(*texts: str) -> bytes:
    return b"".join(t.encode() + b"\n" for t in texts)


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def read(tail: TailFile) -> list[str]:
    return [line.decode() for line in tail.read()]


def started(path: Path, **kwargs: object) -> tuple[TailFile, Said]:
    said = Said()
    tail = TailFile(str(path), said, **kwargs)  # type: ignore[arg-type]
    tail.start()
    return tail, said


def test_starts_at_the_end_and_reads_what_is_appended(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(lines("old 1", "old 2"))
    tail, _ = started(log)
    assert read(tail) == []
    append(log, lines("new 1", "new 2"))
    assert read(tail) == ["new 1", "new 2"]
    assert tail.boundary == (str(log), len(lines("old 1", "old 2")))


def test_from_start_reads_everything(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(lines("a", "b"))
    tail, _ = started(log, from_start=True)
    assert read(tail) == ["a", "b"]


def test_partial_line_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(b"")
    tail, _ = started(log)
    append(log, b"first half of a li")
    assert read(tail) == []
    assert tail.position().offset == 0  # type: ignore[union-attr]
    append(log, b"ne\nnext")
    assert read(tail) == ["first half of a line"]
    append(log, b"\n")
    assert read(tail) == ["next"]


def test_rename_and_create_finishes_the_old_file_first(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(lines("before"))
    tail, _ = started(log, from_start=True)
    assert read(tail) == ["before"]
    writer = open(log, "ab")  # noqa: SIM115 - the syslog daemon's open descriptor
    writer.write(lines("written before rotation"))
    writer.flush()
    os.rename(log, tmp_path / "mail.log.1")
    writer.write(lines("late line to the old file"))  # daemon not yet told to reopen
    writer.flush()
    log.write_bytes(lines("new file 1"))
    assert read(tail) == ["written before rotation", "late line to the old file", "new file 1"]
    writer.write(lines("even later to the old file"))
    writer.close()
    append(log, lines("new file 2"))
    assert read(tail) == ["even later to the old file", "new file 2"]


def test_rename_old_file_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(b"")
    tail, _ = started(log)
    append(log, b"complete\nunterminated last line")
    os.rename(log, tmp_path / "mail.log.1")
    log.write_bytes(lines("new"))
    assert read(tail) == ["complete", "new"]
    assert list(tail.finish()) == [b"unterminated last line"]


def test_copytruncate(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(lines("one", "two"))
    tail, said = started(log, from_start=True)
    assert read(tail) == ["one", "two"]
    shutil.copyfile(log, tmp_path / "mail.log.1")
    with open(log, "r+b") as handle:
        handle.truncate(0)
    append(log, lines("after truncate"))
    assert read(tail) == ["after truncate"]
    assert any("truncated" in m for m in said.messages)


def test_copytruncate_regrown_past_old_offset_is_seen_by_fingerprint(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(lines("short"))
    tail, _ = started(log, from_start=True)
    assert read(tail) == ["short"]
    with open(log, "r+b") as handle:  # truncated and rewritten before we looked
        handle.truncate(0)
    append(log, lines("a much longer first line after the truncation", "second"))
    assert read(tail) == ["a much longer first line after the truncation", "second"]


def test_delete_and_recreate_later(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(lines("x"))
    tail, _ = started(log, from_start=True)
    assert read(tail) == ["x"]
    log.unlink()
    assert read(tail) == []
    assert read(tail) == []
    log.write_bytes(lines("recreated 1", "recreated 2"))
    assert read(tail) == ["recreated 1", "recreated 2"]


def test_missing_at_start_waits_and_says_so_once(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    tail, said = started(log)
    for _ in range(3):
        assert read(tail) == []
    waiting = [m for m in said.messages if "waiting" in m]
    assert waiting == [f"{log}: no such file yet, waiting for it"]
    log.write_bytes(lines("first ever line"))
    assert read(tail) == ["first ever line"]
    assert any("appeared" in m for m in said.messages)


def test_a_directory_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        started(tmp_path)


def test_a_path_below_a_file_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "notadir"
    blocker.write_bytes(b"")
    with pytest.raises(InputError, match="cannot open: Not a directory"):
        started(blocker / "mail.log")


def test_gzip_cannot_be_followed(tmp_path: Path) -> None:
    archive = tmp_path / "mail.log.2.gz"
    archive.write_bytes(gzip.compress(lines("x")))
    with pytest.raises(InputError, match="gzip-compressed"):
        started(archive)


def test_permission_denied_as_an_unprivileged_user() -> None:
    """Root reads any file, so the open is tried by a forked child that dropped to nobody."""
    with open_dir() as base:
        secret = base / "mail.log"
        secret.write_bytes(lines("private"))
        os.chmod(secret, 0o600)
        outcome = _as_nobody(lambda: TailFile(str(secret), Said()).start())
    assert outcome == f"InputError: {secret}: permission denied"


def _as_nobody(action: Callable[[], object]) -> str:
    """Run ``action`` in a child process as uid/gid 65534; its exception, as text."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_fd)
        message = "no error"
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            action()
        except BaseException as exc:
            message = f"{type(exc).__name__}: {exc}"
        os.write(write_fd, message.encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        text = pipe.read().decode()
    os.waitpid(pid, 0)
    return text


def position_of(path: Path, offset: int) -> FilePosition:
    """What a state file would hold after reading ``path`` up to ``offset``."""
    tail, _ = started(path, from_start=True)
    pos = tail.position()
    tail.close()
    assert pos is not None
    return FilePosition(pos.dev, pos.ino, pos.fp, pos.fp_len, offset)


def test_inode_reuse_is_not_mistaken_for_the_same_file(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(lines("Nov 28 old file line one", "Nov 28 old file line two"))
    old = position_of(log, len(lines("Nov 28 old file line one")))
    log.unlink()
    log.write_bytes(lines("Nov 29 brand new file, line one", "Nov 29 line two", "three"))
    st = log.stat()
    # The state says "this device and inode" (exactly what a reused inode looks like):
    reused = FilePosition(st.st_dev, st.st_ino, old.fp, old.fp_len, old.offset)
    tail, said = started(log, position=reused)
    assert read(tail) == ["Nov 29 brand new file, line one", "Nov 29 line two", "three"]
    assert any("changed while stopped" in m for m in said.messages)


def test_resume_exactly_where_the_last_run_stopped(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(lines("1", "2", "3"))
    first, _ = started(log, from_start=True)
    assert read(first) == ["1", "2", "3"]
    append(log, b"4\n5")  # "5" is half written when we stop
    assert read(first) == ["4"]
    saved = first.position()
    first.close()
    append(log, b"\n6\n")
    second, _ = started(log, position=saved)
    assert read(second) == ["5", "6"]
    assert second.boundary == (str(log), saved.offset)  # type: ignore[union-attr]


def test_resume_across_rename_rotation_while_stopped(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(lines("a1", "a2"))
    first, _ = started(log, from_start=True)
    assert read(first) == ["a1", "a2"]
    saved = first.position()
    first.close()
    append(log, lines("a3 written while stopped"))
    os.rename(log, tmp_path / "mail.log.1")
    (tmp_path / "mail.log.2.gz").write_bytes(gzip.compress(lines("much older")))
    log.write_bytes(lines("b1", "b2"))
    second, _ = started(log, position=saved)
    assert read(second) == ["a3 written while stopped", "b1", "b2"]
    assert second.boundary == (str(tmp_path / "mail.log.1"), saved.offset)  # type: ignore[union-attr]


def test_resume_across_rotation_and_compression_while_stopped(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(lines("a1", "a2"))
    saved = position_of(log, len(lines("a1")))
    content = log.read_bytes() + lines("a3")
    log.unlink()
    (tmp_path / "mail.log.1.gz").write_bytes(gzip.compress(content))
    log.write_bytes(lines("b1"))
    tail, _ = started(log, position=saved)
    assert read(tail) == ["a2", "a3", "b1"]


def test_resume_across_copytruncate_while_stopped(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(lines("c1", "c2 long enough to be past the new size"))
    saved = position_of(log, len(lines("c1")))
    shutil.copyfile(log, tmp_path / "mail.log.1")
    with open(log, "r+b") as handle:
        handle.truncate(0)
    append(log, lines("d1"))
    tail, _ = started(log, position=saved)
    assert read(tail) == ["c2 long enough to be past the new size", "d1"]


def test_rotated_old_file_not_found_says_so_and_reads_the_new_one(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(lines("gone"))
    saved = position_of(log, len(lines("gone")))
    log.unlink()
    log.write_bytes(lines("fresh start"))
    tail, said = started(log, position=saved)
    assert read(tail) == ["fresh start"]
    assert any("lines in between may be missed" in m for m in said.messages)


def test_a_monster_line_is_cut_and_memory_stays_bounded(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(b"")
    tail, _ = started(log)
    monster = b"x" * (files_mod.MAX_LINE * 2 + 10)
    append(log, monster + b"\nafter\n")
    got = list(tail.read())
    assert got == [b"x" * files_mod.MAX_LINE, b"after"]
    assert tail.position().offset == len(monster) + len(b"\nafter\n")  # type: ignore[union-attr]


def test_directory_watcher_wakes_on_append_and_rename(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(b"")
    wake = threading.Event()
    watcher = DirectoryWatcher([str(log)], wake, Said())
    assert watcher.start()
    try:
        (tmp_path / "unrelated.log").write_bytes(b"noise\n")
        time.sleep(0.3)  # let an (unwanted) wake for the unrelated file arrive
        assert not wake.is_set()
        append(log, lines("hello"))
        assert wake.wait(10)
        wake.clear()
        os.rename(log, tmp_path / "mail.log.1")
        assert wake.wait(10)
    finally:
        watcher.stop()


def line_time(line: bytes) -> datetime | None:
    """A LineTime for these tests: the ISO time at the start of the line."""
    head = line.split(b" ", 1)[0]
    try:
        return datetime.fromisoformat(head.decode())
    except ValueError:
        return None


def test_read_back_gives_the_window_before_the_resume_point(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    stamps = [f"2026-11-28T{h:02d}:{m:02d}:00+00:00 line" for h in range(10) for m in range(60)]
    body = lines(*stamps)
    log.write_bytes(body)
    end = len(lines(*stamps[:300]))  # resume point: after 04:59
    anchor = time_before(str(log), end, line_time)
    assert anchor is not None and anchor.isoformat() == "2026-11-28T04:59:00+00:00"
    got = [b.decode() for b in read_back(str(log), end, anchor - timedelta(minutes=59), line_time)]
    assert got == stamps[240:300]


# --- hostile files (issue 14 §4) -----------------------------------------------------


def test_a_fifo_at_start_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "mail.log"
    os.mkfifo(fifo)
    tail = TailFile(str(fifo), Said())
    with pytest.raises(InputError, match=r"not a regular file"):
        within(5, tail.start, fifo)


def test_a_log_replaced_by_a_symlink_to_a_fifo_keeps_the_renamed_file_read(
    tmp_path: Path,
) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(lines("before"))
    tail, said = started(log, from_start=True)
    assert read(tail) == ["before"]
    os.rename(log, tmp_path / "mail.log.1")
    fifo = tmp_path / "trap"
    os.mkfifo(fifo)
    log.symlink_to(fifo)
    append(tmp_path / "mail.log.1", lines(*(f"renamed {n}" for n in range(1500))))
    got = within(5, lambda: read(tail), fifo)
    assert got == [f"renamed {n}" for n in range(1500)]
    assert any("not a regular file" in m for m in said.messages)
    assert within(5, lambda: read(tail), fifo) == []  # and again, on the next poll


def test_a_fifo_among_the_rotated_files_is_passed_over(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(lines("gone"))
    saved = position_of(log, len(lines("gone")))
    log.unlink()
    os.mkfifo(tmp_path / "mail.log.1")
    log.write_bytes(lines("fresh start"))
    tail = TailFile(str(log), Said(), position=saved)
    within(5, tail.start, tmp_path / "mail.log.1")
    assert read(tail) == ["fresh start"]


def numbered(start: int, count: int) -> bytes:
    return b"".join(b"line %07d\n" % n for n in range(start, start + count))


def drain(tail: TailFile) -> list[bytes]:
    got: list[bytes] = []
    while True:
        more = list(tail.read(1 << 20))
        if not more:
            return got
        got += more


def test_copytruncate_while_behind_reads_the_rest_from_the_copy(tmp_path: Path) -> None:
    """200,000 lines at once, copytruncate while behind, 50,000 more: all 250,000 read."""
    log = tmp_path / "mail.log"
    log.write_bytes(b"")
    tail, said = started(log)
    append(log, numbered(0, 200_000))
    got = list(tail.read(1 << 20))  # a first helping: behind by far
    assert 0 < len(got) < 200_000
    shutil.copyfile(log, tmp_path / "mail.log.1")
    with open(log, "r+b") as handle:
        handle.truncate(0)
    append(log, numbered(200_000, 50_000))
    got += drain(tail)
    assert got == numbered(0, 250_000).splitlines()
    assert any("mail.log.1" in m and "rest" in m for m in said.messages), said.messages


def test_copytruncate_while_behind_without_the_copy_says_what_is_lost(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(b"")
    tail, said = started(log)
    append(log, numbered(0, 100_000))
    got = list(tail.read(1 << 20))
    with open(log, "r+b") as handle:  # truncated, and no copy beside it
        handle.truncate(0)
    append(log, numbered(100_000, 10))
    got += drain(tail)
    assert got[-10:] == numbered(100_000, 10).splitlines()
    lost = len(numbered(0, 100_000)) - len(b"".join(line + b"\n" for line in got[:-10]))
    assert any(f"{lost} bytes" in m and "lost" in m for m in said.messages), said.messages
