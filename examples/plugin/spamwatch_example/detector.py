"""``night``: authenticated submissions during the quiet hours.

A minimal detector: subclass ``Detector``, declare ``name`` and ``defaults``
(every option with its default; ``[detectors.night]`` overrides them and
``[users."NAME".detectors.night]`` per user), and return ``Signal`` values from
the hooks you need. Keep state bounded and in log time; the FindingTracker
turns repeated signals into one finding, so there is no deduplication here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, ClassVar

from spamwatch.detectors.base import Detector
from spamwatch.model import MessageUpdate, Severity, Signal, Stage


class NightDetector(Detector):
    """Count each SASL user's messages queued between ``start_hour`` and ``end_hour``."""

    name: ClassVar[str] = "night"
    description: ClassVar[str] = "SASL users submitting many messages at night (example plugin)"
    defaults: ClassVar[Mapping[str, Any]] = {
        "start_hour": 1,
        "end_hour": 5,
        "threshold": 20,
        "max_users": 10_000,
    }

    def __init__(
        self,
        options: Mapping[str, Any] | None = None,
        user_options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(options, user_options)
        self.day: date | None = None
        self.nights: dict[str, tuple[datetime, int]] = {}  # user -> (first, count) tonight

    def on_update(self, update: MessageUpdate) -> Iterable[Signal]:
        """Count a queued message from a SASL user at night; signal above the threshold."""
        user = update.message.sasl_username
        now = update.event.time
        if update.stage is not Stage.QUEUED or not user:
            return ()
        if not self.option("start_hour", user) <= now.hour < self.option("end_hour", user):
            return ()
        first, count = self.nights.pop(user, (now, 0))
        self.nights[user] = (first, count + 1)  # newest last: the eviction order
        while len(self.nights) > self.option("max_users"):
            del self.nights[next(iter(self.nights))]
        if count + 1 < self.option("threshold", user):
            return ()
        return (
            Signal(
                detector=self.name,
                key=user,
                key_kind="sasl_username",
                severity=Severity.INFO,
                time=now,
                first_seen=first,
                summary=f"{user} queued {count + 1} messages since {first:%H:%M} at night",
                host=update.message.host,
                counts={"messages": count + 1},
            ),
        )

    def tick(self, now: datetime) -> Iterable[Signal]:
        """A new day (in log time) starts a new night: forget the counts."""
        if now.date() != self.day:
            self.day = now.date()
            self.nights.clear()
        return ()
