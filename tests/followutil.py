"""Run ``python -m spamwatch follow`` as a real child process and watch its output.

Output is read by threads into lists, so a test polls for a condition with a
generous timeout (a loaded 2-core CI machine) instead of sleeping.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
import synthlog

from spamwatch.model import Incident, IncidentState, Severity

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 90.0
ATTACK_START = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
VICTIM = "monika.keller@example.com"


def attack_lines(messages: int = 400, minutes: int = 12) -> list[str]:
    """A compromised account's log (RFC 3339 times): the baseline, then the botnet."""
    records = synthlog.compromised_account(
        ATTACK_START, messages=messages, duration=timedelta(minutes=minutes), seed=7
    )
    return list(synthlog.render(records, "rfc3339"))


def until(check: Callable[[], Any], timeout: float = TIMEOUT, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class FollowProcess:
    """A running ``spamwatch follow`` child; stdout and stderr collected line by line."""

    def __init__(
        self,
        args: Sequence[str],
        env: dict[str, str] | None = None,
        stdin: int | IO[bytes] | None = subprocess.DEVNULL,
        cwd: Path | None = None,
    ) -> None:
        full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
        full_env.pop("SPAMWATCH_CONFIG", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "spamwatch", "follow", *args],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=cwd or ROOT,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._threads = [
            threading.Thread(target=_pump, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=_pump, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.out) if line.startswith("{")]

    def wait_err(self, text: str, timeout: float = TIMEOUT) -> str:
        def seen() -> str | None:
            return next((line for line in list(self.err) if text in line), None)

        return until(seen, timeout, f"{text!r} on stderr (got {self.err!r})")

    def send(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = TIMEOUT) -> int:
        """Send ``signum`` and wait for the exit status (output fully read)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        status = self.proc.wait(timeout)
        for thread in self._threads:
            thread.join(timeout)
        return status

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)

    def lines_read(self) -> int:
        """The line count of the summary printed at exit."""
        summary = next(line for line in self.err if "stopped after" in line)
        match = re.search(r"stopped after (\d+) lines", summary)
        assert match is not None, summary
        return int(match.group(1))


def _pump(stream: IO[bytes] | None, sink: list[str]) -> None:
    assert stream is not None
    for raw in stream:
        sink.append(raw.decode("utf-8", "replace").rstrip("\n"))


def ready(process: FollowProcess) -> None:
    """Wait until the child announced it is following (after its warm-up)."""
    process.wait_err("following")


def now_utc() -> datetime:
    return datetime.now(UTC)


@contextlib.contextmanager
def open_dir() -> Iterator[Path]:
    """A directory every user can enter and write (pytest's tmp_path is root-only).

    For tests that drop privileges to nobody: only the file under test may be
    unreadable, not the path to it.
    """
    if os.geteuid() != 0:
        pytest.skip("needs root to drop privileges to nobody")
    base = Path(tempfile.mkdtemp(prefix="spamwatch-open-"))
    base.chmod(0o1777)
    try:
        yield base
    finally:
        shutil.rmtree(base)


def as_nobody(action: Callable[[], object]) -> None:
    """Run ``action`` in a child process as the user nobody (the attacker)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            action()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the attacker's step failed"


def within(seconds: float, call: Callable[[], object], fifo: Path) -> object:
    """``call()`` in a thread; fail (after a writer frees a blocked open of ``fifo``) if slow."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(seconds)
        pytest.fail(f"blocked on the FIFO for more than {seconds}s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")


def incident_record(
    key: str,
    state: IncidentState,
    severity: Severity = Severity.WARNING,
    host: str | None = "mx1",
    minutes: float = 0,
    first_seen: float | None = None,
    opened: float = 0,
) -> Incident:
    """A record of an incident about SASL login ``key``, ``minutes`` after 2026-11-28 03:00 UTC.

    ``opened`` (minutes) is when this run's engine opened it (its id says so);
    ``first_seen`` (minutes) defaults to ``opened``.
    """
    base = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    when, opened_at = base + timedelta(minutes=minutes), base + timedelta(minutes=opened)
    first = opened_at if first_seen is None else base + timedelta(minutes=first_seen)
    return Incident(
        id=f"sasl_username:{key}:{opened_at.isoformat()}",
        state=state,
        severity=severity,
        key=key,
        key_kind="sasl_username",
        summary=f"{key} sent 900 single-recipient messages",
        reason="mass mail",
        first_seen=first,
        last_seen=max(when, first),
        opened_at=opened_at,
        time=when,
        host=host,
        hosts=(host,) if host else (),
    )


def piped(args: Sequence[str], reader: str) -> tuple[str, str, int]:
    """Run ``spamwatch ARGS | READER`` in bash: (READER's stdout, spamwatch's stderr, status)."""
    command = shlex.join([sys.executable, "-m", "spamwatch", *args])
    script = f"{command} | {reader}; echo ${{PIPESTATUS[0]}} >&2"
    env = {k: v for k, v in os.environ.items() if k != "SPAMWATCH_CONFIG"}
    proc = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    err, _, status = proc.stderr.rstrip("\n").rpartition("\n")
    return proc.stdout, err, int(status)
