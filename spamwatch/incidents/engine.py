"""Findings -> Incidents: one incident per SASL login (any host) or per host.

An admin wants to hear once that ``alice`` was taken over, not five times
(burst, addresses, sender, bounces, queue) and again from each host. The
engine routes every detector's finding to its incident, grades the incident
from all its findings together (spamwatch.incidents.severity), and speaks
for it:

- ``opened`` when its first finding is raised;
- ``escalated`` when its severity rises;
- ``updated`` when a finding in it was raised or grew (FindingTracker's
  growth rule), at most once per ``update_every`` of log time per incident
  (a growth within the limit is said when the limit runs out);
- ``resolved`` when its last finding is resolved (no signal for the
  findings' ``cooldown``).

Routing: a signal keyed by a SASL login joins that login's incident; any
other (a host's queue, a client address failing to log in) joins the incident
of the one login its evidence names under ``logins`` (the queue filled by one
login's mail, a brute force against one login), else its host's. A login's
incident spans hosts.

Absorbing: a signal whose evidence ``continues`` names other findings
(``[detector, key_kind, key]`` each: the auth detector names the password
spray or brute force a successful login came from) takes those findings into
its own incident, so the attack and the login it guessed are one incident. An
incident left without a live finding by that ends with a ``resolved`` record
whose ``merged_into`` is the id of the incident it continued as; ``report``
shows only that one.

Everything runs on log time, so a report over a file and a live follow agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar

from spamwatch.config import Config
from spamwatch.config.schema import check_options, duration
from spamwatch.errors import ConfigError
from spamwatch.incidents.severity import grade
from spamwatch.incidents.tracker import FindingTracker, TrackKey
from spamwatch.model import Finding, FindingState, Incident, IncidentState, Severity, Signal

IncidentKey = tuple[str, str]
"""(key kind, key): ("sasl_username", "alice@example.com") or ("host", "mx1")."""

LOGIN = "sasl_username"
HOST = "host"


@dataclass(slots=True)
class _Live:
    """What the engine remembers about one open incident."""

    id: str
    key: IncidentKey
    opened_at: datetime
    first_seen: datetime
    last_seen: datetime
    host: str | None
    hosts: dict[str, None] = field(default_factory=dict)  # ordered set
    findings: dict[TrackKey, Finding] = field(default_factory=dict)  # latest record of each
    live: set[TrackKey] = field(default_factory=set)  # findings not resolved yet
    facts: frozenset[str] = frozenset()
    severity: Severity = Severity.INFO
    reason: str = ""
    state: IncidentState = IncidentState.OPENED  # of the last record emitted
    last_record: datetime | None = None  # log time of the last opened/escalated/updated
    pending: bool = False  # grew since the last record; an ``updated`` is due


def finding_key(item: Signal | Finding) -> TrackKey:
    """The FindingTracker's key of a signal or a finding."""
    return (item.detector, item.key_kind, item.key)


def continued(signal: Signal) -> list[TrackKey]:
    """The findings a signal says it continues: evidence ``continues``, a list of
    ``[detector, key_kind, key]`` (anything else in it is ignored)."""
    refs = signal.evidence.get("continues")
    if not isinstance(refs, list | tuple):
        return []
    return [
        (ref[0], ref[1], ref[2])
        for ref in refs
        if isinstance(ref, list | tuple) and len(ref) == 3 and all(isinstance(p, str) for p in ref)
    ]


def label(key: IncidentKey) -> str:
    """``login alice@example.com`` or ``host mx1``: an incident named for people."""
    return f"{'login' if key[0] == LOGIN else key[0]} {key[1]}"


def route(signal: Signal) -> IncidentKey:
    """The incident a signal belongs to (see the module docstring)."""
    if signal.key_kind == LOGIN:
        return (LOGIN, signal.key)
    named = signal.evidence.get("logins")
    if isinstance(named, list | tuple | Mapping) and len(named) == 1:
        (login,) = list(named)
        if isinstance(login, str) and login:
            return (LOGIN, login)
    return (HOST, signal.key if signal.key_kind == HOST else signal.host or signal.key)


class IncidentEngine:
    """Group findings into incidents, grade them, emit their records; in log time.

    Options (config table ``[incidents]``):

    ``update_every`` ("5m"): at most one ``updated`` record per incident in
    this much log time.
    ``max_findings`` (50): findings kept as evidence per incident (resolved
    ones dropped first), so a spray of a thousand addresses stays bounded.

    The findings' own lifecycle (cooldown, growth, cap) is the
    ``[findings]`` table of the FindingTracker inside.
    """

    defaults: ClassVar[Mapping[str, Any]] = {"update_every": "5m", "max_findings": 50}

    def __init__(
        self,
        options: Mapping[str, Any] | None = None,
        findings: FindingTracker | None = None,
        on_finding: Callable[[Finding], None] | None = None,
    ) -> None:
        merged = {**self.defaults, **check_options("incidents", options or {}, self.defaults)}
        self.update_every: timedelta = duration(merged["update_every"])
        self.max_findings = int(merged["max_findings"])
        if self.max_findings < 1:  # 0 would keep no evidence, so no facts to grade
            raise ConfigError(
                f"incidents.max_findings: must be at least 1, got {self.max_findings}"
            )
        self.findings = findings if findings is not None else FindingTracker()
        self.on_finding = on_finding
        self._open: dict[IncidentKey, _Live] = {}
        self._of_finding: dict[TrackKey, _Live] = {}
        self._pending: dict[IncidentKey, None] = {}
        self.stats: dict[str, int] = {str(s): 0 for s in IncidentState}

    @classmethod
    def from_config(cls, config: Config) -> IncidentEngine:
        """An engine with ``[incidents]`` and ``[findings]`` applied (ConfigError on bad keys)."""
        return cls(config.section("incidents"), FindingTracker.from_config(config))

    # -- the stream -----------------------------------------------------------

    def observe(self, signal: Signal) -> list[Incident]:
        """Take one Signal; the incident records it causes (usually none)."""
        record = self.findings.observe(signal)
        if record is not None and self.on_finding is not None:
            self.on_finding(record)
        fkey = finding_key(signal)
        live = self._of_finding.get(fkey)
        if live is None:
            if record is None:  # evicted from the tracker between calls: nothing to hold
                return []
            return self._join(fkey, record, signal)
        live.last_seen = max(live.last_seen, signal.time)
        if signal.host is not None:
            live.host = signal.host
            live.hosts.setdefault(signal.host, None)
        moved, ended = self._absorb(live, signal)
        new_facts = not signal.facts <= live.facts
        if record is None and not new_facts and not moved:
            return []
        live.findings[fkey] = record or self.findings.current(fkey) or live.findings[fkey]
        return self._judge(live, signal.time, grew=record is not None or moved) + ended

    def tick(self, now: datetime) -> list[Incident]:
        """Resolve what went quiet; say the growth held back by ``update_every``."""
        out: list[Incident] = []
        for record in self.findings.tick(now):
            out.extend(self._finding_over(record))
        if self._pending:
            for ikey in list(self._pending):
                live = self._open[ikey]
                due = self._due(live)
                if due is not None and now >= due:
                    out.append(self._emit(live, IncidentState.UPDATED, due))
        return out

    def finish(self, now: datetime) -> list[Incident]:
        """Resolve everything still open (end of a bounded run, shutdown)."""
        out: list[Incident] = []
        for record in self.findings.finish(now):
            out.extend(self._finding_over(record))
        return out

    # -- queries --------------------------------------------------------------

    def open_incidents(self) -> list[Incident]:
        """Open incidents as of their latest findings, most severe first.

        The state is that of the last emitted record; severity, findings and
        last_seen are the latest, so a report shows the current picture.
        """
        snaps = [
            self._snapshot(live, live.state, live.last_record or live.opened_at)
            for live in self._open.values()
        ]
        snaps.sort(key=lambda i: (-int(i.severity), i.opened_at))
        return snaps

    def open_keys(self) -> list[tuple[str, str]]:
        """(key kind, key) of each incident open at warning or above: not learned as normal."""
        return [key for key, live in self._open.items() if live.severity >= Severity.WARNING]

    def is_open(self, login: str) -> bool:
        """Is an incident open for this SASL login? (its traffic is not learned as normal)"""
        return (LOGIN, login.strip().lower()) in self._open

    def __len__(self) -> int:
        return len(self._open)

    # -- inside ---------------------------------------------------------------

    def _join(self, fkey: TrackKey, record: Finding, signal: Signal) -> list[Incident]:
        """A new finding: into its open incident, or it opens one."""
        ikey = route(signal)
        live = self._open.get(ikey)
        opening = live is None
        if live is None:
            live = self._open[ikey] = _Live(
                id=f"{ikey[0]}:{ikey[1]}:{signal.time.isoformat()}",
                key=ikey,
                opened_at=signal.time,
                first_seen=record.first_seen,
                last_seen=signal.time,
                host=signal.host,
            )
        self._of_finding[fkey] = live
        live.live.add(fkey)
        live.findings[fkey] = record
        live.first_seen = min(live.first_seen, record.first_seen)
        live.last_seen = max(live.last_seen, signal.time)
        if signal.host is not None:
            live.host = signal.host
            live.hosts.setdefault(signal.host, None)
        _, ended = self._absorb(live, signal)
        self._bound(live)
        if opening:
            live.severity, live.reason, live.facts = grade(live.findings.values())
            return [self._emit(live, IncidentState.OPENED, signal.time), *ended]
        return self._judge(live, signal.time, grew=True) + ended

    def _absorb(self, live: _Live, signal: Signal) -> tuple[bool, list[Incident]]:
        """Take the findings the signal ``continues`` into ``live`` (module docstring).

        Returns whether any moved, and the ``resolved`` records of incidents
        that ended by it (built before their findings leave, so each says
        what it was), to be emitted after ``live``'s own record.
        """
        moved, ended = False, []
        for fkey in continued(signal):
            other = self._of_finding.get(fkey)
            if other is None or other is live:
                continue  # over already, or in this incident already
            if other.live == {fkey}:  # its last live finding: it goes on as ``live``
                del self._open[other.key]
                self._pending.pop(other.key, None)
                record = self._emit(other, IncidentState.RESOLVED, signal.time)
                ended.append(
                    replace(
                        record,
                        merged_into=live.id,
                        summary=(
                            f"{record.summary}; continued as the incident of {label(live.key)}"
                        ),
                    )
                )
            finding = other.findings.pop(fkey)
            other.live.discard(fkey)
            self._of_finding[fkey] = live
            live.findings[fkey] = finding
            live.live.add(fkey)
            live.first_seen = min(live.first_seen, finding.first_seen)
            for host in other.hosts:
                live.hosts.setdefault(host, None)
            moved = True
        return moved, ended

    def _judge(self, live: _Live, now: datetime, grew: bool) -> list[Incident]:
        """Re-grade after a finding changed: escalated, updated (rate-limited) or nothing."""
        severity, reason, facts = grade(live.findings.values())
        live.facts = facts
        if severity >= live.severity:
            live.reason = reason  # the same row may now name more facts
        if severity > live.severity:
            live.severity = severity
            return [self._emit(live, IncidentState.ESCALATED, now)]
        if not grew:
            return []
        live.pending = True
        self._pending[live.key] = None
        due = self._due(live)
        if due is not None and now >= due:
            return [self._emit(live, IncidentState.UPDATED, now)]
        return []

    def _due(self, live: _Live) -> datetime | None:
        """When an ``updated`` may go out (None: nothing pending)."""
        if not live.pending:
            return None
        if live.last_record is None:
            return live.last_seen
        return live.last_record + self.update_every

    def _finding_over(self, record: Finding) -> list[Incident]:
        """A finding resolved: the incident resolves with its last finding."""
        if self.on_finding is not None:
            self.on_finding(record)
        fkey = finding_key(record)
        live = self._of_finding.pop(fkey, None)
        if live is None:
            return []
        live.findings[fkey] = record
        live.live.discard(fkey)
        if live.live:
            return []
        del self._open[live.key]
        self._pending.pop(live.key, None)
        return [self._emit(live, IncidentState.RESOLVED, max(record.time, live.last_seen))]

    def _emit(self, live: _Live, state: IncidentState, time: datetime) -> Incident:
        live.state = state
        if state is not IncidentState.RESOLVED:
            live.last_record = time
            live.pending = False
            self._pending.pop(live.key, None)
        self.stats[str(state)] += 1
        return self._snapshot(live, state, time)

    def _snapshot(self, live: _Live, state: IncidentState, time: datetime) -> Incident:
        findings = sorted(self._current(live), key=lambda f: _finding_rank(f, live.key[1]))
        lead = findings[0]
        others = [d for d in dict.fromkeys(f.detector for f in findings[1:]) if d != lead.detector]
        summary = lead.summary + (f" (also {', '.join(others)})" if others else "")
        counts: dict[str, int | float] = {}
        for finding in findings:
            for name, value in finding.counts.items():
                slot = f"{finding.detector}.{name}"
                counts[slot] = max(counts.get(slot, value), value)
        return Incident(
            id=live.id,
            state=state,
            severity=live.severity,
            key=live.key[1],
            key_kind=live.key[0],
            summary=summary,
            reason=live.reason,
            first_seen=live.first_seen,
            last_seen=live.last_seen,
            opened_at=live.opened_at,
            time=time,
            host=live.host,
            hosts=tuple(live.hosts),
            facts=live.facts,
            counts=counts,
            findings=tuple(findings),
        )

    def _current(self, live: _Live) -> Iterable[Finding]:
        """Each finding as of its latest signal (resolved ones as they ended)."""
        for fkey, record in live.findings.items():
            now = self.findings.current(fkey) if fkey in live.live else None
            yield now or record

    def _bound(self, live: _Live) -> None:
        """Keep at most ``max_findings`` per incident: resolved ones go first, then oldest."""
        while len(live.findings) > self.max_findings:
            over = [k for k in live.findings if k not in live.live]
            victim = over[0] if over else next(iter(live.findings))
            del live.findings[victim]
            if victim in live.live:
                live.live.discard(victim)
                self._of_finding.pop(victim, None)


def _finding_rank(finding: Finding, key: str) -> tuple[object, ...]:
    """Most severe, then about the incident's own key (the guessed login before the spray
    it absorbed), then open before resolved, then biggest, then first raised."""
    biggest = max((v for v in finding.counts.values() if isinstance(v, int | float)), default=0)
    return (
        -int(finding.severity),
        finding.key != key,
        finding.state is FindingState.RESOLVED,
        -biggest,
        finding.raised_at,
        finding.detector,
        finding.key,
    )
