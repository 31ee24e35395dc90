"""Fan-out: one finding to every sink that accepts it, whatever the others do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from spamwatch.model import Finding
from spamwatch.sinks.base import Sink
from spamwatch.sinks.build import close_quietly
from spamwatch.sinks.delivery import Warn, warn_stderr
from spamwatch.textsafe import clean


class Fanout:
    """Send every finding to each sink that accepts it; one sink's failure stops no other.

    A synchronous sink that raises is reported once (per sink, until it works
    again); ``BrokenPipeError`` (the reader of stdout went away) is re-raised
    after the other sinks had the finding, so the command can end as usual.
    """

    def __init__(self, sinks: Sequence[Sink], warn: Warn = warn_stderr) -> None:
        self.sinks = list(sinks)
        self.warn = warn
        self.failing: set[int] = set()

    def send(self, finding: Finding) -> None:
        """Deliver (or queue) ``finding`` on every accepting sink."""
        broken: BrokenPipeError | None = None
        for index, sink in enumerate(self.sinks):
            try:
                if sink.accepts(finding):
                    sink.send(finding)
            except BrokenPipeError as exc:
                broken = exc
            except Exception as exc:  # any sink bug or I/O error: report, go on
                self._failed(index, sink, exc)
            else:
                self.failing.discard(index)
        if broken is not None:
            raise broken

    def update_stats(self, stats: Mapping[str, Any]) -> None:
        """Pass processing counters to sinks with an ``update_stats`` hook (prometheus)."""
        for index, sink in enumerate(self.sinks):
            hook = getattr(sink, "update_stats", None)
            if hook is None:
                continue
            try:
                hook(stats)
            except Exception as exc:  # as in send: report once, go on
                self._failed(index, sink, exc)

    def close(self) -> None:
        """Close every sink; queued ones drain side by side, then spool what is left."""
        for sink in self.sinks:
            begin = getattr(sink, "begin_close", None)
            if begin is not None:
                begin()
        for sink in self.sinks:
            close_quietly(sink, self.warn)

    def __enter__(self) -> Fanout:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _failed(self, index: int, sink: Sink, exc: Exception) -> None:
        if index not in self.failing:
            self.failing.add(index)
            self.warn(f"alert sink {sink.label} failed: {type(exc).__name__}: {clean(exc)}")
