"""jsonl: one finding record per line, appended and flushed, to a file or stdout."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sinkutil import build_one, make_incident

from spamwatch.errors import SinkError
from spamwatch.model import Incident
from tests.followutil import as_nobody, open_dir


def test_jsonl_file_is_appended_and_flushed_per_line(tmp_path: Path) -> None:
    path = tmp_path / "findings.jsonl"
    path.write_text('{"earlier": true}\n')
    first = build_one(f"jsonl:{path}", tmp_path, [])
    one = make_incident(id="one")
    first.send(one)
    lines = path.read_text().splitlines()  # readable before close: flushed
    assert len(lines) == 2 and Incident.from_json(json.loads(lines[1])) == one
    first.close()
    second = build_one(f"jsonl:{path}", tmp_path, [])
    second.send(make_incident(id="two"))
    second.close()
    ids = [json.loads(line).get("id") for line in path.read_text().splitlines()]
    assert ids == [None, "one", "two"]


def test_jsonl_dash_is_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    sink = build_one("jsonl:-", Path("/nonexistent"), [])
    finding = make_incident(evidence={"ips": ["10.0.0.1", "10.0.0.2"], "ratio": 0.5})
    sink.send(finding)
    sink.close()
    (line,) = capsys.readouterr().out.splitlines()
    evidence = json.loads(line)["findings"][0]["evidence"]
    assert evidence == {"ips": ["10.0.0.1", "10.0.0.2"], "ratio": 0.5}


def test_jsonl_unwritable_is_a_sink_error(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="cannot open"):
        build_one(f"jsonl:{tmp_path}/missing/dir/f.jsonl", tmp_path, [])
    with pytest.raises(SinkError):
        build_one(f"jsonl:{tmp_path}", tmp_path, [])  # a directory


# --- planted files (issue 14 §4) ------------------------------------------------------


def test_jsonl_path_planted_as_a_symlink_is_refused_and_its_target_untouched(
    tmp_path: Path,
) -> None:
    """The report's attack: in a directory others may write to, nobody links the alert
    file to a file of root's, and root appended alerts to it."""
    root_file = tmp_path / "root-only"
    root_file.write_text("root's\n")
    with open_dir() as shared:
        planted = shared / "findings.jsonl"
        as_nobody(lambda: os.symlink(root_file, planted))
        with pytest.raises(SinkError, match="symbolic link"):
            build_one(f"jsonl:{planted}", tmp_path, [])
    assert root_file.read_text() == "root's\n"


def test_jsonl_path_of_another_user_or_hard_linked_or_a_fifo_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file to nobody")
    theirs = tmp_path / "theirs.jsonl"
    theirs.write_text("")
    os.chown(theirs, 65534, 65534)
    with pytest.raises(SinkError, match=r"belongs to another user \(uid 65534\)"):
        build_one(f"jsonl:{theirs}", tmp_path, [])
    precious = tmp_path / "precious"
    precious.write_text("keep\n")
    os.link(precious, tmp_path / "linked.jsonl")
    with pytest.raises(SinkError, match="hard links"):
        build_one(f"jsonl:{tmp_path / 'linked.jsonl'}", tmp_path, [])
    assert precious.read_text() == "keep\n"
    os.mkfifo(tmp_path / "fifo.jsonl")  # no reader: a blocking open would wait forever
    with pytest.raises(SinkError, match=r"not a regular file \(a FIFO\)"):
        build_one(f"jsonl:{tmp_path / 'fifo.jsonl'}", tmp_path, [])
