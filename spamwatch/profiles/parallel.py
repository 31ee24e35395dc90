"""Files learned at the same time, each in a forked process (``learn --jobs 2``).

A month of rotated logs is thirty files, and a file's learning needs nothing
of the others but the view its detectors judge against: each file's partial
is independent, and partials merge by adding. So ``learn`` with two CPUs
runs two files at once, each whole (reading, decompressing, parsing,
correlating, detecting, learning) in a process of its own forked with its
pipeline already built; the partials come back here and are written in file
order, one transaction per file, as one process writes them.

The pipeline is built here before the fork (``history.build_learning``), with
the view as it is then: file n judges against the files written before it
started, that is all but the ``at_once - 1`` files before it still being
learned. Which files those are depends only on the order of the files, not on
which process finishes first (a file starts only once the oldest running one
is written), so two runs learn the same. The child never touches the
database: the learner reads what it needs from it when it is built.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from spamwatch.errors import SpamwatchError
from spamwatch.parse.forked import child_error

if TYPE_CHECKING:  # history imports this module
    from spamwatch.pipeline import Pipeline
    from spamwatch.profiles.history import FileLearned, FilePlan, Progress

Learn = Callable[["FilePlan", "Pipeline", "Progress"], "FileLearned"]
"""Learns one file with a built pipeline (``history.learn_built``)."""


@dataclass
class _Job:
    """One file being learned in a child process."""

    plan: FilePlan
    process: BaseProcess
    reader: Connection
    result: FileLearned | None = None


class Running:
    """The files being learned in child processes, oldest first.

    ``progress`` is told of every block any child reads, as it reads it.
    """

    def __init__(self, learn: Learn, progress: Progress) -> None:
        self._learn = learn
        self._progress = progress
        self._jobs: deque[_Job] = deque()

    def __len__(self) -> int:
        return len(self._jobs)

    def fingerprints(self) -> set[str]:
        """The fingerprints of the files being learned (the same file twice waits)."""
        return {job.plan.fingerprint for job in self._jobs}

    def start(self, plan: FilePlan, pipeline: Pipeline) -> None:
        """Learn ``plan``'s file with ``pipeline`` in a forked child."""
        context = multiprocessing.get_context("fork")
        reader, writer = context.Pipe(duplex=False)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # else the child would write out a copy of what is buffered
        process = context.Process(
            target=_child, args=(writer, plan, pipeline, self._learn), daemon=True
        )
        process.start()
        writer.close()
        self._jobs.append(_Job(plan, process, reader))

    def take_oldest(self) -> FileLearned:
        """Wait for the oldest file's partial (relaying every child's progress meanwhile)."""
        oldest = self._jobs[0]
        while oldest.result is None:
            busy = {job.reader: job for job in self._jobs if job.result is None}
            for reader in wait(list(busy)):
                self._receive(busy[reader])  # type: ignore[index]
        self._jobs.popleft()
        oldest.process.join()
        return oldest.result

    def stop(self) -> None:
        """End every child still running (an error or Ctrl-C here)."""
        while self._jobs:
            job = self._jobs.popleft()
            if job.process.is_alive():
                job.process.terminate()
            job.process.join()
            job.reader.close()

    def _receive(self, job: _Job) -> None:
        try:
            message = job.reader.recv()
        except EOFError:
            raise SpamwatchError(
                f"{job.plan.path}: the learning process ended without a word"
            ) from None
        if message[0] == "block":
            self._progress.advance(message[1], message[2])
        elif message[0] == "done":
            job.result = message[1]
            job.reader.close()
        else:
            raise child_error(message)


class _Relay:
    """The child's progress: each block's figures sent to the parent."""

    def __init__(self, writer: Connection) -> None:
        self.writer = writer

    def start_file(self, name: str) -> None:
        """The parent said so when it started the child."""

    def advance(self, size: int, lines: int) -> None:
        self.writer.send(("block", size, lines))


def _child(writer: Connection, plan: FilePlan, pipeline: Pipeline, learn: Learn) -> None:
    """Learn the file; send its result (or the error) to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    message: tuple[Any, ...]
    try:
        message = ("done", learn(plan, pipeline, _Relay(writer)))
    except SpamwatchError as exc:
        message = ("error", type(exc).__name__, str(exc))
    except Exception:  # a bug: the parent reports it as an internal error
        message = ("bug", traceback.format_exc())
    writer.send(message)
    writer.close()
