"""``exec:/path/to/command``: run a program for each incident record.

The program gets the record's JSON on stdin and these variables in its
environment (on top of spamwatch's own, less its secrets: variables named by a
``*_env`` option or whose name ends in ``_PASSWORD``, ``_TOKEN``, ``_SECRET``...):
``SPAMWATCH_ID``, ``SPAMWATCH_ALERT_ID`` (the record's ``alert_id``), ``SPAMWATCH_STATE``,
``SPAMWATCH_DETECTORS``, ``SPAMWATCH_SEVERITY``, ``SPAMWATCH_KEY``,
``SPAMWATCH_KEY_KIND``, ``SPAMWATCH_HOST``, ``SPAMWATCH_HOSTS``, ``SPAMWATCH_REASON``,
``SPAMWATCH_SUMMARY``. It is run
directly, never through a shell, so a username like ``$(rm -rf /)`` is only
ever a string; values are cleaned (no NUL, no control characters). It runs in
its own process group and is killed with the whole group after ``timeout``
(default 30s). A non-zero exit status is a failure: retried, then spooled.
Whatever the command writes, spamwatch keeps only the last ``OUTPUT_TAIL``
bytes of its stdout and of its stderr (a command that prints gigabytes costs
no memory); the failure message quotes the end of stderr (else of stdout).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from spamwatch.config.schema import Options, absolute_program
from spamwatch.errors import SinkError
from spamwatch.model import Incident
from spamwatch.sinks.base import PAGING, SinkContext
from spamwatch.sinks.delivery import RETRY_OPTIONS, QueuedSink
from spamwatch.sinks.record import alert_id
from spamwatch.sinks.secrets import is_secret_variable
from spamwatch.sinks.text import alert_line
from spamwatch.textsafe import clean

OUTPUT_LIMIT = 200  # characters of the command's output quoted in a failure
OUTPUT_TAIL = 64 << 10  # bytes kept of each of the command's stdout and stderr


class ExecFailed(Exception):
    """The command exited non-zero, was killed, or timed out."""


class ExecSink(QueuedSink):
    """Run a command per incident record, JSON on stdin (queued; retried; spooled)."""

    scheme = "exec"
    description = "run a command with the incident JSON on stdin and SPAMWATCH_* variables"
    default_records = PAGING
    option_names = RETRY_OPTIONS | {"timeout"}

    @classmethod
    def read_options(cls, opts: Options) -> dict[str, Any]:
        """``timeout``, and the retry options."""
        return {**super().read_options(opts), "timeout": opts.seconds("timeout", "30s") or 30.0}

    @classmethod
    def check_target(cls, target: str) -> None:
        """A path must be absolute (a bare name is looked up on PATH when run)."""
        if "/" in target:
            absolute_program(f"exec:{target}", target)

    def setup(self) -> None:
        """Check the options; see the module docstring."""
        super().setup()
        self.check_target(self.target)
        self.command = _find(self.target)
        self.timeout: float = self.settings["timeout"]
        self.hidden: frozenset[str] = frozenset()

    def start(self, context: SinkContext) -> None:
        """Learn which variables hold secrets (kept from the command), then start the queue."""
        self.hidden = context.secret_variables
        super().start(context)

    def deliver(self, findings: list[Incident]) -> None:
        """Run the command once per record; raise when it fails or hangs."""
        for finding in findings:
            self._run(finding)

    def _run(self, finding: Incident) -> None:
        process = subprocess.Popen(
            [self.command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment(finding, self.hidden),
            start_new_session=True,  # its own process group, killed as a whole
            close_fds=True,
        )
        try:
            result = talk(process, (alert_line(finding) + "\n").encode("utf-8"), self.timeout)
        except BaseException:
            kill_group(process)
            raise
        finally:
            close_pipes(process)
        if result.timed_out:
            kill_group(process)
            raise ExecFailed(f"{self.command}: killed after {self.timeout:g}s timeout")
        if process.returncode != 0:
            said = (result.err or result.out).decode("utf-8", "replace").strip()
            detail = clean(said[-OUTPUT_LIMIT:])
            raise ExecFailed(f"{self.command}: exit status {process.returncode} {detail}".strip())


@dataclass
class Talk:
    """What a command said: the tails of its output, and whether it ran out of time."""

    out: bytes = b""
    err: bytes = b""
    timed_out: bool = False


def talk(process: subprocess.Popen[bytes], data: bytes, timeout: float) -> Talk:
    """Feed ``data`` to stdin and read stdout/stderr until exit or ``timeout``.

    Unlike ``communicate``, only the last ``OUTPUT_TAIL`` bytes of each stream
    are kept, so memory stays bounded whatever the command writes. On timeout
    the caller kills the process group; the result says so.
    """
    assert process.stdin and process.stdout and process.stderr
    deadline = time.monotonic() + timeout
    tails = {process.stdout.fileno(): bytearray(), process.stderr.fileno(): bytearray()}
    pending = memoryview(data)
    with selectors.DefaultSelector() as selector:
        for fd in tails:
            selector.register(fd, selectors.EVENT_READ)
        os.set_blocking(process.stdin.fileno(), False)
        selector.register(process.stdin.fileno(), selectors.EVENT_WRITE)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return Talk(bytes(tails[process.stdout.fileno()]), b"", timed_out=True)
            for key, _ in selector.select(left):
                if key.fd in tails:
                    _read_tail(selector, key.fd, tails[key.fd])
                else:
                    pending = _write_some(selector, process, pending)
    try:
        process.wait(max(deadline - time.monotonic(), 0.01))
    except subprocess.TimeoutExpired:
        return Talk(timed_out=True)
    return Talk(bytes(tails[process.stdout.fileno()]), bytes(tails[process.stderr.fileno()]))


def _read_tail(selector: selectors.BaseSelector, fd: int, tail: bytearray) -> None:
    chunk = os.read(fd, 65536)
    if not chunk:
        selector.unregister(fd)
        return
    tail += chunk
    if len(tail) > OUTPUT_TAIL:
        del tail[: len(tail) - OUTPUT_TAIL]


def _write_some(
    selector: selectors.BaseSelector, process: subprocess.Popen[bytes], pending: memoryview
) -> memoryview:
    """Write what stdin takes now; close it when all is written or the command left."""
    assert process.stdin
    try:
        pending = pending[os.write(process.stdin.fileno(), pending) :]
    except BrokenPipeError:  # the command does not read its stdin: not our failure
        pending = pending[:0]
    if not pending:
        selector.unregister(process.stdin.fileno())
        process.stdin.close()
    return pending


def environment(finding: Incident, hidden: frozenset[str] = frozenset()) -> dict[str, str]:
    """spamwatch's environment without its secrets, plus the cleaned ``SPAMWATCH_*``.

    Secrets: the variables in ``hidden`` (named by ``*_env`` options) and any
    whose name says it is one.
    """
    env = {k: v for k, v in os.environ.items() if not is_secret_variable(k, hidden)}
    env.update(
        {
            "SPAMWATCH_ID": clean(finding.id),
            "SPAMWATCH_ALERT_ID": alert_id(finding),
            "SPAMWATCH_STATE": str(finding.state),
            "SPAMWATCH_DETECTORS": clean(",".join(finding.detectors)),
            "SPAMWATCH_SEVERITY": str(finding.severity),
            "SPAMWATCH_KEY": clean(finding.key),
            "SPAMWATCH_KEY_KIND": clean(finding.key_kind),
            "SPAMWATCH_HOST": clean(finding.host or ""),
            "SPAMWATCH_HOSTS": clean(",".join(finding.hosts)),
            "SPAMWATCH_REASON": clean(finding.reason, limit=1000),
            "SPAMWATCH_SUMMARY": clean(finding.summary, limit=1000),
        }
    )
    return env


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the command and anything it started, then reap it (output unread)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    close_pipes(process)
    process.wait()


def close_pipes(process: subprocess.Popen[bytes]) -> None:
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _find(target: str) -> str:
    """An absolute path to an executable file, or a name found on PATH."""
    if not target:
        raise SinkError("exec: needs a command, e.g. exec:/usr/local/bin/notify")
    path = target if "/" in target else shutil.which(target)
    if path is None or not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise SinkError(f"exec:{target}: not an executable file")
    return os.path.abspath(path)
