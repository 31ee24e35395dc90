"""Bounce and deferral ratio per SASL user: the world refusing one user's mail.

Spam to harvested addresses bounces (5xx: no such user) and gets throttled
(4xx deferrals from the big providers) far more than a person's mail does. A
sudden share of failures on one login's outbound mail is therefore a second,
independent sign of abuse, and it names the destinations that are refusing,
which is what the admin needs before the server lands on a blocklist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any, ClassVar

from spamwatch.detectors.allow import domain_of, parse_ip
from spamwatch.detectors.queue import owner_of, reason_key
from spamwatch.detectors.site import SiteDetector, grade, plural, top, user_of
from spamwatch.detectors.windows import KeyedWindows, TimeWindow
from spamwatch.model import MessageUpdate, Severity, Signal, Stage
from spamwatch.timeutil import format_duration

BAD = frozenset({"bounced", "deferred", "expired", "undeliverable"})


@lru_cache(maxsize=1024)
def internal_hop(relay: str | None) -> bool:
    """A delivery to a loopback relay is a content filter hop, not the world's verdict.

    Asked for every delivery by three stages, of a few relays (remembered)."""
    if not relay or "[" not in relay:
        return False
    ip = parse_ip(relay.split("[", 1)[1].split("]", 1)[0])
    return ip is not None and ip.is_loopback


class BounceRatioDetector(SiteDetector):
    """Too many of one SASL user's deliveries bounced or deferred.

    Each recipient counts once, at its first delivery attempt (retries of a
    deferred message are not new failures); deliveries to a loopback relay (a
    content filter) do not count. Options, global ``[detectors.bounces]`` or
    per user:

    ``window`` ("1h"): how far back deliveries are counted.
    ``min_count`` (20): bounced + deferred deliveries needed at all.
    ``ratio`` (0.3): ... and their share of the user's deliveries.
    ``critical_factor`` (5.0): critical at this multiple of ``min_count``.
    ``outage_senders`` (3): a deferral to a destination (a recipient domain,
    or a reason such as "connect to relay.example.net: Connection timed out")
    that at least this many senders on the host saw deferred within
    ``window`` is an outage of that destination, the queue detector's
    business, and counts neither for nor against the user, unless the user
    holds half of those deferrals or more (a spam run that got the host
    throttled is still its own).
    ``max_users`` (10000): users tracked at once (least recent evicted).
    """

    name: ClassVar[str] = "bounces"
    description: ClassVar[str] = "share of bounced and deferred deliveries per SASL user"
    update_stages: ClassVar[frozenset[Stage]] = frozenset({Stage.DELIVERY})
    defaults: ClassVar[Mapping[str, Any]] = {
        "window": "1h",
        "min_count": 20,
        "ratio": 0.3,
        "critical_factor": 5.0,
        "outage_senders": 3,
        "max_users": 10_000,
    }

    def setup(self) -> None:
        cap = int(self.options["max_users"])
        self._outcomes: KeyedWindows[str, str] = KeyedWindows(self.span("window"), cap)
        self._failed: KeyedWindows[str, tuple[str, str, str]] = KeyedWindows(
            self.span("window"), cap
        )
        self._waiting: KeyedWindows[tuple[str, str], str] = KeyedWindows(self.span("window"), cap)

    def on_update(self, update: MessageUpdate) -> Iterable[Signal]:
        rcpt = update.recipient
        if update.stage is not Stage.DELIVERY or rcpt is None or rcpt.attempts != 1:
            return ()
        message = update.message
        if internal_hop(rcpt.relay):
            return ()
        outage = rcpt.status == "deferred" and self._outage(update)
        user = user_of(message)
        if user is None or outage or not self.enabled_for(user):
            return ()
        if self.site.allow.allows(user, message.client_ip, message.sender):
            return ()
        now, span = update.event.time, self.span("window", user)
        status = rcpt.status if rcpt.status in BAD else "sent"
        total = len(self._outcomes.add(user, now, status, span))
        if status == "sent":
            failed = self._failed.get(user, now)
            if failed is None:
                return ()
        else:
            value = (status, domain_of(rcpt.address), reason_key(rcpt.reason, rcpt.dsn))
            failed = self._failed.add(user, now, value, span)
        bad = len(failed)
        if bad / total < self.number("ratio", user):
            return ()
        severity = grade(bad, self.number("min_count", user), self.number("critical_factor", user))
        if severity is None:
            return ()
        return (self._signal(user, severity, now, failed, total, message.host),)

    def sweep(self, now: datetime) -> None:
        self._outcomes.expire(now)
        self._failed.expire(now)
        self._waiting.expire(now)

    def _outage(self, update: MessageUpdate) -> bool:
        """Is this deferral part of a destination's outage (see ``outage_senders``)?"""
        rcpt, message, now = update.recipient, update.message, update.event.time
        assert rcpt is not None
        owner = owner_of(message)
        found = False
        for destination in (domain_of(rcpt.address), reason_key(rcpt.reason, rcpt.dsn)):
            window = self._waiting.add((message.host, destination), now, owner)
            senders = window.ranked()
            if len(senders) >= self.number("outage_senders"):
                found = found or senders.get(owner, 0) / len(window) < 0.5
        return found

    def _signal(
        self,
        user: str,
        severity: Severity,
        now: datetime,
        failed: TimeWindow[tuple[str, str, str]],
        total: int,
        host: str,
    ) -> Signal:
        bad = len(failed)
        statuses = failed.ranked(0)
        span = format_duration(self.span("window", user))
        summary = (
            f"{user}: {bad} of {plural(total, 'delivery')} in {span} bounced or deferred"
            f" ({bad * 100 // total}%: "
            + ", ".join(f"{n} {s}" for s, n in statuses.top(len(statuses)))
            + ")"
        )
        counts = {"deliveries": total, "failed": bad, **dict(statuses.top(len(statuses)))}
        evidence = {
            "statuses": top(statuses),
            "destinations": top(failed.ranked(1)),
            "reasons": top(failed.ranked(2), 5),
            "window": span,
        }
        return self.signal(
            key=user,
            severity=severity,
            time=now,
            first_seen=failed.first_time,
            summary=summary,
            host=host,
            counts=counts,
            evidence=evidence,
            facts=("bounces",),
        )
