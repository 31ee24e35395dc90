"""A first-time admin's mistakes: each is one clear stderr line and the documented status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from spamwatch.cli import cli
from tests.followutil import piped, until

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "compromised-account.log"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_typo_in_a_top_level_table_is_refused_by_every_command(tmp_path: Path) -> None:
    """``[detector.burst]`` (singular) must not be silently ignored by report."""
    config = tmp_path / "spamwatch.toml"
    config.write_text("[detector.burst]\nshort_threshold = 1\n")
    for command in (["report", "--format", "json"], ["events"]):
        status, out, err = run(*command, "--config", str(config), str(SAMPLE))
        assert (status, out) == (3, ""), command
        assert err.startswith(f"spamwatch: error: {config}: unknown key 'detector'"), err
        assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["report", "--fail-on", "maybe"], "'--fail-on': 'maybe' is not one of"),
        (["report", "--year", "99999"], "'--year': 99999 is not in the range"),
        (["report", "--format", "xml"], "'--format': 'xml' is not one of"),
        (["follow", "--poll", "-1"], "--poll"),
        (["report", "--bogus"], "No such option '--bogus'"),
        (["reprot"], "No such command 'reprot'"),
    ],
)
def test_click_usage_errors_are_one_line(args: list[str], words: str) -> None:
    status, out, err = run(*args, str(SAMPLE))
    assert (status, out) == (2, "")
    assert err.count("\n") == 1, err
    assert err.startswith("spamwatch: error: ") and words in err, err
    assert "--help" in err


@pytest.mark.parametrize("output_format", ["table", "text", "json"])
def test_report_into_a_closed_pipe_keeps_its_exit_status(output_format: str) -> None:
    """``report | true``: the reader is gone before the report is written; still status 1."""
    _, err, status = piped(["report", "--format", output_format, str(SAMPLE)], "true")
    assert (status, err) == (1, "")


@pytest.mark.parametrize("year", [99999, 1, 1969])
def test_a_parse_year_out_of_range_in_the_config_is_a_config_error(
    tmp_path: Path, year: int
) -> None:
    """``--year 99999`` is refused; the same in ``[parse]`` silently read nothing."""
    config = tmp_path / "spamwatch.toml"
    config.write_text(f"[parse]\nyear = {year}\n")
    for command in (["config", "check"], ["report", str(SAMPLE)]):
        status, out, err = run(*command, "--config", str(config))
        assert (status, out) == (3, ""), command
        assert (
            err == f"spamwatch: error: parse.year: must be 0 (inferred) or 1970..9999, got {year}\n"
        )


def test_sigint_during_a_long_report_prints_no_half_report(tmp_path: Path) -> None:
    """Ctrl-C while reading: exit 130, nothing on stdout, no traceback."""
    log = tmp_path / "mail.log"
    line = "2026-11-28T03:13:06+00:00 mx postfix/smtpd[1]: connect from unknown[192.0.2.1]\n"
    log.write_text(line * 2_000_000)
    env = {k: v for k, v in os.environ.items() if k != "SPAMWATCH_CONFIG"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "spamwatch", "report", "--format", "text", str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        # As from a terminal: pytest started in the background (``pytest &``) ignores SIGINT,
        # the child would inherit that and never see the Ctrl-C (exit 0, a whole report).
        preexec_fn=_sigint_default,
    )
    until(lambda: _has_open(proc.pid, log), what="report reading the log")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert (proc.returncode, out) == (130, b""), err
    assert err.decode().strip() == "spamwatch: aborted"


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _has_open(pid: int, path: Path) -> bool:
    """Does process ``pid`` hold ``path`` open (it is reading it)?"""
    try:
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # an fd closed while we looked
        return False


@pytest.mark.parametrize(
    "args",
    [["report", str(SAMPLE)], ["events", str(SAMPLE)], ["--help"], ["--version"]],
)
def test_a_full_disk_on_stdout_is_an_output_error_not_a_bug(args: list[str]) -> None:
    """``report > /dev/full``: one line naming the problem, exit 74, not "internal error"."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "spamwatch", *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 74
    assert proc.stderr == "spamwatch: error: cannot write the output: No space left on device\n"


@pytest.mark.parametrize("command", ["report", "follow"])
def test_db_and_no_db_together_are_a_usage_error(command: str, tmp_path: Path) -> None:
    """The synopsis says ``--db PATH | --no-db``: both at once silently ran without one."""
    db = tmp_path / "p.db"
    status, out, err = run(command, "--db", str(db), "--no-db", str(SAMPLE))
    assert (status, out) == (2, "")
    assert err == "spamwatch: error: --db PATH and --no-db contradict each other: give one\n"
    assert not db.exists()


@pytest.mark.parametrize("command", ["report", "follow", "learn", "profile"])
def test_an_empty_db_path_is_a_usage_error(command: str) -> None:
    """``--db "$UNSET"`` silently used $SPAMWATCH_DB, the config's or the default database."""
    args = ["--list"] if command == "profile" else [str(SAMPLE)]
    status, out, err = run(command, "--db", "", *args)
    assert (status, out) == (2, "")
    assert err.startswith("spamwatch: error: Invalid value for '--db': an empty path;")
    assert err.count("\n") == 1
