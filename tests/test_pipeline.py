"""Pipeline.from_config: report and follow wire the same stages from one config."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from spamwatch.config import Config
from spamwatch.detectors.base import Detector
from spamwatch.model import Event, MessageUpdate, Signal, Stage
from spamwatch.parse import Parser
from spamwatch.pipeline import Pipeline


def test_from_config_applies_correlate_findings_and_incidents_tables() -> None:
    config = Config(
        data={
            "correlate": {"max_age": "2d", "max_open": 7},
            "findings": {"cooldown": "5m"},
            "incidents": {"update_every": "1m"},
        }
    )
    pipeline = Pipeline.from_config(config, Parser(), [], lambda finding: None)
    assert pipeline.correlator.max_age == timedelta(days=2)
    assert pipeline.correlator.max_open == 7
    assert pipeline.engine.findings.cooldown == timedelta(minutes=5)
    assert pipeline.engine.update_every == timedelta(minutes=1)


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


class Seen(Detector):
    """Records what the pipeline hands it: events of its kind, ticks, updates."""

    name = "seen"
    event_kinds = frozenset({"sasl_failure"})

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.ticks: list[str] = []

    def on_event(self, event: Event) -> Iterable[Signal]:
        self.events.append(event.kind)
        return ()

    def tick(self, now: datetime) -> Iterable[Signal]:
        self.ticks.append(now.strftime("%H:%M:%S"))
        return ()


def test_events_no_stage_reads_move_nothing_not_even_the_clock() -> None:
    seen = Seen()
    pipeline = Pipeline.from_config(Config(), Parser(), [seen], lambda f: None, tap_kinds=())
    lines = [
        b"2026-11-28T03:00:00+00:00 mx postfix/smtpd[1]: connect from a[192.0.2.1]",
        b"2026-11-28T03:00:01+00:00 mx postfix/smtpd[1]: warning: a[192.0.2.1]: SASL LOGIN"
        b" authentication failed: x",
        b"2026-11-28T03:00:02+00:00 mx postfix/postsuper[9]: Deleted: 1 message",
        b"2026-11-28T03:00:03+00:00 mx postfix/qmgr[2]: 4A1B2C3D4E: removed",
    ]
    for line in lines:
        pipeline.feed(line)
    assert seen.events == ["sasl_failure"]  # only the kind it declared
    assert seen.ticks == ["03:00:01", "03:00:03"]  # connect, postsuper without queue id: no tick
    everything = Seen()
    Seen.event_kinds = None  # type: ignore[misc]
    try:
        pipeline = Pipeline.from_config(Config(), Parser(), [everything], lambda f: None)
        for line in lines:
            pipeline.feed(line)
    finally:
        Seen.event_kinds = frozenset({"sasl_failure"})  # type: ignore[misc]
    assert len(everything.events) == 4 and len(everything.ticks) == 4


class Deliveries(Detector):
    """Reads message milestones; declares deliveries only (``update_stages``)."""

    name = "deliveries"
    update_stages = frozenset({Stage.DELIVERY})

    def __init__(self) -> None:
        super().__init__()
        self.stages: list[str] = []

    def on_update(self, update: MessageUpdate) -> Iterable[Signal]:
        self.stages.append(str(update.stage))
        return ()


class Every(Deliveries):
    """The same detector, reading every milestone (the default)."""

    name = "every"
    update_stages = None


def test_on_update_is_called_at_the_declared_milestones_only() -> None:
    only, every = Deliveries(), Every()
    pipeline = Pipeline.from_config(Config(), Parser(), [only, every], lambda f: None)
    lines = [
        b"2026-11-28T03:00:00+00:00 mx postfix/qmgr[2]: 4A1B2C3D4E: from=<a@example.com>,"
        b" size=900, nrcpt=1 (queue active)",
        b"2026-11-28T03:00:01+00:00 mx postfix/smtp[3]: 4A1B2C3D4E: to=<b@example.net>,"
        b" relay=mx.example.net[198.51.100.2]:25, delay=1, delays=0/0/0/1, dsn=2.0.0,"
        b" status=sent (250 ok)",
        b"2026-11-28T03:00:02+00:00 mx postfix/qmgr[2]: 4A1B2C3D4E: removed",
    ]
    for line in lines:
        pipeline.feed(line)
    assert every.stages == ["queued", "delivery", "done"]
    assert only.stages == ["delivery"]
