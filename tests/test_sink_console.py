"""console: one readable line per finding; colour from rich, never from the log."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sinkutil import build_one, make_incident

from spamwatch.errors import ConfigError
from spamwatch.model import IncidentState, Severity


def test_console_prints_one_line_per_record(capsys: pytest.CaptureFixture[str]) -> None:
    sink = build_one("console", Path("/nonexistent"), [])
    sink.send(make_incident())
    sink.send(make_incident(state=IncidentState.RESOLVED, severity=Severity.WARNING))
    sink.close()
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 2 and err == ""
    assert lines[0].startswith("2026-11-28 03:00:00 CRITICAL opened    login ")
    assert "login alice@example.com on mx1: alice@example.com sent 480" in lines[0]
    assert "WARNING  resolved" in lines[1]
    assert "\x1b" not in out  # not a terminal: no colour codes


def test_console_colours_on_a_terminal_but_never_from_log_text(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    sink = build_one("console:stderr", Path("/nonexistent"), [])
    sink.send(make_incident(key="[red]x[/red]\x1b[5m"))
    err = capsys.readouterr().err
    assert "\x1b[" in err  # rich styled the severity
    assert "[red]x[/red]\\x1b[5m" in err  # the log text is shown, not interpreted
    assert "\x1b[5m" not in err


def test_console_bad_target(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        build_one("console:/dev/tty", tmp_path, [])


def test_a_closed_stdout_is_a_broken_pipe_not_rich_exiting() -> None:
    """rich's Console exits with status 1 on EPIPE; the sink lets the command end as usual."""
    read, write = os.pipe()
    os.close(read)
    stream = open(write, "w", closefd=False)  # noqa: SIM115 (its close would flush again)
    try:
        sink = build_one("console", Path("/nonexistent"), [])
        sink.console.file = stream
        with pytest.raises(BrokenPipeError):
            sink.send(make_incident())
    finally:
        os.close(write)
