"""few_collections: the collector's pace while a whole file is read, and back after."""

from __future__ import annotations

import gc

import pytest

from spamwatch.gcpolicy import few_collections


def test_the_pace_is_slowed_inside_and_restored_after_even_on_error() -> None:
    before = gc.get_threshold()
    with few_collections():
        assert gc.get_threshold()[0] == 100_000
        assert gc.get_freeze_count() > 0  # what was alive before is frozen
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), few_collections():
        raise RuntimeError("a corrupt file")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
