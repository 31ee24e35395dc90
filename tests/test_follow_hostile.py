"""``follow`` against hostile input and files, as a real process (issue 14 §3, §4).

A FIFO where the log should be, a log swapped for a symlink to a FIFO, and
SIGTERM in the middle of a SASL spray that logrotate has just renamed away:
each must end at once, say what it refused, and lose no line (the state says
where to resume).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from tests.followutil import TIMEOUT, FollowProcess, until

STOP_WITHIN = 3.0
"""Seconds from SIGTERM to exit that the tests allow: the target is one second
(bench/bench_reliability.py measures it), the rest is a loaded CI machine."""


def spray(count: int) -> bytes:
    """``count`` SASL failures from distinct addresses (the cost that once kept SIGTERM waiting)."""
    return b"".join(
        b"Nov 28 03:%02d:%02d mx1 postfix/submission/smtpd[%d]: warning: unknown[10.%d.%d.%d]:"
        b" SASL LOGIN authentication failed: (reason unavailable),"
        b" sasl_username=user%d@example.com\n"
        % ((n // 60) % 60, n % 60, 1000 + n % 30000, n >> 16 & 255, n >> 8 & 255, n & 255, n % 500)
        for n in range(count)
    )


def run(args: list[str]) -> FollowProcess:
    process = FollowProcess(["--format", "json", *args])
    process.wait_err("following")
    return process


def saved(state: Path, log: Path) -> dict | None:
    if not state.exists():
        return None
    return json.loads(state.read_text())["files"].get(str(log))


def test_a_fifo_given_as_the_log_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "mail.log"
    os.mkfifo(fifo)
    process = FollowProcess(["--state", str(tmp_path / "s"), str(fifo)])
    try:
        assert process.proc.wait(TIMEOUT) == 4
    finally:
        process.kill()
    process.stop()
    assert process.err == [
        f"spamwatch: error: {fifo}: not a regular file (a FIFO); use '-' to read a pipe"
    ]


def test_a_log_swapped_for_a_symlink_to_a_fifo_is_refused_and_sigterm_still_works(
    tmp_path: Path,
) -> None:
    log, state = tmp_path / "mail.log", tmp_path / "follow.state"
    log.write_bytes(spray(10))
    process = run(["--from-start", "--poll", "0.2", "--state", str(state), str(log)])
    try:
        until(lambda: (saved(state, log) or {}).get("offset") == log.stat().st_size)
        os.rename(log, tmp_path / "mail.log.1")
        os.mkfifo(tmp_path / "trap")
        log.symlink_to(tmp_path / "trap")
        with open(tmp_path / "mail.log.1", "ab") as renamed:
            renamed.write(spray(1510)[len(spray(10)) :])
        process.wait_err("not a regular file (a FIFO)")
        until(lambda: (saved(state, log) or {}).get("offset") == len(spray(1510)))
        started = time.monotonic()
        assert process.stop(signal.SIGTERM, timeout=STOP_WITHIN + 10) == 0
        assert time.monotonic() - started < STOP_WITHIN
    finally:
        process.kill()
    assert process.lines_read() == 1510  # the 1,500 lines written to the renamed file too


def test_sigterm_during_a_spray_behind_a_rotation_stops_at_once_and_loses_nothing(
    tmp_path: Path,
) -> None:
    """200,000 SASL failures, then logrotate renames the file: SIGTERM while far behind."""
    log, state = tmp_path / "mail.log", tmp_path / "follow.state"
    log.write_bytes(b"")
    process = run(["--from-start", "--warmup", "0", "--state", str(state), str(log)])
    data = spray(200_000)
    try:
        with open(log, "ab") as writer:
            writer.write(data)
        os.rename(log, tmp_path / "mail.log.1")
        log.write_bytes(b"")
        time.sleep(1.0)  # reading is under way (a trigger, not a measure)
        started = time.monotonic()
        assert process.stop(signal.SIGTERM, timeout=TIMEOUT) == 0
        took = time.monotonic() - started
    finally:
        process.kill()
    assert took < STOP_WITHIN, f"SIGTERM took {took:.1f}s"
    read = process.lines_read()
    assert read < 200_000  # it stopped while behind, not after reading all
    position = saved(state, log)
    assert position is not None
    assert position["ino"] == (tmp_path / "mail.log.1").stat().st_ino  # resume in the old file
    assert position["offset"] == len(b"".join(data.splitlines(keepends=True)[:read]))
