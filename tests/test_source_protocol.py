"""Every kind of source ``follow`` reads implements the one Source protocol.

The follow loop (spamwatch.follow.follower) calls only the protocol; a source
missing a member would fail there at run time, months into a run (a reopen on
SIGHUP, a state save), so the members are checked here for each kind.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from spamwatch.follow import follower
from spamwatch.sources.base import Source
from spamwatch.sources.journal import JournalSource
from spamwatch.sources.pipe import StdinSource
from spamwatch.sources.tail import TailFile

MEMBERS = ("name", "key", "ended", "watched", "start", "warmup", "read", "position", "finish",
           "reopen", "close")  # fmt: skip


def test_the_member_list_is_the_protocol() -> None:
    declared = {n for n in vars(Source) if not n.startswith("_")} | set(Source.__annotations__)
    assert declared == set(MEMBERS)


def sources(tmp_path: Path) -> list[object]:
    wake = threading.Event()
    return [
        TailFile(str(tmp_path / "mail.log"), lambda key, message: None),
        JournalSource(wake, lambda key, message: None),
        StdinSource(wake),
    ]


@pytest.mark.parametrize("index", range(3), ids=["tail", "journal", "stdin"])
def test_each_source_has_every_member_of_the_source_protocol(tmp_path: Path, index: int) -> None:
    source = sources(tmp_path)[index]
    for member in MEMBERS:
        assert hasattr(source, member), f"{type(source).__name__} lacks {member}"
    assert isinstance(source.watched, tuple)  # type: ignore[attr-defined]
    assert source.ended in (True, False)  # type: ignore[attr-defined]


def test_a_file_source_before_start_has_nothing_to_warm_up_nor_save(tmp_path: Path) -> None:
    tail = TailFile(str(tmp_path / "mail.log"), lambda key, message: None)
    assert list(tail.warmup(timedelta(hours=1), lambda line: None)) == []
    assert tail.position() is None and list(tail.finish()) == []
    assert tail.key == str(tmp_path / "mail.log") and tail.watched == (tail.key,)


def test_the_follow_loop_names_no_source_class_but_where_it_builds_them() -> None:
    """follower.py branches on no source type: construction is the only place it names one."""
    text = Path(follower.__file__).read_text(encoding="utf-8")
    assert "isinstance(source" not in text and "isinstance(s," not in text
    for name in ("TailFile", "JournalSource", "StdinSource"):
        uses = [line for line in text.splitlines() if name in line and "import" not in line]
        assert all(("(" in line and name + "(" in line) or "->" in line for line in uses), uses
