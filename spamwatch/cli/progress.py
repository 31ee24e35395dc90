"""A progress display for commands that read many files: files, bytes, lines/s, ETA.

On a terminal (standard error) it is a rich progress bar; anywhere else it
draws nothing and the command prints its one summary line, so cron mail and
pipes stay clean. Names shown come from the command line and the disk, not
from the log, and are still escaped: a file named ``[red]x`` is shown as such.
Reusable by any command (``learn`` today): ``with FileProgress(...) as p``,
then ``p.start_file(name)`` and ``p.advance(bytes, lines)``.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO


class FileProgress:
    """Progress over ``total`` bytes in ``files`` files; silent when not on a terminal."""

    def __init__(self, total: int, files: int, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total = total
        self.files = files
        self.lines = 0
        self.done = 0
        self._file = 0
        self._started = time.monotonic()
        self._bar: Any = None
        self._task: Any = None

    @property
    def enabled(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"

    def __enter__(self) -> FileProgress:
        if self.enabled:
            self._start_bar()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def start_file(self, name: str) -> None:
        """A new file begins (shown as "file 2/5: NAME")."""
        self._file += 1
        if self._bar is not None:
            from rich.markup import escape

            label = f"file {self._file}/{self.files}: {escape(os.path.basename(name))}"
            self._bar.update(self._task, description=label)

    def advance(self, size: int, lines: int) -> None:
        """``size`` more bytes (on disk) and ``lines`` more lines were read."""
        self.done += size
        self.lines += lines
        if self._bar is not None:
            self._bar.update(self._task, advance=size, rate=self._rate())

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def _rate(self) -> str:
        seconds = self.elapsed()
        return f"{self.lines / seconds:,.0f} lines/s" if seconds > 0 else ""

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=Console(file=self.stream, highlight=False, emoji=False),
            transient=True,
        )
        self._task = self._bar.add_task("", total=max(self.total, 1), rate="")
        self._bar.start()
