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
