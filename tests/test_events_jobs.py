"""events --messages --jobs 2 (the log read and parsed by a second process) prints what
--jobs 1 prints: byte for byte, on every sample, over several files read as one stream
(a rotated gzip part then the log: a message crossing the two is joined alike), and the
summary line on stderr is the same too."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from spamwatch.cli import cli
from tests.conftest import ROOT

SAMPLES = sorted((ROOT / "samples").glob("*.log"))


def events(*args: str) -> Result:
    return CliRunner().invoke(cli, ["events", "--config", "/dev/null", "--messages", *args])


def same(*args: str) -> str:
    one, two = events("--jobs", "1", *args), events("--jobs", "2", *args)
    assert (two.exit_code, two.stdout, two.stderr) == (one.exit_code, one.stdout, one.stderr)
    return one.stdout


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_two_processes_print_what_one_prints(path: Path) -> None:
    assert same(str(path))
    same("--include-open", str(path))


def test_several_files_one_stream(tmp_path: Path) -> None:
    lines = b"".join(path.read_bytes() for path in SAMPLES).splitlines(keepends=True)
    half = len(lines) // 2
    (tmp_path / "mail.log.1.gz").write_bytes(gzip.compress(b"".join(lines[:half])))
    (tmp_path / "mail.log").write_bytes(b"".join(lines[half:]))
    out = same(str(tmp_path / "mail.log.1.gz"), str(tmp_path / "mail.log"))
    assert out.count("\n") > 10
