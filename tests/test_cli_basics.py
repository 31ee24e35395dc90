"""The CLI shell: version, help, and exception-to-exit-status mapping."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from spamwatch import __version__
from spamwatch.cli import cli


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_python_dash_m_works() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "spamwatch", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert "Usage:" in proc.stdout


def test_unknown_command_is_usage_error() -> None:
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_broken_pipe_is_not_an_error(tmp_path) -> None:
    """`spamwatch events big.log | head -1` exits 0, with nothing on stderr."""
    log = tmp_path / "mail.log"
    line = "2026-11-28T03:13:06+00:00 mx postfix/smtpd[1]: connect from unknown[192.0.2.1]\n"
    log.write_text(line * 200_000)
    script = f"{sys.executable} -m spamwatch events {log} | head -1; echo ${{PIPESTATUS[0]}} >&2"
    proc = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.stdout.count("\n") == 1
    assert proc.stderr.strip().splitlines()[-1] == "0", proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_and_version_into_a_closed_pipe_exit_0() -> None:
    """``spamwatch --help | head -1`` is not an error, as ``report --help | head -1`` is not."""
    for option in ("--help", "--version", "report --help"):
        script = f"{sys.executable} -m spamwatch {option} | true; echo ${{PIPESTATUS[0]}} >&2"
        proc = subprocess.run(
            ["bash", "-c", script], capture_output=True, text=True, check=False, timeout=60
        )
        assert proc.stderr == "0\n", (option, proc.stderr)
