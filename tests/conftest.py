"""Shared fixtures: the real-world corpus, sample logs, and small builders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
CORPUS = Path(os.environ.get("SPAMWATCH_CORPUS", ROOT / "tests" / "data" / "corpus"))
"""Real Postfix lines from public projects (see its SOURCES.md for origins and licences)."""
SHARED_CORPUS = ROOT.parent / "shared" / "corpus"
"""The team's master copy of the corpus, beside the checkout when there is one."""


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """tests/data/corpus (real Postfix lines); skip clearly when SPAMWATCH_CORPUS names none."""
    if not CORPUS.is_dir():
        pytest.skip(f"corpus folder {CORPUS} is absent (set SPAMWATCH_CORPUS to its path)")
    return CORPUS
