"""What is drawn for a person on a terminal: the live display, and progress bars.

``follow``'s live view is a rich ``Live`` region at the bottom of the terminal;
at each redraw rich moves the cursor back up over it and draws it again. Text
that another rich ``Console`` prints goes straight to the terminal (rich
unwraps the ``sys.stdout`` proxy that ``Live`` installs), lands where the cursor
happens to be, glued to the region's last border, and the next redraw then
overwrites it or leaves a stale copy of the region above it. So whatever is
printed for a person while the view is up is printed through the view's own
Console: rich then draws it above the region, whole, and the region below it.

The reading commands (``report``, ``events``, ``learn``) show a progress bar
on stderr while they read (``ReadingProgress``); it is a live display too, and
registers its Console the same way.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from spamwatch.textsafe import clean

if TYPE_CHECKING:  # rich is imported where it draws: a run without a terminal never needs it
    from rich.console import Console

_live: Console | None = None


def set_live_console(console: Console | None) -> None:
    """Say which Console a live display is drawing on (``None`` when it stops)."""
    global _live
    _live = console


def live_console() -> Console | None:
    """The Console of the live display that is up on the terminal, if one is."""
    return _live


PROGRESS_DELAY = 1.0
"""Seconds of reading before a progress bar appears: a quick command shows none."""
PROGRESS_TICK = 0.25
"""Seconds between two redraws of the bar."""


class ReadingProgress:
    """A progress bar on stderr while a command reads log files: file n/N, bytes, lines/s, ETA.

    The one progress display of the reading commands (``report``, ``events``,
    ``learn``): ``with ReadingProgress(paths, ...) as progress:`` around the
    reading. Shown only when stderr is a terminal, and not when the command
    writes its output to that terminal while it reads (``output_while_reading``
    and stdout a terminal: the lines would tear the bar); never on stdout;
    removed when the block ends. It appears after PROGRESS_DELAY, so a quick
    command shows none, and it is drawn by a thread of its own, so feeding it
    costs the reader nothing.

    Two ways to feed it. A reader that knows its blocks tells it:
    ``start_file(path)`` then ``advance(bytes, lines)`` (``learn``). Else it
    finds out itself: the bytes are the read positions of the open files
    (/proc/self/fdinfo: the reader need not change, bisection and gzip
    included) and ``lines()`` says how many lines were read (``report``,
    ``events``); without /proc the bar shows lines only.
    """

    def __init__(
        self,
        paths: Sequence[str],
        lines: Callable[[], int] | None = None,
        *,
        output_while_reading: bool = False,
    ) -> None:
        self.paths = list(paths)
        self.lines = 0
        self.done = 0
        self._count_lines = lines
        self._file = 0
        self._files = _ReadFiles(self.paths)
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.enabled = _progress_wanted(output_while_reading)

    def __enter__(self) -> ReadingProgress:
        if self.enabled:
            self._thread = threading.Thread(target=self._draw, name="progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def start_file(self, name: str) -> None:
        """The reader begins the next file (shown as "file 2/5: NAME")."""
        self._file += 1

    def advance(self, size: int, lines: int) -> None:
        """The reader read ``size`` more bytes (on disk) and ``lines`` more lines."""
        self.done += size
        self.lines += lines

    def elapsed(self) -> float:
        """Seconds since the reading began (for a summary's lines/s)."""
        return time.monotonic() - self._started

    def _now(self) -> tuple[int, int, int]:
        """(bytes read, lines read, number of the file being read)."""
        if self._file:  # fed by its reader
            return self.done, self.lines, self._file
        done, number = self._files.sample()
        return done, self._count_lines() if self._count_lines else 0, number

    def _draw(self) -> None:
        """The drawing thread: every rich call of the bar happens here."""
        if self._stop.wait(PROGRESS_DELAY):
            return
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
        from rich.progress import TextColumn as Column

        progress = Progress(
            Column("{task.description}", markup=False),
            BarColumn(),
            DownloadColumn(),
            Column("{task.fields[rate]}", markup=False),
            TimeRemainingColumn(),
            console=Console(file=sys.stderr, highlight=False, emoji=False),
            transient=True,
            auto_refresh=False,
            redirect_stdout=False,  # the command's output is never the bar's
            redirect_stderr=True,  # warnings print above the bar
        )
        task = progress.add_task("", total=self._files.total, rate="")
        self._update(progress, task)  # start() draws a frame: a bare bar without this
        progress.start()
        set_live_console(progress.console)  # console alerts print above it too
        try:
            while True:
                self._update(progress, task)
                if self._stop.wait(PROGRESS_TICK):
                    break
        finally:
            set_live_console(None)
            progress.stop()

    def _update(self, progress: Any, task: Any) -> None:
        done, lines, number = self._now()
        number = min(max(number, 1), len(self.paths))
        name = self.paths[number - 1]
        label = "standard input" if name == "-" else os.path.basename(name)
        rate = lines / max(self.elapsed(), 1e-9)
        progress.update(
            task,
            completed=done,
            description=f"file {number}/{len(self.paths)}: {clean(label)}",
            rate=f"{lines:,} lines, {rate:,.0f} lines/s",
        )
        progress.refresh()


def _progress_wanted(output_while_reading: bool) -> bool:
    if not _isatty(sys.stderr) or os.environ.get("TERM") == "dumb":
        return False
    return not (output_while_reading and _isatty(sys.stdout))


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class _ReadFiles:
    """How far the process has read into each of ``paths``, from its open descriptors.

    A file seen open and now closed was read to its end; one never seen, not
    yet. ``-`` and pipes have no size: the total is then unknown (no ETA).
    """

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self._index = {os.path.realpath(p): i for i, p in enumerate(paths) if p != "-"}
        self._sizes = [_size(p) for p in paths]
        self._seen = [0] * len(paths)
        self._was_open = [False] * len(paths)
        self.number = 1
        self.total = None if None in self._sizes else sum(self._sizes)  # type: ignore[arg-type]

    def sample(self) -> tuple[int, int]:
        """(bytes read in all files, the number of the file being read now)."""
        now_open = _open_positions(self._index)
        for i, size in enumerate(self._sizes):
            if i in now_open:
                self._seen[i] = max(self._seen[i], now_open[i])
                self._was_open[i] = True
                self.number = max(self.number, i + 1)
            elif self._was_open[i] and size is not None:
                self._seen[i] = size
        done = sum(
            min(seen, size or seen) for seen, size in zip(self._seen, self._sizes, strict=True)
        )
        return done, self.number


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size if path != "-" and os.path.isfile(path) else None
    except OSError:
        return None


def _open_positions(index: dict[str, int]) -> dict[int, int]:
    """{path index: read position} for each open descriptor on one of the paths (Linux)."""
    found: dict[int, int] = {}
    try:
        descriptors = os.listdir("/proc/self/fd")
    except OSError:
        return found
    for fd in descriptors:
        try:
            i = index.get(os.readlink(f"/proc/self/fd/{fd}"))
            if i is None:
                continue
            with open(f"/proc/self/fdinfo/{fd}", encoding="ascii") as info:
                position = int(info.readline().split()[1])
        except (OSError, ValueError, IndexError):
            continue  # closed meanwhile, or not the fdinfo we know
        found[i] = max(found.get(i, 0), position)
    return found
