"""Sliding windows in log time: expiry, caps, distinct counts, baselines."""

from __future__ import annotations

import random
import sys
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta

from spamwatch.detectors.windows import BucketHistory, KeyedWindows, Ranked, TimeWindow

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_window_expires_items_older_than_span() -> None:
    window: TimeWindow[str] = TimeWindow(timedelta(minutes=10))
    window.add(at(0), "a")
    window.add(at(300), "b")
    window.add(at(599), "a")
    assert len(window) == 3
    assert window.counts == {"a": 2, "b": 1}
    window.expire(at(600))  # the item at 0 is exactly span old: gone
    assert len(window) == 2
    assert window.counts == {"a": 1, "b": 1}
    assert window.first_time == at(300)
    window.expire(at(2000))
    assert len(window) == 0
    assert window.counts == {}
    assert window.first_time is None


def test_window_distinct_top_and_count_since() -> None:
    window: TimeWindow[str] = TimeWindow(timedelta(hours=1))
    for i, ip in enumerate(["1.1.1.1", "2.2.2.2", "1.1.1.1", "3.3.3.3", "1.1.1.1"]):
        window.add(at(i * 60), ip)
    assert window.distinct == 3
    assert window.top(1) == [("1.1.1.1", 3)]
    assert window.count_since(at(120)) == 2  # items at 180 and 240
    assert window.count_since(at(-1)) == 5


def test_window_item_cap_drops_oldest_and_keeps_counts_right() -> None:
    window: TimeWindow[int] = TimeWindow(timedelta(days=1), max_items=100)
    for i in range(1000):
        window.add(at(i), i % 7)
    assert len(window) == 100
    assert sum(window.counts.values()) == 100
    assert window.first_time == at(900)


def test_keyed_windows_drop_idle_keys_and_cap_keys() -> None:
    windows: KeyedWindows[str, str] = KeyedWindows(timedelta(minutes=10), max_keys=3)
    windows.add("alice", at(0), "x")
    windows.add("bob", at(100), "x")
    windows.add("carol", at(200), "x")
    windows.add("alice", at(300), "y")  # alice becomes most recent
    windows.add("dave", at(400), "x")  # evicts bob, the least recently active
    assert "bob" not in windows
    assert windows.evicted == 1
    assert len(windows) == 3
    gone = windows.expire(at(800))  # carol's last item (200) is older than 800-600
    assert gone == ["carol"]
    assert set(k for k, _ in windows.items()) == {"alice", "dave"}
    alice = windows.get("alice", at(650))
    assert alice is not None and alice.counts == {"y": 1}
    assert windows.get("nobody") is None


def test_bucket_history_baseline_is_a_quantile_of_active_buckets() -> None:
    history = BucketHistory(timedelta(hours=1), timedelta(days=7))
    assert history.baseline(at(0), timedelta(hours=1)) is None
    for hour, count in enumerate([50, 48, 52, 6000, 51, 49]):
        history.add(at(hour * 3600 + 10), count)
    now = at(6 * 3600 + 10)
    base = history.baseline(now, timedelta(hours=1), quantile=0.75)
    assert base == 52  # one past incident (6000) does not become the normal
    assert history.baseline(now, timedelta(hours=1), min_buckets=10) is None


def test_bucket_history_excludes_the_window_being_judged_and_forgets_old_buckets() -> None:
    history = BucketHistory(timedelta(hours=1), timedelta(hours=24))
    for hour in range(4):
        history.add(at(hour * 3600), 3)
    history.add(at(4 * 3600 + 5), 500)  # the current hour: not part of the normal
    # the 1 h window ending now also covers part of hour 3, so hour 3 is left out too
    assert history.baseline(at(4 * 3600 + 5), timedelta(hours=1), min_buckets=3) == 3
    assert history.baseline(at(4 * 3600 + 5), timedelta(hours=1), min_buckets=4) is None
    history.add(at(40 * 3600), 1)
    assert len(history) == 1  # everything older than 24 h is gone


def test_bucket_history_storage_stays_flat_over_weeks_of_log() -> None:
    """A login busy every minute for 30 days keeps a week of buckets, no more.

    The history outlives every window (issue 11's memory target: report and
    follow flat from 1M to 20M lines), so what it stores must stop growing
    once the retention is full: the expired buckets are cut off the arrays,
    and a bucket costs bytes, not Python objects.
    """
    history = BucketHistory(timedelta(minutes=10), timedelta(days=7))
    week = 7 * 24 * 6 + 1
    storage = []
    for minute in range(30 * 24 * 60):
        history.add(at(minute * 60 + 5), 1 + minute % 7)
        if minute % (24 * 60) == 0:
            storage.append(sys.getsizeof(history._indexes) + sys.getsizeof(history._counts))
    assert len(history) <= week
    assert len(history._indexes) <= 2 * week  # the expired front is cut off as it goes
    assert max(storage) <= 2 * 8 * 2 * week + 1024  # about 8 bytes a bucket (16 in 64 bits)
    assert storage[-1] <= storage[8] * 1.5  # flat after the first week
    # judging still works on the kept week (1..7 a bucket, minute by minute: sums of 10)
    assert history.baseline(at(30 * 24 * 3600), timedelta(hours=1)) is not None


def test_bucket_history_survives_a_log_that_jumps_by_centuries() -> None:
    """Indexes are 32-bit from the first bucket: a hostile jump (1-second buckets, a
    line in year 9999) starts the history afresh instead of overflowing."""
    history = BucketHistory(timedelta(seconds=1), timedelta(days=7))
    history.add(at(0), 3)
    far = datetime(9999, 1, 1, tzinfo=UTC)
    history.add(far, 2)
    history.add(far + timedelta(seconds=1), 2**40)  # a count stops at 2**31 - 1
    history.add(at(5), 4)  # and back again
    assert len(history) == 1
    history.add(at(6), 2**31)
    history.add(at(6), 5)
    history.add(at(7), 1)
    assert history.baseline(at(8), timedelta(0), quantile=1.0, min_buckets=1) == 2**31 - 1


def test_a_bucket_history_costs_little_before_its_buckets() -> None:
    """Every login active in the last week has two: the fixed part is slots and two
    arrays (the last time asked and the last baseline are not tuples kept)."""
    start = at(0)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        histories = []
        for _ in range(1000):
            history = BucketHistory(timedelta(minutes=10), timedelta(days=7))
            history.add(start)
            history.baseline(start + timedelta(hours=1), timedelta(minutes=10))
            histories.append(history)
        each = (tracemalloc.get_traced_memory()[0] - before) / len(histories)
    finally:
        tracemalloc.stop()
    assert each < 600  # was 656 with the two tuples


def test_bucket_history_times_out_of_order_count_in_their_own_bucket() -> None:
    """Two hosts' lines interleave: an earlier bucket counted late is found, not doubled."""
    history = BucketHistory(timedelta(hours=1), timedelta(days=1))
    history.add(at(2 * 3600), 5)
    history.add(at(1 * 3600), 2)  # late: hour 1 after hour 2
    history.add(at(1 * 3600 + 60), 3)  # hour 1 again: the same bucket
    history.add(at(2 * 3600 + 60), 1)
    history.add(at(0), 1)
    history.add(at(3 * 3600), 7)
    assert len(history) == 4
    # hours 0, 1, 2 before the judged hour 3: counts 1, 5, 6; the median is 5
    assert history.baseline(at(3 * 3600), timedelta(0), quantile=0.5) == 5
    history.add(at(60 * 3600), 1)  # days later: all of them are gone
    assert len(history) == 1


def test_ranked_agrees_with_a_counter_through_random_adds_and_discards() -> None:
    rng = random.Random(11)
    ranked: Ranked[str] = Ranked()
    counts: Counter[str] = Counter()
    for step in range(20_000):
        key = f"k{int(rng.expovariate(0.2))}"
        if rng.random() < 0.45:
            ranked.discard(key)
            if counts[key] > 0:
                counts[key] -= 1
            counts += Counter()  # drop zeros, as Ranked forgets them
        else:
            ranked.add(key)
            counts[key] += 1
        if step % 97 == 0:
            listed = ranked.top(len(ranked))
            assert dict(listed) == dict(counts) and len(ranked) == len(counts)
            assert [c for _, c in listed] == sorted(counts.values(), reverse=True)
            assert [c for _, c in ranked.top(3)] == [c for _, c in counts.most_common(3)]


def test_ranked_built_from_a_counter_keeps_most_common_order() -> None:
    counts = Counter({"b": 2, "a": 5, "c": 2, "d": 1})
    assert Ranked(counts).top(4) == counts.most_common(4)
    assert Ranked(counts) == {"a": 5, "b": 2, "c": 2, "d": 1}


def test_ranked_view_of_a_window_follows_adds_and_expiry() -> None:
    window: TimeWindow[tuple[str, str]] = TimeWindow(timedelta(minutes=10))
    window.add(T0, ("1.1.1.1", "a.example"))
    window.add(T0 + timedelta(minutes=1), ("2.2.2.2", ""))
    addresses, domains = window.ranked(0), window.ranked(1)
    assert addresses.top(5) == [("1.1.1.1", 1), ("2.2.2.2", 1)]
    assert domains.top(5) == [("a.example", 1)]  # "" is no domain
    window.add(T0 + timedelta(minutes=3), ("2.2.2.2", "b.example"))
    window.add(T0 + timedelta(minutes=10, seconds=30), ("3.3.3.3", "b.example"))
    assert addresses.top(5) == [("2.2.2.2", 2), ("3.3.3.3", 1)]  # 1.1.1.1 expired
    assert domains.top(5) == [("b.example", 2)]
    assert window.ranked(0) is addresses  # kept, not rebuilt


def test_window_items_cost_two_slots_not_a_tuple_each() -> None:
    """An incident puts thousands of messages in a dozen windows at once: an item is
    the time and the value (shared objects), two deque slots, not a new tuple."""
    window: TimeWindow[str] = TimeWindow(timedelta(hours=1))
    times = [at(n * 0.05) for n in range(50_000)]  # the parser shares one per second
    value = "203.0.113.7"
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for when in times:
            window.add(when, value)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(window) == 50_000
    assert list(window)[-1] == (times[-1], value)
    assert window.first_time == times[0] and window.last_time == times[-1]
    assert window.count_since(times[-11]) == 10
    assert grown / len(window) < 24  # 16 bytes of slots; a tuple each was 64
