"""Read a pipe (stdin, a child's stdout) without ever blocking the follow loop.

A pipe cannot be polled by offset like a file, and a blocking read would stop
the loop from saving state or answering signals. So a daemon thread reads it
in blocks, splits complete lines, and hands them over through a *bounded*
queue (a writer faster than the pipeline is slowed down, memory stays flat),
setting the loop's wake event each time.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterable, Iterator
from datetime import timedelta

from spamwatch.sources.base import LineTime, Position
from spamwatch.sources.files import MAX_LINE

CHUNK = 1 << 16
QUEUE_CHUNKS = 256
"""At most this many blocks of lines wait in memory (about 16 MiB)."""

_EOF: list[bytes] = []


class PipeReader:
    """Complete lines from a file descriptor, read by a background thread."""

    def __init__(self, fd: int, wake: threading.Event, name: str) -> None:
        self.name = name
        self._fd = fd
        self._wake = wake
        self._queue: queue.Queue[list[bytes]] = queue.Queue(maxsize=QUEUE_CHUNKS)
        self._ended = False
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"pipe:{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def ended(self) -> bool:
        """True once the writer closed the pipe and every line was handed on."""
        return self._ended

    def lines(self, budget: int) -> Iterator[bytes]:
        """The lines read so far, without waiting; about ``budget`` bytes at most."""
        taken = 0
        while taken < budget and not self._ended:
            try:
                chunk = self._queue.get_nowait()
            except queue.Empty:
                return
            if chunk is _EOF:
                self._ended = True
                return
            for line in chunk:
                taken += len(line) + 1
                yield line

    def _run(self) -> None:
        rest = b""
        try:
            while True:
                block = os.read(self._fd, CHUNK)
                if not block:
                    break
                parts = (rest + block).split(b"\n")
                rest = parts.pop()
                if len(rest) > MAX_LINE:
                    parts.append(rest[:MAX_LINE])
                    rest = b""
                if parts:
                    self._put(parts)
        except OSError as exc:
            self.error = exc.strerror or str(exc)
        if rest:
            self._put([rest])
        self._put(_EOF)

    def _put(self, chunk: list[bytes]) -> None:
        self._queue.put(chunk)
        self._wake.set()


class StdinSource:
    """``-``: lines from standard input (a syslog pipe); ends when the pipe closes.

    A pipe cannot be read back or resumed: no warm-up, no position.
    """

    name = "-"
    key = None
    watched: tuple[str, ...] = ()  # the reading thread wakes the loop

    def __init__(self, wake: threading.Event) -> None:
        self._reader = PipeReader(0, wake, "stdin")

    def start(self) -> None:
        self._reader.start()

    @property
    def ended(self) -> bool:
        return self._reader.ended

    def warmup(self, window: timedelta, line_time: LineTime) -> Iterable[bytes]:
        return ()

    def read(self, budget: int = 4 << 20) -> Iterator[bytes]:
        return self._reader.lines(budget)

    def position(self) -> Position:
        return None

    def finish(self) -> Iterator[bytes]:
        return iter(())

    def reopen(self) -> None:
        """Nothing to reopen: a pipe stays what it is."""

    def close(self) -> None:
        """Nothing to release: the reading thread dies with the process."""
