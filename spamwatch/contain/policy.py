"""When to contain, and when never to: the automatic trigger and the safety checks.

``ContainPolicy.decide(record)`` is the one place that turns an alert record
into "lock this login": an incident record of a SASL login (whose severity
already weighs its detectors' findings together) at or above ``auto``,
seconded by ``auto_detectors`` detectors with a live finding in it.

``refusal`` is checked before any action, by hand or automatic: a login on
the allow-list (``[contain] allow_users``, ``[allow] users``; an entry
without ``@`` also matches the local part, so ``postmaster`` covers
``postmaster@example.com``) or seen from an allowed network
(``[contain] allow_networks``, ``[allow] networks``) is never locked.
Automatic locks are also capped per hour (``max_auto_per_hour``), so a
detector bug alerts loudly instead of locking out the whole company.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from spamwatch.contain.ledger import LedgerData
from spamwatch.contain.settings import ContainSettings
from spamwatch.detectors.allow import parse_ip
from spamwatch.model import FindingState, Incident, IncidentState

LOGIN_KIND = "sasl_username"
MAX_LOGINS = 10_000
"""Logins whose live records the policy keeps (least recently seen dropped)."""


class ContainPolicy:
    """Decides which alert records trigger automatic containment (``[contain] auto``).

    Confidence: with ``auto_detectors = N`` a login is contained only when N
    different detectors have live (not resolved) findings in its incident (so
    one detector's mistake alerts, it does not lock).
    """

    def __init__(self, settings: ContainSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock

    def decide(self, record: Incident) -> str | None:
        """The login to contain for ``record``, or None.

        A live (not resolved) incident record about a SASL login at or above
        ``auto``, written recently (``follow --from-start`` over last week's
        log must not lock anybody for what happened last week:
        ``auto_max_age``), whose findings come from at least
        ``auto_detectors`` detectors.
        """
        auto = self.settings.auto
        if auto is None or not self.settings.actions:
            return None
        if record.key_kind != LOGIN_KIND or not record.key:
            return None
        if record.state is IncidentState.RESOLVED or record.severity < auto:
            return None
        age = self.clock() - record.time.timestamp()
        if age > self.settings.auto_max_age.total_seconds():
            return None
        if len(agreeing(record)) < self.settings.auto_detectors:
            return None
        return record.key.lower()


def agreeing(record: Incident) -> set[str]:
    """The detectors with a live (not resolved) finding in the incident."""
    return {f.detector for f in record.findings if f.state is not FindingState.RESOLVED}


def allow_listed(settings: ContainSettings, login: str) -> bool:
    """Is ``login`` (or its local part, for entries without ``@``) on the allow-list?"""
    name = login.lower()
    local = name.rsplit("@", 1)[0]
    return any(
        name == entry or ("@" not in entry and local == entry) for entry in settings.allow_users
    )


def allowed_address(settings: ContainSettings, addresses: Iterable[str]) -> str | None:
    """The first of ``addresses`` inside an allowed network, or None."""
    for text in addresses:
        ip = parse_ip(text)
        if ip is not None and any(ip in net for net in settings.allow_networks):
            return str(ip)
    return None


def refusal(
    settings: ContainSettings,
    login: str,
    addresses: Iterable[str],
    ledger: LedgerData,
    automatic: bool,
    now: datetime | None = None,
) -> str | None:
    """Why ``login`` must not be contained now (None: go ahead)."""
    if allow_listed(settings, login):
        return "on the allow-list ([contain] allow_users / [allow] users)"
    inside = allowed_address(settings, addresses)
    if inside is not None:
        return (
            f"seen from {inside}, an allowed network ([contain] allow_networks / [allow] networks)"
        )
    if automatic:
        when = now or datetime.now(UTC)
        count = ledger.recent_auto(when)
        if count >= settings.max_auto_per_hour:
            return (
                f"hourly limit reached: {count} automatic locks in the last hour"
                f" (max_auto_per_hour = {settings.max_auto_per_hour}); alerting only"
            )
    return None
