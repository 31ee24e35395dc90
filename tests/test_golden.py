"""Golden tests: `spamwatch report --format json` on each bundled sample.

Each sample log in samples/ (built by samples/generate.py from fixed seeds)
has its expected incidents in samples/NAME.expected.jsonl, exactly as the
report prints them. After an intentional change in detection, regenerate with

    python samples/generate.py --golden

and read `git diff samples/` before committing: a regenerated golden file
accepts whatever changed. What each sample is *for* is checked apart from its
golden file (``Sample.shows`` and the benign flag), so regenerating cannot
quietly accept a missed incident or a false alarm.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from spamwatch.cli import cli

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples"
REGENERATE = "python samples/generate.py --golden (then read git diff samples/)"


def _load_generate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("samples_generate", SAMPLES_DIR / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


generate = _load_generate()
SAMPLES = generate.SAMPLES
NAMES = [s.name for s in SAMPLES]


@pytest.fixture(scope="module")
def reports() -> dict[str, tuple[int, str, str]]:
    """(status, stdout, stderr) of the JSON report on every sample, run once."""
    return {
        s.name: generate.run_report(
            SAMPLES_DIR / f"{s.name}.log", generate.history_of(s, SAMPLES_DIR)
        )
        for s in SAMPLES
    }


def findings(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_every_sample_has_its_log_and_golden_file() -> None:
    for name in NAMES:
        assert (SAMPLES_DIR / f"{name}.log").is_file(), (
            f"{name}.log missing: python samples/generate.py"
        )
        assert (SAMPLES_DIR / f"{name}.expected.jsonl").is_file(), f"{name}: run {REGENERATE}"
    assert "compromised-account" in NAMES and "normal-day" in NAMES


def test_samples_are_what_generate_py_builds() -> None:
    """The committed logs are reproducible byte for byte from their seeds."""
    assert generate.check(list(SAMPLES), SAMPLES_DIR) == []


def test_samples_stay_small() -> None:
    logs = [*SAMPLES_DIR.glob("*.log"), *SAMPLES_DIR.glob("*.log.gz")]
    assert sum(path.stat().st_size for path in logs) < 7 * 1024 * 1024


@pytest.mark.parametrize("name", NAMES)
def test_report_matches_golden_file(name: str, reports: dict[str, tuple[int, str, str]]) -> None:
    status, stdout, stderr = reports[name]
    expected = (SAMPLES_DIR / f"{name}.expected.jsonl").read_text(encoding="utf-8")
    assert status in (0, 1), stderr
    assert stdout == expected, f"report on {name}.log changed; if intended: {REGENERATE}"
    worst = {f["severity"] for f in findings(expected)}
    assert status == (1 if worst & {"warning", "critical"} else 0)


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.shows], ids=lambda s: s.name)
def test_incident_samples_raise_what_they_show(
    sample: object, reports: dict[str, tuple[int, str, str]]
) -> None:
    """Each shown finding is in an incident at warning or above, and nothing else is loud:
    one incident per sample (a compromised login's burst, addresses, sender... inside it; a
    spray that guessed a password inside the guessed login's)."""
    loud = [i for i in findings(reports[sample.name][1])  # type: ignore[attr-defined]
            if i["severity"] in ("warning", "critical")]  # fmt: skip
    holding = {
        (f["detector"], f["key"]): incident["id"] for incident in loud for f in incident["findings"]
    }
    missing = set(sample.shows) - set(holding)  # type: ignore[attr-defined]
    assert not missing, f"{sample.name}: no warning/critical incident for {sorted(missing)}"  # type: ignore[attr-defined]
    wanted = {holding[shown] for shown in sample.shows}  # type: ignore[attr-defined]
    assert sorted(i["id"] for i in loud) == sorted(wanted)
    assert len(wanted) == 1, f"{sample.name}: one incident each, got {sorted(wanted)}"  # type: ignore[attr-defined]


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.benign], ids=lambda s: s.name)
def test_benign_samples_raise_nothing(
    sample: object, reports: dict[str, tuple[int, str, str]]
) -> None:
    """Look-alikes give no incident; the backup MX and a list expansion at most an info one."""
    got = findings(reports[sample.name][1])  # type: ignore[attr-defined]
    allowed = {"info"} if sample.allow_info else set()  # type: ignore[attr-defined]
    loud = [
        f"{f['severity']} {f['key_kind']} {f['key']}" for f in got if f["severity"] not in allowed
    ]
    assert loud == []


def test_compromised_account_report_leads_with_the_user(
    reports: dict[str, tuple[int, str, str]],
) -> None:
    """README's quick start: the text report names the user, its addresses and volume first."""
    log = SAMPLES_DIR / "compromised-account.log"
    args = ["report", "--format", "text", "--config", "/dev/null", "--fail-on", "never", str(log)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    user = "monika.keller@example.com"
    first = text.index(user)
    others = {f["key"] for f in findings(reports["compromised-account"][1])} - {user}
    assert all(text.find(key) == -1 or text.find(key) > first for key in others)
    bots = set(re.findall(r"client=unknown\[([\d.]+)\], sasl_method=LOGIN", log.read_text()))
    assert len(bots) == 6
    block = text[first : text.find("\n\n", first)]
    assert sum(ip in block for ip in bots) >= 3, block
    volumes = [int(n) for n in re.findall(r"(?<![\d.])(\d{3,})(?![\d.])", block)]
    assert any(200 <= n <= 300 for n in volumes), block  # 250 messages sent by the botnet


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.outage], ids=lambda s: s.name)
def test_an_outage_is_one_info_incident_about_the_destination(
    sample: object, reports: dict[str, tuple[int, str, str]]
) -> None:
    """Issue 9 §4: a relay or destination outage deferring hundreds of messages is a host
    incident about the destination (info), not incidents about the users whose mail waits."""
    destination, failure = sample.outage  # type: ignore[attr-defined]
    (incident,) = findings(reports[sample.name][1])  # type: ignore[attr-defined]
    assert (incident["key_kind"], incident["severity"]) == ("host", "info")
    assert "outage" in incident["facts"] and "queue_growth" not in incident["facts"]
    assert destination in incident["summary"] and failure in incident["summary"]
    (queue,) = [f for f in incident["findings"] if f["detector"] == "queue"]
    outage = queue["evidence"]["outage"]
    assert (outage["destination"], outage["failure"]) == (destination, failure)
    assert outage["waiting"] * 2 > queue["counts"]["queued"]


def test_a_spray_that_guessed_a_password_is_the_logins_incident() -> None:
    """One incident for password-spraying.log: the breached login's, carrying the spray
    (addresses, usernames tried); the host's early warning ended saying where it went."""
    log = str(SAMPLES_DIR / "password-spraying.log")
    base = ["report", "--config", "/dev/null", "--no-db", "--fail-on", "never"]
    text = CliRunner().invoke(cli, [*base, "--format", "text", log])
    assert text.exit_code == 0, text.stderr
    assert "1 incident: 1 critical" in text.stdout
    titles = [line for line in text.stdout.splitlines() if line.startswith(("CRITICAL", "WARN"))]
    assert [t.rsplit(" [", 1)[0] for t in titles] == [
        "CRITICAL login sales@example.com on mail.example.com"]  # fmt: skip
    assert "during password spraying on mail.example.com" in text.stdout
    block = text.stdout[text.stdout.index(titles[0]) :]
    assert "tried" in block and "buchhaltung@example.com" in block
    every = CliRunner().invoke(cli, [*base, "--format", "json", "--all-records", log])
    records = findings(every.stdout)
    (login_id,) = {r["id"] for r in records if r["key"] == "sales@example.com"}
    host = [r for r in records if r["key_kind"] == "host"]
    assert (host[0]["state"], host[-1]["state"]) == ("opened", "resolved")  # early warning kept
    assert [r for r in host if r.get("merged_into")] == host[-1:]
    assert host[-1]["merged_into"] == login_id
    assert all("merged_into" not in r for r in records if r["id"] == login_id)
    final = [r for r in records if r["id"] == login_id][-1]
    (spray,) = [f for f in final["findings"] if f["key_kind"] == "host"]
    assert spray["facts"] == ["spray"] and len(spray["evidence"]["usernames"]) >= 10
    assert spray["counts"]["addresses"] >= 20


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.history], ids=lambda s: s.name)
def test_what_quiets_a_look_alike_is_its_learned_day(sample: object) -> None:
    """Without its history day the same log has an incident about it (at least informational:
    volume alone without history is info by the severity table); the profile makes it quiet."""
    status, stdout, stderr = generate.run_report(SAMPLES_DIR / f"{sample.name}.log")  # type: ignore[attr-defined]
    assert status in (0, 1), stderr
    assert findings(stdout)
