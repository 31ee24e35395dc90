"""The speed targets on real Postfix lines: synth logs -> parser -> correlator -> detectors.

The unit tests drive detectors with hand-built updates; these run the same
scenarios as rendered log lines through the whole pipeline (real parser, real
correlator, every detector at its defaults) over a normal server's background
traffic, and check the log-time delay from the first abusive line to the
``raised`` record, and that the background alone raises nothing about the users.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
import synthlog

from spamwatch.config import Config
from spamwatch.correlate import Correlator
from spamwatch.detectors import build_detectors
from spamwatch.incidents.engine import IncidentEngine
from spamwatch.model import Finding, Severity
from spamwatch.parse import Parser
from spamwatch.pipeline import Pipeline

pytestmark = pytest.mark.slow  # a large share of the suite's time: CI runs it, daily work not

START = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def report(*streams: Iterable[synthlog.Record]) -> list[Finding]:
    """Every finding record the pipeline emits for the merged streams."""
    records: list[Finding] = []
    pipeline = Pipeline(
        Parser(),
        Correlator(),
        build_detectors(Config()),
        IncidentEngine(on_finding=records.append),
        lambda _incident: None,
    )
    for line in synthlog.render(synthlog.merge(*streams), style="rfc3339"):
        pipeline.feed(line.encode())
    pipeline.finish()
    return records


def background(exclude: tuple[str, ...]) -> Iterable[synthlog.Record]:
    mix = synthlog.TrafficMix(rate=0.3, exclude=exclude)
    return synthlog.background(mix, START, at(150), seed=41)


def first_raised(records: list[Finding], detector: str, key: str) -> Finding:
    found = [r for r in records if r.state == "raised" and r.detector == detector and r.key == key]
    assert found, f"{detector} did not raise {key}"
    return found[0]


def test_the_incident_5999_messages_raised_within_two_minutes() -> None:
    user = "monika.keller@example.com"
    attack = synthlog.compromised_account(at(60), user=user, messages=5999, bots=12, history=0)
    records = report(background((user,)), attack)
    burst = first_raised(records, "burst", user)
    assert burst.raised_at - at(60) <= timedelta(minutes=2)
    worst = max(r.severity for r in records if r.detector == "burst" and r.key == user)
    assert worst is Severity.CRITICAL
    final = [r for r in records if r.detector == "burst" and r.key == user][-1]
    assert final.counts["messages_long"] >= 3000
    assert final.counts["addresses"] == 12
    for detector in ("addresses", "sender"):
        assert first_raised(records, detector, user).raised_at - at(60) <= timedelta(minutes=2)


def test_slow_steady_sender_raised_within_twenty_minutes() -> None:
    user = "peter.wolf@example.net"
    attack = synthlog.slow_sender(at(30), user=user, duration=timedelta(hours=2))
    records = report(background((user,)), attack)
    assert first_raised(records, "burst", user).raised_at - at(30) <= timedelta(minutes=20)


def test_password_spraying_raised_within_ten_minutes_before_the_success() -> None:
    attack = synthlog.password_spraying(
        at(20), sources=40, attempts=600, success="sales@example.com"
    )
    records = report(background(("sales@example.com",)), attack)
    spray = first_raised(records, "auth", "mail.example.com")
    assert spray.raised_at - at(20) <= timedelta(minutes=10)
    breach = first_raised(records, "auth", "sales@example.com")
    assert spray.raised_at < breach.raised_at
    assert breach.severity is Severity.CRITICAL


def test_background_alone_raises_nothing_about_users() -> None:
    records = report(background(()))
    assert [r for r in records if r.key_kind == "sasl_username"] == []
