"""The log read and parsed in a second process (``report --jobs 2``, ``learn --jobs 2``).

Reading and parsing is a third of what a report or learn costs, and it needs
no state of the stages after it: a forked child runs exactly the reading (for
report ``run.event_blocks``: the same parser, files, bisection and cuts; for
learn ``history.file_blocks``) and hands the events over in one message per
block, while this process correlates, detects and learns. The events that
arrive are equal, field for field and in the same order, to those the reading
would have given here (times are rebuilt with the same zone objects), so the
report is byte for byte the one process's; a test checks it on every sample.

The hand-over is one message per block of the events' fields in columns
(each event's fields in order, ``parser.event_row``, turned by ``zip``), C both
ways: the times by ``pickle`` (a time shared by many events written once, by
its memo; its zone as the zone object this process has, ``fixed_zone`` or the
parser's own zone, so no class of ours is pickled), every other column by
``marshal``, which writes plain values (strings, numbers, the fields' dicts)
a third faster than pickle and reads them back faster too, sharing what the
parser shares (host and program names) and not remembering each fresh queue
id as pickle would (a block whose fields marshal cannot write goes by pickle
whole). The events rebuilt here are equal, field for field and in the same
order, with the same zone objects. A reader that asks for rows (``Parser.tuples``, as
``events --messages`` does) builds no Event there at all, nor the fields of the
lines it read by form: this process makes them (``parser.row_event``), which
evens out the work of the two. The blocks go
through a queue of ``AHEAD`` blocks: the child parses on while this process
works through the blocks before, and waits when it is that far ahead, so
memory stays bounded. An error in the child (a corrupt gzip member) is raised
here as the same ``SpamwatchError``.
"""

from __future__ import annotations

import io
import marshal
import multiprocessing
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import fields
from datetime import timezone, tzinfo
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from queue import Empty
from typing import Any, TypeVar

from spamwatch import errors
from spamwatch.errors import SpamwatchError
from spamwatch.model import Event
from spamwatch.parse import Parser
from spamwatch.parse.header import fixed_zone
from spamwatch.parse.parser import ParseStats, event_of, event_row, row_event

AHEAD = 8
"""Blocks (about 1 MB of log each) the reading process may be ahead."""

_STATS = tuple(f.name for f in fields(ParseStats))


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
    block's events (Events, or rows if the parser gives them: ``Parser.tuples``)
    and a plain value (progress counts). Here they are Events either way. At
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
            message = _Unpickler(io.BytesIO(_next(queue, child)), zone).load()
            tag = message[0]
            if tag == "columns":
                yield list(map(event_of, message[2], *marshal.loads(message[3]))), message[1]
            elif tag == "events":
                yield list(map(row_event, message[2])), message[1]
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
            rows = events if not events or events[0].__class__ is tuple else map(event_row, events)
            queue.put(_block_message(list(rows), extra, zone))
        queue.put(_dumps(("end", _get_stats(parser.stats)), zone))
    except SpamwatchError as exc:
        queue.put(_dumps(("error", type(exc).__name__, str(exc)), zone))
    except Exception:  # a bug: the parent reports it as an internal error
        queue.put(_dumps(("bug", traceback.format_exc()), zone))
    queue.close()
    queue.join_thread()  # all of it written to the pipe before the child exits


class _Pickler(pickle.Pickler):
    """Writes an event time's zone as the zone object the reading side has."""

    def __init__(self, file: io.BytesIO, zone: tzinfo) -> None:
        super().__init__(file, pickle.HIGHEST_PROTOCOL)
        self.zone = zone

    def reducer_override(self, obj: Any) -> Any:
        """Zones by name; everything else (datetimes: C) as pickle does it."""
        if obj.__class__ is timezone:
            return fixed_zone, (obj.utcoffset(None),)
        if obj is self.zone:
            return _reading_zone, ()
        return NotImplemented


def _reading_zone() -> tzinfo:
    """A stand-in for the parser's own zone; ``_Unpickler`` gives its own."""
    raise RuntimeError("the parser's zone is only read back by _Unpickler")


class _Unpickler(pickle.Unpickler):
    """Reads ``_Pickler``'s messages: the parser's zone is this process's."""

    def __init__(self, file: io.BytesIO, zone: tzinfo) -> None:
        super().__init__(file)
        self.zone = zone

    def find_class(self, module: str, name: str) -> Any:
        """Only what ``_Pickler`` writes: times, offsets and the two zone makers."""
        if (module, name) == (__name__, "_reading_zone"):
            zone = self.zone
            return lambda: zone
        if (module, name) not in _CLASSES:
            raise pickle.UnpicklingError(f"not a reading message: {module}.{name}")
        return super().find_class(module, name)


_CLASSES = frozenset(
    (("datetime", "datetime"), ("datetime", "timedelta"), (fixed_zone.__module__, "fixed_zone"))
)


def _block_message(rows: list[tuple[Any, ...]], extra: Any, zone: tzinfo) -> bytes:
    """One block's rows: ("columns", extra, times, the other columns marshalled), or
    ("events", extra, rows) when there are none or marshal cannot write a field."""
    columns = list(zip(*rows, strict=True))
    if columns:
        try:
            return _dumps(("columns", extra, columns[0], marshal.dumps(columns[1:])), zone)
        except ValueError:  # a field value marshal does not write: pickle writes it
            pass
    return _dumps(("events", extra, rows), zone)


def _dumps(message: tuple[Any, ...], zone: tzinfo) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, zone).dump(message)
    return buffer.getvalue()


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
