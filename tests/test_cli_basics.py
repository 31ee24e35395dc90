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
