"""The response stage of ``follow``: contain a login the moment its record goes out.

It sits after the alert gate (so a warm-up replay of something alerted before
a restart triggers nothing) and beside the sinks, not among them: a sink
delivers news, this changes the mail system. It keeps, from the correlator's
updates, each login's messages still in the queue (queue id -> sender) and its
recent client addresses (for the allow-listed networks), bounded. For every
record sent it asks ``ContainPolicy.decide``; when that names a login, the
``Containment`` runs, and an ``updated`` record carrying the outcome
(``response.containment``, and the summary: "contained: locked at 03:12:05,
214 queued messages held", or exactly why not) goes to the same sinks.

Sessions a botnet opened before the lock can still submit (Postfix re-reads
the map when an smtpd process starts a new session); what a contained login
queues after its lock is therefore held too, in batches at most a second
apart (``poll``).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import replace

from spamwatch.contain.engine import DONE, Containment, Outcome
from spamwatch.contain.policy import ContainPolicy
from spamwatch.contain.settings import ContainSettings
from spamwatch.errors import ContainError
from spamwatch.model import Incident, IncidentState, MessageUpdate, Stage
from spamwatch.textsafe import clean

MAX_LOGINS = 10_000
"""Logins whose queued ids are tracked (least recently active dropped)."""
MAX_IDS = 20_000
"""Queued ids remembered per login."""
MAX_ADDRESSES = 64
"""Recent client addresses remembered per login (for the allowed networks)."""
LATE_HOLD_EVERY = 1.0
"""Seconds between holds of mail a contained login queued after its lock."""

AUTO_BY = "spamwatch follow"


class Responder:
    """Contain logins as ``follow`` sends their records (see the module docstring)."""

    def __init__(
        self,
        settings: ContainSettings,
        output: Callable[[Incident], None],
        notify: Callable[[str, str], None],
        containment: Containment | None = None,
        policy: ContainPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.output = output
        self.notify = notify
        self.containment = containment or Containment(settings)
        self.policy = policy or ContainPolicy(settings)
        self.clock = clock
        self._queued: OrderedDict[str, dict[str, str | None]] = OrderedDict()
        self._addresses: dict[str, deque[str]] = {}
        self._holding: dict[str, str] = {}  # contained login -> incident id
        self._acted: set[str] = set()  # logins decided on this run (dry run, refused)
        self._late: dict[str, dict[str, str | None]] = {}
        self._late_since: float | None = None
        self.outcomes: list[Outcome] = []

    def start(self) -> None:
        """Learn which logins spamwatch holds already (their new mail is held too)."""
        if not self.settings.hold or self.settings.dry_run:
            return
        try:
            for entry, _ in self.containment.entries():
                self._holding[entry.login.lower()] = entry.incident
        except ContainError as exc:
            self.notify("contain-start", f"containment: {exc}")

    # -- the correlator's updates ---------------------------------------------

    def on_update(self, update: MessageUpdate) -> None:
        """Track each login's queued messages (QUEUED adds, DONE removes)."""
        message = update.message
        name = message.sasl_username
        if not name:
            return
        login = name.strip().lower()
        if update.stage is Stage.QUEUED:
            ids = self._queued.pop(login, None) or {}
            self._queued[login] = ids
            if len(ids) < MAX_IDS:
                ids[message.queue_id] = message.sender
            while len(self._queued) > MAX_LOGINS:
                old, _ = self._queued.popitem(last=False)
                self._addresses.pop(old, None)
            if message.client_ip:
                seen = self._addresses.setdefault(login, deque(maxlen=MAX_ADDRESSES))
                if message.client_ip not in seen:
                    seen.append(message.client_ip)
            if login in self._holding:
                self._late.setdefault(login, {})[message.queue_id] = message.sender
                if self._late_since is None:
                    self._late_since = self.clock()
        elif update.stage is Stage.DONE:
            ids = self._queued.get(login)
            if ids is not None:
                ids.pop(message.queue_id, None)
            late = self._late.get(login)
            if late is not None:
                late.pop(message.queue_id, None)

    # -- records --------------------------------------------------------------

    def on_record(self, record: Incident) -> None:
        """Contain the login ``record`` is about, when the policy says so."""
        login = self.policy.decide(record)
        if login is None or login in self._holding or login in self._acted:
            return
        self._acted.add(login)
        try:
            outcome = self.containment.contain(
                login,
                incident=record.id,
                reason=record.summary,
                queued=dict(self._queued.get(login, {})),
                addresses=tuple(self._addresses.get(login, ())),
                trigger="auto",
                by=AUTO_BY,
                evidence=record.to_json(),
            )
        except ContainError as exc:
            self._acted.discard(login)  # try again on its next record
            self._report(record, login, None, str(exc))
            return
        self.outcomes.append(outcome)
        acted = any(s.status == DONE for s in outcome.steps)
        if outcome.status != "dry run" and self.settings.hold and acted:
            self._holding[login] = record.id
        self._report(record, login, outcome, "")

    def _report(self, record: Incident, login: str, outcome: Outcome | None, error: str) -> None:
        """Tell the admin (stderr) and the sinks (an ``updated`` record)."""
        if outcome is None:
            words = f"containment failed: {error}"
            data = {
                "action": "contain",
                "login": clean(login),
                "status": "containment failed",
                "summary": words,
                "steps": [],
            }
        else:
            words = outcome.summary()
            data = outcome.to_json()
        self.notify(f"contain:{login}:{words}", f"{clean(login, limit=80)}: {words}")
        if outcome is not None and outcome.status == "dry run":
            for step in outcome.steps:
                for command in step.commands:
                    self.notify(f"contain:{login}:{command}", f"  dry run: {command}")
                if step.map_line:
                    self.notify(
                        f"contain:{login}:{step.map_line}",
                        f"  dry run: map line: {clean(step.map_line.rstrip())}",
                    )
        updated = replace(
            record,
            state=IncidentState.UPDATED,
            summary=f"{record.summary}; {words}",
            response={**record.response, "containment": data},
        )
        self.output(updated)

    # -- late holds -----------------------------------------------------------

    def poll(self) -> None:
        """Hold what contained logins queued since the last poll (at most once a second)."""
        if self._late_since is None or self.clock() - self._late_since < LATE_HOLD_EVERY:
            return
        late, self._late, self._late_since = self._late, {}, None
        for login, ids in late.items():
            if not ids:
                continue
            try:
                step = self.containment.hold_more(login, ids, self._holding.get(login, ""))
            except ContainError as exc:
                self.notify(
                    f"late:{login}:{exc}", f"{clean(login, limit=80)}: late hold failed: {exc}"
                )
                continue
            if step.status == "skipped":
                self._holding.pop(login, None)  # released meanwhile
            elif step.status != DONE:
                self.notify(
                    f"late:{login}:{step.detail}",
                    f"{clean(login, limit=80)}: late hold {step.status}: {step.detail}",
                )
