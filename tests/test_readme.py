"""README.md stays true: its sample report is the real output, its quick start names real files."""

from __future__ import annotations

import re
import subprocess
import tomllib

import pytest
from click.testing import CliRunner

from spamwatch.cli import cli
from spamwatch.follow import state
from tests.conftest import ROOT


def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_report_is_what_report_prints_today(monkeypatch: pytest.MonkeyPatch) -> None:
    block = re.search(r"## What it tells you\n.*?```text\n(.*?)```", readme(), re.S)
    assert block is not None
    monkeypatch.chdir(ROOT)  # the file named as the README names it: lines wrap the same
    result = CliRunner(env={"COLUMNS": "80"}).invoke(
        cli, ["report", "--format", "table", "samples/compromised-account.log"]
    )
    assert result.exit_code == 1, result.stderr
    shown = result.stdout.replace(str(ROOT) + "/", "")
    assert block.group(1) == shown, "regenerate the README block from the command above it"


def test_quick_start_is_two_commands_on_a_bundled_sample() -> None:
    quick = re.search(r"## Quick start\n\n```sh\n(.*?)```", readme(), re.S)
    assert quick is not None
    commands = quick.group(1).strip().splitlines()
    assert len(commands) == 2
    sample = re.search(r"(samples/\S+\.log)", commands[0])
    assert sample is not None and (ROOT / sample.group(1)).is_file()
    assert "pytest" in commands[1]
    ci = subprocess.run(
        ["bash", str(ROOT / ".ci/run"), "--test-command"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert ci.stdout.strip() == commands[1]  # CI runs the same command


def test_the_plugin_detector_shown_is_the_example_file() -> None:
    block = re.search(
        r"# examples/plugin/spamwatch_example/detector.py .*?\n(.*?)```", readme(), re.S
    )
    assert block is not None
    source = (ROOT / "examples/plugin/spamwatch_example/detector.py").read_text(encoding="utf-8")
    assert block.group(1).strip() in source and block.group(1).startswith("class NightDetector")


def test_what_the_state_remembers_says_the_limits_of_the_code() -> None:
    """README's follow section says how long the state keeps what: the code's own limits."""
    part = re.search(
        r"\*\*What the state file remembers, and for how long\.\*\*(.*?)\n\n", readme(), re.S
    )
    assert part is not None
    said = " ".join(part.group(1).split())
    assert f"{state.ALERTED_MAX_AGE.days} days of log time" in said
    assert f"at most {state.MAX_ALERTED:,}" in said


def test_every_table_of_the_config_is_named_in_readme_and_man_page() -> None:
    """`config show`'s top-level tables (and bare keys) are those README's "Tables:" names,
    and every option of `follow`, `contain` and `profiles` is in README and the man page."""
    shown = CliRunner().invoke(cli, ["config", "show", "--config", "/dev/null"])
    assert shown.exit_code == 0, shown.output
    config = tomllib.loads(shown.stdout)
    text = re.sub(r"\s+", " ", readme())
    tables = text.split("Tables: ", 1)[1].split(". ", 1)[0]
    named = set(re.findall(r"`(\w+)", tables))
    assert set(config) - named == set(), "add them to README's Tables: sentence"
    man = re.sub(r"\s+", " ", (ROOT / "man" / "spamwatch.1").read_text().replace("\\-", "-"))
    for table in ("follow", "contain", "profiles"):
        for key in config[table]:
            assert f"`{key}`" in text, f"README: [{table}] {key}"
            assert key in man, f"man page: [{table}] {key}"
