"""`spamwatch config show` / `config check` through CliRunner, on real files."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from spamwatch.cli import cli


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env or {"SPAMWATCH_CONFIG": ""})


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "spamwatch.toml"
    path.write_text(text)
    return str(path)


def test_show_defaults_is_valid_toml_with_every_stage() -> None:
    result = run("config", "show", "--config", "/dev/null")
    assert result.exit_code == 0, result.stderr
    data = tomllib.loads(result.stdout)
    assert set(data["detectors"]) == {
        "burst",
        "addresses",
        "queue",
        "auth",
        "sender",
        "bounces",
        "reputation",
    }
    assert data["detectors"]["burst"]["short_window"] == "10m"
    assert data["findings"]["cooldown"] == "20m"
    assert data["correlate"]["max_age"] == "6d"
    assert "warmup" in data["follow"]


def test_show_names_the_spool_directory_alerts_wait_in(tmp_path: Path) -> None:
    """Issue 14 has the spool refuse a directory others may write to: the admin must be able
    to see which directory that is (``[alerts] spool_dir`` was shown only when set)."""
    data = tomllib.loads(run("config", "show", "--config", "/dev/null").stdout)
    assert data["alerts"]["spool_dir"] == ""  # the default, as contain.state_dir
    default = write(tmp_path, '[alerts]\nspool_dir = ""\n')
    assert run("config", "check", "--config", default).exit_code == 0
    chosen = write(tmp_path, '[alerts]\nspool_dir = "/srv/spool"\n')
    data = tomllib.loads(run("config", "show", "--config", chosen).stdout)
    assert data["alerts"]["spool_dir"] == "/srv/spool"


def test_show_merges_file_and_hides_secrets(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
local_domains = ["example.com"]
[detectors.burst]
short_threshold = 77
[users."alice@example.com".detectors.burst]
short_threshold = 500
[alerts]
uris = ["jsonl:-"]
[sinks.mailto]
password = "hunter2-very-secret"
""",
    )
    result = run("config", "show", "--config", path)
    assert result.exit_code == 0, result.stderr
    assert "hunter2-very-secret" not in result.stdout
    data = tomllib.loads(result.stdout)
    assert data["detectors"]["burst"]["short_threshold"] == 77
    assert data["detectors"]["burst"]["long_window"] == "1h"  # default kept
    assert data["users"]["alice@example.com"]["detectors"]["burst"]["short_threshold"] == 500
    assert data["local_domains"] == ["example.com"]
    assert data["sinks"]["mailto"]["password"] == "********"
    assert path in result.stdout


def test_check_ok(tmp_path: Path) -> None:
    path = write(tmp_path, '[detectors.auth]\nwindow = "5m"\n')
    result = run("config", "check", "--config", path)
    assert result.exit_code == 0
    assert result.stdout.strip() == f"{path}: ok"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[detectors.burst]\nshort_treshold = 5\n", "detectors.burst.short_treshold"),
        ('[detectors.burst]\nshort_window = "soon"\n', "detectors.burst.short_window"),
        ("[detectors.nosuch]\nx = 1\n", "nosuch"),
        ("[allow]\nnetworks = ['300.1.2.3/8']\n", "allow.networks"),
        ("[findings]\ncooldown = 5.5.5\n", "invalid TOML"),
        ("[parse]\ntimezone = 'Mars/Olympus'\n", "parse.timezone"),
        ("[correlate]\nmax_age = 'forever'\n", "correlate.max_age"),
        ("[follow]\nwarmup = true\n", "follow.warmup"),
        ("[alerts]\nuris = ['gopher://x']\n", "gopher"),
        ("colour = 'red'\n", "'colour'"),
        ("[follow]\nmetrics = 'nope'\n", "follow.metrics: expected [ADDRESS:]PORT, got 'nope'"),
        ("[sinks.webhook]\ntimeout = -1\n", "sinks.webhook.timeout: a duration cannot be negative"),
        ("[sinks.exec]\ntimeout = 'soon'\n", "sinks.exec.timeout"),
        ("[sinks.mailto]\nsmarthost = 'a/b'\n", "sinks.mailto.smarthost: use HOST or HOST:PORT"),
        ("[sinks.mailto]\nusername = 'u'\n", "sinks.mailto.username: refusing to send a password"),
        ("[sinks.syslog]\nfacility = 'nope'\n", "sinks.syslog.facility: unknown syslog facility"),
        ("[sinks.syslog]\nformat = 'xml'\n", "sinks.syslog.format: use rfc3164 or rfc5424"),
    ],
)
def test_check_names_the_bad_key(tmp_path: Path, text: str, named: str) -> None:
    path = write(tmp_path, text)
    result = run("config", "check", "--config", path)
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert named in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_explicit_config_is_exit_3(tmp_path: Path) -> None:
    result = run("config", "check", "--config", str(tmp_path / "nope.toml"))
    assert result.exit_code == 3
    assert "no such config file" in result.stderr


def test_environment_variable_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[detectors.burst]\nshort_threshold = 12\n")
    result = CliRunner().invoke(cli, ["config", "show"], env={"SPAMWATCH_CONFIG": path})
    assert result.exit_code == 0, result.stderr
    assert tomllib.loads(result.stdout)["detectors"]["burst"]["short_threshold"] == 12


def test_zero_open_messages_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[correlate]\nmax_open = 0\n")
    result = run("config", "check", "--config", path)
    assert result.exit_code == 3
    assert "correlate.max_open" in result.stderr


@pytest.mark.parametrize(
    ("text", "command", "line"),
    [
        (
            "[follow]\nmetrics = 'nope'\n",
            ["follow", "--no-db", "--format", "plain"],
            "follow.metrics: expected [ADDRESS:]PORT, got 'nope'",
        ),
        (
            "[sinks.webhook]\ntimeout = -1\n",
            ["alert", "test", "webhook+http://127.0.0.1:9/x"],
            "sinks.webhook.timeout: a duration cannot be negative: -1",
        ),
    ],
)
def test_check_refuses_what_the_command_refuses_with_the_same_line(
    tmp_path: Path, text: str, command: list[str], line: str
) -> None:
    """``config check`` said ok to values the commands then refused (QA S4); a value from
    the file is exit 3 naming its key, never the command-line option it stands for."""
    path = write(tmp_path, text)
    checked = run("config", "check", "--config", path)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    log = tmp_path / "mail.log"
    log.write_text("")
    extra = ["--state", str(state / "s"), str(log)] if command[0] == "follow" else []
    ran = run(*command, "--config", path, *extra)
    assert (checked.exit_code, checked.stdout) == (3, "")
    assert checked.stderr == ran.stderr == f"spamwatch: error: {line}\n"
    assert ran.exit_code == 3


def test_the_metrics_option_is_named_when_it_is_the_command_line_that_is_wrong(
    tmp_path: Path,
) -> None:
    log = tmp_path / "mail.log"
    log.write_text("")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    args = ["follow", "--no-db", "--metrics", "nope", "--state", str(state / "s"), str(log)]
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr == "spamwatch: error: --metrics: expected [ADDRESS:]PORT, got 'nope'\n"
