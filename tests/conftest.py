"""Shared fixtures: the real-world corpus, sample logs, and small builders."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
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


EXAMPLE = ROOT / "examples" / "plugin"
"""The example third-party plugin (a sink and a detector)."""


def install_by_metadata(root: Path, entry_points: str, name: str = "example-plugin") -> None:
    """What pip leaves behind, minimal: a dist-info folder with METADATA and entry points."""
    info = root / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def example_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The example plugin importable and registered, as if pip-installed."""
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE / "spamwatch_example", site / "spamwatch_example")
    entry_points = (EXAMPLE / "pyproject.toml").read_text()
    sink_ep = "csv = spamwatch_example.sink:CsvSink"
    detector_ep = "night = spamwatch_example.detector:NightDetector"
    assert sink_ep.replace(" = ", ' = "') + '"' in entry_points  # same as the pyproject says
    assert detector_ep.replace(" = ", ' = "') + '"' in entry_points
    install_by_metadata(
        site,
        f"[spamwatch.sinks]\n{sink_ep}\n\n[spamwatch.detectors]\n{detector_ep}\n",
        "spamwatch-example-plugin",
    )
    monkeypatch.syspath_prepend(str(site))
    yield site
    for module in [m for m in sys.modules if m.startswith("spamwatch_example")]:
        del sys.modules[module]


@pytest.fixture(scope="session", autouse=True)
def session_profile_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """$SPAMWATCH_DB before any test or module fixture runs (``profile_db`` then gives
    each test its own): no code under test ever reaches /var/lib/spamwatch."""
    path = tmp_path_factory.mktemp("session-profiles") / "profiles.db"
    before = os.environ.get("SPAMWATCH_DB")
    os.environ["SPAMWATCH_DB"] = str(path)
    yield path
    if before is None:
        os.environ.pop("SPAMWATCH_DB", None)
    else:
        os.environ["SPAMWATCH_DB"] = before


@pytest.fixture(autouse=True)
def profile_db(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own profile database ($SPAMWATCH_DB, seen by child processes too).

    Never /var/lib/spamwatch: the suite runs as root on CI, where the default
    database would be writable and one test would learn what the next judges by.
    """
    path = tmp_path_factory.mktemp("profiles") / "profiles.db"
    monkeypatch.setenv("SPAMWATCH_DB", str(path))
    return path
