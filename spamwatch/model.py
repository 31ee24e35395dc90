"""The plain data that flows between pipeline stages.

Every stage hands the next one small frozen values, never live objects, so a
stage can be tested alone by building these by hand, and a value seen by a
detector can never change under it (watchdog's events are the model).

    parse/        bytes line  -> Event
    correlate.py  Event       -> MessageUpdate (a Message snapshot at a milestone)
    detectors/    Event, MessageUpdate -> Signal
    incidents/    Signal      -> Finding (one per detector and key: the evidence)
                  Finding     -> Incident (one per SASL login or host: opened,
                                 escalated, updated, resolved)
    sinks/        Incident    -> the outside world
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

INCIDENT_SCHEMA = 2
"""Version of the alert record's JSON form (INCIDENT JSON in the man page).

1 was one record per detector and key (a "finding"); 2 is one record per
incident (a SASL login, or a host), with the findings inside as evidence.
Bump on any incompatible change."""

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
    can count deferrals per SASL user without looking back. A ``DONE`` that no
    line caused (the correlator gave up on the message, or the input ended
    with it still queued) has a stand-in event of kind ``unseen_end``: the time
    of the message's last line, its host and queue id, no fields.
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
        "outage": "most of the queue waits for one destination or relay that cannot be reached"
        " (timeouts, refused or lost connections, greylisting: not refusals of our mail)",
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
    """Where a finding record stands in the finding's life."""

    RAISED = "raised"
    ESCALATED = "escalated"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Finding:
    """One detector's finding about one key: evidence inside an Incident.

    The FindingTracker keeps its life (raised, escalated as it grows,
    resolved after a quiet cooldown); the incident engine groups findings by
    SASL login or host and speaks for them.

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
    facts: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (man/spamwatch.1, INCIDENT JSON, ``findings``)."""
        return {
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
            "facts": sorted(self.facts),
            "counts": dict(self.counts),
            "evidence": _plain(self.evidence),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        """Inverse of ``to_json`` (incidents read back from the spool hold these)."""
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
            facts=frozenset(data.get("facts", ())),
        )


class IncidentState(enum.StrEnum):
    """The kinds of incident record; a sink chooses which it gets."""

    OPENED = "opened"
    ESCALATED = "escalated"  # its severity rose
    UPDATED = "updated"  # its findings grew (rate-limited per incident)
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Incident:
    """One record of an incident's life: what sinks get and ``report`` prints.

    An incident is about one SASL login (on any host) or one host (site-wide
    signals: queue, password spraying, a blocklisting no login explains).
    Its ``severity`` comes from the facts of all its findings together by the
    documented table (spamwatch.incidents.severity), and ``reason`` names the
    table row; ``findings`` are each detector's evidence, most severe first.
    ``opened_at`` is the log time of the line that opened it; ``time`` the
    log time of this record. ``response`` says what spamwatch did about it
    (``containment``: the login locked and its mail held, or why not).
    ``merged_into`` is set on the ``resolved`` record of an incident that
    continued as another (a host's password spray absorbed by the incident of
    the login it guessed): the id of that incident.
    """

    id: str
    state: IncidentState
    severity: Severity
    key: str
    key_kind: str  # sasl_username | host
    summary: str
    reason: str
    first_seen: datetime
    last_seen: datetime
    opened_at: datetime
    time: datetime
    host: str | None = None  # the host of the latest signal
    hosts: tuple[str, ...] = ()
    facts: frozenset[str] = frozenset()
    counts: Mapping[str, int | float] = field(default_factory=_empty)
    findings: tuple[Finding, ...] = ()
    response: Mapping[str, Any] = field(default_factory=_empty)
    merged_into: str | None = None
    schema: int = field(default=INCIDENT_SCHEMA)

    @property
    def detectors(self) -> tuple[str, ...]:
        """The detectors whose findings are in it, in the order of ``findings``."""
        return tuple(dict.fromkeys(f.detector for f in self.findings))

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (man/spamwatch.1, INCIDENT JSON)."""
        data = {
            "schema": self.schema,
            "id": self.id,
            "state": str(self.state),
            "severity": str(self.severity),
            "key": self.key,
            "key_kind": self.key_kind,
            "host": self.host,
            "hosts": list(self.hosts),
            "summary": self.summary,
            "reason": self.reason,
            "facts": sorted(self.facts),
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "opened_at": self.opened_at.isoformat(),
            "time": self.time.isoformat(),
            "counts": dict(self.counts),
            "findings": [finding.to_json() for finding in self.findings],
            "response": _plain(self.response),
        }
        if self.merged_into is not None:  # only on the record that says where it went
            data["merged_into"] = self.merged_into
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Incident:
        """Inverse of ``to_json`` (the spool and tests read records back).

        A schema 1 record (a finding, spooled by the version before incidents)
        becomes the incident of its one finding, so an upgrade loses no alert.
        """
        if int(data.get("schema", INCIDENT_SCHEMA)) == 1:
            return _from_finding_record(data)
        return cls(
            id=data["id"],
            state=IncidentState(data["state"]),
            severity=Severity.parse(data["severity"]),
            key=data["key"],
            key_kind=data["key_kind"],
            host=data.get("host"),
            hosts=tuple(data.get("hosts", ())),
            summary=data["summary"],
            reason=data.get("reason", ""),
            facts=frozenset(data.get("facts", ())),
            first_seen=datetime.fromisoformat(data["first_seen"]),
            last_seen=datetime.fromisoformat(data["last_seen"]),
            opened_at=datetime.fromisoformat(data["opened_at"]),
            time=datetime.fromisoformat(data["time"]),
            counts=MappingProxyType(dict(data.get("counts", {}))),
            findings=tuple(Finding.from_json(f) for f in data.get("findings", ())),
            response=MappingProxyType(dict(data.get("response", {}))),
            merged_into=data.get("merged_into"),
            schema=int(data.get("schema", INCIDENT_SCHEMA)),
        )


_LEGACY_STATE = {"raised": "opened", "escalated": "escalated", "updated": "updated"}


def _from_finding_record(data: Mapping[str, Any]) -> Incident:
    """A schema 1 finding record as the incident of that one finding."""
    finding = Finding.from_json(
        {**data, "state": data["state"] if data["state"] != "updated" else "escalated"}
    )
    kind = "host" if data["key_kind"] == "host" else "sasl_username"
    if data["key_kind"] not in ("host", "sasl_username"):
        kind = "host" if data.get("host") else data["key_kind"]
    key = data["key"] if kind == data["key_kind"] else (data.get("host") or data["key"])
    return Incident(
        id=data["id"],
        state=IncidentState(_LEGACY_STATE.get(data["state"], data["state"])),
        severity=finding.severity,
        key=key,
        key_kind=kind,
        summary=finding.summary,
        reason=f"{finding.detector} finding",
        first_seen=finding.first_seen,
        last_seen=finding.last_seen,
        opened_at=finding.raised_at,
        time=finding.time,
        host=finding.host,
        hosts=(finding.host,) if finding.host else (),
        counts=MappingProxyType({f"{finding.detector}.{k}": v for k, v in finding.counts.items()}),
        findings=(finding,),
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
