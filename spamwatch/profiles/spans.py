"""Which stretches of each host's log were already learned, so none is learned twice.

``report``, ``follow`` and ``learn`` all learn as they read, and they read the
same lines: a cron ``report --since 1h`` reads an hour of warm-up the previous
run learned, ``learn`` reads files that ``follow`` read live, and a rotated
file comes back renamed and compressed. Byte fingerprints cannot see that a
``mail.log.2.gz`` is the ``mail.log`` of two days ago read by ``report``;
log time can: each learner records, per host, the span of log time it
learned, and skips every event inside a span already recorded.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping

Span = tuple[float, float]


def union(spans: Iterable[Span]) -> list[Span]:
    """Overlapping spans joined, sorted by start."""
    out: list[list[float]] = []
    for first, last in sorted(spans):
        if out and first <= out[-1][1]:
            out[-1][1] = max(out[-1][1], last)
        else:
            out.append([first, last])
    return [(a, b) for a, b in out]


class LearnedSpans:
    """Per host, the sorted, disjoint spans of log time already learned (epoch seconds)."""

    def __init__(self, spans: Mapping[str, Iterable[Span]] | None = None) -> None:
        self._spans: dict[str, list[Span]] = {}
        self._starts: dict[str, list[float]] = {}
        for host, items in (spans or {}).items():
            self._set(host, union(items))

    def covers(self, host: str, when: float) -> bool:
        """Was ``host``'s log at ``when`` learned already (span ends included)?"""
        starts = self._starts.get(host)
        if not starts or when > self._spans[host][-1][1]:
            return False  # the usual case: newer than anything learned
        index = bisect_right(starts, when) - 1
        return index >= 0 and when <= self._spans[host][index][1]

    def add(self, host: str, first: float, last: float) -> None:
        """Record one more learned span of ``host``."""
        self._set(host, union([*self._spans.get(host, ()), (first, last)]))

    def hosts(self) -> dict[str, list[Span]]:
        return {host: list(items) for host, items in self._spans.items()}

    def _set(self, host: str, spans: list[Span]) -> None:
        self._spans[host] = spans
        self._starts[host] = [first for first, _ in spans]
