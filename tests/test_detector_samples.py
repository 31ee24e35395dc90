"""Every registered detector has a sample log that raises it (fail2ban's rule for its filters).

A detector is proven on a whole, realistic log, through the same pipeline as
``spamwatch report``, not only on hand-built events. The sample logs are
``samples/*.log`` (the built-ins; their findings are also golden files) and a
plugin's own ``samples/`` folder (``examples/plugin/samples/night.log``). A new
detector, built in or plugin, without a sample log that raises it fails here.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from spamwatch.config import Config
from spamwatch.detectors import build_detectors
from spamwatch.parse import Parser
from spamwatch.pipeline import Pipeline
from spamwatch.sources.files import file_anchor
from spamwatch.sources.seek import read_from
from tests.conftest import EXAMPLE, ROOT, install_by_metadata

SAMPLE_LOGS = [
    *sorted((ROOT / "samples").glob("*.log")),
    *sorted((EXAMPLE / "samples").glob("*.log")),
]


def raised_by(path: Path) -> set[str]:
    """The detectors with a finding on ``path``, every registered detector running."""
    raised: set[str] = set()
    config = Config()
    parser = Parser()
    parser.begin_source(file_anchor(str(path)))
    pipeline = Pipeline.from_config(
        config,
        parser,
        build_detectors(config),
        lambda incident: raised.update(incident.detectors),
    )
    for line in read_from(str(path), None, parser.line_time):
        pipeline.feed(line)
    pipeline.finish()
    return raised


def unsampled(logs: Iterable[Path]) -> list[str]:
    """Registered detectors that no sample log raises."""
    registered = {detector.name for detector in build_detectors(Config())}
    for path in logs:
        registered -= raised_by(path)
        if not registered:
            break
    return sorted(registered)


def test_every_built_in_detector_is_raised_by_a_sample_log() -> None:
    assert unsampled(SAMPLE_LOGS) == []


def test_the_example_plugins_detector_is_raised_by_its_sample_log(
    example_installed: Path,
) -> None:
    assert "night" in {d.name for d in build_detectors(Config())}
    assert "night" in raised_by(EXAMPLE / "samples" / "night.log")
    assert unsampled(SAMPLE_LOGS) == []


def test_a_detector_without_a_sample_log_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "quiet_plugin.py").write_text(
        "from spamwatch.detectors.base import Detector\n\n\n"
        "class Quiet(Detector):\n    name = 'quiet'\n"
    )
    install_by_metadata(tmp_path, "[spamwatch.detectors]\nquiet = quiet_plugin:Quiet\n", "quiet")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert unsampled(SAMPLE_LOGS) == ["quiet"]
