"""Plugins: `spamwatch plugins`, and the example third-party plugin found and working.

Two ways to install the example: an importlib.metadata dist-info folder on
sys.path (fast, in-process), and a real ``pip install`` into a temporary
virtual environment (proves the example's pyproject.toml itself).
"""

from __future__ import annotations

import csv
import json
import shutil
import site
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from sinkutil import T0, build_one, make_incident

from spamwatch.cli import cli
from spamwatch.model import Event, Message, MessageUpdate, Severity, Stage
from spamwatch.sinks import Fanout
from tests.conftest import EXAMPLE, install_by_metadata


def run_plugins(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["plugins", "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_lists_builtin_sinks_with_their_distribution() -> None:
    listing = run_plugins()
    sinks = {p["name"]: p for p in listing["sinks"]}
    expected = {"console", "jsonl", "syslog", "syslog+udp", "mailto", "webhook+http",
                "webhook+https", "exec", "prometheus"}  # fmt: skip
    assert expected <= set(sinks)
    for name in expected:
        assert sinks[name]["distribution"] == "spamwatch"
        assert sinks[name]["error"] is None
        assert sinks[name]["description"]
    assert "detectors" in listing


def test_text_table(example_installed: Path) -> None:
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("detectors:\n")
    assert "\nsinks:\n" in out
    assert "csv" in out and "[spamwatch-example-plugin 0.1.0]" in out


def test_example_plugin_is_discovered_and_its_sink_works(
    example_installed: Path, tmp_path: Path
) -> None:
    listing = run_plugins()
    csv_entry = next(p for p in listing["sinks"] if p["name"] == "csv")
    night = next(p for p in listing["detectors"] if p["name"] == "night")
    assert csv_entry["distribution"] == night["distribution"] == "spamwatch-example-plugin"
    assert csv_entry["error"] is None and night["error"] is None

    path = tmp_path / "findings.csv"
    fanout = Fanout([build_one(f"csv:{path}?min=warning", tmp_path, [])])
    fanout.send(make_incident(key="=cmd|'/c calc'!A1"))
    fanout.send(make_incident(severity=Severity.INFO))  # below ?min=warning: not written
    fanout.close()
    rows = list(csv.reader(path.open()))
    assert rows[0][:3] == ["time", "severity", "state"]
    assert len(rows) == 2
    assert rows[1][4] == "'=cmd|'/c calc'!A1"  # a formula stays text


def test_example_detector_signals_at_night(example_installed: Path) -> None:
    from spamwatch.detectors import detector_classes

    night_cls = detector_classes()["night"]
    detector = night_cls({"threshold": 3})
    signals = []
    for i in range(4):
        time = T0 + timedelta(minutes=i)  # 03:00 UTC: inside the default 1-5h
        detector.tick(time)
        message = Message("mx1", f"Q{i}", time, time, sasl_username="alice@example.com")
        event = Event(time, "mx1", "postfix/qmgr", "qmgr", 1, f"Q{i}", "queued")
        signals.extend(detector.on_update(MessageUpdate(Stage.QUEUED, message, event)))
    assert [s.counts["messages"] for s in signals] == [3, 4]
    assert signals[0].key == "alice@example.com"


def test_a_broken_plugin_is_listed_with_its_error(tmp_path: Path, monkeypatch) -> None:
    install_by_metadata(tmp_path, "[spamwatch.sinks]\npager = no_such_module_xyz:Pager\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    listing = run_plugins()
    pager = next(p for p in listing["sinks"] if p["name"] == "pager")
    assert pager["distribution"] == "example-plugin"
    assert "ModuleNotFoundError" in pager["error"]
    result = CliRunner().invoke(cli, ["plugins"])
    assert "pager" in result.stdout and "LOAD ERROR: ModuleNotFoundError" in result.stdout


def see_this_environment(python: str) -> None:
    """Let the venv of ``python`` import what the tests run with (spamwatch, pip).

    A ``.pth`` file adds this interpreter's site directories, editable install
    included; ``--system-site-packages`` would give the base Python's instead,
    which on a fresh machine has neither spamwatch nor its dependencies.
    """
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    lines = [f"import site; site.addsitedir({path!r})" for path in site.getsitepackages()]
    (Path(purelib) / "tests-parent-environment.pth").write_text("\n".join(lines) + "\n")


def test_pip_install_into_a_venv(tmp_path: Path) -> None:
    """The example's pyproject.toml, installed for real, registers both entry points."""
    source = tmp_path / "plugin"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    see_this_environment(python)
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    listed = subprocess.run(
        [python, "-m", "spamwatch", "plugins", "--format", "json"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    listing = json.loads(listed.stdout)
    assert any(p["name"] == "csv" and p["distribution"] == "spamwatch-example-plugin"
               and p["error"] is None for p in listing["sinks"])  # fmt: skip
    assert any(p["name"] == "night" and p["error"] is None for p in listing["detectors"])
    night = EXAMPLE / "samples" / "night.log"
    report = subprocess.run(
        [python, "-m", "spamwatch", "report", "--format", "json", "--fail-on", "never", str(night)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    found = [json.loads(line) for line in report.stdout.splitlines()]
    raised = [f["detector"] for incident in found for f in incident["findings"]]
    assert raised == ["night"]  # its sample log raises it, and only it
