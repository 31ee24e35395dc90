"""Signals -> Findings: one finding per (detector, key) while it lasts.

A finding is one detector's evidence; the incident engine
(spamwatch.incidents.engine) groups them per SASL login or host.

Detectors say "this key is abnormal right now" as often as they like; an
admin wants one alert when it starts, another when it gets worse, and one when
it is over. The tracker turns the Signal stream into exactly that:

- the first Signal for a (detector, key kind, key) gives a ``raised`` record;
- a Signal with a higher severity than any record so far, or with a count
  that grew by ``growth`` times since the last record (e.g. 2.0: doubled),
  gives an ``escalated`` record with the same id;
- no Signal for ``cooldown`` of log time gives a ``resolved`` record from
  ``tick``; a later Signal for the same key starts a new finding (new id).

Everything runs on log time, so a report over a file and a live follow agree.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar

from spamwatch.config import Config
from spamwatch.config.schema import check_options, duration
from spamwatch.model import Finding, FindingState, Signal

TrackKey = tuple[str, str, str]


@dataclass(slots=True)
class _Open:
    """What the tracker remembers about one live finding."""

    record: Finding  # the last record emitted (raised or escalated)
    signal: Signal  # the latest signal, emitted or not
    first_seen: datetime
    last_seen: datetime
    facts: frozenset[str] = frozenset()  # every fact its signals named: established stays so


class FindingTracker:
    """Deduplicate, escalate and resolve findings; all in log time.

    Options (config table ``[findings]``):

    ``cooldown`` ("20m"): a finding with no Signal for this long is resolved.
    ``growth`` (2.0): escalate when a count reaches this multiple of its value
    in the last record (0 turns growth escalation off; severity still counts).
    ``growth_min`` (10): ... and grew by at least this much, so 1 -> 2
    addresses is not news while 40 -> 80 messages is.
    ``max_open`` (10000): cap on live findings; beyond it the least recently
    seen one is resolved early, so a hostile log cannot grow memory.
    """

    defaults: ClassVar[Mapping[str, Any]] = {
        "cooldown": "20m",
        "growth": 2.0,
        "growth_min": 10,
        "max_open": 10_000,
    }

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        merged = {**self.defaults, **check_options("findings", options or {}, self.defaults)}
        self.cooldown: timedelta = duration(merged["cooldown"])
        self.growth = float(merged["growth"])
        self.growth_min = float(merged["growth_min"])
        self.max_open = max(1, int(merged["max_open"]))
        self._open: OrderedDict[TrackKey, _Open] = OrderedDict()
        self._evicted: list[Finding] = []
        self.stats: dict[str, int] = {"raised": 0, "escalated": 0, "resolved": 0, "evicted": 0}

    @classmethod
    def from_config(cls, config: Config) -> FindingTracker:
        """A tracker with the ``[findings]`` table applied (ConfigError on bad keys)."""
        return cls(config.section("findings"))

    def observe(self, signal: Signal) -> Finding | None:
        """Take one Signal; return the record to emit, if this one deserves one."""
        key = (signal.detector, signal.key_kind, signal.key)
        live = self._open.get(key)
        if live is None:
            return self._raise(key, signal)
        self._open.move_to_end(key)
        live.signal = signal
        if not signal.facts <= live.facts:
            live.facts |= signal.facts
        live.first_seen = min(live.first_seen, signal.first_seen)
        live.last_seen = max(live.last_seen, signal.time)
        if not self._worse(signal, live.record):
            return None
        live.record = self._record(live, FindingState.ESCALATED, signal.time)
        self.stats["escalated"] += 1
        return live.record

    def tick(self, now: datetime) -> list[Finding]:
        """Resolve every finding quiet for ``cooldown``; returns their records."""
        out, self._evicted = self._evicted, []
        cutoff = now - self.cooldown
        while self._open:
            key, live = next(iter(self._open.items()))
            if live.last_seen > cutoff:
                break
            del self._open[key]
            # the moment the cooldown ran out, not whenever the next line came:
            # a report and a live follow with other tick times agree exactly
            out.append(self._resolve(live, live.last_seen + self.cooldown))
        return out

    def finish(self, now: datetime) -> list[Finding]:
        """Resolve everything still open (end of a bounded run, shutdown)."""
        out, self._evicted = self._evicted, []
        out.extend(self._resolve(live, now) for live in self._open.values())
        self._open.clear()
        return out

    def open_findings(self) -> list[Finding]:
        """Live findings as of their latest Signal, most severe first.

        The state is that of the last emitted record; counts, evidence, summary
        and last_seen are the latest, so a report shows the current picture.
        """
        snaps = [
            self._record(live, live.record.state, live.record.time) for live in self._open.values()
        ]
        snaps.sort(key=lambda f: (-int(f.severity), f.raised_at))
        return snaps

    def current(self, key: TrackKey) -> Finding | None:
        """The live finding ``key`` as of its latest Signal (None once resolved)."""
        live = self._open.get(key)
        return None if live is None else self._record(live, live.record.state, live.record.time)

    def __len__(self) -> int:
        return len(self._open)

    def _raise(self, key: TrackKey, signal: Signal) -> Finding:
        record = Finding(
            id=f"{signal.detector}:{signal.key}:{signal.time.isoformat()}",
            state=FindingState.RAISED,
            detector=signal.detector,
            severity=signal.severity,
            key=signal.key,
            key_kind=signal.key_kind,
            summary=signal.summary,
            first_seen=min(signal.first_seen, signal.time),
            last_seen=signal.time,
            raised_at=signal.time,
            time=signal.time,
            host=signal.host,
            counts=signal.counts,
            evidence=signal.evidence,
            facts=signal.facts,
        )
        self._open[key] = _Open(record, signal, record.first_seen, signal.time, signal.facts)
        self.stats["raised"] += 1
        if len(self._open) > self.max_open:
            _, oldest = self._open.popitem(last=False)
            self._evicted.append(self._resolve(oldest, signal.time))
            self.stats["evicted"] += 1
        return record

    def _worse(self, signal: Signal, last: Finding) -> bool:
        """Escalation rule: higher severity, or a count grown ``growth`` times."""
        if signal.severity > last.severity:
            return True
        if self.growth <= 0:
            return False
        for name, value in signal.counts.items():
            before = last.counts.get(name)
            if not before or before <= 0:
                continue
            if value >= before * self.growth and value - before >= self.growth_min:
                return True
        return False

    def _record(self, live: _Open, state: FindingState, time: datetime) -> Finding:
        signal = live.signal
        return replace(
            live.record,
            state=state,
            severity=max(live.record.severity, signal.severity),
            summary=signal.summary,
            first_seen=live.first_seen,
            last_seen=live.last_seen,
            time=time,
            host=signal.host or live.record.host,
            counts=signal.counts,
            evidence=signal.evidence,
            facts=live.facts,
        )

    def _resolve(self, live: _Open, now: datetime) -> Finding:
        self.stats["resolved"] += 1
        return self._record(live, FindingState.RESOLVED, max(now, live.last_seen))
