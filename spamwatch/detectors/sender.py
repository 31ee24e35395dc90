"""Envelope sender outside the user's own domains: mail "from" someone else.

A spammer holding alice@example.com's password rarely sends as alice: the
envelope sender is whatever the campaign forges (a bank, a parcel service).
Postfix only refuses that with ``reject_sender_login_mismatch``, which many
sites do not set, so the log shows it plainly: an authenticated login, a
``from=`` in a domain that is not its own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from spamwatch.detectors.allow import domain_of
from spamwatch.detectors.site import (
    SAMPLE_IDS,
    SiteDetector,
    fresh_submission,
    grade,
    login,
    plural,
    top,
    user_of,
)
from spamwatch.detectors.windows import KeyedWindows, Recent
from spamwatch.model import Message, MessageUpdate, Severity, Signal, Stage
from spamwatch.timeutil import format_duration


class SenderMismatchDetector(SiteDetector):
    """Authenticated users sending with a foreign envelope sender.

    A user's own domains are the domain of their SASL login (alice@example.com
    owns example.com and its subdomains), the top-level ``local_domains``, and
    the ``domains`` option; a login without ``@`` owns only the last two (and
    when both are empty there is nothing to judge by: it is not checked). The
    null sender and allow-listed senders never count. Options, global
    ``[detectors.sender]`` or per user:

    ``window`` ("1h"): how far back foreign-sender messages are counted.
    ``threshold`` (5): foreign-sender messages in the window for a warning
    (a few are an alias or a forwarding habit; hundreds are a campaign).
    ``critical_factor`` (10.0): critical at this multiple of the threshold.
    ``domains`` ([]): more domains the user(s) may send as.
    ``login_domain`` (true): the SASL login's own domain counts as theirs.
    ``max_users`` (10000): users tracked at once (least recent evicted).

    With a learned profile (enough history, see spamwatch.profiles.view), a
    foreign domain the login has sent as before is its habit and is not
    counted at all, and a foreign domain it never used is a signal from the
    first message (at least warning; facts ``foreign_sender``,
    ``new_sender_domain``): the quiet forger sending two an hour is seen at
    once, not after hours.
    """

    name: ClassVar[str] = "sender"
    description: ClassVar[str] = "authenticated users sending as a foreign envelope sender"
    update_stages: ClassVar[frozenset[Stage]] = frozenset({Stage.QUEUED})
    defaults: ClassVar[Mapping[str, Any]] = {
        "window": "1h",
        "threshold": 5,
        "critical_factor": 10.0,
        "domains": [],
        "login_domain": True,
        "max_users": 10_000,
    }

    def setup(self) -> None:
        cap = int(self.options["max_users"])
        self._foreign: KeyedWindows[str, tuple[str, str, str]] = KeyedWindows(
            self.span("window"), cap
        )
        self._samples: Recent[str, deque[str]] = Recent(cap)

    def on_update(self, update: MessageUpdate) -> Iterable[Signal]:
        message = update.message
        if update.stage is not Stage.QUEUED or not fresh_submission(update):
            return ()
        user = user_of(message)
        sender = login(message.sender or "")
        if user is None or not sender or not self.enabled_for(user):
            return ()
        if self.site.allow.allows(user, message.client_ip, sender) or self.owns(user, sender):
            return ()
        profile = self.profiles.login(user)
        if profile is not None and profile.knows_sender(domain_of(sender)):
            return ()  # a foreign domain this login has used before: its habit, not a forgery
        signal = self._count(user, sender, message, update.event.time, profile is not None)
        return () if signal is None else (signal,)

    def sweep(self, now: datetime) -> None:
        self._foreign.expire(now)
        self._samples.expire(now - self.span("window"))

    def owns(self, user: str, sender: str) -> bool:
        """Is ``sender`` in one of ``user``'s own domains?"""
        domain = domain_of(sender)
        if not domain:
            return True  # an unqualified local name ("root") is not a forgery
        return self.site.owns(
            user, domain, self.option("domains", user), self.option("login_domain", user)
        )

    def _count(
        self, user: str, sender: str, message: Message, now: datetime, judged: bool
    ) -> Signal | None:
        """Count a foreign sender; with a profile (``judged``) a new domain is a signal at once."""
        span = self.span("window", user)
        value = (sender, message.client_ip or "unknown", domain_of(sender))
        window = self._foreign.add(user, now, value, span)
        self._samples.get(user, now, lambda: deque(maxlen=SAMPLE_IDS)).append(message.queue_id)
        severity = grade(
            len(window), self.number("threshold", user), self.number("critical_factor", user)
        )
        if judged:
            severity = max(severity or Severity.WARNING, Severity.WARNING)
        if severity is None:
            return None
        senders, domains = window.ranked(0), window.ranked(2)
        summary = (
            f"{user} sent {plural(len(window), 'message')} with a foreign envelope sender"
            f" in {format_duration(span)} ({plural(len(domains), 'domain')},"
            f" most {domains.top(1)[0][0]})"
        )
        counts = {"messages": len(window), "sender_domains": len(domains), "senders": len(senders)}
        evidence = {
            "sender_domains": top(domains),
            "senders": top(senders, 5),
            "client_addresses": top(window.ranked(1)),
            "sample_queue_ids": list(self._samples.peek(user) or ()),
            "window": format_duration(span),
        }
        return self.signal(
            key=user,
            severity=severity,
            time=now,
            first_seen=window.first_time,
            summary=summary,
            host=message.host,
            counts=counts,
            evidence=evidence,
            facts=("foreign_sender", "new_sender_domain") if judged else ("foreign_sender",),
        )
