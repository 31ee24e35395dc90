"""``exec:/path/to/command``: run a program for each finding.

The program gets the finding's JSON on stdin and these variables in its
environment (on top of spamwatch's own, less its secrets: variables named by a
``*_env`` option or whose name ends in ``_PASSWORD``, ``_TOKEN``, ``_SECRET``...):
``SPAMWATCH_ID``, ``SPAMWATCH_STATE``,
``SPAMWATCH_DETECTOR``, ``SPAMWATCH_SEVERITY``, ``SPAMWATCH_KEY``,
``SPAMWATCH_KEY_KIND``, ``SPAMWATCH_HOST``, ``SPAMWATCH_SUMMARY``. It is run
directly, never through a shell, so a username like ``$(rm -rf /)`` is only
ever a string; values are cleaned (no NUL, no control characters). It runs in
its own process group and is killed with the whole group after ``timeout``
(default 30s). A non-zero exit status is a failure: retried, then spooled.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess

from spamwatch.errors import SinkError
from spamwatch.model import Finding
from spamwatch.sinks.delivery import RETRY_OPTIONS, QueuedSink
from spamwatch.sinks.secrets import is_secret_variable
from spamwatch.sinks.text import clean, finding_json

OUTPUT_LIMIT = 200  # characters of the command's stderr quoted in a failure


class ExecFailed(Exception):
    """The command exited non-zero, was killed, or timed out."""


class ExecSink(QueuedSink):
    """Run a command per finding, JSON on stdin (queued; retried; spooled)."""

    scheme = "exec"
    description = "run a command with the finding JSON on stdin and SPAMWATCH_* variables"
    option_names = RETRY_OPTIONS | {"timeout"}

    def setup(self) -> None:
        """Check the options; see the module docstring."""
        super().setup()
        self.command = _find(self.target)
        self.timeout = self.opts.seconds("timeout", "30s") or 30.0

    def deliver(self, findings: list[Finding]) -> None:
        """Run the command once per finding; raise when it fails or hangs."""
        for finding in findings:
            self._run(finding)

    def _run(self, finding: Finding) -> None:
        process = subprocess.Popen(
            [self.command],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=environment(finding),
            start_new_session=True,  # its own process group, killed as a whole
            close_fds=True,
        )
        try:
            _, err = process.communicate(
                (finding_json(finding) + "\n").encode("utf-8"), timeout=self.timeout
            )
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise ExecFailed(f"{self.command}: killed after {self.timeout:g}s timeout") from None
        except BaseException:
            _kill_group(process)
            raise
        if process.returncode != 0:
            detail = clean(err.decode("utf-8", "replace").strip(), limit=OUTPUT_LIMIT)
            raise ExecFailed(f"{self.command}: exit status {process.returncode} {detail}".strip())


def environment(finding: Finding) -> dict[str, str]:
    """spamwatch's environment without its secrets, plus the cleaned ``SPAMWATCH_*``."""
    env = {k: v for k, v in os.environ.items() if not is_secret_variable(k)}
    env.update(
        {
            "SPAMWATCH_ID": clean(finding.id),
            "SPAMWATCH_STATE": str(finding.state),
            "SPAMWATCH_DETECTOR": clean(finding.detector),
            "SPAMWATCH_SEVERITY": str(finding.severity),
            "SPAMWATCH_KEY": clean(finding.key),
            "SPAMWATCH_KEY_KIND": clean(finding.key_kind),
            "SPAMWATCH_HOST": clean(finding.host or ""),
            "SPAMWATCH_SUMMARY": clean(finding.summary, limit=1000),
        }
    )
    return env


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the command and anything it started, then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.communicate(timeout=5)
    except subprocess.TimeoutExpired:  # a grandchild left the group, keeping our pipe
        process.wait()


def _find(target: str) -> str:
    """An absolute path to an executable file, or a name found on PATH."""
    if not target:
        raise SinkError("exec: needs a command, e.g. exec:/usr/local/bin/notify")
    path = target if "/" in target else shutil.which(target)
    if path is None or not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise SinkError(f"exec:{target}: not an executable file")
    return os.path.abspath(path)
