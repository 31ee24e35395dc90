"""Sliding windows and baselines in *log time*, bounded by construction.

Every detector counts "how many X for key K in the last N minutes". These
classes are the one way to do that: a window never reads the wall clock (the
caller passes the log time), and every structure has a hard cap, so a hostile
log with a million distinct client addresses costs a fixed amount of memory:
the least recently active keys are evicted first and counted in ``evicted``.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V", bound=Hashable)

DEFAULT_MAX_ITEMS = 100_000
DEFAULT_MAX_KEYS = 10_000
WHOLE = -1
"""``TimeWindow.ranked(WHOLE)``: rank whole values, not one part of tuple values."""


class Ranked(Mapping[V, int]):
    """Counts that stay sorted (most frequent first) as they change by one.

    Evidence names the top entries of a window on every Signal, and a window
    under attack holds thousands of distinct values (forged senders, spraying
    addresses); ``Counter.most_common`` would sort them all each time, which
    makes a long incident cost the square of its length. Here ``add`` and
    ``discard`` move a key within a list kept in descending count order (swap
    it to the edge of its block of equal counts, move the block boundary), so
    each costs O(1) and ``top(n)`` O(n). Ties keep the order they came in
    when built from a Counter; later, the order the swaps leave (stable for
    the same input). A "stream summary" (Metwally et al., 2005) without the
    approximation.
    """

    __slots__ = ("_count", "_first", "_keys", "_last", "_pos")

    def __init__(self, counts: Mapping[V, int] | None = None) -> None:
        items = sorted(((k, c) for k, c in (counts or {}).items() if c > 0), key=_minus_count)
        self._keys: list[V] = [k for k, _ in items]
        self._count: dict[V, int] = dict(items)
        self._pos: dict[V, int] = {k: i for i, k in enumerate(self._keys)}
        self._first: dict[int, int] = {}
        self._last: dict[int, int] = {}
        for i, (_, c) in enumerate(items):
            self._first.setdefault(c, i)
            self._last[c] = i

    def add(self, key: V) -> None:
        """Count ``key`` once more."""
        count, first, last = self._count, self._first, self._last
        c = count.get(key, 0)
        if c == 0:
            j = len(self._keys)
            self._keys.append(key)
            self._pos[key] = j
        else:
            j = first[c]  # the key moves to the front of its block, the block shrinks
            if last[c] == j:
                del first[c], last[c]
            else:
                first[c] = j + 1
                self._swap(key, j)
        c += 1
        count[key] = c
        if c in last:
            last[c] = j
        else:
            first[c] = last[c] = j

    def discard(self, key: V) -> None:
        """Count ``key`` once less (forgotten at zero); a key not counted is ignored."""
        count, first, last = self._count, self._first, self._last
        c = count.get(key, 0)
        if c == 0:
            return
        j = last[c]  # the key moves to the back of its block, the block shrinks
        if first[c] == j:
            del first[c], last[c]
        else:
            last[c] = j - 1
            self._swap(key, j)
        c -= 1
        if c == 0:  # count 1 is the last block: j is the end of the list
            self._keys.pop()
            del self._pos[key], count[key]
            return
        count[key] = c
        if c in first:
            first[c] = j
        else:
            first[c] = last[c] = j

    def _swap(self, key: V, j: int) -> None:
        keys, pos = self._keys, self._pos
        i = pos[key]
        if i != j:
            other = keys[j]
            keys[i], keys[j] = other, key
            pos[other], pos[key] = i, j

    def top(self, n: int) -> list[tuple[V, int]]:
        """The ``n`` most frequent keys with their counts, most frequent first."""
        count = self._count
        return [(k, count[k]) for k in self._keys[:n]]

    def __getitem__(self, key: V) -> int:
        return self._count[key]

    def get(self, key: V, default: Any = None) -> Any:
        """``Mapping.get`` without its try/except round trip."""
        return self._count.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._count

    def __iter__(self) -> Iterator[V]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def _minus_count(item: tuple[Any, int]) -> int:
    return -item[1]


def _countable(item: object) -> bool:
    """Ranked views leave out missing parts (None, ""), as evidence always has."""
    return item is not None and item != ""


class TimeWindow(Generic[V]):
    """Values stamped with log time, kept while younger than ``span``.

    A Counter of the values in the window is kept up to date on every add and
    expiry, so "how many distinct addresses" costs nothing extra to ask.
    ``ranked`` gives the values (or one part of tuple values) in rank order
    for evidence: built on first use, then kept up to date too, so only the
    windows that back a finding pay for ranking. ``max_items`` caps one
    window: the oldest items go first (the count then understates, never
    overstates, and stays bounded).

    The items are one deque of time, value, time, value...: an incident puts
    thousands of messages in each of a dozen windows, and a (time, value)
    tuple per item was 56 bytes more than the two slots.
    """

    __slots__ = ("_items", "_ranks", "counts", "max_items", "span")

    def __init__(self, span: timedelta, max_items: int = DEFAULT_MAX_ITEMS) -> None:
        self.span = span
        self.max_items = max_items
        self._items: deque[Any] = deque()  # time, value, time, value, ... oldest first
        self.counts: Counter[V] = Counter()
        self._ranks: dict[int, Ranked[Any]] | None = None

    def add(self, time: datetime, value: V) -> None:
        """Record ``value`` at log time ``time`` and drop what fell out."""
        items = self._items
        items.append(time)
        items.append(value)
        counts = self.counts
        counts[value] = counts.get(value, 0) + 1  # dict.get: no Counter.__missing__ call
        if self._ranks is not None:
            for part, ranked in self._ranks.items():
                item = value if part == WHOLE else value[part]  # type: ignore[index]
                if item is not None and item != "":
                    ranked.add(item)
        if len(items) > 2 * self.max_items:
            self._drop_oldest()
        self.expire(time)

    def ranked(self, part: int = WHOLE) -> Ranked[Any]:
        """The values (``WHOLE``) or part ``part`` of tuple values, most frequent first.

        None and "" are not counted (a failure without a username names
        none). The first call counts the window's values once; from then on
        every add and expiry keeps the ranking, so a detector that builds
        evidence on every message of an incident pays O(top n) for it.
        """
        ranks = self._ranks
        if ranks is None:
            ranks = self._ranks = {}
        found = ranks.get(part)
        if found is None:
            tally: Counter[Any] = Counter()
            for value, count in self.counts.items():
                item = value if part == WHOLE else value[part]  # type: ignore[index]
                if _countable(item):
                    tally[item] += count
            found = ranks[part] = Ranked(tally)
        return found

    def expire(self, now: datetime) -> None:
        """Forget items at or older than ``now - span``."""
        cutoff = now - self.span
        items = self._items
        while items and items[0] <= cutoff:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        items = self._items
        items.popleft()
        value = items.popleft()
        left = self.counts[value] - 1
        if left:
            self.counts[value] = left
        else:
            del self.counts[value]
        if self._ranks is not None:
            for part, ranked in self._ranks.items():
                ranked.discard(value if part == WHOLE else value[part])  # type: ignore[index]

    def __len__(self) -> int:
        return len(self._items) >> 1

    def __iter__(self) -> Iterator[tuple[datetime, V]]:
        items = iter(self._items)
        return zip(items, items, strict=True)  # (time, value) pairs

    @property
    def first_time(self) -> datetime | None:
        """Log time of the oldest item still in the window."""
        return self._items[0] if self._items else None

    @property
    def last_time(self) -> datetime | None:
        """Log time of the newest item."""
        return self._items[-2] if self._items else None

    @property
    def distinct(self) -> int:
        """How many different values are in the window."""
        return len(self.counts)

    def top(self, n: int) -> list[tuple[V, int]]:
        """The ``n`` most frequent values with their counts (evidence lists)."""
        return self.ranked().top(n)

    def count_since(self, start: datetime) -> int:
        """Items newer than ``start``: a shorter window inside this one.

        Walks from the newest end, so it costs the size of the answer.
        """
        total = 0
        newest_first = reversed(self._items)
        for _, time in zip(newest_first, newest_first, strict=True):
            if time <= start:
                break
            total += 1
        return total


class KeyedWindows(Generic[K, V]):
    """One ``TimeWindow`` per key (per SASL user, per client address, ...).

    Keys are kept in order of last activity, so ``expire`` drops whole idle
    keys from the front in amortised constant time instead of scanning every
    key on every tick, and ``max_keys`` evicts the least recently active key
    when a new one would exceed the cap.
    """

    def __init__(
        self,
        span: timedelta,
        max_keys: int = DEFAULT_MAX_KEYS,
        max_items: int = DEFAULT_MAX_ITEMS,
    ) -> None:
        self.span = span
        self.max_keys = max_keys
        self.max_items = max_items
        self.evicted = 0
        self._windows: OrderedDict[K, TimeWindow[V]] = OrderedDict()

    def add(self, key: K, time: datetime, value: V, span: timedelta | None = None) -> TimeWindow[V]:
        """Record ``value`` for ``key``; returns the key's (expired) window.

        ``span`` gives a new key its own window length (a per-user option).
        """
        window = self._windows.get(key)
        if window is None:
            window = TimeWindow(span or self.span, self.max_items)
            self._windows[key] = window
            while len(self._windows) > self.max_keys:
                self._windows.popitem(last=False)
                self.evicted += 1
        else:
            self._windows.move_to_end(key)
        window.add(time, value)
        return window

    def get(self, key: K, now: datetime | None = None) -> TimeWindow[V] | None:
        """The key's window, expired to ``now`` when given; None when unknown."""
        window = self._windows.get(key)
        if window is not None and now is not None:
            window.expire(now)
        return window

    def expire(self, now: datetime) -> list[K]:
        """Drop keys whose newest item is older than their span; returns them."""
        gone: list[K] = []
        windows = self._windows
        while windows:
            key, window = next(iter(windows.items()))
            last = window.last_time
            if last is not None and last > now - window.span:
                break
            del windows[key]
            gone.append(key)
        return gone

    def __len__(self) -> int:
        return len(self._windows)

    def __contains__(self, key: object) -> bool:
        return key in self._windows

    def items(self) -> Iterator[tuple[K, TimeWindow[V]]]:
        """(key, window) pairs, least recently active first."""
        return iter(list(self._windows.items()))


def quantile_of(values: Sequence[float], quantile: float) -> float:
    """The ``quantile`` (0..1) of sorted, non-empty ``values``: an observed value, not
    an interpolation, so "usual" is always something that really happened."""
    return float(values[min(len(values) - 1, int(quantile * len(values)))])


INT32 = 2**31
"""A BucketHistory keeps its indexes and counts in 32 bits (``array("i")``)."""


class BucketHistory:
    """Sparse per-bucket counts of one key over ``retention``: its own normal.

    Detectors compare a key with itself ("this user usually sends 50 an hour")
    through ``baseline``: a high quantile of the counts of the buckets in which
    the key was active at all, excluding the most recent ones (the window being
    judged). A quantile rather than the maximum keeps one past incident from
    raising the bar for the next one.

    Kept compact because it outlives every window: a week of 10-minute buckets
    for each of thousands of logins. The buckets are two machine arrays of
    32-bit ints (index, count; 8 bytes a bucket, where a dict of int objects
    took about 90) in the order they were first counted, which is time order
    when times arrive in log order; expired ones are cut from the front. An
    index is counted from the history's first bucket (``_base``), so it fits
    in 32 bits for 68 years of 1-second buckets; a log that jumps further
    starts the history afresh. A count stops at 2**31 - 1.
    """

    __slots__ = (
        "_base",
        "_cache_limit",
        "_cache_min",
        "_cache_quantile",
        "_cache_value",
        "_counts",
        "_first",
        "_head",
        "_indexes",
        "_last_index",
        "_last_time",
        "_ordered",
        "_seconds",
        "bucket",
        "retention",
    )

    def __init__(self, bucket: timedelta, retention: timedelta) -> None:
        self.bucket = bucket
        self.retention = retention
        self._seconds = bucket.total_seconds()
        self._indexes = array("i")  # bucket indexes from _base, in the order first counted
        self._counts = array("i")  # their counts
        self._base: int | None = None  # the bucket index (since 1970) of the first time asked
        self._head = 0  # entries before it have expired (cut off now and then)
        self._ordered = True  # indexes ascending (an earlier time never came late)
        # the last baseline asked (limit None: none, or a bucket before it changed), in
        # slots rather than tuples: a login has two histories, a server thousands of logins
        self._cache_limit: int | None = None
        self._cache_quantile = 0.0
        self._cache_min = 0
        self._cache_value: float | None = None
        self._first = math.inf  # the index of the oldest bucket kept (the first one added)
        self._last_time: datetime | None = None  # the last time asked
        self._last_index = 0  # its bucket

    def _index(self, time: datetime) -> int:
        """The bucket of ``time`` (from ``_base``); the time just asked is not worked out again."""
        if time is not self._last_time:
            index = math.floor(time.timestamp() / self._seconds)
            if self._base is None:
                self._base = index
            self._last_index = index - self._base
            self._last_time = time
        return self._last_index

    def _find(self, index: int) -> int:
        """The position of bucket ``index`` in the arrays, or -1."""
        indexes, head = self._indexes, self._head
        if len(indexes) > head and indexes[-1] == index:
            return len(indexes) - 1  # the usual case: the latest bucket
        if self._ordered:
            at = bisect_left(indexes, index, head)
            return at if at < len(indexes) and indexes[at] == index else -1
        for at in range(len(indexes) - 1, head - 1, -1):
            if indexes[at] == index:
                return at
        return -1

    def add(self, time: datetime, count: int = 1) -> None:
        """Count ``count`` events at ``time`` (times arrive in log order)."""
        index = self._index(time)
        if not -INT32 <= index < INT32:
            index = self._restart(time)
        indexes = self._indexes
        if len(indexes) == self._head:
            self._first = index
        at = self._find(index)
        if at >= 0:
            self._counts[at] = min(self._counts[at] + count, INT32 - 1)
        else:
            if len(indexes) > self._head and index < indexes[-1]:
                self._ordered = False
            indexes.append(index)
            self._counts.append(min(count, INT32 - 1))
        if self._cache_limit is not None and index < self._cache_limit:
            self._cache_limit = None
        if self._first < index - self.retention / self.bucket:  # else nothing can have expired
            back = time.timestamp() - self.retention.total_seconds()
            self._expire(math.floor(back / self._seconds) - (self._base or 0))

    def _restart(self, time: datetime) -> int:
        """Forget every bucket and count from ``time``'s: the log jumped by decades."""
        self._indexes, self._counts = array("i"), array("i")
        self._head, self._ordered, self._first = 0, True, math.inf
        self._cache_limit = None
        self._base, self._last_time = None, None
        return self._index(time)

    def _expire(self, oldest: int) -> None:
        """Drop the buckets before ``oldest``, first added first."""
        indexes, head = self._indexes, self._head
        while head < len(indexes) and indexes[head] < oldest:
            head += 1
            self._cache_limit = None
        if head == len(indexes):
            self._first = math.inf
        else:
            self._first = indexes[head]
        if head > 32 and head * 8 > len(indexes):  # cut the expired front off now and then
            del indexes[:head]
            del self._counts[:head]
            head = 0
        self._head = head

    def peak(self, time: datetime, value: int) -> None:
        """Keep the largest ``value`` seen in the bucket of ``time`` (a level, not a count)."""
        index = self._index(time)
        at = self._find(index)
        current = self._counts[at] if at >= 0 else None
        if value > (-1 if current is None else current):
            self.add(time, value - max(0 if current is None else current, 0))

    def baseline(
        self, now: datetime, exclude: timedelta, quantile: float = 0.75, min_buckets: int = 3
    ) -> float | None:
        """The ``quantile`` of active-bucket counts before ``now - exclude``.

        None when fewer than ``min_buckets`` buckets qualify: no history yet.
        """
        limit = self._index(now - exclude)
        if (
            self._cache_limit == limit
            and self._cache_quantile == quantile
            and self._cache_min == min_buckets
        ):
            return self._cache_value
        indexes, counts, head = self._indexes, self._counts, self._head
        if self._ordered:
            values = sorted(counts[head : bisect_left(indexes, limit, head)])
        else:
            values = sorted(counts[at] for at in range(head, len(indexes)) if indexes[at] < limit)
        result: float | None = None
        if values and len(values) >= min_buckets:
            result = quantile_of(values, quantile)
        self._cache_limit, self._cache_quantile, self._cache_min = limit, quantile, min_buckets
        self._cache_value = result
        return result

    def __len__(self) -> int:
        return len(self._indexes) - self._head


T = TypeVar("T")


class Recent(Generic[K, T]):
    """Per-key state kept while the key is active: capped, oldest-idle evicted.

    For state that is not a plain window (a user's history, an address's
    failure record): ``get`` creates it on first use and marks the key active
    at ``now``; ``expire`` drops keys idle since before a cutoff, in amortised
    constant time, because keys are kept in order of last activity.
    """

    def __init__(self, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self.max_keys = max_keys
        self.evicted = 0
        self._items: OrderedDict[K, tuple[datetime, T]] = OrderedDict()

    def get(self, key: K, now: datetime, factory: Callable[[], T]) -> T:
        """The key's state (created by ``factory`` when new), marked active at ``now``."""
        found = self._items.pop(key, None)
        value = factory() if found is None else found[1]
        self._items[key] = (now, value)
        while len(self._items) > self.max_keys:
            self._items.popitem(last=False)
            self.evicted += 1
        return value

    def peek(self, key: K) -> T | None:
        """The key's state without marking it active."""
        found = self._items.get(key)
        return None if found is None else found[1]

    def expire(self, cutoff: datetime) -> None:
        """Forget keys not active after ``cutoff``."""
        items = self._items
        while items:
            key, (seen, _) = next(iter(items.items()))
            if seen > cutoff:
                break
            del items[key]

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items


class SlidingMin:
    """The minimum of a value over the last ``span`` of log time.

    "How much did the queue grow in ten minutes" is the value now minus its
    minimum in the window; a monotonic deque answers that in O(1) amortised
    per sample however many samples the window holds.
    """

    __slots__ = ("_samples", "span")

    def __init__(self, span: timedelta) -> None:
        self.span = span
        self._samples: deque[tuple[datetime, float]] = deque()

    def add(self, time: datetime, value: float) -> None:
        """Record ``value`` at ``time`` (times in log order)."""
        samples = self._samples
        while samples and samples[-1][1] >= value:
            samples.pop()
        samples.append((time, value))
        cutoff = time - self.span
        while len(samples) > 1 and samples[0][0] <= cutoff:
            samples.popleft()

    def minimum(self) -> float | None:
        """The smallest value recorded within the span, or None before any."""
        return self._samples[0][1] if self._samples else None
