"""The plain data that flows between pipeline stages.

Every stage hands the next one small frozen values, never live objects, so a
stage can be tested alone by building these by hand, and a value seen by a
detector can never change under it (watchdog's events are the model).

    parse/        bytes line  -> Event
    correlate.py  Event       -> MessageUpdate (a Message snapshot at a milestone)
    detectors/    Event, MessageUpdate -> Signal
    incidents/    Signal      -> Finding (deduplicated, escalated, resolved)
    sinks/        Finding     -> the outside world
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

FINDING_SCHEMA = 1
"""Version of the finding JSON form; bump on any incompatible change."""

EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return EMPTY


@dataclass(frozen=True, slots=True)
class Event:
    """One recognised Postfix log line.

    ``kind`` names what happened (see ``spamwatch.parse.kinds`` for the list and the
    ``fields`` each kind carries); ``fields`` holds only what that line said.
    ``time`` is always timezone-aware. ``host`` keys everything downstream:
    two servers' queue ids never mix.
    """

    time: datetime
    host: str
    program: str  # syslog name as logged: "postfix/submission/smtpd"
    daemon: str  # the Postfix daemon: "smtpd", "qmgr", "smtp", ...
    pid: int | None
    queue_id: str | None
    kind: str
    fields: Mapping[str, Any] = field(default_factory=_empty)

    @property
    def service(self) -> str:
        """The syslog name without the daemon: "postfix/submission" for submission."""
        head, _, _ = self.program.rpartition("/")
        return head or self.program


@dataclass(frozen=True, slots=True)
class Recipient:
    """The latest known delivery outcome for one recipient of a message."""

    address: str
    status: str  # sent | deferred | bounced | expired | ... as Postfix logs it
    time: datetime
    orig_to: str | None = None
    relay: str | None = None
    dsn: str | None = None
    delay: float | None = None
    reason: str | None = None
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class Message:
    """Everything the log said about one queue file, joined by (host, queue id).

    ``state`` is ``queued`` while Postfix still holds it, ``done`` once qmgr
    removed it, ``expired`` when it was returned after the maximal queue
    lifetime, and ``incomplete`` when spamwatch gave up waiting for its end
    (also ``rejected``/``discarded``/``deleted`` when it never reached qmgr
    or an admin deleted it; see MESSAGE JSON in the man page).
    ``related`` lists queue ids of the same mail seen under another id (a
    content filter's re-injection, a local forward); ``parent`` is the
    message a bounce reports on.

    A re-injected copy (``origin == "reinjected"``) carries the original's
    client and SASL login, so its deferrals count against the sender; count
    ``Stage.QUEUED`` only for messages that are not re-injections, or the
    mail counts twice.
    """

    host: str
    queue_id: str
    first_seen: datetime
    last_seen: datetime
    state: str = "queued"
    origin: str | None = None  # smtpd | pickup | bounce | local ...
    client_name: str | None = None
    client_ip: str | None = None
    orig_client_ip: str | None = None
    sasl_method: str | None = None
    sasl_username: str | None = None
    sender: str | None = None  # "" is the null sender <>
    size: int | None = None
    nrcpt: int | None = None
    message_id: str | None = None
    recipients: tuple[Recipient, ...] = ()
    related: tuple[str, ...] = ()
    parent: str | None = None  # for a bounce/notice: the queue id it reports on


class Stage(enum.StrEnum):
    """Milestones at which the correlator emits a ``MessageUpdate``."""

    QUEUED = "queued"  # qmgr first saw it (sender, size, nrcpt known)
    DELIVERY = "delivery"  # one recipient's delivery attempt was logged
    DONE = "done"  # removed from the queue (or expired/incomplete)


@dataclass(frozen=True, slots=True)
class MessageUpdate:
    """A message snapshot at a milestone, with the event that caused it.

    For ``DELIVERY`` the ``recipient`` is the attempt just logged, so a detector
    can count deferrals per SASL user without looking back.
    """

    stage: Stage
    message: Message
    event: Event
    recipient: Recipient | None = None


@dataclass(frozen=True, slots=True)
class QueueSample:
    """The real queue as Postfix reported it (``postqueue -j``) at ``time`` (the wall clock).

    Fed into the pipeline by the queue source (spamwatch.sources.queue) while
    the log is live, so a detector can weigh the true queue without running a
    command or reading the clock itself. ``oldest_age`` is in seconds (None for
    an empty queue); ``by_queue`` counts messages per Postfix queue (incoming,
    active, deferred, hold, maildrop).
    """

    time: datetime
    size: int
    recipients: int
    oldest_age: float | None
    by_queue: Mapping[str, int] = field(default_factory=_empty)


class Severity(enum.IntEnum):
    """Finding severity; ordered so ``>=`` compares with a sink's minimum."""

    INFO = 1
    WARNING = 2
    CRITICAL = 3

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Read "info"/"warning"/"critical" (any case); raises ValueError."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (info, warning, critical)") from None


FACTS: Mapping[str, str] = MappingProxyType(
    {
        # burst
        "volume": "many single-recipient messages from one login in the window",
        "above_usual": "well above this login's usual volume for this hour (per its profile)",
        "no_history": "too little history for this login to judge against its profile",
        # addresses
        "many_networks": "the login submitted from many client networks in the window",
        "new_network": "a client network this login never used before (per its profile)",
        # sender
        "foreign_sender": "envelope senders outside the login's own and the local domains",
        "new_sender_domain": "an envelope-sender domain this login never used (per its profile)",
        # bounces
        "bounces": "many of the login's recipients bounced or were deferred",
        # auth
        "brute_force": "many failed SASL logins against one login or from one address",
        "spray": "SASL failures from many addresses (site-wide)",
        "success_after_failures": "a SASL login succeeded after failures against it",
        # queue
        "queue_growth": "the host's active/deferred queue grew abnormally",
        "deferrals": "many deliveries deferred on the host",
        # reputation
        "blocklisted": "a receiving provider refused mail naming a blocklist",
    }
)
"""The vocabulary of ``Signal.facts``: what a detector established, by name.

The incident engine derives an incident's severity from the union of its
signals' facts (man/spamwatch.1, INCIDENT SEVERITY), not from any one
detector's own severity; a fact outside this list is a programming error.
"""


@dataclass(frozen=True, slots=True)
class Signal:
    """A detector's statement "this key is abnormal right now, this much".

    Detectors emit a Signal every time they re-evaluate a key above threshold;
    the FindingTracker turns the stream into raised / escalated / resolved
    findings, so detectors never deduplicate themselves.

    ``facts`` names what the detector established (vocabulary: ``FACTS``), so
    the incident engine can weigh combinations of signals about one login
    ("volume" alone is not "volume" with "new_network") instead of trusting
    each detector's severity alone.
    """

    detector: str
    key: str
    key_kind: str  # sasl_username | client_ip | host | ...
    severity: Severity
    time: datetime  # log time of the line that produced this evaluation
    first_seen: datetime
    summary: str
    host: str | None = None
    counts: Mapping[str, int | float] = field(default_factory=_empty)
    evidence: Mapping[str, Any] = field(default_factory=_empty)
    facts: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = self.facts - FACTS.keys()
        if unknown:
            raise ValueError(f"unknown signal facts {sorted(unknown)} (see model.FACTS)")


class FindingState(enum.StrEnum):
    """Where a finding record stands in the finding's life.

    ``updated`` adds what was done about an open finding (``evidence.containment``:
    the login was locked, its mail held, or why not) without a change of severity.
    """

    RAISED = "raised"
    ESCALATED = "escalated"
    UPDATED = "updated"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Finding:
    """One record of a finding's life, as sent to sinks and printed as JSON.

    ``raised_at`` is the log time of the line that crossed the threshold;
    ``time`` is the log time of this record (equal to ``raised_at`` for the
    ``raised`` record, later for ``escalated`` and ``resolved``).
    """

    id: str
    state: FindingState
    detector: str
    severity: Severity
    key: str
    key_kind: str
    summary: str
    first_seen: datetime
    last_seen: datetime
    raised_at: datetime
    time: datetime
    host: str | None = None
    counts: Mapping[str, int | float] = field(default_factory=_empty)
    evidence: Mapping[str, Any] = field(default_factory=_empty)
    schema: int = field(default=FINDING_SCHEMA)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (man/spamwatch.1, FINDING JSON)."""
        return {
            "schema": self.schema,
            "id": self.id,
            "state": str(self.state),
            "detector": self.detector,
            "severity": str(self.severity),
            "key": self.key,
            "key_kind": self.key_kind,
            "host": self.host,
            "summary": self.summary,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "raised_at": self.raised_at.isoformat(),
            "time": self.time.isoformat(),
            "counts": dict(self.counts),
            "evidence": _plain(self.evidence),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        """Inverse of ``to_json`` (the spool and tests read findings back)."""
        return cls(
            id=data["id"],
            state=FindingState(data["state"]),
            detector=data["detector"],
            severity=Severity.parse(data["severity"]),
            key=data["key"],
            key_kind=data["key_kind"],
            host=data.get("host"),
            summary=data["summary"],
            first_seen=datetime.fromisoformat(data["first_seen"]),
            last_seen=datetime.fromisoformat(data["last_seen"]),
            raised_at=datetime.fromisoformat(data["raised_at"]),
            time=datetime.fromisoformat(data["time"]),
            counts=MappingProxyType(dict(data.get("counts", {}))),
            evidence=MappingProxyType(dict(data.get("evidence", {}))),
            schema=int(data.get("schema", FINDING_SCHEMA)),
        )


def _plain(value: Any) -> Any:
    """Turn mappings/tuples/datetimes inside evidence into JSON-ready values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
