"""The ``follow`` loop: sources -> pipeline -> output, for months, restartable.

``Follower.run`` owns the lifetime of one ``spamwatch follow``: it locks and
loads the state file, starts every source, warms the detectors up on the last
window of log before the resume point (alerting nothing that was already
alerted before the restart), then reads what arrives, saving positions
regularly and after every alert. SIGTERM/SIGINT stop it cleanly (state saved,
exit 0); SIGHUP reloads the config, reopens the files and rebuilds the
pipeline (re-warmed, so no window is lost).

The loop is single-threaded: watchdog's thread and the pipe readers only set
``wake``; every line is parsed and fed on this thread, so no stage needs locks.
"""

from __future__ import annotations

import heapq
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from spamwatch.errors import SpamwatchError, StateError
from spamwatch.follow.health import health, line_counts
from spamwatch.follow.live import LiveStats
from spamwatch.follow.state import AlertedKey, FollowState, StateFile
from spamwatch.metrics import current as metrics
from spamwatch.model import Event, Finding, FindingState, Severity
from spamwatch.parse import Parser
from spamwatch.pipeline import Pipeline
from spamwatch.sources.base import Source
from spamwatch.sources.journal import JournalSource
from spamwatch.sources.pipe import StdinSource
from spamwatch.sources.tail import TailFile
from spamwatch.sources.watch import DirectoryWatcher
from spamwatch.timeutil import format_duration

SAVE_EVERY = 5.0
"""Seconds between periodic state saves (an alert saves at once)."""
SAFETY_WAKE = 1.0
"""With inotify, still look at the files this often (a lost event only delays)."""
STOP_GRACE = 0.5
"""Seconds a stop (SIGTERM/SIGINT) spends finishing renamed-away files; the
rest is read after the next start, from the position saved."""
BUDGET = 4 << 20
"""Bytes read from one source before the others get a turn."""

Output = Callable[[Finding], Any]
"""Sends a record to the sinks; may return a receipt with ``settled`` (sinks.fanout.Receipt)."""
MAX_UNSETTLED = 10_000
"""Alerts held back from the state while a sink has them in memory only (beyond: remembered)."""


class View(Protocol):
    def start(self) -> None: ...
    def refresh(self) -> None: ...
    def stop(self) -> None: ...


class Responder(Protocol):
    """The response stage (containment): acts on records sent, watches the queue."""

    def on_record(self, record: Finding) -> None: ...
    def poll(self) -> None: ...


class Wiring(Protocol):
    """What the command builds from a config: parsers, a pipeline, an output, a response."""

    def parser(self) -> Parser: ...
    def pipeline(self, emit: Output, stats: LiveStats) -> Pipeline: ...
    def output(self) -> Output: ...
    def sync(self) -> None: ...
    def responder(self, output: Output, notify: Callable[[str, str], None]) -> Responder | None: ...
    def reload(self) -> Wiring: ...
    def stats(self, counters: dict[str, int]) -> None: ...
    def options(self) -> FollowOptions: ...


@dataclass(frozen=True)
class FollowOptions:
    """The command line of ``follow`` once parsed."""

    files: tuple[str, ...]
    journal: bool = False
    journal_matches: tuple[str, ...] = ()
    journal_identifiers: tuple[str, ...] = ()
    from_start: bool = False
    poll: float | None = None
    warmup: timedelta = timedelta(hours=1)
    state_path: str = ""


class Notices:
    """Tell the user something once per key, on stderr (the journal under systemd)."""

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream
        self._said: set[str] = set()

    def __call__(self, key: str, message: str) -> None:
        if key in self._said:
            return
        if len(self._said) < 10_000:
            self._said.add(key)
        stream = self._stream or sys.stderr
        print(f"spamwatch: {message}", file=stream, flush=True)


class AlertGate:
    """Between the pipeline and the output: no alert twice across restarts.

    While warming up nothing goes out; the latest record of each finding is
    kept. When the warm-up ends, a finding still open is sent only if it was
    not alerted before the restart at that severity (a restart in the middle
    of an attack neither misses it nor repeats it); a resolved one only if its
    raise was sent. A record sent is remembered in the state once every sink
    has it safe, delivered or written to the spool (write-ahead): one a sink
    holds in memory only (its spool cannot be written) waits in ``settle``, so
    a crash before it is delivered makes the next start send it again.
    """

    def __init__(self, state: FollowState, output: Output, on_sent: Callable[[], None]) -> None:
        self.state = state
        self.output = output
        self.on_sent = on_sent
        self.warming = False
        self._held: dict[tuple[str, str | None, str], Finding] = {}
        self._unsettled: list[tuple[Any, Finding]] = []
        self.sent = 0

    def __call__(self, finding: Finding) -> None:
        ident = (finding.detector, finding.host, finding.key)
        if self.warming:
            self._held[ident] = finding
        elif self._new(finding):
            self._send(finding)

    def end_warmup(self, send: bool = True) -> None:
        """Warm-up over: send what is new (nothing when stopping half-way).

        Held records are judged as warm-up records: a finding resolved within
        the warm-up is sent only if its raise went out before the restart.
        """
        self.warming = False
        held, self._held = self._held, {}
        for finding in held.values() if send else ():
            if self._new(finding, live=False):
                self._send(finding)

    def _new(self, finding: Finding, live: bool = True) -> bool:
        prior = self.state.alerted.get((finding.detector, finding.host, finding.key))
        if finding.state is FindingState.RESOLVED:
            return live or prior is not None
        if prior is None or Severity.parse(prior.severity) < finding.severity:
            return True
        # Live growth at the same severity is news unless it says no more than
        # what went out before the restart (a warm-up re-deriving the same).
        return live and finding.state is FindingState.ESCALATED and _grown(finding, prior)

    def _send(self, finding: Finding) -> None:
        receipt = self.output(finding)
        self.sent += 1
        if receipt is not None and not receipt.settled:
            self._unsettled.append((receipt, finding))
            if len(self._unsettled) <= MAX_UNSETTLED:
                return
            receipt, finding = self._unsettled.pop(0)
        self._remember(finding)

    def settle(self) -> None:
        """Remember the held-back records that every sink now has safe (or gave up)."""
        waiting = self._unsettled
        self._unsettled = [item for item in waiting if not item[0].settled]
        for receipt, finding in waiting:
            if receipt.settled:
                self._remember(finding)

    def _remember(self, finding: Finding) -> None:
        self.state.remember_alert(
            AlertedKey(
                finding.detector,
                finding.host,
                finding.key,
                str(finding.severity),
                str(finding.state),
                finding.time,
                {k: v for k, v in finding.counts.items() if isinstance(v, int | float)},
            )
        )
        self.on_sent()


def _grown(finding: Finding, prior: AlertedKey) -> bool:
    """True when some count of ``finding`` exceeds what the last alert said."""
    return any(
        isinstance(value, int | float) and value > prior.counts.get(name, 0)
        for name, value in finding.counts.items()
    )


@dataclass
class _Flags:
    stop: bool = False
    hup: bool = False


class Follower:
    """One run of ``spamwatch follow`` (see the module docstring)."""

    def __init__(
        self,
        options: FollowOptions,
        wiring: Wiring,
        view_factory: Callable[[LiveStats], View],
        notify: Callable[[str, str], None] | None = None,
    ) -> None:
        self.options = options
        self.wiring = wiring
        self.notify = notify or Notices()
        self.stats = LiveStats()
        self.view = view_factory(self.stats)
        self.wake = threading.Event()
        self.flags = _Flags()
        self.state_file = StateFile(options.state_path)
        self.state = FollowState()
        self.sources: list[Source] = []
        self.parsers: dict[int, Parser] = {}
        self.errors = 0
        self._carried: Counter[str] = Counter()  # line outcomes of parsers a reload replaced
        self._newest: datetime | None = None  # log time of the newest live line
        self._last_save = 0.0
        self._dirty_alert = False
        self._broken: BrokenPipeError | None = None
        self.responder: Responder | None = None

    # -- lifetime ---------------------------------------------------------

    def run(self) -> int:
        """Follow until SIGTERM/SIGINT (or every source ended); returns the exit status."""
        self.state_file.lock()
        try:
            self.state = self.state_file.load()
            self.sources = self._build_sources()
            for source in self.sources:
                source.start()
            return self._run_started()
        finally:
            for source in self.sources:
                source.close()
            self.state_file.unlock()

    def _run_started(self) -> int:
        watcher = self._start_watcher()
        previous = self._install_signals()
        self.view.start()
        try:
            self._arm()
            self.notify("ready", f"following {self._names()}; {self._warm_note}")
            self._loop()
            self._finish()
        finally:
            self.view.stop()
            self._restore_signals(previous)
            if watcher is not None:
                watcher.stop()
        self._summary()
        if self._broken is not None:
            raise self._broken  # the CLI points stdout at /dev/null and exits 0
        return 0

    def _build_sources(self) -> list[Source]:
        opts = self.options
        sources: list[Source] = []
        for path in opts.files:
            if path == "-":
                sources.append(StdinSource(self.wake))
                continue
            position = self.state.files.get(os.path.abspath(path))
            if position is not None and opts.from_start:
                self.notify(
                    f"resume:{path}",
                    f"{path}: resumes at its saved position"
                    " (--from-start applies to files the state does not know)",
                )
            sources.append(TailFile(path, self.notify, position, from_start=opts.from_start))
        if opts.journal:
            sources.append(self._journal())
        return sources

    def _journal(self) -> JournalSource:
        opts = self.options
        kwargs: dict[str, Any] = {}
        if opts.journal_matches:
            kwargs["matches"] = opts.journal_matches
        if opts.journal_identifiers:
            kwargs["identifiers"] = opts.journal_identifiers
        return JournalSource(
            self.wake,
            self.notify,
            cursor=self.state.journal_cursor,
            realtime=self.state.journal_time,
            from_start=opts.from_start,
            **kwargs,
        )

    def _start_watcher(self) -> DirectoryWatcher | None:
        if self.options.poll is not None:
            return None
        paths = [path for source in self.sources for path in source.watched]
        if not paths:
            return None
        watcher = DirectoryWatcher(paths, self.wake, self.notify)
        return watcher if watcher.start() else None

    # -- pipeline and warm-up ----------------------------------------------

    def _arm(self) -> None:
        """Build the pipeline and warm it up on the last window before each source."""
        output = self.wiring.output()
        self.responder = self.wiring.responder(output, self.notify)

        def send(finding: Finding) -> Any:
            receipt = output(finding)
            self.stats.on_finding(finding)
            if self.responder is not None:  # after the sinks: the alert goes out first
                self.responder.on_record(finding)
            return receipt

        self.gate = AlertGate(self.state, send, self._alerted)
        self.pipeline = self.wiring.pipeline(self.gate, self.stats)
        for parser in self.parsers.values():  # a reload: keep the counts of the run
            self._carried.update(line_counts([parser]))
            self._carried["lines"] += parser.stats.lines
        self.parsers = {id(s): self.wiring.parser() for s in self.sources}
        self._warm_note = "no warm-up"
        if self.options.warmup <= timedelta(0):
            return  # (--from-start: a source read from its start has nothing before it)
        self.gate.warming = True
        streams = [self._warm_events(s) for s in self.sources]
        count = 0
        for event in heapq.merge(*streams, key=lambda e: e.time):
            if self.flags.stop:
                break
            self._feed_event(event)
            count += 1
        self.gate.end_warmup(send=not self.flags.stop)
        window = format_duration(self.options.warmup)
        self._warm_note = f"warm-up read {count} events of the last {window} of log"

    def _names(self) -> str:
        return ", ".join(source.name for source in self.sources)

    def _warm_events(self, source: Source) -> Iterator[Event]:
        parser = self.wiring.parser()
        for line in source.warmup(self.options.warmup, parser.line_time):
            if self.flags.stop:  # SIGTERM is honoured between any two lines
                return
            event = parser.parse(line)
            if event is not None:
                yield event

    # -- the loop ------------------------------------------------------------

    def _loop(self) -> None:
        timeout = self.options.poll if self.options.poll is not None else SAFETY_WAKE
        while not self.flags.stop:
            if self.flags.hup:
                self._reload()
            self.wake.clear()
            busy = self._pump()
            if self.responder is not None:
                self.responder.poll()
            self._maybe_save()
            self.view.refresh()
            if self.sources and all(source.ended for source in self.sources):
                break
            if not busy:
                self.wake.wait(timeout)

    def _pump(self) -> bool:
        """Feed what every source has now; True when a source may have more."""
        busy = False
        for source in self.sources:
            parser = self.parsers[id(source)]
            count = 0
            size = 0
            for line in source.read(BUDGET):
                count += 1
                size += len(line) + 1
                self._feed_line(parser, line)
                if self.flags.stop:  # at once, whatever is still to read: the
                    break  # position says where to resume, no line is lost
            self.stats.add_lines(count)
            busy = busy or size >= BUDGET
            if self.flags.stop:
                break
        return busy

    def _feed_line(self, parser: Parser, line: bytes) -> None:
        event = parser.parse(line)  # never raises: bad lines are counted
        if event is not None:
            self._newest = event.time
            self._feed_event(event)

    def _feed_event(self, event: Event) -> None:
        try:
            self.pipeline.feed_event(event)
        except SpamwatchError:
            raise
        except BrokenPipeError as exc:  # the reader of stdout went away (``| head``)
            self._broken = exc
            self.flags.stop = True  # end as on SIGTERM: finish, save the state
        except Exception as exc:  # a detector bug must not end months of watching
            self._internal(exc)

    def _internal(self, exc: Exception) -> None:
        self.errors += 1
        self.notify(
            f"bug:{type(exc).__name__}:{exc}",
            f"internal error on a line, skipped: {type(exc).__name__}: {exc} (please report)",
        )

    # -- state ----------------------------------------------------------------

    def _alerted(self) -> None:
        self._dirty_alert = True

    def _collect_positions(self) -> None:
        """Positions of the sources followed now (files no longer named are forgotten)."""
        self.state.files = {}
        for source in self.sources:
            if source.key is not None:
                self.state.keep(source.key, source.position())

    def _maybe_save(self) -> None:
        now = time.monotonic()
        if not self._dirty_alert and now - self._last_save < SAVE_EVERY:
            return
        self._collect_positions()
        self._sync_alerts()
        try:
            self.state_file.save(self.state)
        except StateError as exc:  # disk full for a while must not stop watching
            self.notify("state-save", f"{exc} (will retry)")
            return
        self._last_save = now
        self._dirty_alert = False
        self._report_health()

    def _report_health(self) -> None:
        """Refresh the metrics (spamwatch.metrics), then sinks that keep counters."""
        lines = self._carried + line_counts(self.parsers.values())
        metrics().follow_health(
            health(
                lines,
                self.stats.messages,
                self.gate.sent,
                self.errors,
                self.stats.open.values(),
                self.sources,
                self._newest,
            )
        )
        self.wiring.stats(self._counters())

    def _counters(self) -> dict[str, int]:
        parsers = self.parsers.values()
        return {
            "lines": self._carried["lines"] + sum(p.stats.lines for p in parsers),
            "events": self._carried["event"] + sum(p.stats.events for p in parsers),
            "messages": self.stats.messages,
            "findings_sent": self.gate.sent,
            "internal_errors": self.errors,
        }

    def _finish(self) -> None:
        """Stop: finish renamed-away files, end the pipeline's input, save the state.

        After SIGTERM, finishing gets ``STOP_GRACE`` seconds: a renamed file
        left far behind (a burst, then logrotate) is resumed from its saved
        position by the next start instead of holding up the stop.
        """
        deadline = time.monotonic() + STOP_GRACE if self.flags.stop else None
        for source in self.sources:
            self._drain(source, deadline)
        self._collect_positions()
        self._sync_alerts()
        self.state_file.save(self.state)
        self._report_health()

    def _drain(self, source: Source, deadline: float | None = None) -> None:
        """Feed what ``source`` still holds in files going away (before a stop or reopen).

        Once a stop is asked for, only until ``deadline`` (monotonic; at once
        without one, as in a reload): the source's position covers the rest.
        """
        parser = self.parsers[id(source)]
        for line in source.finish():
            self._feed_line(parser, line)
            if self.flags.stop and (deadline is None or time.monotonic() > deadline):
                break

    def _sync_alerts(self) -> None:
        """Spooled alerts durable first, then the state may say they were sent."""
        self.wiring.sync()
        self.gate.settle()

    # -- signals ----------------------------------------------------------------

    def _install_signals(self) -> dict[int, Any]:
        previous: dict[int, Any] = {}
        if threading.current_thread() is not threading.main_thread():
            return previous
        for signum, handler in (
            (signal.SIGTERM, self._on_stop),
            (signal.SIGINT, self._on_stop),
            (signal.SIGHUP, self._on_hup),
        ):
            previous[signum] = signal.signal(signum, handler)
        return previous

    def _restore_signals(self, previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def _on_stop(self, signum: int, _frame: Any) -> None:
        self.flags.stop = True
        self.wake.set()

    def _on_hup(self, signum: int, _frame: Any) -> None:
        self.flags.hup = True
        self.wake.set()

    def _reload(self) -> None:
        """SIGHUP: new config, files reopened, pipeline rebuilt and re-warmed."""
        self.flags.hup = False
        try:
            wiring = self.wiring.reload()
        except SpamwatchError as exc:
            self.notify(f"reload:{exc}", f"SIGHUP: config not reloaded, keeping the old one: {exc}")
            return
        self._reopen_files()
        self.wiring = wiring
        fresh = wiring.options()  # sources and the state file stay those of the start
        self.options = replace(
            fresh, files=self.options.files, state_path=self.options.state_path, from_start=False
        )
        self._arm()
        self.notify(
            f"reloaded:{time.monotonic()}",
            f"SIGHUP: config reloaded, files reopened; {self._warm_note}",
        )

    def _reopen_files(self) -> None:
        for source in self.sources:
            self._drain(source)
            source.reopen()

    def _summary(self) -> None:
        counts = self._counters()
        self.notify(
            f"summary:{time.monotonic()}",
            f"stopped after {counts['lines']} lines ({counts['events']} events,"
            f" {counts['findings_sent']} findings sent, {counts['internal_errors']} internal"
            f" errors); state saved to {self.state_file.path}",
        )
