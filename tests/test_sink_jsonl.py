"""jsonl: one finding record per line, appended and flushed, to a file or stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sinkutil import build_one, make_finding

from spamwatch.errors import SinkError
from spamwatch.model import Finding


def test_jsonl_file_is_appended_and_flushed_per_line(tmp_path: Path) -> None:
    path = tmp_path / "findings.jsonl"
    path.write_text('{"earlier": true}\n')
    first = build_one(f"jsonl:{path}", tmp_path, [])
    one = make_finding(id="one")
    first.send(one)
    lines = path.read_text().splitlines()  # readable before close: flushed
    assert len(lines) == 2 and Finding.from_json(json.loads(lines[1])) == one
    first.close()
    second = build_one(f"jsonl:{path}", tmp_path, [])
    second.send(make_finding(id="two"))
    second.close()
    ids = [json.loads(line).get("id") for line in path.read_text().splitlines()]
    assert ids == [None, "one", "two"]


def test_jsonl_dash_is_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    sink = build_one("jsonl:-", Path("/nonexistent"), [])
    finding = make_finding(evidence={"ips": ["10.0.0.1", "10.0.0.2"], "ratio": 0.5})
    sink.send(finding)
    sink.close()
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["evidence"] == {"ips": ["10.0.0.1", "10.0.0.2"], "ratio": 0.5}


def test_jsonl_unwritable_is_a_sink_error(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="cannot open"):
        build_one(f"jsonl:{tmp_path}/missing/dir/f.jsonl", tmp_path, [])
    with pytest.raises(SinkError):
        build_one(f"jsonl:{tmp_path}", tmp_path, [])  # a directory
