"""FindingTracker: raised once, escalated when worse, resolved after a quiet cooldown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from spamwatch.config import Config
from spamwatch.errors import ConfigError
from spamwatch.incidents.tracker import FindingTracker
from spamwatch.model import Finding, FindingState, Severity, Signal

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def signal(
    seconds: float,
    messages: int,
    severity: Severity = Severity.WARNING,
    key: str = "alice@example.com",
    detector: str = "burst",
) -> Signal:
    return Signal(
        detector=detector,
        key=key,
        key_kind="sasl_username",
        severity=severity,
        time=at(seconds),
        first_seen=at(0),
        summary=f"{key} sent {messages} messages",
        host="mx1",
        counts={"messages": messages},
        evidence={"client_addresses": [["192.0.2.1", messages]]},
    )


def test_first_signal_raises_with_the_crossing_time() -> None:
    tracker = FindingTracker()
    finding = tracker.observe(signal(30, 40))
    assert finding is not None
    assert finding.state is FindingState.RAISED
    assert finding.raised_at == finding.time == at(30)
    assert finding.first_seen == at(0)
    assert finding.id == f"burst:alice@example.com:{at(30).isoformat()}"
    assert finding.counts == {"messages": 40}


def test_repeated_signals_do_not_repeat_the_finding() -> None:
    tracker = FindingTracker()
    assert tracker.observe(signal(30, 40)) is not None
    assert tracker.observe(signal(31, 41)) is None
    assert tracker.observe(signal(32, 79)) is None
    assert len(tracker) == 1


def test_escalates_on_doubling_and_on_higher_severity() -> None:
    tracker = FindingTracker()
    raised = tracker.observe(signal(30, 40))
    grown = tracker.observe(signal(60, 80))
    assert grown is not None and grown.state is FindingState.ESCALATED
    assert grown.id == raised.id  # type: ignore[union-attr]
    assert grown.raised_at == at(30) and grown.time == at(60)
    assert tracker.observe(signal(70, 100)) is None  # not doubled since the last record
    worse = tracker.observe(signal(80, 110, Severity.CRITICAL))
    assert worse is not None and worse.severity is Severity.CRITICAL
    # a later, milder signal never lowers the finding's severity
    assert tracker.observe(signal(90, 120, Severity.WARNING)) is None
    assert tracker.open_findings()[0].severity is Severity.CRITICAL


def test_resolved_after_quiet_cooldown_then_a_new_finding() -> None:
    tracker = FindingTracker({"cooldown": "15m"})
    first = tracker.observe(signal(0, 40))
    tracker.observe(signal(600, 50))
    assert tracker.tick(at(600 + 899)) == []
    resolved = tracker.tick(at(600 + 900))
    assert [f.state for f in resolved] == [FindingState.RESOLVED]
    assert resolved[0].id == first.id  # type: ignore[union-attr]
    assert resolved[0].last_seen == at(600)
    assert resolved[0].time == at(1500)
    assert len(tracker) == 0
    tracker.observe(signal(1600, 40, key="bob@example.com"))
    late = tracker.tick(at(9000))  # a gap in the log: resolved when the cooldown ran out
    assert [(f.key, f.time) for f in late] == [("bob@example.com", at(1600 + 900))]
    again = tracker.observe(signal(2000, 40))
    assert again is not None and again.state is FindingState.RAISED
    assert again.id != first.id  # type: ignore[union-attr]


def test_keys_and_detectors_are_separate_findings() -> None:
    tracker = FindingTracker()
    assert tracker.observe(signal(0, 40, key="alice@example.com")) is not None
    assert tracker.observe(signal(1, 40, key="bob@example.com")) is not None
    assert tracker.observe(signal(2, 40, detector="sender")) is not None
    assert len(tracker.open_findings()) == 3


def test_open_findings_show_latest_counts_and_finish_resolves_all() -> None:
    tracker = FindingTracker()
    tracker.observe(signal(0, 40, Severity.WARNING, key="bob@example.com"))
    tracker.observe(signal(5, 40, Severity.CRITICAL))
    tracker.observe(signal(50, 70, Severity.CRITICAL))
    snaps = tracker.open_findings()
    assert [f.key for f in snaps] == ["alice@example.com", "bob@example.com"]
    assert snaps[0].counts == {"messages": 70} and snaps[0].last_seen == at(50)
    done = tracker.finish(at(100))
    assert {f.state for f in done} == {FindingState.RESOLVED}
    assert len(tracker) == 0


def test_open_finding_cap_resolves_the_least_recent() -> None:
    tracker = FindingTracker({"max_open": 2})
    for i, user in enumerate(["a@x.org", "b@x.org", "c@x.org"]):
        tracker.observe(signal(i, 40, key=user))
    assert len(tracker) == 2
    evicted = tracker.tick(at(3))
    assert [(f.key, f.state) for f in evicted] == [("a@x.org", FindingState.RESOLVED)]


def test_small_numbers_doubling_is_not_an_escalation() -> None:
    tracker = FindingTracker()
    tracker.observe(signal(0, 3))
    assert tracker.observe(signal(1, 6)) is None  # doubled, but only by 3 (< growth_min 10)
    assert tracker.observe(signal(2, 13)) is not None


def test_growth_zero_disables_growth_escalation() -> None:
    tracker = FindingTracker({"growth": 0})
    tracker.observe(signal(0, 10))
    assert tracker.observe(signal(1, 1000)) is None


def test_json_round_trip_of_a_record() -> None:
    tracker = FindingTracker()
    finding = tracker.observe(signal(30, 40))
    assert finding is not None
    data = finding.to_json()
    assert data["state"] == "raised" and data["severity"] == "warning" and "schema" not in data
    assert Finding.from_json(data).to_json() == data


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"cooldown": "soon"}, "findings.cooldown"),
        ({"growth": "double"}, "findings.growth"),
        ({"max_open": 1.5}, "findings.max_open"),
        ({"coldown": "5m"}, "findings.coldown"),
    ],
)
def test_bad_findings_config_names_the_key(table: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        FindingTracker.from_config(Config(data={"findings": table}))
