"""``spamwatch follow`` as a real subprocess, watched through its outputs.

The e2e suite runs follow exactly as an administrator would: a separate
process on the live ``maillog_file``, findings appended to a JSON Lines sink,
its place kept in a state file, stopped with SIGTERM. This wrapper only starts
it, stops it and reads those files; it never reaches inside.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from sinkutil import wait_until

Record = dict[str, Any]


class FollowProcess:
    """One ``spamwatch follow`` on ``maillog`` with a jsonl sink and a state file."""

    def __init__(
        self,
        maillog: Path,
        workdir: Path,
        config: Path,
        extra: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.maillog = maillog
        self.config = config
        self.extra = extra
        self.env = {**os.environ, **(env or {})}
        self.findings = workdir / "findings.jsonl"
        self.state = workdir / "follow.state"
        self.workdir = workdir
        self.runs = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def argv(self, from_start: bool) -> list[str]:
        argv = [sys.executable, "-m", "spamwatch", "follow", str(self.maillog)]
        argv += ["--config", str(self.config), "--state", str(self.state)]
        argv += ["--alert", f"jsonl:{self.findings}", "--format", "plain", *self.extra]
        return [*argv, "--from-start"] if from_start else argv

    def start(self, from_start: bool = False) -> None:
        """Start follow; its stdout and stderr go to files named after the run."""
        self.runs += 1
        out = open(self.workdir / f"follow-{self.runs}.out", "wb")  # noqa: SIM115
        err = open(self.workdir / f"follow-{self.runs}.err", "wb")  # noqa: SIM115
        with out, err:
            self.proc = subprocess.Popen(
                self.argv(from_start),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=self.env,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait for follow's "following FILE" notice: it has found its place in the log."""
        wait_until(lambda: "following" in self.stderr(), timeout, "follow to start")

    def stderr(self, run: int | None = None) -> str:
        """What a run (default: the latest) printed on stderr."""
        path = self.workdir / f"follow-{run or self.runs}.err"
        return path.read_text(errors="replace") if path.exists() else ""

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait; returns the exit status (follow promises 0)."""
        proc = self.proc
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            raise
        finally:
            self.proc = None

    def records(self) -> list[Record]:
        """Every finding record in the sink so far (a half-written last line waits)."""
        if not self.findings.exists():
            return []
        out = []
        for line in self.findings.read_bytes().split(b"\n")[:-1]:
            if line.strip():
                out.append(json.loads(line))
        return out

    def offset(self) -> int | None:
        """Where follow's saved state says it stopped reading the log."""
        try:
            data = json.loads(self.state.read_text())
        except (OSError, ValueError):
            return None
        for path, pos in data.get("files", {}).items():
            if os.path.realpath(path) == os.path.realpath(self.maillog):
                return int(pos["offset"])
        return None

    def caught_up(self) -> bool:
        """Follow's saved position is the end of the log (it saves every few seconds)."""
        if not self.running():
            raise AssertionError(f"follow exited early: {self.stderr()}")
        return self.offset() == self.maillog.stat().st_size
