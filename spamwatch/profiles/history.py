"""``spamwatch learn``: profiles from the log history on disk, one file at a time.

Files are read oldest first (the rotated parts of ``/var/log/mail.log``, then
the log itself; named files by their first timestamp), each through a fresh
pipeline of its own whose learner builds one ``Partial``; the partial and the
file's mark are written in one transaction, so an interrupted ``learn``
resumes with the file it was reading and never counts a file twice. That is
also what lets files be learned in parallel: each file's partial is
independent, and partials merge by adding.

A file is recognised by a fingerprint of its first 4 KiB (uncompressed, so
``mail.log.2.gz`` is the ``mail.log.1`` it was), with how far it was learned:
a file learned before is skipped, a file that grew since is read from there.
Lines learned by ``report`` or ``follow`` are recognised by their log time
(``spans.py``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import BinaryIO, Protocol

from spamwatch.detectors.site import plural
from spamwatch.errors import InputError
from spamwatch.gcpolicy import few_collections
from spamwatch.model import Event
from spamwatch.parse import Parser
from spamwatch.parse.forked import blocks_forked
from spamwatch.pipeline import Pipeline
from spamwatch.profiles import Profiles
from spamwatch.profiles.learner import Learner, open_keys_of
from spamwatch.profiles.partial import Partial
from spamwatch.profiles.store import FileMark, ProfileStore
from spamwatch.profiles.view import ProfileView
from spamwatch.sources.files import (
    DEFAULT_LOG,
    file_anchor,
    iter_blocks,
    open_binary,
    refuse_pipes,
)
from spamwatch.sources.rotated import rotated_siblings
from spamwatch.sources.seek import first_time, is_gzip

HEAD = 4096
"""Bytes (uncompressed) whose digest names a file."""


@dataclass(frozen=True, slots=True)
class FilePlan:
    """One file to learn: its size on disk, its fingerprint, and where to start."""

    path: str
    size: int
    fingerprint: str = ""  # of its first ``head`` bytes as they are now ("" for stdin)
    head: int = 0
    offset: int = 0  # uncompressed bytes learned before (0: a new file)

    @property
    def done(self) -> bool:
        """Learned to its end before: nothing appended since, or compressed (a
        compressed file is a rotated one, complete when it was learned)."""
        return self.offset > 0 and (self.offset >= self.size or is_gzip(self.path))


@dataclass
class FileLearned:
    """What learning one file gave: the partial to write, the mark, the counts."""

    plan: FilePlan
    partial: Partial
    mark: FileMark | None
    lines: int = 0
    events: int = 0
    skipped: int = 0  # events learned before (by another command)


@dataclass
class Totals:
    """The summary line of a ``learn`` run."""

    files: int = 0
    unchanged: int = 0
    lines: int = 0
    events: int = 0
    skipped: int = 0
    logins: set[str] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)
    messages: int = 0

    def add(self, learned: FileLearned) -> None:
        self.files += 1
        self.lines += learned.lines
        self.events += learned.events
        self.skipped += learned.skipped
        self.logins.update(learned.partial.logins)
        self.hosts.update(learned.partial.spans)
        self.messages += sum(e.messages for e in learned.partial.logins.values())


class Progress(Protocol):
    """What ``learn`` tells a progress display (``spamwatch.screen.ReadingProgress``)."""

    def start_file(self, name: str) -> None: ...
    def advance(self, size: int, lines: int) -> None: ...


Block = tuple[int, int, int]
"""What a block of a file was: bytes on disk (compressed), lines, bytes."""

Build = Callable[[ProfileView], Pipeline]
"""A fresh pipeline for one file, its detectors judging against the view given."""


def learn_history(
    paths: Sequence[str],
    profiles: Profiles,
    build: Build,
    progress: Progress,
    fork: bool = False,
    at_once: int = 1,
) -> Totals:
    """Learn each file (already ordered), writing each in file order; returns the totals.

    Each file's detectors judge against what the files before it taught, so
    the incidents of day 2 are told apart from its normal by day 1.
    ``at_once`` > 1: that many files are learned at the same time, each in a
    process of its own (``parallel``), a file judged against the files written
    when it started (all but the ``at_once - 1`` before it). A file learned
    alone is read and parsed in a second process when ``fork``.
    """
    from spamwatch.profiles.parallel import Running  # it needs this module's names

    store = profiles.store
    assert store is not None, "learn needs a database"
    totals = Totals()
    running = Running(learn_built, progress)

    def keep(learned: FileLearned) -> None:
        options = profiles.options
        marks = [learned.mark] if learned.mark is not None else []
        store.write(learned.partial, marks, options.retention, options.limits)
        totals.add(learned)
        profiles.reload()

    try:
        for index, path in enumerate(paths):
            while running and (len(running) >= at_once or path == "-"):
                keep(running.take_oldest())
            plan = plan_file(path, store)
            if plan.fingerprint and plan.fingerprint in running.fingerprints():
                while running:  # the same file under another name: learned once
                    keep(running.take_oldest())
                plan = plan_file(path, store)
            progress.start_file(path)
            if plan.done:
                totals.unchanged += 1
                progress.advance(plan.size, 0)
            elif at_once > 1 and path != "-" and (running or index + 1 < len(paths)):
                running.start(plan, build_learning(profiles, build))
            else:
                keep(learn_one(plan, profiles, build, progress, fork))
        while running:
            keep(running.take_oldest())
    finally:
        running.stop()
    return totals


def learn_one(
    plan: FilePlan, profiles: Profiles, build: Build, progress: Progress, fork: bool = False
) -> FileLearned:
    """One file through a fresh pipeline; its learner's partial, not yet written.

    ``fork``: the file is read and parsed in a second process (``learn_file``).
    """
    return learn_built(plan, build_learning(profiles, build), progress, fork)


def build_learning(profiles: Profiles, build: Build) -> Pipeline:
    """A fresh pipeline judging against the view as it is now, its learner in batch mode.

    Everything that reads the database happens here (the learner's learned
    spans), so a forked process can run the pipeline without touching it.
    """
    pipeline = build(profiles.view)
    learner = profiles.learner(lambda: open_keys_of(pipeline.engine), refresh=False, batch=True)
    assert learner is not None, "learn needs a database"
    pipeline.learner = learner
    return pipeline


def learn_built(
    plan: FilePlan, pipeline: Pipeline, progress: Progress, fork: bool = False
) -> FileLearned:
    """``learn_one`` with the pipeline already built (``build_learning``)."""
    learner = pipeline.learner
    assert isinstance(learner, Learner)
    feed_event = pipeline.feed_event

    def feed(events: list[Event]) -> None:
        for event in events:
            feed_event(event)

    with few_collections():
        offset, lines = learn_file(plan, pipeline.parser, feed, progress.advance, fork)
        pipeline.finish()
    stats = pipeline.parser.stats
    return FileLearned(
        plan, learner.take(), mark_of(plan, offset, lines), lines, stats.events, learner.skipped
    )


def default_files() -> list[str]:
    """``/var/log/mail.log`` and its rotated parts, oldest first."""
    return [*rotated_siblings(DEFAULT_LOG), DEFAULT_LOG]


def order_files(paths: Sequence[str], parser: Parser) -> list[str]:
    """Named files oldest first (by their first timestamp), each real file once; stdin last."""
    refuse_pipes(paths, "learn")
    seen: set[str] = set()
    dated: list[tuple[float, int, str]] = []
    for index, path in enumerate(paths):
        if path == "-":
            continue
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        parser.begin_source(file_anchor(path))
        start = first_time(path, parser.line_time)
        dated.append((start.timestamp() if start else float("inf"), index, path))
    ordered = [path for _, _, path in sorted(dated)]
    return ordered + (["-"] if "-" in paths else [])


def plan_file(path: str, store: ProfileStore) -> FilePlan:
    """Fingerprint ``path`` and find how far it was learned before."""
    if path == "-":
        return FilePlan(path, 0)
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with _open(path) as stream:
        data = stream.read(HEAD)
    now = min(HEAD, len(data))
    offset = 0
    for head in sorted({*store.file_heads(), HEAD}, reverse=True):
        if 0 < head <= len(data):
            mark = store.file_mark(_digest(data[:head]))
            if mark is not None:
                offset = mark.offset
                break
    return FilePlan(path, size, _digest(data[:now]), now, offset)


def learn_file(
    plan: FilePlan,
    parser: Parser,
    feed: Callable[[list[Event]], None],
    on_block: Callable[[int, int], None],
    fork: bool = False,
) -> tuple[int, int]:
    """Feed the file's events from where it was learned; returns (offset, lines read).

    ``feed`` takes the events of a block; ``on_block(bytes on disk, lines)``
    is the progress of each block. ``fork``: read and parse in a second
    process (``parse.forked``; not for standard input), the same events.
    """
    blocks = partial(file_blocks, plan, parser)
    offset = lines = 0
    reading = blocks_forked(parser, blocks) if fork and plan.path != "-" else blocks()
    for events, (disk, count, size) in reading:
        feed(events)
        offset += size
        lines += count
        on_block(disk, count)
    return offset, lines


def file_blocks(plan: FilePlan, parser: Parser) -> Iterator[tuple[list[Event], Block]]:
    """The events of each block from where the file was learned, with its ``Block`` figures.

    The first item, without events, is the part learned before (skipped).
    """
    if plan.path != "-":
        parser.begin_source(file_anchor(plan.path))
    stream = open_binary(plan.path)
    try:
        offset = _skip(stream, plan.offset, plan.path)
        disk = _disk(stream)
        yield [], (disk, 0, offset)
        for block in iter_blocks(stream, plan.path):
            events = parser.parse_block(block)
            now = _disk(stream)
            yield events, (now - disk, block.count(b"\n"), len(block))
            disk = now
    finally:
        if plan.path != "-":
            stream.close()


def mark_of(plan: FilePlan, offset: int, lines: int) -> FileMark | None:
    """The mark that says ``plan``'s file was learned up to ``offset``."""
    if plan.path == "-" or not plan.head:
        return None
    return FileMark(plan.fingerprint, plan.head, os.path.abspath(plan.path), offset, lines)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _open:
    """``open_binary`` as a context manager (closes what it opened)."""

    def __init__(self, path: str) -> None:
        self.stream = open_binary(path)

    def __enter__(self) -> BinaryIO:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        self.stream.close()


def _skip(stream: BinaryIO, offset: int, name: str) -> int:
    """Move past the first ``offset`` uncompressed bytes; returns how many were passed."""
    if not offset:
        return 0
    try:
        if stream.seekable() and not hasattr(stream, "fileobj"):
            return stream.seek(min(offset, os.fstat(stream.fileno()).st_size))
        passed = 0
        while passed < offset:
            chunk = stream.read(min(1 << 20, offset - passed))
            if not chunk:
                break
            passed += len(chunk)
        return passed
    except (OSError, EOFError) as exc:
        raise InputError(f"{name}: cannot read: {exc}") from None


def _disk(stream: BinaryIO) -> int:
    """Bytes of the file on disk read so far (the compressed position of a .gz)."""
    raw = getattr(stream, "fileobj", stream)
    try:
        return int(raw.tell())
    except (OSError, ValueError, AttributeError):
        return 0


def describe(totals: Totals, seconds: float) -> str:
    """The one-line summary of a ``learn`` run."""
    rate = totals.lines / seconds if seconds > 0 else 0.0
    text = (
        f"learned {plural(totals.files, 'file')}: {plural(totals.lines, 'line')},"
        f" {plural(totals.messages, 'message')} of {plural(len(totals.logins), 'login')}"
        f" on {plural(len(totals.hosts), 'host')} in {seconds:.1f}s ({rate:,.0f} lines/s)"
    )
    if totals.unchanged:
        text += f"; {totals.unchanged} already learned, skipped"
    if totals.skipped:
        text += f"; {totals.skipped} events learned before by report or follow"
    return text
