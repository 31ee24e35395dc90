"""``follow --journal``: Postfix's lines from systemd's journal.

On systemd machines without rsyslog there is no mail.log: Postfix's syslog
lines live in the journal. Rather than link against libsystemd, spamwatch runs
``journalctl -f -o json`` (always present where a journal is) and turns each
entry back into a syslog line (RFC 3339 time, host, identifier[pid]: message),
so the very same parser and pipeline read it. The ``__CURSOR`` of the last
entry handed on is kept in the state file; a restart resumes with
``--after-cursor``. journalctl exiting (journald restarted) is survived: it is
started again after the cursor.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from spamwatch.errors import InputError
from spamwatch.sources.base import JournalPosition, LineTime, Notify
from spamwatch.sources.pipe import PipeReader

DEFAULT_MATCHES = ("_SYSTEMD_UNIT=postfix@-.service", "_SYSTEMD_UNIT=postfix.service")
"""Debian runs ``postfix@-.service``; others ``postfix.service`` (OR-ed)."""
DEFAULT_IDENTIFIERS = ("postfix*",)
"""SYSLOG_IDENTIFIER patterns kept (``postfix/smtpd``, ``postfix-out/smtp``, ...)."""
RESTART_DELAY = 5.0
FIELD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
"""What a journal field name is made of."""


def bad_match(match: str) -> str | None:
    """Why ``match`` is no journalctl ``FIELD=VALUE`` match (None when it is one).

    journalctl refuses anything else ("Failed to add match") and would be
    restarted forever, so a typo is caught when the options are read.
    """
    field, equals, _ = match.partition("=")
    if equals and field and not set(field) - FIELD_CHARS:
        return None
    return f"{match!r} is not FIELD=VALUE (e.g. _SYSTEMD_UNIT=postfix.service)"


def entry_line(entry: Mapping[str, Any]) -> bytes | None:
    """One journal JSON entry as a syslog line, or None when it has no message.

    MESSAGE is a string, or a list of byte values when it is not valid UTF-8
    (journalctl's JSON rule); both are kept byte-exact. Newlines inside a
    message become spaces so one entry stays one line.
    """
    message = _bytes(entry.get("MESSAGE"))
    micros = entry.get("__REALTIME_TIMESTAMP")
    if message is None or micros is None:
        return None
    try:
        when = datetime.fromtimestamp(int(micros) / 1e6, tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    host = _bytes(entry.get("_HOSTNAME")) or b"localhost"
    ident = _bytes(entry.get("SYSLOG_IDENTIFIER")) or b"journal"
    pid = _bytes(entry.get("SYSLOG_PID") or entry.get("_PID"))
    tag = ident + (b"[" + pid + b"]" if pid else b"")
    stamp = when.isoformat(timespec="microseconds").encode()
    body = message.replace(b"\n", b" ").replace(b"\r", b" ")
    return b"%s %s %s: %s" % (stamp, host.replace(b" ", b"_"), tag, body)


def _bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value)
    if isinstance(value, int):
        return str(value).encode()
    return None


class JournalSource:
    """Follow the journal through a ``journalctl -f -o json`` child process."""

    name = "journal"
    key = "journal"
    watched: tuple[str, ...] = ()  # the child's output wakes the loop

    def __init__(
        self,
        wake: threading.Event,
        notify: Notify,
        matches: Sequence[str] = DEFAULT_MATCHES,
        identifiers: Sequence[str] = DEFAULT_IDENTIFIERS,
        cursor: str | None = None,
        realtime: int | None = None,
        from_start: bool = False,
        journalctl: str = "journalctl",
    ) -> None:
        self._wake = wake
        self._notify = notify
        self.matches = list(matches)
        self.identifiers = list(identifiers)
        self.cursor = cursor
        self.realtime = realtime
        self._from_start = from_start
        self._journalctl = journalctl
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: PipeReader | None = None
        self._started_at = time.time()
        self._restart_after = 0.0
        self.ended = False

    # -- process ----------------------------------------------------------

    def _command(self, follow: bool, extra: Sequence[str]) -> list[str]:
        cmd = [self._journalctl, "-o", "json", "--no-pager", *extra]
        if follow:
            cmd.append("-f")
        for index, match in enumerate(self.matches):
            if index:
                cmd.append("+")
            cmd.append(match)
        return cmd

    def _live_args(self) -> list[str]:
        if self.cursor:
            return ["--after-cursor", self.cursor]
        if self._from_start:
            return ["--no-tail"]
        return ["--since", f"@{int(self._started_at)}"]

    def start(self) -> None:
        """Check journalctl can be run (InputError if not); it is spawned on first read.

        Spawning lazily lets the warm-up run first and move the cursor.
        """
        if shutil.which(self._journalctl) is None:
            raise InputError(f"--journal: {self._journalctl} not found on PATH")
        self._started_at = time.time()

    def _spawn(self) -> None:
        cmd = self._command(True, self._live_args())
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, close_fds=True
            )
        except OSError as exc:
            self._notify("journal-spawn", f"cannot run {self._journalctl}: {exc.strerror or exc}")
            self._restart_after = time.monotonic() + RESTART_DELAY
            return
        assert proc.stdout is not None
        self._proc = proc
        self._reader = PipeReader(proc.stdout.fileno(), self._wake, "journalctl")
        self._reader.start()

    def warmup(self, window: timedelta, line_time: LineTime | None = None) -> Iterator[bytes]:
        """The ``window`` of entries before the resume point (the saved cursor, or now).

        Streamed from a non-following journalctl, so an hour of a busy journal
        never sits in memory at once. Nothing with ``from_start`` and no saved
        cursor: the whole journal is read live, there is nothing before it.
        """
        if self._from_start and not self.cursor:
            return
        until = self.realtime if self.cursor and self.realtime else int(self._started_at * 1e6)
        since = datetime.fromtimestamp(until / 1e6, tz=UTC) - window
        saved = self.cursor
        cmd = self._command(False, ["--since", f"@{int(since.timestamp())}"])
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        except OSError as exc:
            self._notify("journal-warmup", f"journal warm-up skipped: {exc.strerror or exc}")
            return
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                entry = _decode(raw)
                if entry is None or _realtime(entry) > until:
                    continue
                if not saved:
                    self._advance(entry)  # live reading continues after the warm-up
                yield from self._wanted(entry)
                if saved and entry.get("__CURSOR") == saved:
                    break
        finally:
            proc.stdout.close()
            if proc.poll() is None:
                proc.terminate()
            proc.wait()

    # -- reading ----------------------------------------------------------

    def read(self, budget: int = 4 << 20) -> Iterator[bytes]:
        """The entries journalctl printed so far, as syslog lines."""
        reader = self._reader
        if reader is None:
            self._maybe_restart()
            return
        for raw in reader.lines(budget):
            entry = _decode(raw)
            if entry is None:
                self._notify("journal-json", "journalctl printed a line that is not JSON")
                continue
            self._advance(entry)
            yield from self._wanted(entry)
        if reader.ended:
            self._exited()

    def _advance(self, entry: Mapping[str, Any]) -> None:
        cursor = entry.get("__CURSOR")
        if isinstance(cursor, str):
            self.cursor = cursor
            self.realtime = _realtime(entry) or self.realtime

    def _wanted(self, entry: Mapping[str, Any]) -> Iterator[bytes]:
        ident = entry.get("SYSLOG_IDENTIFIER")
        if self.identifiers and not (
            isinstance(ident, str) and any(fnmatch.fnmatchcase(ident, p) for p in self.identifiers)
        ):
            return
        line = entry_line(entry)
        if line is not None:
            yield line

    def _exited(self) -> None:
        """journalctl ended (journald restarted, or killed): say so, restart later."""
        status = self._reap()
        self._reader = None
        self._notify(
            f"journal-exit:{status}",
            f"journalctl exited (status {status}); restarting it after the last cursor",
        )
        self._restart_after = time.monotonic() + RESTART_DELAY

    def _maybe_restart(self) -> None:
        if time.monotonic() >= self._restart_after:
            self._spawn()

    def _reap(self) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
        try:
            return proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def reopen(self) -> None:
        """SIGHUP: restart journalctl after the cursor (e.g. new matches)."""
        self._reap()
        self._reader = None

    def position(self) -> JournalPosition:
        return JournalPosition(self.cursor, self.realtime)

    def finish(self) -> Iterator[bytes]:
        """Nothing is left behind: the cursor moves with every entry read."""
        return iter(())

    def close(self) -> None:
        self._reap()
        self._reader = None


def _decode(raw: bytes) -> dict[str, Any] | None:
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def _realtime(entry: Mapping[str, Any]) -> int:
    try:
        return int(entry.get("__REALTIME_TIMESTAMP", 0))
    except (TypeError, ValueError):
        return 0
