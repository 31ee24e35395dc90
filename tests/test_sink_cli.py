"""``--alert`` on the commands: findings reach the sinks, bad URIs and sinks exit 3 and 6."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from click.testing import CliRunner

from spamwatch.cli import cli
from spamwatch.model import Incident
from spamwatch.sinks.spool import Spool

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "compromised-account.log"
BASE = ["report", "--now", "end", "--since", "30d", "--fail-on", "never", "--format", "json"]


def report(*args: str, config: Path | None = None) -> tuple[int, str, str]:
    extra = ["--config", str(config)] if config is not None else []
    result = CliRunner().invoke(cli, [*BASE, *extra, *args, str(SAMPLE)])
    return result.exit_code, result.stdout, result.stderr


def test_report_sends_every_record_to_each_alert(tmp_path: Path) -> None:
    alerts, prom = tmp_path / "alerts.jsonl", tmp_path / "m.prom"
    status, out, err = report("--alert", f"jsonl:{alerts}", "--alert", f"prometheus:{prom}",
                              "--all-records")  # fmt: skip
    assert status == 0, err
    printed = [json.loads(line) for line in out.splitlines()]
    sent = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert sent and [Incident.from_json(r) for r in sent] == [
        Incident.from_json(r) for r in printed
    ]
    metrics = prom.read_text()
    assert "spamwatch_report_lines " in metrics and "spamwatch_report_incidents{" in metrics
    assert f'spamwatch_alerts_sent_total{{sink="jsonl:{alerts}"}} {len(sent)}.0' in metrics


def test_each_sink_gets_the_record_kinds_it_chose(tmp_path: Path) -> None:
    every, few, table = tmp_path / "all.jsonl", tmp_path / "few.jsonl", tmp_path / "t.jsonl"
    config = tmp_path / "spamwatch.toml"
    config.write_text('[sinks.jsonl]\nrecords = ["opened"]\n')
    status, _, err = report("--alert", f"jsonl:{every}?records=opened,escalated,updated,resolved",
                            "--alert", f"jsonl:{few}?records=opened,resolved",
                            "--alert", f"jsonl:{table}", config=config)  # fmt: skip
    assert status == 0, err

    def kinds(path: Path) -> set[str]:
        return {json.loads(line)["state"] for line in path.read_text().splitlines()}

    assert {"opened", "escalated", "updated"} <= kinds(every)
    assert kinds(few) == kinds(every) & {"opened", "resolved"}
    assert kinds(table) == {"opened"}
    config.write_text('[sinks.jsonl]\nrecords = ["opend"]\n')
    status, _, err = report("--alert", f"jsonl:{table}", config=config)
    assert status == 3 and "sinks.jsonl.records: unknown kind 'opend'" in err


def test_min_severity_filters_what_a_sink_gets(tmp_path: Path) -> None:
    everything, critical = tmp_path / "all.jsonl", tmp_path / "crit.jsonl"
    status, _, err = report("--alert", f"jsonl:{everything}",
                            "--alert", f"jsonl:{critical}?min=critical")  # fmt: skip
    assert status == 0, err
    severities = [json.loads(x)["severity"] for x in everything.read_text().splitlines()]
    kept = [json.loads(x)["severity"] for x in critical.read_text().splitlines()]
    assert set(severities) > {"critical"} and kept == [s for s in severities if s == "critical"]


def test_report_without_alert_ignores_the_configured_uris(tmp_path: Path) -> None:
    target = tmp_path / "configured.jsonl"
    config = tmp_path / "spamwatch.toml"
    config.write_text(f'[alerts]\nuris = ["jsonl:{target}"]\n')
    status, out, err = report(config=config)
    assert status == 0, err
    assert out and not target.exists()


def test_bad_alert_uri_is_exit_3_and_unusable_sink_exit_6(tmp_path: Path) -> None:
    status, out, err = report("--alert", "gopher://x")
    assert (status, out) == (3, "")
    assert err.startswith("spamwatch: error: unknown alert scheme 'gopher'")
    status, out, err = report("--alert", f"jsonl:{tmp_path}/missing/x.jsonl")
    assert (status, out) == (6, "")
    assert "cannot open for appending" in err
    status, _, err = report("--alert", "jsonl:-?min=loud")
    assert status == 3 and "unknown severity" in err


def test_failing_webhook_is_reported_once_and_everything_spooled(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "spamwatch.toml"
    config.write_text(
        f'[alerts]\nspool_dir = "{tmp_path}/spool"\n'
        '[sinks.webhook]\nretries = 1\nbackoff = "0.05s"\n'
    )
    uri = f"webhook+http://127.0.0.1:{port}/hook/secret-token"
    status, out, err = report("--all-records", "--alert", uri, config=config)
    assert status == 0
    records = [json.loads(line) for line in out.splitlines()]
    printed = [r["id"] for r in records if r["state"] != "updated"]  # a webhook's default
    failing = [line for line in err.splitlines() if "delivery failing" in line]
    assert len(printed) > 1 and len(failing) == 1, err
    assert "secret-token" not in err
    assert failing[0].startswith("spamwatch: warning: alert sink webhook+http://127.0.0.1:")
    spooled = Spool(tmp_path / "spool").pending()
    assert {u for u, _ in spooled} == {uri}
    assert sorted(f.id for _, f in spooled) == sorted(printed)


TYPO = "unknown option 'mni' (known: min, records)"


def test_a_typo_in_an_alert_uri_query_is_exit_3_on_every_command(tmp_path: Path) -> None:
    """``?mni=critical`` left the default (every severity) and, for jsonl, named the file."""
    target = tmp_path / "t.jsonl"
    uri = f"jsonl:{target}?mni=critical"
    expected = f"spamwatch: error: alert URI '{uri}': {TYPO}\n"
    status, out, err = report("--alert", uri)
    assert (status, out, err) == (3, "", expected)
    result = CliRunner().invoke(cli, ["alert", "test", uri])
    assert (result.exit_code, result.stdout, result.stderr) == (3, "", expected)
    config = tmp_path / "spamwatch.toml"
    config.write_text(f'[alerts]\nuris = ["{uri}"]\n')
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(config)])
    assert (result.exit_code, result.stdout, result.stderr) == (3, "", expected)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    log = tmp_path / "mail.log"
    log.write_text("")
    follow = ["follow", "--format", "json", "--no-db", "--state", str(state / "s")]
    result = CliRunner().invoke(cli, [*follow, "--alert", uri, str(log)])
    assert (result.exit_code, result.stderr) == (3, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mail.log", "spamwatch.toml", "state"]


def test_only_a_webhook_keeps_other_query_keys_in_its_url() -> None:
    """mailto and console have no query of their own; a webhook URL may (``?token=``)."""
    for uri in (
        "mailto:a@example.com?nosuch=1",
        "console?mni=x",
        "exec:/bin/true?min=critical&y=1",
    ):
        result = CliRunner().invoke(cli, ["alert", "test", uri])
        assert result.exit_code == 3 and "unknown option" in result.stderr, uri
    hook = "webhook+http://127.0.0.1:9/hook?token=abc&min=critical"
    result = CliRunner().invoke(cli, ["alert", "test", hook])
    assert result.exit_code == 6 and "unknown option" not in result.stdout + result.stderr


def test_a_relative_program_has_one_wording_for_exec_and_the_contain_hook(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["alert", "test", "exec:bin/page"])
    assert result.exit_code == 3
    assert result.stderr == (
        "spamwatch: error: exec:bin/page: the program must be an absolute path, got 'bin/page'\n"
    )
    config = tmp_path / "spamwatch.toml"
    config.write_text('[alerts]\nuris = ["exec:bin/page"]\n')  # config check says it too
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(config)])
    assert (result.exit_code, result.stderr) == (
        3,
        "spamwatch: error: exec:bin/page: the program must be an absolute path, got 'bin/page'\n",
    )
    config.write_text('[contain]\nhook = ["bin/page"]\n')
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(config)])
    assert result.exit_code == 3
    assert result.stderr == (
        "spamwatch: error: contain.hook: the program must be an absolute path, got 'bin/page'\n"
    )
