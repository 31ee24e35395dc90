"""Signals -> deduplicated Findings.  [STUB: detection helper owns this]"""

from __future__ import annotations

from datetime import datetime

from spamwatch.model import Finding, Signal


class FindingTracker:
    def observe(self, signal: Signal) -> Finding | None:
        return None

    def tick(self, now: datetime) -> list[Finding]:
        return []
