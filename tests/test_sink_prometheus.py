"""prometheus:FILE: the textfile holds spamwatch's metrics, parsed back by prometheus_client."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sinkutil import build_one, make_incident

from spamwatch import __version__
from spamwatch.errors import SinkError
from spamwatch.metrics import Metrics, current
from spamwatch.sinks import Fanout


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition text, by name and labels (the library's own parser)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_file_carries_the_alert_counts_of_each_sink(tmp_path: Path) -> None:
    path = tmp_path / "spamwatch.prom"
    metrics_file = build_one(f"prometheus:{path}", tmp_path, [])
    assert samples(path.read_text())  # written at start: the file exists before any alert
    alerts = tmp_path / "alerts.jsonl"
    fanout = Fanout([build_one(f"jsonl:{alerts}", tmp_path, []), metrics_file])
    for name in ("a", "b", "c"):
        fanout.send(make_incident(id=name))
    found = samples(path.read_text())
    assert found[("spamwatch_alerts_sent_total", frozenset({("sink", f"jsonl:{alerts}")}))] == 3
    assert found[("spamwatch_alerts_lost_total", frozenset({("sink", f"jsonl:{alerts}")}))] == 0
    assert found[("spamwatch_build_info", frozenset({("version", __version__)}))] == 1
    assert not any(dict(labels).get("sink", "").startswith("prometheus") for _, labels in found)
    fanout.close()
    assert "alice" not in path.read_text()  # never a login in a label


def test_file_is_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "spamwatch.prom"
    sink = build_one(f"prometheus:{path}", tmp_path, [])
    before = path.stat().st_ino
    held = path.open()  # a reader holding the old file keeps a complete old version
    sink.send(make_incident())
    assert path.stat().st_ino != before
    assert samples(held.read())
    held.close()
    assert sorted(os.listdir(tmp_path)) == ["spamwatch.prom"]  # no temporary file left
    assert (path.stat().st_mode & 0o777) == 0o644
    sink.close()


def test_other_parts_set_gauges_through_the_hook() -> None:
    current().set_gauge("spamwatch_profile_db_bytes", 4096, "Size of the profile database.")
    current().set_gauge("spamwatch_profile_db_bytes", 8192, "Size of the profile database.")
    found = samples(current().exposition().decode())
    assert found[("spamwatch_profile_db_bytes", frozenset())] == 8192
    with pytest.raises(ValueError, match="start with spamwatch_"):
        current().set_gauge("profiles", 1, "no prefix")


def test_missing_directory_is_a_sink_error(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="cannot write"):
        build_one(f"prometheus:{tmp_path}/missing/spamwatch.prom", tmp_path, [])
    with pytest.raises(SinkError):
        build_one("prometheus:", tmp_path, [])


def test_gauges_set_before_the_registry_is_built_are_exported() -> None:
    metrics = Metrics()  # a fresh process's: no registry yet
    metrics.set_gauge("spamwatch_test_bytes", 1, "A test gauge.", kind="a")
    metrics.set_gauge("spamwatch_test_bytes", 2, "A test gauge.", kind="b")
    metrics.set_gauge("spamwatch_test_bytes", 3, "A test gauge.", kind="a")
    found = samples(metrics.exposition().decode())
    assert found[("spamwatch_test_bytes", frozenset({("kind", "a")}))] == 3
    assert found[("spamwatch_test_bytes", frozenset({("kind", "b")}))] == 2
    metrics.set_gauge("spamwatch_test_bytes", 4, "A test gauge.", kind="b")  # after: at once
    found = samples(metrics.exposition().decode())
    assert found[("spamwatch_test_bytes", frozenset({("kind", "b")}))] == 4


def test_a_report_without_an_exporter_never_imports_prometheus_client(tmp_path: Path) -> None:
    """The library is 2 MB of every process's peak RSS: only what exports loads it."""
    log = tmp_path / "mail.log"
    log.write_text(
        "Nov 28 10:00:00 mx postfix/smtpd[1]: 4ABC1: client=a[192.0.2.1],"
        " sasl_method=PLAIN, sasl_username=alice\n"
    )
    argv = ["spamwatch", "report", "--config", "/dev/null", "--db", str(tmp_path / "p.db")]
    code = (
        "import sys\n"
        "from spamwatch.cli import main\n"
        f"sys.argv = {[*argv, str(log)]!r}\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('prometheus_client')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
