"""An incident's block as a person reads it at 80 columns (issue 13, "Reading a report")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from spamwatch.cli import cli
from spamwatch.incidents.story import story
from tests.sinkutil import HOSTILE_KEY, make_incident

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "compromised-account.log"


@pytest.fixture(scope="module")
def block() -> list[str]:
    """The compromised account's block in the table form on an 80-column terminal."""
    result = CliRunner(env={"COLUMNS": "80"}).invoke(
        cli, ["report", "--no-db", "--format", "table", str(SAMPLE)]
    )
    assert result.exit_code == 1, result.stderr
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("CRITICAL login"))
    end = lines.index("", start)
    return lines[start:end]


def test_one_incident_fits_on_one_screen_at_80_columns(block: list[str]) -> None:
    assert len(block) <= 24, "\n".join(block)
    assert all(len(line) <= 80 for line in block), "\n".join(block)


def test_no_address_or_queue_id_is_split(block: list[str]) -> None:
    text = SAMPLE.read_text()
    tokens = set(re.findall(r"client=unknown\[([\d.]+)\], sasl_method=LOGIN", text))
    tokens |= {qid for qid in re.findall(r"\b([0-9A-F]{12})\b", "\n".join(block))}
    words = {word.strip(",()") for line in block for word in line.split()}
    shown = [t for t in tokens if t in "\n".join(block)]
    assert len(shown) >= 5
    assert all(token in words for token in shown)  # each whole on one line


def test_client_addresses_are_listed_once(block: list[str]) -> None:
    text = "\n".join(block)
    for address in re.findall(r"\b\d+\.\d+\.\d+\.\d+\b", text):
        assert text.count(address) == 1, address


def test_it_ends_with_what_to_do_next(block: list[str]) -> None:
    steps = block[next(i for i, line in enumerate(block) if line.startswith("  next")) :]
    assert steps[0].split(None, 1)[1] == "spamwatch contain monika.keller@example.com"
    qid = re.search(r"postcat -q ([0-9A-F]+)", "\n".join(steps))
    assert qid is not None and f"{qid.group(1)}: " in SAMPLE.read_text()
    assert any("postqueue -p" in line for line in steps)
    assert any("https://check.spamhaus.org/" in line for line in steps)  # the blocklist's page


def test_the_text_form_adds_every_finding_s_details() -> None:
    result = CliRunner().invoke(cli, ["report", "--no-db", "--format", "text", str(SAMPLE)])
    for detector in ("burst", "addresses", "sender", "bounces", "queue", "reputation"):
        assert f"\n  {detector} (" in result.stdout
    assert "    thresholds: short=30" in result.stdout


def test_a_hostile_login_in_a_command_line_is_one_quoted_word() -> None:
    lines = story(make_incident(key=HOSTILE_KEY))
    (contain,) = [line for line in lines if "spamwatch contain" in line]
    command = contain.split("spamwatch contain ", 1)[1]
    assert command.startswith("'") and command.endswith("'")
    assert "\x1b" not in command and "\x00" not in command


def test_a_contained_login_s_next_step_is_its_release_not_another_lock() -> None:
    """An alert that says "contained: locked at ..." (follow's automatic containment) must not
    tell the admin to contain the login again: the step left is the release, once it is safe."""
    contained = make_incident(response={"containment": {"status": "contained"}})
    steps = [line for line in story(contained) if line.startswith("  next")]
    assert steps[0].split(None, 1)[1] == (
        "spamwatch release alice@example.com  # once its password is changed"
    )
    assert not any("spamwatch contain" in line for line in story(contained))
    failed = make_incident(response={"containment": {"status": "containment failed"}})
    assert any("spamwatch contain alice@example.com" in line for line in story(failed))


def test_with_a_postfix_instance_the_queue_commands_name_it(tmp_path: Path) -> None:
    """``[contain] postfix_config`` names a non-default instance: postcat and postqueue without
    ``-c DIR`` would look at the default one's queue, where the mail is not."""
    incident = make_incident(evidence={"sample_queue_ids": ["4PbMVG6Tmjz3tG3"]})
    plain = [line.strip() for line in story(incident)]
    assert "postcat -q 4PbMVG6Tmjz3tG3" in plain and "postqueue -p" in plain
    steps = [line.strip() for line in story(incident, postfix_config="/etc/postfix-out")]
    assert "postcat -c /etc/postfix-out -q 4PbMVG6Tmjz3tG3" in steps
    assert "postqueue -c /etc/postfix-out -p" in steps
    config = tmp_path / "spamwatch.toml"
    config.write_text('[contain]\npostfix_config = "/etc/postfix-out"\n')
    log = tmp_path / "mail.log"
    log.write_text(SAMPLE.read_text())
    result = CliRunner().invoke(
        cli, ["report", "--config", str(config), "--no-db", "--format", "text", str(log)]
    )
    assert re.search(r"next +.*\n +postcat -c /etc/postfix-out -q [0-9A-F]+\n", result.stdout)
    assert "postqueue -c /etc/postfix-out -p" in result.stdout
