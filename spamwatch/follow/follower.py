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
from spamwatch.follow.state import FollowState, SentIncident, StateFile
from spamwatch.metrics import current as metrics
from spamwatch.model import Event, Incident, IncidentState, Severity
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

Output = Callable[[Incident], Any]
"""Sends a record to the sinks; may return a receipt with ``settled`` (sinks.fanout.Receipt)."""
MAX_UNSETTLED = 10_000
"""Alerts held back from the state while a sink has them in memory only (beyond: remembered)."""
MAX_RUNS = 20_000
"""Incidents this run remembers its decision for (open ones: bounded by the engine)."""


class View(Protocol):
    def start(self) -> None: ...
    def refresh(self) -> None: ...
    def stop(self) -> None: ...


class Responder(Protocol):
    """The response stage (containment): acts on records sent, watches the queue."""

    def on_record(self, record: Incident) -> None: ...
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


@dataclass(slots=True)
class _Run:
    """What this run decided about one incident (by the id this run's engine gave it)."""

    id: str  # the id the sinks know it by: the previous run's, when it goes on
    opened_at: datetime
    sent: Severity | None  # the highest severity sent; None: nothing sent yet


class AlertGate:
    """Between the pipeline and the output: no incident announced twice across restarts.

    While warming up nothing goes out; the latest record of each incident is
    kept. A restart's warm-up re-derives what the last run saw, so the first
    record of an incident in this run is judged against the state: an
    incident that was open and sent before the restart and is seen again
    (it started no later than ``cooldown`` after the state last saw it) goes
    on under its old id: no ``opened`` again, an ``escalated`` only above the
    severity sent, its ``resolved`` when it ends. Any other incident is new,
    even for a login that had one before (a resolved incident is over): its
    first record goes out as ``opened``. An incident over within the warm-up
    that was never announced is not announced late.

    A record sent is remembered in the state once every sink has it safe,
    delivered or written to the spool (write-ahead): one a sink holds in
    memory only (its spool cannot be written) waits in ``settle``, so a
    crash before it is delivered makes the next start send it again.
    """

    def __init__(
        self,
        state: FollowState,
        output: Output,
        on_sent: Callable[[], None],
        cooldown: timedelta = timedelta(minutes=20),
    ) -> None:
        self.state = state
        self.output = output
        self.on_sent = on_sent
        self.cooldown = cooldown
        self.warming = False
        self._held: dict[str, Incident] = {}
        self._runs: dict[str, _Run] = {}
        self._unsettled: list[tuple[Any, SentIncident]] = []
        self.sent = 0

    def __call__(self, incident: Incident) -> None:
        if self.warming:
            self._held.pop(incident.id, None)  # re-insert: in the order of their latest record
            self._held[incident.id] = incident
        else:
            self._pass(incident, live=True)

    def end_warmup(self, send: bool = True) -> None:
        """Warm-up over: send what is news (nothing when stopping half-way)."""
        self.warming = False
        held, self._held = self._held, {}
        for incident in held.values() if send else ():
            self._pass(incident, live=False)

    def settle(self) -> None:
        """Remember the held-back records that every sink now has safe (or gave up)."""
        waiting = self._unsettled
        self._unsettled = [item for item in waiting if not item[0].settled]
        for receipt, entry in waiting:
            if receipt.settled:
                self._remember(entry)

    def _pass(self, incident: Incident, live: bool) -> None:
        run = self._runs.get(incident.id)
        if run is None:
            run = self._runs[incident.id] = self._start(incident)
            while len(self._runs) > MAX_RUNS:
                del self._runs[next(iter(self._runs))]
        if incident.state is IncidentState.RESOLVED:
            self._runs.pop(incident.id, None)
            if run.sent is not None:
                self._send(incident, run, IncidentState.RESOLVED)
        elif run.sent is None:
            self._send(incident, run, IncidentState.OPENED)
        elif incident.severity > run.sent:
            self._send(incident, run, IncidentState.ESCALATED)
        elif live and incident.state is IncidentState.UPDATED:
            self._send(incident, run, IncidentState.UPDATED)

    def _start(self, incident: Incident) -> _Run:
        """This run's first record of an incident: the one sent before the restart, or new."""
        prior = self.state.incidents.get((incident.key_kind, incident.key))
        if prior is not None and incident.first_seen <= prior.last_seen + self.cooldown:
            return _Run(prior.id, prior.opened_at, Severity.parse(prior.severity))
        return _Run(incident.id, incident.opened_at, None)

    def _send(self, incident: Incident, run: _Run, state: IncidentState) -> None:
        record = replace(incident, id=run.id, opened_at=run.opened_at, state=state)
        into = self._runs.get(incident.merged_into) if incident.merged_into else None
        if into is not None:  # the id its sinks know the incident it continued as by
            record = replace(record, merged_into=into.id)
        receipt = self.output(record)
        self.sent += 1
        run.sent = max(run.sent or incident.severity, incident.severity)
        entry = SentIncident(
            key_kind=record.key_kind,
            key=record.key,
            id=record.id,
            severity=str(run.sent),
            state=str(state),
            opened_at=record.opened_at,
            time=record.time,
            last_seen=record.last_seen,
        )
        if receipt is not None and not receipt.settled:
            self._unsettled.append((receipt, entry))
            if len(self._unsettled) <= MAX_UNSETTLED:
                return
            receipt, entry = self._unsettled.pop(0)
        self._remember(entry)

    def _remember(self, entry: SentIncident) -> None:
        self.state.remember_incident(entry)
        self.on_sent()


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

        def send(incident: Incident) -> Any:
            receipt = output(incident)
            self.stats.on_incident(incident)
            if self.responder is not None:  # after the sinks: the alert goes out first
                self.responder.on_record(incident)
            return receipt

        self.gate = AlertGate(self.state, send, self._alerted)
        self.pipeline = self.wiring.pipeline(self.gate, self.stats)
        self.gate.cooldown = self.pipeline.engine.findings.cooldown
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
        """Refresh the metrics (spamwatch.metrics), then what the wiring adds (the database
        size) and sinks that keep counters (the prometheus: textfile is rewritten from both)."""
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
            "records_sent": self.gate.sent,
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
            f" {counts['records_sent']} incident records sent, {counts['internal_errors']} internal"
            f" errors); state saved to {self.state_file.path}",
        )
