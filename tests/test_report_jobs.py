"""report --jobs 2 (the log read and parsed by a second process) prints what --jobs 1 prints.

Byte for byte, on every sample, in every format, with ranges that cut files
(--since, --until), rotated gzip parts, RFC 3339 times with their own offsets,
and an error in the reading process (a corrupt gzip member) raised as the same
error with the same exit status.
"""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import synthlog
from click.testing import CliRunner, Result

from spamwatch.cli import cli
from tests.conftest import ROOT

SAMPLES = sorted((ROOT / "samples").glob("*.log"))


def report(*args: str) -> Result:
    return CliRunner().invoke(cli, ["report", "--no-db", "--config", "/dev/null", *args])


def same(*args: str) -> str:
    """Run with --jobs 1 and --jobs 2; they must agree on everything; returns stdout."""
    one, two = report("--jobs", "1", *args), report("--jobs", "2", *args)
    assert (two.exit_code, two.stdout, two.stderr) == (one.exit_code, one.stdout, one.stderr)
    return one.stdout


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_two_processes_print_what_one_prints(path: Path) -> None:
    assert same("--format", "text", "--all-records", "--fail-on", "never", str(path))
    same("--format", "json", "--all-records", "--fail-on", "never", str(path))


def test_ranges_rotated_gzip_parts_and_own_offsets(tmp_path: Path) -> None:
    start = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
    lines = list(
        synthlog.render(
            synthlog.merge(
                synthlog.background(
                    synthlog.TrafficMix(rate=0.5), start, start + timedelta(hours=4), 7
                ),
                synthlog.compromised_account(start + timedelta(hours=2), messages=300),
            ),
            "rfc3339",
            tz=timezone(timedelta(hours=1)),
        )
    )
    half = len(lines) // 2
    (tmp_path / "mail.log.1.gz").write_bytes(
        gzip.compress("\n".join(lines[:half]).encode() + b"\n")
    )
    current = tmp_path / "mail.log"
    current.write_text("\n".join(lines[half:]) + "\n")
    end = (start + timedelta(hours=4)).timestamp()
    os.utime(current, (end, end))
    assert same("--format", "text", "--since", "2026-11-28T07:30:00+00:00", str(current))
    assert same(
        "--format", "json", "--since", "2026-11-28T06:30:00+00:00",
        "--until", "2026-11-28T08:10:00+00:00", str(current),
    )  # fmt: skip
    assert same("--format", "text", str(tmp_path / "mail.log.1.gz"), str(current))


def test_an_error_while_reading_is_the_same_error(tmp_path: Path) -> None:
    good = SAMPLES[0].read_bytes()
    corrupt = tmp_path / "mail.log.gz"
    corrupt.write_bytes(gzip.compress(good + os.urandom(400_000))[:-200_000])
    one = report("--jobs", "1", str(corrupt))
    two = report("--jobs", "2", str(corrupt))
    assert one.exit_code == two.exit_code == 4
    assert "corrupt or truncated gzip" in two.stderr and two.stderr == one.stderr


def test_standard_input_is_read_in_one_process() -> None:
    data = (ROOT / "samples" / "compromised-account.log").read_bytes()
    one = CliRunner().invoke(cli, ["report", "--no-db", "--jobs", "1", "-"], input=data)
    two = CliRunner().invoke(cli, ["report", "--no-db", "--jobs", "2", "-"], input=data)
    assert one.exit_code == two.exit_code == 1 and one.stdout == two.stdout
