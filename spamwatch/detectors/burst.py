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
from datetime import datetime
from typing import Any, ClassVar

from spamwatch.allow import domain_of
from spamwatch.detectors.site import (
    SAMPLE_IDS,
    SiteDetector,
    fresh_submission,
    grade,
    plain,
    plural,
    tally,
    top,
    user_of,
)
from spamwatch.model import Message, MessageUpdate, Signal, Stage
from spamwatch.timeutil import format_duration
from spamwatch.windows import BucketHistory, KeyedWindows, Recent

History = tuple[BucketHistory, BucketHistory]


class BurstDetector(SiteDetector):
    """Too many single-recipient messages from one SASL login.

    Counts messages with exactly one recipient (qmgr ``nrcpt=1``) per SASL
    user, once per message (a content filter's re-injected copy is not
    counted again). Options, global ``[detectors.burst]`` or per user:

    ``short_window`` ("10m") / ``short_threshold`` (30): the flood window.
    ``long_window`` ("1h") / ``long_threshold`` (20): the patient sender;
    a message every minute crosses it in 20 minutes.
    ``critical_factor`` (5.0): critical at this multiple of a threshold.
    ``history`` ("7d"): how long each user's own volume is remembered.
    ``history_min`` (3): active buckets (10-minute / hourly) needed before
    the history counts; until then only the fixed thresholds apply.
    ``history_factor`` (3.0): with history, a threshold becomes at least
    this multiple of the user's usual volume (the 75th percentile of their
    active buckets), so 60 is normal for a 50-an-hour sender and 100 is not
    normal for a 3-an-hour one.
    ``max_users`` (10000): users tracked at once (least recent evicted).
    """

    name: ClassVar[str] = "burst"
    description: ClassVar[str] = "single-recipient messages per SASL user (short and long window)"
    defaults: ClassVar[Mapping[str, Any]] = {
        "short_window": "10m",
        "short_threshold": 30,
        "long_window": "1h",
        "long_threshold": 20,
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
        self._rcpt: KeyedWindows[str, str] = KeyedWindows(self.span("long_window"), cap)
        self._history: Recent[str, History] = Recent(cap)
        self._samples: Recent[str, deque[str]] = Recent(cap)

    def on_update(self, update: MessageUpdate) -> Iterable[Signal]:
        message = update.message
        user = user_of(message)
        if user is None or message.nrcpt != 1 or not fresh_submission(update):
            return ()
        if update.stage is Stage.DELIVERY:
            self._recipient(user, update)
            return ()
        if update.stage is not Stage.QUEUED or not self._counts(user, message):
            return ()
        signal = self._count(user, message, update.event.time)
        return () if signal is None else (signal,)

    def tick(self, now: datetime) -> Iterable[Signal]:
        for windows in (self._short, self._long, self._rcpt):
            windows.expire(now)
        self._history.expire(now - self.span("history"))
        self._samples.expire(now - self.span("long_window"))
        return ()

    def _counts(self, user: str, message: Message) -> bool:
        allow = self.site.allow
        return self.enabled_for(user) and not allow.allows(user, message.client_ip, message.sender)

    def _recipient(self, user: str, update: MessageUpdate) -> None:
        rcpt = update.recipient
        if rcpt is not None and rcpt.attempts == 1 and user in self._long:
            self._rcpt.add(user, update.event.time, domain_of(rcpt.address) or "(local)")

    def _count(self, user: str, message: Message, now: datetime) -> Signal | None:
        ip = message.client_ip or "unknown"
        short_span, long_span = self.span("short_window", user), self.span("long_window", user)
        short = self._short.add(user, now, ip, short_span)
        long = self._long.add(user, now, (ip, domain_of(message.sender)), long_span)
        hist_short, hist_long = self._history.get(user, now, lambda: self._new_history(user))
        hist_short.add(now)
        hist_long.add(now)
        self._samples.get(user, now, lambda: deque(maxlen=SAMPLE_IDS)).append(message.queue_id)
        min_buckets = int(self.number("history_min", user))
        base_s = hist_short.baseline(now, long_span, min_buckets=min_buckets)
        base_l = hist_long.baseline(now, long_span, min_buckets=min_buckets)
        limit_s = self._threshold("short_threshold", user, base_s)
        limit_l = self._threshold("long_threshold", user, base_l)
        factor = self.number("critical_factor", user)
        sev_s = grade(len(short), limit_s, factor)
        sev_l = grade(len(long), limit_l, factor)
        if sev_s is None and sev_l is None:
            return None
        use_short = sev_l is None or (sev_s is not None and sev_s >= sev_l)
        window, span = (short, short_span) if use_short else (long, long_span)
        by_address = tally(long.counts.items(), 0)
        addresses = short.distinct if use_short else len(by_address)
        summary = (
            f"{user} sent {len(window)} single-recipient messages in {format_duration(span)}"
            f" from {plural(addresses, 'address')}"
        )
        if use_short:
            summary += f" ({len(long)} in {format_duration(long_span)})"
        if base_l is not None:
            summary += f" (usually {base_l:g} an hour)"
        evidence = {
            "client_addresses": top(by_address),
            "sender_domains": top(tally(long.counts.items(), 1), 5),
            "recipient_domains": top(self._rcpt_counts(user)),
            "sample_queue_ids": list(self._samples.peek(user) or ()),
            "thresholds": {
                "short": plain(limit_s),
                "long": plain(limit_l),
                "usual_per_hour": None if base_l is None else plain(base_l),
            },
            "windows": {"short": format_duration(short_span), "long": format_duration(long_span)},
        }
        counts = {
            "messages_short": len(short),
            "messages_long": len(long),
            "addresses": len(by_address),
        }
        severity = max(s for s in (sev_s, sev_l) if s is not None)
        return self.signal(
            user, severity, now, window.first_time, summary, message.host, counts, evidence
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

    def _rcpt_counts(self, user: str) -> Mapping[str, int]:
        window = self._rcpt.get(user)
        return window.counts if window is not None else {}
