"""Fan-out: one record to every sink that accepts it, whatever the others do.

``send`` returns a ``Receipt``: whether every sink now has the record safe
(delivered, or written to the spool), so ``follow`` records an alert as sent
only then (write-ahead). ``sync`` makes the spooled records durable; a caller
syncs before it saves anything that says those alerts were sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from spamwatch.model import Incident
from spamwatch.sinks.base import Sink
from spamwatch.sinks.build import close_quietly
from spamwatch.sinks.delivery import Warn, warn_stderr
from spamwatch.sinks.meter import meter_for
from spamwatch.sinks.spool import Entry
from spamwatch.textsafe import clean


@dataclass
class Receipt:
    """What the sinks did with one record.

    ``settled`` is True once no sink holds the record in memory only: each
    delivered it, has it in the spool, or has given it up as lost (counted).
    """

    unsafe: list[Entry] = field(default_factory=list)

    @property
    def settled(self) -> bool:
        return all(e.path is not None or e.outcome is not None for e in self.unsafe)


class Fanout:
    """Send every record to each sink that accepts it; one sink's failure stops no other.

    A synchronous sink that raises is reported once (per sink, until it works
    again), and the record counts as lost for it; ``BrokenPipeError`` (the
    reader of stdout went away) is re-raised after the other sinks had the
    record, so the command can end as usual.
    """

    def __init__(self, sinks: Sequence[Sink], warn: Warn = warn_stderr) -> None:
        self.sinks = list(sinks)
        self.warn = warn
        self.failing: set[int] = set()

    def send(self, finding: Incident) -> Receipt:
        """Deliver (or spool) ``finding`` on every accepting sink."""
        receipt = Receipt()
        broken: BrokenPipeError | None = None
        for index, sink in enumerate(self.sinks):
            if not sink.accepts(finding):
                continue
            try:
                result = sink.send(finding)
            except BrokenPipeError as exc:
                broken = exc
            except Exception as exc:  # any sink bug or I/O error: report, go on
                self._failed(index, sink, exc)
            else:
                self.failing.discard(index)
                if isinstance(result, Entry):
                    if result.path is None and result.outcome is None:
                        receipt.unsafe.append(result)
                elif _metered(sink):
                    meter_for(sink.label).add(sent=1)
        if broken is not None:
            raise broken
        return receipt

    def sync(self) -> None:
        """Make what every sink has spooled or written durable (fsync)."""
        for index, sink in enumerate(self.sinks):
            hook = getattr(sink, "sync", None)
            if hook is None:
                continue
            try:
                hook()
            except Exception as exc:  # as in send: report once, go on
                self._failed(index, sink, exc)

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
        """Close every sink; queued ones drain side by side, the rest stays spooled."""
        self.sync()
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
        if _metered(sink):
            meter_for(sink.label).add(failed=1, lost=1)
        if index not in self.failing:
            self.failing.add(index)
            lost = "" if _queued(sink) else "; what it is sent is being lost until it works again"
            self.warn(f"alert sink {sink.label} failed: {type(exc).__name__}: {clean(exc)}{lost}")


def _queued(sink: Sink) -> bool:
    """A sink with a delivery of its own counts its records itself."""
    return getattr(sink, "delivery", None) is not None


def _metered(sink: Sink) -> bool:
    """Direct sinks are counted here; not those that count themselves, nor the metrics file."""
    return not _queued(sink) and getattr(sink, "alerts", True)
