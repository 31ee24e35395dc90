"""The log read and parsed in a second process (``report --jobs 2``, ``learn --jobs 2``).

Reading and parsing is a third of what a report or learn costs, and it needs
no state of the stages after it: a forked child runs exactly the reading (for
report ``run.event_blocks``: the same parser, files, bisection and cuts; for
learn ``history.file_blocks``) and hands the events over in one message per
block, while this process correlates, detects and learns. The events that
arrive are equal, field for field and in the same order, to those the reading
would have given here (times are rebuilt with the same zone objects), so the
report is byte for byte the one process's; a test checks it on every sample.

The hand-over is ``marshal`` (C, no pickling of classes): a block's distinct
times once, then one tuple per event, through a queue of ``AHEAD`` blocks: the
child parses on while this process works through the blocks before, and
waits when it is that far ahead, so memory stays bounded. An error in the
child (a corrupt gzip member) is raised here as the same ``SpamwatchError``.
"""

from __future__ import annotations

import marshal
import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import fields
from datetime import datetime, timedelta, tzinfo
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from queue import Empty
from typing import Any, TypeVar

from spamwatch import errors
from spamwatch.errors import SpamwatchError
from spamwatch.model import Event
from spamwatch.parse import Parser
from spamwatch.parse.header import fixed_zone
from spamwatch.parse.parser import ParseStats
from spamwatch.slots import builder

AHEAD = 8
"""Blocks (about 1 MB of log each) the reading process may be ahead."""

_event = builder(Event)
_STATS = tuple(f.name for f in fields(ParseStats))
ZONE = None
"""A time's zone code for the parser's own zone (else the UTC offset in seconds: the
parser gives event times a fixed zone, ``header.fixed``)."""


def worth_forking(jobs: int, plan: list[str]) -> bool:
    """``--jobs`` asks for a second process (0: when there are two CPUs), the machine
    can fork, and no file is stdin.

    A forked child cannot read the parent's standard input (multiprocessing
    gives it /dev/null), so ``-`` is read in one process.
    """
    wanted = jobs or min(2, os.cpu_count() or 1)
    return wanted > 1 and hasattr(os, "fork") and "-" not in plan


Extra = TypeVar("Extra")


def blocks_forked(
    parser: Parser, blocks: Callable[[], Iterator[tuple[list[Event], Extra]]]
) -> Iterator[tuple[list[Event], Extra]]:
    """``blocks()`` run in a forked child: each block's events, and what it says of it.

    ``blocks`` reads with ``parser`` (its copy in the child); each item is a
    block's events and a value ``marshal`` can carry (progress counts). At
    the end ``parser.stats`` here are the child's.
    """
    context = multiprocessing.get_context("fork")
    queue: Queue[bytes] = context.Queue(AHEAD)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # else the child would write out a copy of what is buffered
    child = context.Process(target=_read, args=(queue, parser, blocks), daemon=True)
    child.start()
    zone = parser.clock.zone
    try:
        while True:
            message = marshal.loads(_next(queue, child))
            tag = message[0]
            if tag == "events":
                yield list(_decode(message[2], message[3], zone)), message[1]
            elif tag == "end":
                _set_stats(parser.stats, message[1])
                return
            else:
                raise child_error(message)
    finally:
        if child.is_alive():
            child.terminate()
        child.join()
        queue.close()
        queue.cancel_join_thread()


def _next(queue: Queue[bytes], child: BaseProcess) -> bytes:
    """The next message; an error if the child died without one."""
    while True:
        try:
            return queue.get(timeout=1.0)
        except Empty:
            if not child.is_alive() and queue.empty():
                raise SpamwatchError("the reading process ended without a word") from None


def _read(queue: Queue[bytes], parser: Parser, blocks: Callable[[], Iterator[Any]]) -> None:
    """The child: each block's events (and what ``blocks`` says of it) in one message."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    zone = parser.clock.zone
    try:
        for events, extra in blocks():
            times, rows = _encode(events, zone)
            queue.put(marshal.dumps(("events", extra, times, rows)))
        queue.put(marshal.dumps(("end", _get_stats(parser.stats))))
    except SpamwatchError as exc:
        queue.put(marshal.dumps(("error", type(exc).__name__, str(exc))))
    except Exception:  # a bug: the parent reports it as an internal error
        queue.put(marshal.dumps(("bug", traceback.format_exc())))
    queue.close()
    queue.join_thread()  # all of it written to the pipe before the child exits


def _encode(events: list[Event], zone: tzinfo) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """A block's distinct times once, then each event as a tuple naming its time."""
    times: list[tuple[Any, ...]] = []
    seen: dict[int, int] = {}  # id(datetime) -> index: the parser reuses one per timestamp
    rows: list[Any] = []
    for event in events:
        when = event.time
        index = seen.get(id(when))
        if index is None:
            index = seen[id(when)] = len(times)
            times.append(_time_tuple(when, zone))
        fields_ = event.fields  # the parser's are dicts: only EMPTY needs the copy
        rows.append(
            (index, event.host, event.program, event.daemon, event.pid, event.queue_id,
             event.kind, fields_ if fields_.__class__ is dict else dict(fields_))
        )  # fmt: skip
    return times, rows


def _time_tuple(when: datetime, zone: tzinfo) -> tuple[Any, ...]:
    tz = when.tzinfo
    code = ZONE if tz is zone else when.utcoffset().total_seconds()  # type: ignore[union-attr]
    return (when.year, when.month, when.day, when.hour, when.minute, when.second,
            when.microsecond, when.fold, code)  # fmt: skip


def _decode(times: list[Any], rows: list[Any], zone: tzinfo) -> Iterator[Event]:
    made = [_datetime(t, zone) for t in times]
    for index, host, program, daemon, pid, queue_id, kind, fields_ in rows:
        yield _event(made[index], host, program, daemon, pid, queue_id, kind, fields_)


def _datetime(parts: list[Any], zone: tzinfo) -> datetime:
    *clock, fold, code = parts
    tz = zone if code is ZONE else fixed_zone(timedelta(seconds=code))
    return datetime(*clock, tzinfo=tz, fold=fold)


def _get_stats(stats: ParseStats) -> list[Any]:
    return [getattr(stats, name) for name in _STATS]


def _set_stats(stats: ParseStats, values: list[Any]) -> None:
    for name, value in zip(_STATS, values, strict=True):
        setattr(stats, name, value)


def child_error(message: tuple[Any, ...]) -> Exception:
    """A child process's failure as the exception to raise here.

    ("error", class name, text): that SpamwatchError; ("bug", traceback): a
    plain one (an internal error, exit 70).
    """
    if message[0] == "error":
        cls = getattr(errors, message[1], SpamwatchError)
        if isinstance(cls, type) and issubclass(cls, SpamwatchError):
            return cls(message[2])
        return SpamwatchError(message[2])
    return RuntimeError(f"the reading process failed:\n{message[1]}")
