"""prometheus: the textfile is parsed back as exposition format after every change."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from sinkutil import build_one, make_finding

from spamwatch.errors import SinkError
from spamwatch.model import FindingState, Severity
from spamwatch.sinks import Fanout

SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """A small exposition-format parser: every sample, checking TYPE lines precede them."""
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    typed: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("gauge", "counter")
            typed[name] = kind
            continue
        if line.startswith("#") or not line:
            continue
        match = SAMPLE.fullmatch(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        assert name in typed, f"{name} has no TYPE line before it"
        found = LABEL.findall(labels or "")
        assert ",".join(f'{k}="{v}"' for k, v in found) == (labels or ""), line
        pairs = frozenset(found)
        samples[(name, pairs)] = float(value)
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_open_findings_by_detector_and_severity(tmp_path: Path) -> None:
    path = tmp_path / "spamwatch.prom"
    sink = build_one(f"prometheus:{path}", tmp_path, [])
    assert parse(path.read_text())  # written at start: the file exists before any finding
    alice = make_finding(id="a")
    sink.send(alice)
    sink.send(make_finding(id="b", key="bob@example.com", severity=Severity.WARNING))
    sink.send(make_finding(id="c", detector="auth", key="10.0.0.1", key_kind="client_ip"))
    samples = parse(path.read_text())
    assert value(samples, "spamwatch_open_findings", detector="burst", severity="critical") == 1
    assert value(samples, "spamwatch_open_findings", detector="burst", severity="warning") == 1
    assert value(samples, "spamwatch_open_findings", detector="auth", severity="critical") == 1
    # b escalates to critical, a resolves
    sink.send(make_finding(id="b", key="bob@example.com", state=FindingState.ESCALATED))
    sink.send(make_finding(id="a", state=FindingState.RESOLVED))
    samples = parse(path.read_text())
    assert value(samples, "spamwatch_open_findings", detector="burst", severity="critical") == 1
    assert value(samples, "spamwatch_open_findings", detector="burst", severity="warning") == 0
    assert value(samples, "spamwatch_finding_records_total", detector="burst", state="raised") == 2
    assert (
        value(samples, "spamwatch_finding_records_total", detector="burst", state="resolved") == 1
    )
    sink.close()
    text = path.read_text()
    assert "alice" not in text and "bob" not in text and "10.0.0.1" not in text
    assert "mx1" not in text  # no per-user, per-address or per-host labels


def test_update_stats_hook_through_fanout(tmp_path: Path) -> None:
    path = tmp_path / "spamwatch.prom"
    sink = build_one(f"prometheus:{path}", tmp_path, [])
    fanout = Fanout([sink])
    fanout.update_stats({"lines": 1200, "events": 1000, "messages": 40, "skipped": 3})
    fanout.update_stats({"lines": 2400, "Bad-Name": 1, "flag": True, "text": "x"})
    samples = parse(path.read_text())
    assert value(samples, "spamwatch_lines_total") == 2400
    assert value(samples, "spamwatch_events_total") == 1000
    assert value(samples, "spamwatch_messages_total") == 40
    assert value(samples, "spamwatch_skipped_total") == 3
    assert not any("Bad" in name or "flag" in name or "text" in name for name, _ in samples)
    assert value(samples, "spamwatch_last_write_timestamp_seconds") > 1.7e9
    fanout.close()


def test_file_is_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "spamwatch.prom"
    sink = build_one(f"prometheus:{path}", tmp_path, [])
    before = path.stat().st_ino
    held = path.open()  # a reader holding the old file keeps a complete old version
    sink.send(make_finding())
    assert path.stat().st_ino != before
    assert "spamwatch_open_findings{" not in held.read()
    held.close()
    assert sorted(os.listdir(tmp_path)) == ["spamwatch.prom"]  # no temporary file left
    assert (path.stat().st_mode & 0o777) == 0o644
    sink.close()


def test_missing_directory_is_a_sink_error(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="cannot write"):
        build_one(f"prometheus:{tmp_path}/missing/spamwatch.prom", tmp_path, [])
    with pytest.raises(SinkError):
        build_one("prometheus:", tmp_path, [])
