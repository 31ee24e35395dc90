"""few_collections: the collector's pace while a whole file is read, and back after.

And what it must not do: freeze garbage. ``learn --jobs 1`` reads a month's
thirty files one after the other in one process, each through a fresh
pipeline whose objects reference each other (cycles only the collector
frees). Freezing the heap at the start of file n froze file n-1's dead
pipeline with it, never to be collected: 54 MB after 2 files, 77 after 6,
182 after 30 (``bench/bench_learn.py --jobs 1,2``), against 51 with
``--jobs 2``, where each file is learned in a child that exits.
"""

from __future__ import annotations

import gc
import gzip
import weakref
from pathlib import Path
from typing import Any

import pytest

from spamwatch.gcpolicy import few_collections
from spamwatch.profiles import history
from tests.test_learn_cli import days
from tests.test_learn_jobs import learn


class Node:
    """An object in a reference cycle: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_the_pace_is_slowed_inside_and_restored_after_even_on_error() -> None:
    before = gc.get_threshold()
    with few_collections():
        assert gc.get_threshold()[0] == 100_000
        assert gc.get_freeze_count() > 0  # what was alive before is frozen
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), few_collections():
        raise RuntimeError("a corrupt file")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_garbage_made_before_is_collected_not_frozen() -> None:
    gc.disable()  # else the collector could free it by chance before the freeze
    try:
        dead = weakref.ref(Node())
        assert dead() is not None  # a cycle: reference counting does not free it
        with few_collections():
            assert dead() is None
    finally:
        gc.enable()


def test_learn_in_one_process_frees_each_files_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While file n is read, the pipelines of the files before it are gone."""
    built: list[weakref.ref[Any]] = []
    alive_while_reading: list[int] = []
    build_learning, learn_file = history.build_learning, history.learn_file

    def building(*args: Any) -> Any:
        pipeline = build_learning(*args)
        built.append(weakref.ref(pipeline.learner))  # the learner: a part of every cycle
        return pipeline

    def reading(*args: Any, **kwargs: Any) -> Any:
        alive_while_reading.append(sum(ref() is not None for ref in built[:-1]))
        return learn_file(*args, **kwargs)

    monkeypatch.setattr(history, "build_learning", building)
    monkeypatch.setattr(history, "learn_file", reading)
    files = []
    for age in range(2, -1, -1):
        path = tmp_path / f"mail.log.{age}.gz"
        path.write_bytes(gzip.compress(days(2 - age, 1).encode()))
        files.append(path)
    result = learn(tmp_path / "p.db", 1, *files)
    assert result.exit_code == 0, result.output
    assert "learned 3 files" in result.stdout
    assert alive_while_reading == [0, 0, 0]
