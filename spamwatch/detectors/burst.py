"""Single-recipient burst per SASL user: the signature of a hijacked mailbox.

A botnet that bought a password sends thousands of messages with exactly one
recipient each (5,999 in under 50 minutes in the incident this tool was built
for). People write to several people at once, and lists and newsletters send
many recipients per message; single-recipient volume per login is what stands
out. Two windows catch both speeds: a short one for the flood, a long one for
the patient sender who stays under every per-minute cap. Each user is also
compared with their own normal, so a shop's order mailer that always sends 50
an hour is not an incident at 60.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar

from spamwatch.detectors.allow import domain_of, list_bounce
from spamwatch.detectors.site import (
    SAMPLE_IDS,
    SiteDetector,
    fresh_submission,
    grade,
    plain,
    plural,
    top,
    user_of,
)
from spamwatch.detectors.windows import BucketHistory, KeyedWindows, Recent, TimeWindow
from spamwatch.model import Message, MessageUpdate, Severity, Signal, Stage
from spamwatch.timeutil import format_duration

History = tuple[BucketHistory, BucketHistory]

QUANTILE = 0.9
"""Which quantile of a user's active buckets is their usual volume."""


@dataclass(frozen=True, slots=True)
class _Check:
    """One window of a user, and the count at which it becomes a finding."""

    name: str
    window: TimeWindow[Any]
    limit: float
    span: timedelta


class BurstDetector(SiteDetector):
    """Too many single-recipient messages from one SASL login.

    Counts messages with exactly one recipient (qmgr ``nrcpt=1``) per SASL
    user, once per message (a content filter's re-injected copy is not
    counted again). Options, global ``[detectors.burst]`` or per user:

    ``short_window`` ("10m") / ``short_threshold`` (30): the flood window.
    ``long_window`` ("1h") / ``long_threshold`` (60): the patient sender.
    A third of the threshold within a third of the window (20 in 20
    minutes) is raised too, so a message every minute is caught within 20
    minutes while a busy person's 25 spread over an hour is not.
    ``critical_factor`` (5.0): critical at this multiple of a threshold.
    ``history`` ("7d"): how long each user's own volume is remembered.
    ``history_min`` (3): active buckets (10-minute / hourly) needed before
    the history counts; until then only the fixed thresholds apply.
    ``history_factor`` (3.0): with history, a threshold becomes at least
    this multiple of the user's usual volume (the 90th percentile of their
    active buckets, so one past incident is not the new normal), so 60 is
    normal for a 50-an-hour sender and 100 is not normal for a 3-an-hour one.
    ``max_users`` (10000): users tracked at once (least recent evicted).

    With a learned profile (``self.profiles``, enough history: see
    spamwatch.profiles.view) the usual volume is the login's usual *for this
    hour of the day*, learned over weeks, instead of what this process saw;
    the fixed thresholds stay the floor, and stay the only rule for a login
    with too little history (fact ``no_history``). A burst judged against a
    profile says ``above_usual``, and ``new_network`` / ``new_sender_domain``
    when its window holds a client network or sender domain the login never
    used.

    A mailing list's VERP expansion (every sender in the window a
    ``LIST-bounces+MEMBER=DOMAIN@`` address in the login's own domains, one
    client address) is raised as info only, with or without a profile.
    """

    name: ClassVar[str] = "burst"
    description: ClassVar[str] = "single-recipient messages per SASL user (short and long window)"
    update_stages: ClassVar[frozenset[Stage]] = frozenset({Stage.QUEUED, Stage.DELIVERY})
    defaults: ClassVar[Mapping[str, Any]] = {
        "short_window": "10m",
        "short_threshold": 30,
        "long_window": "1h",
        "long_threshold": 60,
        "critical_factor": 5.0,
        "history": "7d",
        "history_min": 3,
        "history_factor": 3.0,
        "max_users": 10_000,
    }

    def setup(self) -> None:
        cap = int(self.options["max_users"])
        self._short: KeyedWindows[str, str] = KeyedWindows(self.span("short_window"), cap)
        self._long: KeyedWindows[str, tuple[str, str]] = KeyedWindows(self.span("long_window"), cap)
        self._pace: KeyedWindows[str, str] = KeyedWindows(self.span("long_window") / 3, cap)
        self._rcpt: KeyedWindows[str, str] = KeyedWindows(self.span("long_window"), cap)
        self._new: KeyedWindows[str, str] = KeyedWindows(self.span("long_window"), cap)
        self._plain: KeyedWindows[str, str] = KeyedWindows(self.span("long_window"), cap)
        self._history: Recent[str, History] = Recent(cap)
        self._samples: Recent[str, deque[str]] = Recent(cap)

    def on_update(self, update: MessageUpdate) -> Iterable[Signal]:
        message = update.message
        if message.nrcpt != 1 or update.stage is Stage.DONE or not message.sasl_username:
            return ()  # the cheap tests first: this runs for every message milestone
        user = user_of(message)
        if user is None or not fresh_submission(update):
            return ()
        if update.stage is Stage.DELIVERY:
            self._recipient(user, update)
            return ()
        if update.stage is not Stage.QUEUED or not self._counts(user, message):
            return ()
        signal = self._count(user, message, update.event.time)
        return () if signal is None else (signal,)

    def sweep(self, now: datetime) -> None:
        for windows in (self._short, self._pace, self._long, self._rcpt, self._new, self._plain):
            windows.expire(now)
        self._history.expire(now - self.span("history"))
        self._samples.expire(now - self.span("long_window"))

    def _counts(self, user: str, message: Message) -> bool:
        allow = self.site.allow
        return self.enabled_for(user) and not allow.allows(user, message.client_ip, message.sender)

    def _recipient(self, user: str, update: MessageUpdate) -> None:
        rcpt = update.recipient
        if rcpt is not None and rcpt.attempts == 1 and user in self._long:
            self._rcpt.add(user, update.event.time, domain_of(rcpt.address) or "(local)")

    def _count(self, user: str, message: Message, now: datetime) -> Signal | None:
        """Count one message; judge the user's three windows; a Signal if one is over."""
        checks, usual = self._checks(user, now, self._record(user, message, now))
        factor = self.number("critical_factor", user)
        graded = [(grade(len(c.window), c.limit, factor), -n, c) for n, c in enumerate(checks)]
        hits = [g for g in graded if g[0] is not None]
        if not hits:
            return None
        severity, _, worst = max(hits, key=lambda g: (g[0], g[1]))
        if not self._list_expansion(user, now, checks[-1].window):
            return self._signal(user, message, now, severity, worst, checks, usual)  # type: ignore[arg-type]
        signal = self._signal(user, message, now, Severity.INFO, worst, checks, usual)
        return replace(signal, summary=f"{signal.summary}: a mailing list's VERP expansion")

    def _list_expansion(self, user: str, now: datetime, long: TimeWindow[Any]) -> bool:
        """Only VERP bounce senders in the user's own domains, from one address: a list.

        A mailing list expanding a post sends one message per member, as
        ``LIST-bounces+MEMBER=DOMAIN@`` its own list domain, from the list
        host's one address: hundreds in minutes, and nobody's abuse.
        """
        return self._plain.get(user, now) is None and len(long.ranked(0)) == 1

    def _record(self, user: str, message: Message, now: datetime) -> list[TimeWindow[Any]]:
        """Add the message to the user's windows and history; returns the windows."""
        ip = message.client_ip or "unknown"
        long_span = self.span("long_window", user)
        windows: list[TimeWindow[Any]] = [
            self._short.add(user, now, ip, self.span("short_window", user)),
            self._pace.add(user, now, ip, long_span / 3),
            self._long.add(user, now, (ip, domain_of(message.sender)), long_span),
        ]
        for history in self._history.get(user, now, lambda: self._new_history(user)):
            history.add(now)
        self._samples.get(user, now, lambda: deque(maxlen=SAMPLE_IDS)).append(message.queue_id)
        self._news(user, message, now)
        sender = message.sender
        if not (list_bounce(sender) and self.site.owns(user, domain_of(sender))):
            self._plain.add(user, now, ip, long_span)  # not a list's VERP expansion
        return windows

    def _checks(
        self, user: str, now: datetime, windows: list[TimeWindow[Any]]
    ) -> tuple[list[_Check], float | None]:
        """Each window with its limit (fixed, or raised by the user's own normal)."""
        short_span, long_span = self.span("short_window", user), self.span("long_window", user)
        usual_s, usual = self._usual(user, now)
        limit_s = self._threshold("short_threshold", user, usual_s)
        limit_l = self._threshold("long_threshold", user, usual)
        short, pace, long = windows
        checks = [
            _Check("short", short, limit_s, short_span),
            _Check("pace", pace, limit_l / 3, long_span / 3),
            _Check("long", long, limit_l, long_span),
        ]
        return checks, usual

    def _usual(self, user: str, now: datetime) -> tuple[float | None, float | None]:
        """The user's usual (short window, hour): from its profile, else from this process."""
        profile = self.profiles.login(user)
        if profile is not None:
            hourly = profile.usual(now.hour)
            return hourly / 3, hourly  # a third of an hour's usual in 10 minutes is usual
        hist_short, hist_long = self._history.get(user, now, lambda: self._new_history(user))
        min_buckets = int(self.number("history_min", user))
        span = self.span("long_window", user)
        return (
            hist_short.baseline(now, span, QUANTILE, min_buckets),
            hist_long.baseline(now, span, QUANTILE, min_buckets),
        )

    def _news(self, user: str, message: Message, now: datetime) -> None:
        """Note a client network or sender domain the user's profile has never seen."""
        profile = self.profiles.login(user)
        if profile is None:
            return
        span = self.span("long_window", user)
        ip, domain = message.client_ip, domain_of(message.sender)
        if ip and not profile.knows_address(ip):
            self._new.add(user, now, "new_network", span)
        if domain and not profile.knows_sender(domain):
            self._new.add(user, now, "new_sender_domain", span)

    def _facts(self, user: str, now: datetime, usual: float | None) -> list[str]:
        """volume; above_usual or no_history; new_network / new_sender_domain per profile."""
        facts = ["volume", "no_history" if usual is None else "above_usual"]
        news = self._new.get(user, now)
        return facts + sorted(news.ranked()) if news is not None else facts

    def _signal(
        self,
        user: str,
        message: Message,
        now: datetime,
        severity: Severity,
        worst: _Check,
        checks: list[_Check],
        usual: float | None,
    ) -> Signal:
        """Say who, how many, from where; evidence to act on without grepping."""
        long = checks[-1]
        by_address = long.window.ranked(0)
        addresses = len(by_address) if worst is long else worst.window.distinct
        summary = (
            f"{user} sent {len(worst.window)} single-recipient messages in"
            f" {format_duration(worst.span)} from {plural(addresses, 'address')}"
        )
        if worst is not long:
            summary += f" ({len(long.window)} in {format_duration(long.span)})"
        if usual is not None:
            summary += f" (usually {usual:g} an hour)"
        evidence = {
            "client_addresses": top(by_address),
            "sender_domains": top(long.window.ranked(1), 5),
            "recipient_domains": top(self._rcpt_counts(user, now)),
            "sample_queue_ids": list(self._samples.peek(user) or ()),
            "thresholds": {
                **{c.name: plain(c.limit) for c in checks},
                "usual_per_hour": None if usual is None else plain(usual),
            },
            "windows": {c.name: format_duration(c.span) for c in checks},
        }
        counts = {
            "messages_short": len(checks[0].window),
            "messages_long": len(long.window),
            "addresses": len(by_address),
        }
        facts = self._facts(user, now, usual)
        first = worst.window.first_time
        return self.signal(
            key=user,
            severity=severity,
            time=now,
            first_seen=first,
            summary=summary,
            host=message.host,
            counts=counts,
            evidence=evidence,
            facts=facts,
        )

    def _new_history(self, user: str) -> History:
        keep = self.span("history", user)
        return (
            BucketHistory(self.span("short_window", user), keep),
            BucketHistory(self.span("long_window", user), keep),
        )

    def _threshold(self, key: str, user: str, baseline: float | None) -> float:
        fixed = self.number(key, user)
        if baseline is None:
            return fixed
        return max(fixed, self.number("history_factor", user) * baseline)

    def _rcpt_counts(self, user: str, now: datetime) -> Mapping[str, int]:
        window = self._rcpt.get(user, now)
        return window.ranked() if window is not None else {}
