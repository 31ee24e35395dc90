"""The cyclic garbage collector's pace while whole files are read (report, learn, events).

Reading a day of log makes millions of short-lived objects that reference
counting frees; the collector's default pace walks them anyway.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def few_collections() -> Iterator[None]:
    """The cyclic garbage collector run seldom while whole files are read.

    Reading makes millions of short-lived objects (Events and their fields,
    messages and their JSON) that reference counting frees; they form no
    cycles. With the default thresholds the collector still walked the young
    objects every 700 allocations, and the older ones (the imported modules
    too) every tenth time: 0.3-0.5 s of the 2.5 s the correlating process of
    ``events --messages --jobs 2`` spent on 1M lines, 3-6 % of a report's.
    Here what is alive before the reading is frozen (never walked again) and
    the young objects are walked every 100,000 allocations; both are undone
    after, so a longer process (follow, the tests) keeps its own pace.

    The heap is collected first (about 5 ms): freezing takes garbage too, and
    ``learn`` reads file after file in one process, each through a fresh
    pipeline whose cycles only the collector frees. Frozen with the next
    file, each dead pipeline stayed: 182 MB after a month's 30 files.
    """
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
