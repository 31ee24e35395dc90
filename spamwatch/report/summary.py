"""What a report knows at the end: each incident's final state and the traffic it saw.

Both are fed by the Pipeline as it runs (``emit`` for incident records, the
``on_event``/``on_update`` taps for traffic), so the report reads the log once
and keeps only counters: nothing here grows with the number of lines.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import ClassVar

from spamwatch.model import Event, Incident, IncidentState, MessageUpdate, Severity, Stage

LEFT_QUEUE = frozenset({"done", "expired", "deleted"})
"""Final message states that mean qmgr or postsuper took it out of the queue."""
MAX_INCIDENTS = 20_000
"""Incidents a report keeps before it drops the least important resolved ones."""
TOP_KEYS = 10_000
"""Distinct keys a TopCounter keeps before it drops the smallest half."""


class TopCounter:
    """A Counter that stays bounded: past ``limit`` keys the smaller half is dropped.

    Exact for any realistic number of SASL users or reject reasons; under a
    flood of distinct keys (random usernames) the top entries stay right
    while rare keys are forgotten, which is all a "top 5" needs.
    """

    def __init__(self, limit: int = TOP_KEYS) -> None:
        self.limit = limit
        self.counts: Counter[str] = Counter()

    def add(self, key: str, amount: int = 1) -> None:
        self.counts[key] += amount
        if len(self.counts) > self.limit:
            self.counts = Counter(dict(self.counts.most_common(self.limit // 2)))

    def top(self, count: int) -> list[tuple[str, int]]:
        """The ``count`` largest, ties by key so output is the same on every run."""
        return sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))[:count]


class TrafficSummary:
    """Messages, top SASL senders, delivery outcomes, queue flow and rejections.

    Messages are counted when qmgr first queues them (``Stage.QUEUED``), once
    each however often a deferred one is retried; "left the queue" counts
    messages qmgr removed or expired, not those the correlator gave up on.
    """

    KINDS: ClassVar[frozenset[str]] = frozenset({"reject", "sasl_failure"})
    """The event kinds ``on_event`` counts (within ``pipeline.TAP_KINDS``); the
    range it saw runs from the first to the last event any stage read."""

    def __init__(self, since: datetime | None = None) -> None:
        self.since = since  # events before it are the detectors' warm-up: not counted
        self.first_time: datetime | None = None
        self.last_time: datetime | None = None
        self.messages = 0
        self.recipients = 0
        self.left_queue = 0
        self.sasl_messages = TopCounter()
        self.sasl_recipients = TopCounter()
        self.deliveries: Counter[str] = Counter()
        self.rejections = 0
        self.reject_reasons = TopCounter()
        self.sasl_failures = 0

    def on_event(self, event: Event) -> None:
        """Pipeline tap: every recognised event in the range."""
        if self.since is not None and event.time < self.since:
            return
        if self.first_time is None:
            self.first_time = event.time
        self.last_time = event.time
        if event.kind == "reject":
            self.rejections += 1
            self.reject_reasons.add(_reason(event))
        elif event.kind == "sasl_failure":
            self.sasl_failures += 1

    def on_update(self, update: MessageUpdate) -> None:
        """Pipeline tap: message milestones from the correlator."""
        if self.since is not None and update.event.time < self.since:
            return
        message = update.message
        if update.stage is Stage.QUEUED:
            self.messages += 1
            self.recipients += message.nrcpt or 0
            if message.sasl_username:
                self.sasl_messages.add(message.sasl_username)
                self.sasl_recipients.add(message.sasl_username, message.nrcpt or 0)
        elif update.stage is Stage.DELIVERY and update.recipient is not None:
            self.deliveries[update.recipient.status] += 1
        elif update.stage is Stage.DONE and message.state in LEFT_QUEUE:
            self.left_queue += 1


def _reason(event: Event) -> str:
    """A reject's reason without the per-recipient address in front ("<a@b>: ...")."""
    reason = str(event.fields.get("reason") or "")
    head, sep, tail = reason.partition(">: ")
    if sep and head.startswith("<"):
        reason = tail
    code = event.fields.get("code")
    return f"{code} {reason}".strip() if code else reason


@dataclasses.dataclass(slots=True)
class _Entry:
    latest: Incident
    highest: Severity


class IncidentLog:
    """Every incident record emitted, and each incident's final state.

    ``final()`` gives one Incident per id: its latest record (so a resolved
    incident reads ``resolved`` and carries its last counts) with the highest
    severity it reached, most severe and biggest first. An incident that
    continued as another (its last record's ``merged_into``: a password spray
    absorbed by the incident of the login it guessed) is not one of them: its
    findings are in that one. ``records`` keeps the stream in log order for
    ``--all-records``, the absorbed incident's records with it.

    Bounded: past ``limit`` incidents, resolved ones are dropped, first those
    over before ``since`` (the warm-up's), then the lowest ranked, and counted
    in ``dropped`` by severity; open incidents (at most the finding tracker's
    ``max_open``) are never dropped. A hostile log raising an incident per
    random address cannot grow memory, and what is left is what matters.
    """

    def __init__(
        self, keep_records: bool = False, since: datetime | None = None, limit: int = MAX_INCIDENTS
    ) -> None:
        self.keep_records = keep_records
        self.since = since
        self.limit = limit
        self.records: list[Incident] = []
        self.dropped: Counter[Severity] = Counter()
        self._entries: dict[str, _Entry] = {}

    def add(self, incident: Incident) -> None:
        """The pipeline's ``emit``."""
        if self.keep_records:
            self.records.append(incident)
        entry = self._entries.get(incident.id)
        if entry is None:
            self._entries[incident.id] = _Entry(incident, incident.severity)
            if len(self._entries) > self.limit:
                self._shrink()
        else:
            entry.latest = incident
            entry.highest = max(entry.highest, incident.severity)

    def final(self, still_open: Iterable[Incident] = ()) -> list[Incident]:
        """One record per incident, sorted by ``rank`` (most severe, biggest first).

        ``still_open`` are the engine's current snapshots of incidents not yet
        resolved (``IncidentEngine.open_incidents``): their counts and last
        seen are newer than their last emitted record, so they replace it.
        A incident resolved before ``since`` (in the warm-up) is left out: it
        was over before the range began.
        """
        latest = {incident.id: incident for incident in still_open}
        merged = [
            dataclasses.replace(latest.get(key, entry.latest), severity=entry.highest)
            for key, entry in self._entries.items()
            if not _over_before(entry.latest, self.since) and entry.latest.merged_into is None
        ]
        return sorted(merged, key=rank)

    def records_of(self, incidents: Iterable[Incident]) -> list[Incident]:
        """Every record kept of these incidents and of those that continued as them, in
        log order (``--all-records``)."""
        wanted = {incident.id for incident in incidents}
        wanted |= {
            key for key, entry in self._entries.items() if entry.latest.merged_into in wanted
        }
        return [record for record in self.records if record.id in wanted]

    def _shrink(self) -> None:
        """Drop resolved incidents down to 90% of ``limit`` (in one batch: amortised)."""
        resolved = [
            (k, e) for k, e in self._entries.items() if e.latest.state is IncidentState.RESOLVED
        ]
        over = [k for k, e in resolved if _over_before(e.latest, self.since)]
        rest = sorted(
            ((rank(_merged(e)), k) for k, e in resolved if not _over_before(e.latest, self.since)),
            reverse=True,  # the least important first
        )
        excess = len(self._entries) - self.limit * 9 // 10
        for key in [*over, *(k for _, k in rest)][:excess]:
            entry = self._entries.pop(key)
            if not _over_before(entry.latest, self.since) and entry.latest.merged_into is None:
                self.dropped[entry.highest] += 1
        if self.keep_records:
            self.records = [r for r in self.records if r.id in self._entries]


def _merged(entry: _Entry) -> Incident:
    return dataclasses.replace(entry.latest, severity=entry.highest)


def _over_before(incident: Incident, since: datetime | None) -> bool:
    return since is not None and incident.state is IncidentState.RESOLVED and incident.time < since


def volume(incident: Incident) -> float:
    """An incident's size for ordering: its largest count (messages for a burst)."""
    numbers = [v for v in incident.counts.values() if isinstance(v, int | float)]
    return max(numbers, default=0)


def rank(incident: Incident) -> tuple[object, ...]:
    """Sort key: severity, then volume, then open before resolved, then log order."""
    return (
        -incident.severity,
        -volume(incident),
        incident.state is IncidentState.RESOLVED,
        incident.opened_at,
        incident.key_kind,
        incident.key,
        incident.id,
    )
