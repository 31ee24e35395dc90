"""Pipeline.from_config: report and follow wire the same stages from one config."""

from __future__ import annotations

from datetime import timedelta

from spamwatch.config import Config
from spamwatch.parse import Parser
from spamwatch.pipeline import Pipeline


def test_from_config_applies_correlate_and_findings_tables() -> None:
    config = Config(
        data={"correlate": {"max_age": "2d", "max_open": 7}, "findings": {"cooldown": "5m"}}
    )
    pipeline = Pipeline.from_config(config, Parser(), [], lambda finding: None)
    assert pipeline.correlator.max_age == timedelta(days=2)
    assert pipeline.correlator.max_open == 7
    assert pipeline.tracker.cooldown == timedelta(minutes=5)


def test_from_config_joins_a_message_end_to_end() -> None:
    updates = []
    pipeline = Pipeline.from_config(
        Config(), Parser(), [], lambda finding: None, on_update=updates.append
    )
    lines = [
        b"2026-11-28T03:00:00+00:00 mx postfix/submission/smtpd[1]: 4A1B2C3D4E: "
        b"client=unknown[192.0.2.9], sasl_method=PLAIN, sasl_username=alice@example.com",
        b"2026-11-28T03:00:01+00:00 mx postfix/qmgr[2]: 4A1B2C3D4E: "
        b"from=<alice@example.com>, size=900, nrcpt=1 (queue active)",
        b"2026-11-28T03:00:02+00:00 mx postfix/qmgr[2]: 4A1B2C3D4E: removed",
    ]
    for line in lines:
        pipeline.feed(line)
    stages = [str(u.stage) for u in updates]
    assert stages == ["queued", "done"]
    assert updates[-1].message.sasl_username == "alice@example.com"
    assert updates[-1].message.client_ip == "192.0.2.9"
