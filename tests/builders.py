"""Hand-built, realistic Event/MessageUpdate streams for detector tests.

A ``Stream`` writes what Postfix and the correlator would produce for a mail
server's traffic: an authenticated submission is smtpd's ``client=`` event,
qmgr's ``queue active`` (a QUEUED update), one delivery line per recipient
(DELIVERY updates) and qmgr's ``removed`` (DONE). ``run`` pushes the stream
through the real ``Pipeline`` (with a correlator that replays the prepared
updates), so detectors see exactly the call order and ticks they get in
production.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from spamwatch.config import Config
from spamwatch.detectors import build_detectors
from spamwatch.detectors.base import Detector
from spamwatch.incidents.engine import IncidentEngine
from spamwatch.incidents.tracker import FindingTracker
from spamwatch.model import Event, Finding, Incident, Message, MessageUpdate, Recipient, Stage
from spamwatch.parse import Parser
from spamwatch.pipeline import Pipeline
from spamwatch.sources.queue import queue_probe

T0 = datetime(2026, 11, 28, 3, 0, 0, tzinfo=UTC)
HOST = "mail.example.com"


def at(seconds: float) -> datetime:
    """T0 plus ``seconds`` (test times read as offsets)."""
    return T0 + timedelta(seconds=seconds)


class ScriptedCorrelator:
    """Replays the MessageUpdates a Stream attached to each Event."""

    def __init__(self, updates: dict[int, list[MessageUpdate]]) -> None:
        self._updates = updates

    def feed(self, event: Event) -> list[MessageUpdate]:
        return self._updates.pop(id(event), [])

    def flush(self) -> list[MessageUpdate]:
        return []


@dataclass
class Stream:
    """A time-ordered mail log in the making (events plus their updates)."""

    host: str = HOST
    items: list[tuple[datetime, int, Event, list[MessageUpdate]]] = field(default_factory=list)
    _seq: Any = field(default_factory=itertools.count)
    _qid: Any = field(default_factory=lambda: itertools.count(0x10000))

    def event(
        self,
        time: datetime,
        kind: str,
        program: str,
        queue_id: str | None = None,
        updates: Sequence[MessageUpdate] = (),
        **fields: Any,
    ) -> Event:
        """Add one event (and the updates the correlator makes of it)."""
        event = Event(
            time=time,
            host=self.host,
            program=program,
            daemon=program.rsplit("/", 1)[-1],
            pid=1234,
            queue_id=queue_id,
            kind=kind,
            fields=fields,
        )
        self.items.append((time, next(self._seq), event, list(updates)))
        return event

    def new_qid(self) -> str:
        return f"{next(self._qid):X}"

    def submission(
        self,
        time: datetime,
        user: str | None,
        ip: str,
        rcpts: Sequence[str] = ("bob@example.net",),
        sender: str | None = None,
        status: str = "sent",
        dsn: str | None = None,
        reason: str = "250 2.0.0 Ok: queued",
        delay: float = 1.5,
        service: str = "postfix/submission/smtpd",
        relay: str = "mx.example.net[198.51.100.25]:25",
        origin: str = "smtpd",
    ) -> Message:
        """A whole message: client=, queue active, one delivery per rcpt, removed.

        A ``deferred`` message stays queued: finish it with ``deliver`` and ``remove``.
        """
        qid = self.new_qid()
        sender = sender if sender is not None else (user or "nobody@example.com")
        fields: dict[str, Any] = {"client_name": "unknown", "client_ip": ip}
        if user is not None:
            fields.update(sasl_method="LOGIN", sasl_username=user)
        self.event(time, "client", service, qid, **fields)
        message = Message(
            host=self.host,
            queue_id=qid,
            first_seen=time,
            last_seen=time,
            origin=origin,
            client_name="unknown",
            client_ip=ip,
            sasl_method="LOGIN" if user else None,
            sasl_username=user,
            sender=sender,
            size=2048,
            nrcpt=len(rcpts),
        )
        queued = time + timedelta(seconds=0.2)
        qm_event = self._qmgr(queued, qid, "queued", sender=sender, nrcpt=len(rcpts))
        self._attach(qm_event, MessageUpdate(Stage.QUEUED, message, qm_event))
        self.deliver(message, queued + timedelta(seconds=delay), rcpts, status, dsn, reason, relay)
        if status != "deferred":
            self.remove(message, queued + timedelta(seconds=delay + 0.1))
        return message

    def remove(self, message: Message, time: datetime) -> None:
        """qmgr's ``removed``: the DONE update."""
        final = replace(message, state="done", last_seen=time)
        event = self._qmgr(time, message.queue_id, "removed")
        self._attach(event, MessageUpdate(Stage.DONE, final, event))

    def deliver(
        self,
        message: Message,
        time: datetime,
        rcpts: Sequence[str],
        status: str = "sent",
        dsn: str | None = None,
        reason: str = "250 2.0.0 Ok: queued",
        relay: str = "mx.example.net[198.51.100.25]:25",
        attempts: int = 1,
    ) -> None:
        """One delivery line (and DELIVERY update) per recipient."""
        dsn = dsn or {"sent": "2.0.0", "deferred": "4.4.1", "bounced": "5.1.1"}.get(status, "")
        for address in rcpts:
            event = self.event(
                time,
                "delivery",
                "postfix/smtp",
                message.queue_id,
                to=address,
                relay=relay,
                delay=1.0,
                delays="0.1/0/0.5/0.4",
                dsn=dsn,
                status=status,
                reason=reason,
            )
            rcpt = Recipient(address, status, time, relay=relay, dsn=dsn, reason=reason)
            rcpt = replace(rcpt, attempts=attempts)
            update = MessageUpdate(Stage.DELIVERY, message, event, rcpt)
            self._attach(event, update)

    def sasl_failure(self, time: datetime, ip: str, user: str | None = None) -> None:
        """smtpd's ``SASL LOGIN authentication failed`` warning."""
        fields: dict[str, Any] = {
            "client_name": "unknown",
            "client_ip": ip,
            "method": "LOGIN",
            "reason": "authentication failure",
        }
        if user is not None:
            fields["sasl_username"] = user
        self.event(time, "sasl_failure", "postfix/submission/smtpd", **fields)

    def login(self, time: datetime, user: str, ip: str) -> Message:
        """A successful authenticated submission (client= with sasl_username)."""
        return self.submission(time, user, ip)

    def _qmgr(self, time: datetime, qid: str, kind: str, **fields: Any) -> Event:
        return self.event(time, kind, "postfix/qmgr", qid, **fields)

    def _attach(self, event: Event, update: MessageUpdate) -> None:
        for _, _, ev, updates in reversed(self.items):
            if ev is event:
                updates.append(update)
                return
        raise AssertionError("event not in stream")

    def ordered(self) -> list[tuple[Event, list[MessageUpdate]]]:
        """Events in log order (stable for equal times)."""
        return [(ev, ups) for _, _, ev, ups in sorted(self.items, key=lambda i: (i[0], i[1]))]


def detectors_for(config: dict[str, Any] | None = None, only: Iterable[str] = ()) -> list[Detector]:
    """Built-in detectors as ``build_detectors`` makes them from ``config``."""
    found = build_detectors(Config(data=config or {}))
    wanted = set(only)
    return [d for d in found if not wanted or d.name in wanted]


def run(
    stream: Stream,
    detectors: Sequence[Detector] | None = None,
    config: dict[str, Any] | None = None,
    only: Iterable[str] = (),
) -> list[Finding]:
    """Feed ``stream`` through a real Pipeline; every finding record (each detector's).

    The incidents the findings make are the engine's business (see
    ``run_incidents``); detector tests look at the findings inside them.
    """
    records: list[Finding] = []
    _feed(stream, detectors if detectors is not None else detectors_for(config, only),
          config, lambda _incident: None, records.append)  # fmt: skip
    return records


def run_incidents(stream: Stream, config: dict[str, Any] | None = None) -> list[Incident]:
    """Feed ``stream`` through a real Pipeline with every detector; the incident records."""
    records: list[Incident] = []
    _feed(stream, detectors_for(config), config, records.append, None)
    return records


def _feed(
    stream: Stream,
    detectors: Sequence[Detector],
    config: dict[str, Any] | None,
    emit: Callable[[Incident], None],
    on_finding: Callable[[Finding], None] | None,
) -> None:
    ordered = stream.ordered()
    updates = {id(ev): ups for ev, ups in ordered}
    conf = Config(data=config or {})
    engine = IncidentEngine(conf.section("incidents"), FindingTracker.from_config(conf), on_finding)
    pipeline = Pipeline(
        Parser(),
        ScriptedCorrelator(updates),  # type: ignore[arg-type]
        detectors,
        engine,
        emit,
        samples=queue_probe(conf),  # as Pipeline.from_config
    )
    for event, _ in ordered:
        pipeline.feed_event(event)


def raised(records: Iterable[Finding], detector: str | None = None) -> list[Finding]:
    """The ``raised`` records (optionally of one detector)."""
    return [
        r for r in records if r.state == "raised" and (detector is None or r.detector == detector)
    ]
