"""The alert gate: after a restart, nothing alerted twice and nothing ongoing missed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from spamwatch.follow.follower import AlertGate
from spamwatch.follow.state import AlertedKey, FollowState
from spamwatch.model import Finding, FindingState, Severity
from tests.followutil import finding_record

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def gate_with(*alerted: tuple[str, str]) -> tuple[AlertGate, list[Finding], FollowState]:
    state = FollowState()
    for key, severity in alerted:
        state.remember_alert(AlertedKey("burst", "mx1", key, severity, "raised", T0))
    sent: list[Finding] = []
    gate = AlertGate(state, sent.append, lambda: None)
    gate.warming = True
    return gate, sent, state


def test_an_ongoing_finding_never_alerted_is_sent_when_the_warmup_ends() -> None:
    gate, sent, state = gate_with()
    gate(finding_record("new@example.com", FindingState.RAISED))
    assert sent == []
    gate.end_warmup()
    assert [f.key for f in sent] == ["new@example.com"]
    assert ("burst", "mx1", "new@example.com") in state.alerted


def test_an_alerted_finding_is_not_repeated_unless_it_got_worse() -> None:
    gate, sent, _ = gate_with(("same@example.com", "warning"), ("worse@example.com", "warning"))
    gate(finding_record("same@example.com", FindingState.RAISED))
    gate(finding_record("worse@example.com", FindingState.ESCALATED, Severity.CRITICAL))
    gate.end_warmup()
    assert [(f.key, f.severity) for f in sent] == [("worse@example.com", Severity.CRITICAL)]
    gate(finding_record("same@example.com", FindingState.ESCALATED))  # live, same severity
    assert len(sent) == 1


def test_resolved_within_the_warmup_is_sent_only_if_its_raise_went_out() -> None:
    gate, sent, state = gate_with(("was@example.com", "critical"))
    gate(finding_record("was@example.com", FindingState.RAISED, Severity.CRITICAL))
    gate(finding_record("was@example.com", FindingState.RESOLVED, Severity.CRITICAL))
    gate(finding_record("never@example.com", FindingState.RAISED))
    gate(finding_record("never@example.com", FindingState.RESOLVED))
    gate.end_warmup()
    assert [(f.key, f.state) for f in sent] == [("was@example.com", FindingState.RESOLVED)]
    assert state.alerted == {}


def test_live_records_after_the_warmup_go_out() -> None:
    gate, sent, _ = gate_with()
    gate.end_warmup()
    gate(finding_record("live@example.com", FindingState.RAISED))
    gate(finding_record("live@example.com", FindingState.RESOLVED))
    assert [f.state for f in sent] == [FindingState.RAISED, FindingState.RESOLVED]


def test_stopping_during_the_warmup_sends_nothing() -> None:
    gate, sent, _ = gate_with()
    gate(finding_record("half@example.com", FindingState.RAISED))
    gate.end_warmup(send=False)
    assert sent == [] and gate.sent == 0


def with_counts(finding: Finding, **counts: int) -> Finding:
    return replace(finding, counts=counts)


def test_live_growth_at_the_same_severity_goes_out_but_a_replay_of_it_does_not() -> None:
    """An escalation by growth is news live; after a restart it is news only if it
    says more than what was sent before the restart."""
    gate, sent, state = gate_with()
    gate.end_warmup()
    gate(with_counts(finding_record("u@example.com", FindingState.RAISED), messages=40))
    gate(with_counts(finding_record("u@example.com", FindingState.ESCALATED), messages=90))
    assert [f.counts["messages"] for f in sent] == [40, 90]

    restarted = AlertGate(FollowState.from_json(state.to_json()), sent.append, lambda: None)
    restarted.warming = True
    restarted(with_counts(finding_record("u@example.com", FindingState.RAISED), messages=50))
    restarted.end_warmup()
    restarted(with_counts(finding_record("u@example.com", FindingState.ESCALATED), messages=90))
    assert len(sent) == 2  # the warm-up re-derived what was already said
    restarted(with_counts(finding_record("u@example.com", FindingState.ESCALATED), messages=200))
    assert [f.counts["messages"] for f in sent] == [40, 90, 200]


def test_the_state_remembers_an_alert_only_once_every_sink_has_it_safe() -> None:
    """Write-ahead: a record a sink holds in memory only (no spool) is not yet 'sent'."""

    class Receipt:
        settled = False

    receipt = Receipt()
    state = FollowState()
    gate = AlertGate(state, lambda finding: receipt, lambda: None)
    gate(finding_record("held@example.com", FindingState.RAISED))
    assert gate.sent == 1 and state.alerted == {}
    gate.settle()
    assert state.alerted == {}
    receipt.settled = True
    gate.settle()
    assert ("burst", "mx1", "held@example.com") in state.alerted
