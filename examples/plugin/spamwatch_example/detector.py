"""``night``: a SASL login submitting many messages during the quiet hours (example plugin)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from spamwatch.detectors.site import SiteDetector, fresh_submission, grade, user_of
from spamwatch.detectors.windows import KeyedWindows
from spamwatch.model import MessageUpdate, Signal, Stage


class NightDetector(SiteDetector):
    """Messages a login queues between ``start_hour`` and ``end_hour`` (log time) in ``window``."""

    name: ClassVar[str] = "night"
    description: ClassVar[str] = "SASL users submitting many messages at night (example plugin)"
    defaults: ClassVar[Mapping[str, Any]] = {
        "start_hour": 1, "end_hour": 5, "window": "1h", "threshold": 20, "critical_factor": 5.0,
    }  # fmt: skip

    def setup(self) -> None:
        self.queued: KeyedWindows[str, str] = KeyedWindows(self.span("window"), 10_000)

    def on_update(self, update: MessageUpdate) -> Iterable[Signal]:
        user, now = user_of(update.message), update.event.time
        if update.stage is not Stage.QUEUED or not user or not fresh_submission(update):
            return ()
        if not self.option("start_hour", user) <= now.hour < self.option("end_hour", user):
            return ()
        window = self.queued.add(user, now, update.message.queue_id)
        severity = grade(
            len(window), self.number("threshold", user), self.number("critical_factor")
        )
        if severity is None:
            return ()
        count = len(window)
        return (
            self.signal(
                key=user,
                severity=severity,
                time=now,
                first_seen=window.first_time,
                summary=f"{user} queued {count} messages at night ({now:%H:%M} log time)",
                host=update.message.host,
                counts={"messages": count},
                evidence={},
                facts=("volume",),
            ),
        )

    def sweep(self, now: datetime) -> None:
        self.queued.expire(now)
