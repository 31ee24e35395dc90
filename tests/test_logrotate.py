"""contrib/logrotate.d/spamwatch, run by the real logrotate against a live jsonl sink.

The snippet is used as shipped but for its paths (moved into a temporary
directory) and its ``su`` line (the user running the test instead of spamwatch).
"""

from __future__ import annotations

import gzip
import json
import os
import pwd
import subprocess
from pathlib import Path

from sinkutil import build_one, make_incident

from tests.conftest import ROOT
from tests.programs import need

SNIPPET = ROOT / "contrib" / "logrotate.d" / "spamwatch"


def rotate(tmp_path: Path) -> tuple[Path, Path]:
    """Force one rotation of the snippet moved under tmp_path; return (log dir, spool dir)."""
    logs, spool = tmp_path / "log" / "spamwatch", tmp_path / "lib" / "spamwatch" / "spool"
    text = SNIPPET.read_text(encoding="utf-8")
    assert text.count("su spamwatch spamwatch") == 1
    me = pwd.getpwuid(os.getuid()).pw_name
    text = text.replace("/var/log/spamwatch", str(logs)).replace(
        "/var/lib/spamwatch/spool", str(spool)
    )
    conf = tmp_path / "logrotate.conf"
    conf.write_text(text.replace("su spamwatch spamwatch", f"su {me} {me}"), encoding="utf-8")
    result = subprocess.run(
        [need("logrotate"), "--force", "--state", str(tmp_path / "state"), str(conf)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    return logs, spool


def records(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def ids(path: Path) -> list[str]:
    return [record["id"] for record in records(path)]


def test_the_alert_file_rotates_under_a_sink_that_keeps_it_open(tmp_path: Path) -> None:
    """copytruncate: the open sink's next line starts the new file, whole (no hole of NULs)."""
    logs = tmp_path / "log" / "spamwatch"
    logs.mkdir(parents=True)
    sink = build_one(f"jsonl:{logs}/findings.jsonl", tmp_path / "spool", [])
    try:
        sink.send(make_incident(id="before-1"))
        sink.send(make_incident(id="before-2"))
        rotate(tmp_path)
        sink.send(make_incident(id="after"))
    finally:
        sink.close()
    assert ids(logs / "findings.jsonl.1") == ["before-1", "before-2"]
    assert (logs / "findings.jsonl").read_bytes().startswith(b'{"')
    assert ids(logs / "findings.jsonl") == ["after"]
