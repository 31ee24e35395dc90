"""The real Postfix queue, read with ``postqueue -j``: a source of queue samples (live only).

Why: the queue detector estimates the queue from the log (queued minus
removed), which is blind to mail queued before spamwatch started and to
messages removed with ``postsuper``. On the mail server itself the true size
and the age of the oldest message are one command away. The probe runs that
command at most every ``interval`` seconds of wall-clock time (the queue is
live state, so wall time is right here) and returns a ``QueueSample``, which
the pipeline hands to the detectors (``Detector.on_sample``): no detector runs
a command or reads the clock.

When the command is missing or not permitted, the probe says so once through
``warn`` and returns None from then on, so the caller keeps its log-derived
estimate.

Permissions: ``postqueue`` is set-gid ``postdrop`` and listing the queue is
allowed to the users in Postfix's ``authorized_mailq_users`` (default:
anyone), so an unprivileged spamwatch user can normally run it. For a
non-default instance (``postqueue -c DIR``) a non-root user needs ``DIR``
listed in ``alternate_config_directories`` of the default main.cf.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from spamwatch.config import Config
from spamwatch.model import QueueSample
from spamwatch.textsafe import clean
from spamwatch.timeutil import parse_duration

SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
"""Where postqueue lives when it is not on a service's PATH."""


def _warn_stderr(message: str) -> None:
    print(f"spamwatch: {message}", file=sys.stderr, flush=True)


def find_postqueue() -> str | None:
    """The postqueue command, looked up on PATH and then in the sbin directories."""
    found = shutil.which("postqueue")
    if found:
        return found
    for directory in SBIN_DIRS:
        candidate = os.path.join(directory, "postqueue")
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def queue_records(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The JSON objects of ``postqueue -j`` output; malformed lines are skipped."""
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record


def parse_queue(lines: Iterable[str], now: float) -> QueueSample:
    """Summarise ``postqueue -j`` output (JSON Lines); malformed lines are skipped."""
    size = recipients = 0
    oldest: float | None = None
    by_queue: dict[str, int] = {}
    for record in queue_records(lines):
        size += 1
        name = str(record.get("queue_name", "unknown"))
        by_queue[name] = by_queue.get(name, 0) + 1
        rcpts = record.get("recipients")
        recipients += len(rcpts) if isinstance(rcpts, list) else 0
        arrival = record.get("arrival_time")
        if isinstance(arrival, int | float) and not isinstance(arrival, bool):
            oldest = arrival if oldest is None else min(oldest, arrival)
    age = None if oldest is None else max(0.0, now - oldest)
    when = datetime.fromtimestamp(now, tz=UTC)
    return QueueSample(when, size, recipients, age, MappingProxyType(by_queue))


class QueueProbe:
    """Run ``postqueue -j`` at most every ``interval`` seconds; None when unavailable.

    ``config_directory`` selects a Postfix instance (``postqueue -c DIR``).
    ``command`` replaces the postqueue lookup (a wrapper, or a test's stand-in);
    ``clock`` exists so the interval can be tested without waiting. A missing
    or refused command turns the probe off for good (said once); a timeout
    only skips this round (said once), since a busy server answers later.
    """

    def __init__(
        self,
        interval: float = 60.0,
        config_directory: str | None = None,
        timeout: float = 30.0,
        command: str | None = None,
        warn: Callable[[str], None] = _warn_stderr,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.interval = max(0.0, float(interval))
        self.config_directory = config_directory
        self.timeout = timeout
        self.command = command
        self.warn = warn
        self.clock = clock
        self.unavailable: str | None = None
        self.last: QueueSample | None = None
        self._warned_slow = False
        self._next_run = float("-inf")

    def argv(self) -> list[str] | None:
        """The command line to run, or None when postqueue cannot be found."""
        command = self.command or find_postqueue()
        if command is None:
            return None
        extra = ["-c", self.config_directory] if self.config_directory else []
        return [command, *extra, "-j"]

    def poll(self) -> QueueSample | None:
        """The latest snapshot, refreshed when ``interval`` has passed since the last."""
        if self.unavailable is not None:
            return None
        now = self.clock()
        if now < self._next_run:
            return self.last
        self._next_run = now + self.interval
        return self.take(now)

    def poll_live(self, log_time: datetime, max_lag: float = 300.0) -> QueueSample | None:
        """``poll()``, but only for a log line written around now.

        The real queue describes the present: a report over last week's log, or
        a follow still catching up, must not mix today's queue into it.
        """
        if abs(self.clock() - log_time.timestamp()) > max_lag:
            return None
        return self.poll()

    def take(self, now: float | None = None) -> QueueSample | None:
        """Run postqueue now; None (and the reason said once) when it cannot."""
        argv = self.argv()
        if argv is None:
            return self._give_up("postqueue not found")
        try:
            proc = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self.timeout,
            )
        except subprocess.TimeoutExpired:
            return self._slow(argv)
        except OSError as exc:
            return self._give_up(f"{argv[0]} could not run: {exc}")
        if proc.returncode != 0:
            reason = _first_line(proc.stderr) or f"exit status {proc.returncode}"
            return self._give_up(f"{' '.join(argv)} failed: {reason}")
        snapshot = parse_queue(proc.stdout.splitlines(), self.clock() if now is None else now)
        self.last = snapshot
        return snapshot

    def _slow(self, argv: list[str]) -> None:
        """A timeout may be a busy moment: say so once, use the estimate, retry later."""
        self.last = None
        if not self._warned_slow:
            self._warned_slow = True
            self.warn(
                f"{' '.join(argv)} took over {self.timeout:g}s; using the log-derived"
                " queue estimate until it answers"
            )
        return None

    def _give_up(self, reason: str) -> None:
        self.unavailable = reason
        self.warn(f"real-queue probe unavailable ({reason}); using the log-derived queue estimate")
        return None


def _first_line(text: str) -> str:
    """The first non-empty line of a command's stderr, control characters escaped."""
    for line in text.splitlines():
        shown = clean(line.strip())
        if shown:
            return shown[:200]
    return ""


def probe_from_options(options: Mapping[str, object]) -> QueueProbe | None:
    """A probe from the queue detector's options, or None when it is switched off.

    Reads ``probe`` (bool) and ``probe_interval`` (a duration or seconds). The
    Postfix instance is the default one, or the one ``MAIL_CONFIG`` names
    (postqueue reads that variable itself).
    """
    if not options.get("probe"):
        return None
    raw = options.get("probe_interval", 60)
    interval = parse_duration(raw if isinstance(raw, str | int | float) else 60)
    return QueueProbe(interval=interval.total_seconds())


def queue_probe(config: Config) -> QueueProbe | None:
    """The probe ``[detectors.queue]`` asks for (``probe = true``), or None.

    None too when the queue detector is switched off: nothing would read the
    samples. The table's values were checked when the detectors were built.
    """
    table = config.section("detectors", "queue")
    if table.get("enabled") is False:
        return None
    return probe_from_options(table)
