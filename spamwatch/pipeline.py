"""Wire the stages: a byte line in, incident records out.

This is the only place that knows the order of the stages; commands build a
Pipeline and push lines into it, so ``report`` over a file and ``follow`` live
run exactly the same code on the same lines and give the same incidents.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from spamwatch.config import Config
from spamwatch.correlate import KINDS as MESSAGE_KINDS
from spamwatch.correlate import Correlator
from spamwatch.detectors.base import Detector
from spamwatch.incidents.engine import IncidentEngine
from spamwatch.model import Event, Incident, MessageUpdate, QueueSample, Signal, Stage
from spamwatch.parse import ParseOptions, Parser
from spamwatch.parse.grammar import markers_for
from spamwatch.sources.queue import queue_probe

Emit = Callable[[Incident], None]
TAP_KINDS = frozenset({"reject", "sasl_failure", "client"})
"""The event kinds the commands' ``on_event`` taps read: report's traffic summary
(rejections, SASL failures), follow's live view (``client=``). report, follow and
learn all build their pipeline with these (``from_config``), so the three see,
tick on and learn from the very same events of the same lines."""
MAX_KINDS = 256
"""Event kinds whose detector list is remembered (the parser's kinds are a few dozen)."""
Hook = Callable[[Any], Iterable[Signal]]
SECOND = timedelta(seconds=1)


def overrides(detector: Detector, hook: str) -> bool:
    """Does ``detector`` implement ``hook`` (else the base class's no-op would be called)?"""
    return getattr(type(detector), hook) is not getattr(Detector, hook)


def direct_kinds(
    detectors: Iterable[Detector], tap_kinds: Collection[str] | None = ()
) -> frozenset[str] | None:
    """The event kinds read as events (not only as parts of messages); None: every kind.

    What the detectors' ``on_event`` declare in ``event_kinds`` and what the
    ``on_event`` tap reads (``tap_kinds``; None when it reads every kind).
    """
    if tap_kinds is None:
        return None
    out = set(tap_kinds)
    for detector in detectors:
        if overrides(detector, "on_event"):
            if detector.event_kinds is None:
                return None
            out.update(detector.event_kinds)
    return frozenset(out)


def reading_parser(
    options: ParseOptions, detectors: Iterable[Detector], tap_kinds: Collection[str] = TAP_KINDS
) -> Parser:
    """A parser for a whole file (``report``, ``learn``) that reads only what a stage needs.

    The correlator reads lines with a queue id; the detectors and the tap
    (``tap_kinds``: the report's traffic summary) declare the few kinds they
    read as events (SASL failures, ``client=``, rejections), which
    ``grammar.MARKERS`` find without a queue id. Every other line (connects,
    TLS, postscreen, other daemons: half a log) is counted unread, in C, one
    regex scan per block. A detector that reads any kind (``event_kinds =
    None``) makes it read every line. The pipeline must be built with the same
    ``tap_kinds`` (both default to ``TAP_KINDS``): then it ignores what this
    parser skips.
    """
    direct = direct_kinds(detectors, tap_kinds)
    markers = None if direct is None else markers_for(direct)
    if direct is None or markers is None:
        return Parser(options)
    return Parser(options, kinds=MESSAGE_KINDS | direct, queue_ids_only=True, markers=markers)


class Samples(Protocol):
    """A source of real-queue samples (spamwatch.sources.queue.QueueProbe)."""

    def poll_live(self, log_time: datetime) -> QueueSample | None:
        """A sample for a line at ``log_time``: None unless that line is live."""
        ...


class Tap(Protocol):
    """A stage that watches the stream without changing it (the profile learner)."""

    def on_event(self, event: Event) -> None: ...
    def on_update(self, update: MessageUpdate) -> None: ...
    def tick(self, now: datetime) -> None: ...
    def finish(self) -> None: ...


class Pipeline:
    """Parser -> correlator -> detectors -> incident engine -> ``emit``.

    ``on_event`` and ``on_update`` are optional taps for commands that print
    events or messages themselves (``spamwatch events``) or keep statistics
    (the report summary, the live view). ``samples`` (optional) is asked, as
    each event arrives, for a new sample of the real queue, which goes to the
    detectors before the event. ``learner`` (spamwatch.profiles) sees every
    event and update before the detectors, log time as it advances, and the
    end of a bounded run (``finish``).

    The detectors are fixed at construction: each hook is called only on the
    detectors that implement it (``on_event`` only with the kinds a detector
    declares in ``event_kinds``, ``on_update`` only at the milestones in
    ``update_stages``), because a busy log has a million events and
    most detectors read a few. ``tap_kinds``: the kinds the ``on_event`` tap
    reads (None: all). An event no stage reads (not one of those, nor a
    message's part: a kind the correlator reads, with a queue id) moves
    nothing, not even the clock, and the learner does not see it either, so a
    reader that skips such lines unread (``report``) gives exactly what
    reading them all gives (``follow``).
    """

    def __init__(
        self,
        parser: Parser,
        correlator: Correlator,
        detectors: Sequence[Detector],
        engine: IncidentEngine,
        emit: Emit,
        on_event: Callable[[Event], None] | None = None,
        on_update: Callable[[MessageUpdate], None] | None = None,
        samples: Samples | None = None,
        learner: Tap | None = None,
        tap_kinds: Collection[str] | None = None,
    ) -> None:
        self.parser = parser
        self.correlator = correlator
        self.detectors = list(detectors)
        self.engine = engine
        self.emit = emit
        self.on_event = on_event
        self.on_update = on_update
        self.samples = samples
        self._sample: QueueSample | None = None
        self.learner = learner
        self._direct = direct_kinds(self.detectors, tap_kinds)
        self._last_tick: datetime | None = None
        self._next_tick: datetime | None = None  # the next log second to tick at
        self._by_kind: dict[str, tuple[Hook, ...]] = {}
        self._on_update = {stage: self._update_hooks(stage) for stage in Stage}
        self._ticks = tuple(d.tick for d in self.detectors if overrides(d, "tick"))

    @classmethod
    def from_config(
        cls,
        config: Config,
        parser: Parser,
        detectors: Sequence[Detector],
        emit: Emit,
        on_event: Callable[[Event], None] | None = None,
        on_update: Callable[[MessageUpdate], None] | None = None,
        learner: Tap | None = None,
        tap_kinds: Collection[str] | None = TAP_KINDS,
    ) -> Pipeline:
        """The stages as ``report`` and ``follow`` both wire them from one config.

        One constructor for both commands is what makes "the same lines give
        the same incidents" true by construction: ``[correlate]``,
        ``[findings]`` and ``[incidents]`` apply alike, and so does the real-queue
        probe (``[detectors.queue] probe``).
        """
        return cls(
            parser=parser,
            correlator=Correlator.from_config(config),
            detectors=detectors,
            engine=IncidentEngine.from_config(config),
            emit=emit,
            on_event=on_event,
            on_update=on_update,
            samples=queue_probe(config),
            learner=learner,
            tap_kinds=tap_kinds,
        )

    @property
    def log_time(self) -> datetime | None:
        """The log time of the latest event seen (the pipeline's clock)."""
        return self._last_tick

    def feed(self, line: bytes) -> Event | None:
        """Push one raw line through every stage; returns its Event, if any."""
        event = self.parser.parse(line)
        if event is None:
            return None
        self.feed_event(event)
        return event

    def feed_event(self, event: Event) -> None:
        """Push an already parsed event (the journal source parses its own)."""
        direct = self._direct
        if (
            direct is not None
            and event.kind not in direct
            and (event.queue_id is None or event.kind not in MESSAGE_KINDS)
        ):
            return  # no stage reads it
        due = self._next_tick
        if due is None or event.time >= due:
            self._advance(event.time)
        if self.samples is not None:
            self._take_sample(event.time)
        if self.on_event is not None:
            self.on_event(event)
        if self.learner is not None:
            self.learner.on_event(event)
        hooks = self._by_kind.get(event.kind)
        if hooks is None:
            hooks = self._event_hooks(event.kind)
        for hook in hooks:
            signals = hook(event)
            if signals:  # mostly (): no call for nothing
                self._signals(signals)
        for update in self.correlator.feed(event):
            self._update(update)

    def _event_hooks(self, kind: str) -> tuple[Hook, ...]:
        """The ``on_event`` of each detector that reads ``kind`` (worked out once per kind)."""
        hooks = tuple(
            d.on_event
            for d in self.detectors
            if overrides(d, "on_event") and (d.event_kinds is None or kind in d.event_kinds)
        )
        if len(self._by_kind) < MAX_KINDS:
            self._by_kind[kind] = hooks
        return hooks

    def _update_hooks(self, stage: Stage) -> tuple[Hook, ...]:
        """The ``on_update`` of each detector that reads ``stage`` (its ``update_stages``)."""
        return tuple(
            d.on_update
            for d in self.detectors
            if overrides(d, "on_update") and (d.update_stages is None or stage in d.update_stages)
        )

    def finish(self) -> None:
        """End of input: flush incomplete messages, the learner writes; incidents stay open."""
        for update in self.correlator.flush():
            self._update(update)
        if self.learner is not None:
            self.learner.finish()

    def _take_sample(self, log_time: datetime) -> None:
        """Hand a new real-queue sample to every detector (the source says if the line is live)."""
        sample = self.samples.poll_live(log_time)  # type: ignore[union-attr]
        if sample is None or sample is self._sample:
            return
        self._sample = sample
        for detector in self.detectors:
            self._signals(detector.on_sample(sample))

    def _update(self, update: MessageUpdate) -> None:
        if self.on_update is not None:
            self.on_update(update)
        if self.learner is not None:
            self.learner.on_update(update)
        for hook in self._on_update[update.stage]:
            signals = hook(update)
            if signals:  # mostly (): no call for nothing
                self._signals(signals)

    def _advance(self, now: datetime) -> None:
        """Tick detectors and the incident engine once per new log second (``now`` is past)."""
        self._last_tick = now
        self._next_tick = now.replace(microsecond=0) + SECOND
        if self.learner is not None:
            self.learner.tick(now)
        for tick in self._ticks:
            signals = tick(now)
            if signals:  # mostly (): no call for nothing
                self._signals(signals)
        for record in self.engine.tick(now):
            self.emit(record)

    def _signals(self, signals: Iterable[Signal]) -> None:
        for signal in signals:
            for record in self.engine.observe(signal):
                self.emit(record)
