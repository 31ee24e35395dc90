"""Events -> Messages joined by (host, queue id).  [STUB: correlator helper owns this]"""

from __future__ import annotations

from spamwatch.model import Event, MessageUpdate


class Correlator:
    def feed(self, event: Event) -> list[MessageUpdate]:
        return []

    def flush(self) -> list[MessageUpdate]:
        return []
