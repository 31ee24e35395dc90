"""The alert gate: after a restart, no incident announced twice, no new incident hidden."""

from __future__ import annotations

from spamwatch.follow.follower import AlertGate
from spamwatch.follow.state import FollowState
from spamwatch.model import Incident, IncidentState, Severity
from tests.followutil import incident_record

OPENED, ESCALATED, UPDATED, RESOLVED = (
    IncidentState.OPENED,
    IncidentState.ESCALATED,
    IncidentState.UPDATED,
    IncidentState.RESOLVED,
)
U = "u@example.com"


def first_run(*records: Incident) -> tuple[FollowState, list[Incident]]:
    """A run without warm-up that sent ``records`` live; its state to restart with."""
    state, sent = FollowState(), []
    gate = AlertGate(state, sent.append, lambda: None)
    for record in records:
        gate(record)
    return FollowState.from_json(state.to_json()), sent


def restart(state: FollowState, *warmup: Incident) -> tuple[AlertGate, list[Incident]]:
    """A restart with ``state``: the warm-up re-derives ``warmup``, then it ends."""
    sent: list[Incident] = []
    gate = AlertGate(state, sent.append, lambda: None)
    gate.warming = True
    for record in warmup:
        gate(record)
    assert sent == []
    gate.end_warmup()
    return gate, sent


def test_an_incident_never_sent_is_opened_when_the_warmup_ends() -> None:
    _, sent = restart(FollowState(), incident_record(U, OPENED), incident_record(U, UPDATED, 5))
    assert [(r.key, r.state) for r in sent] == [(U, OPENED)]  # announced as opened, once


def test_restart_mid_incident_repeats_nothing_and_later_escalation_goes_out() -> None:
    state, sent = first_run(incident_record(U, OPENED, minutes=0))
    first_id = sent[0].id
    # the restart's engine opens it again from the warm-up, under an id of its own
    again = [incident_record(U, OPENED, minutes=3, opened=3, first_seen=-5),
             incident_record(U, UPDATED, minutes=8, opened=3, first_seen=-5)]  # fmt: skip
    gate, after = restart(state, *again)
    assert after == []
    gate(incident_record(U, UPDATED, minutes=14, opened=3, first_seen=-5))
    gate(incident_record(U, ESCALATED, Severity.CRITICAL, minutes=15, opened=3, first_seen=-5))
    gate(incident_record(U, RESOLVED, Severity.CRITICAL, minutes=40, opened=3, first_seen=-5))
    assert [r.state for r in after] == [UPDATED, ESCALATED, RESOLVED]
    assert {r.id for r in after} == {first_id}  # the sinks keep one id for it
    assert all(r.opened_at == sent[0].opened_at for r in after)
    assert gate.state.incidents == {}


def test_an_incident_that_got_worse_during_the_restart_is_escalated_not_reopened() -> None:
    state, _ = first_run(incident_record(U, OPENED))
    again = incident_record(U, OPENED, Severity.CRITICAL, minutes=5, opened=5, first_seen=-1)
    _, after = restart(state, again)
    assert [(r.state, r.severity) for r in after] == [(ESCALATED, Severity.CRITICAL)]


def test_the_same_login_abused_again_a_day_later_is_a_new_incident() -> None:
    """Issue 14 §1: the state of an incident still open at the stop hid the next one."""
    state, _ = first_run(incident_record(U, OPENED, Severity.CRITICAL))
    later = 26 * 60
    _, after = restart(state, incident_record(U, OPENED, Severity.CRITICAL, later, opened=later))
    assert [(r.state, r.severity) for r in after] == [(OPENED, Severity.CRITICAL)]
    assert after[0].id != f"sasl_username:{U}:2026-11-28T03:00:00+00:00"


def test_after_a_resolved_incident_the_next_one_is_sent() -> None:
    state, _ = first_run(incident_record(U, OPENED), incident_record(U, RESOLVED, minutes=30))
    assert state.incidents == {}  # resolved: over, forgotten
    _, after = restart(state, incident_record(U, OPENED, minutes=35, opened=35))
    assert [r.state for r in after] == [OPENED]


def test_resolved_within_the_warmup_is_sent_only_if_it_was_announced() -> None:
    state, _ = first_run(incident_record("was@example.com", OPENED))
    _, after = restart(
        state,
        incident_record("was@example.com", OPENED, minutes=2, opened=2, first_seen=-1),
        incident_record("was@example.com", RESOLVED, minutes=22, opened=2, first_seen=-1),
        incident_record("never@example.com", OPENED, minutes=3, opened=3),
        incident_record("never@example.com", RESOLVED, minutes=23, opened=3),
    )
    assert [(r.key, r.state) for r in after] == [("was@example.com", RESOLVED)]


def test_live_records_after_the_warmup_go_out() -> None:
    gate, sent = restart(FollowState())
    gate(incident_record(U, OPENED))
    gate(incident_record(U, UPDATED, minutes=5))
    gate(incident_record(U, RESOLVED, minutes=30))
    assert [r.state for r in sent] == [OPENED, UPDATED, RESOLVED]


def test_stopping_during_the_warmup_sends_nothing() -> None:
    gate = AlertGate(FollowState(), [].append, lambda: None)
    gate.warming = True
    gate(incident_record("half@example.com", OPENED))
    gate.end_warmup(send=False)
    assert gate.sent == 0


def test_a_state_file_from_the_previous_version_is_read_and_converted() -> None:
    """Version 1 kept alerted findings per detector; each becomes its incident."""
    old = {
        "version": 1,
        "files": {},
        "journal": {"cursor": None, "realtime": None},
        "alerted": [
            {"detector": "burst", "host": "mx1", "key": U, "severity": "warning",
             "state": "raised", "time": "2026-11-28T03:00:00+00:00", "counts": {"messages": 40}},
            {"detector": "sender", "host": "mx2", "key": U, "severity": "critical",
             "state": "escalated", "time": "2026-11-28T03:04:00+00:00"},
            {"detector": "auth", "host": "mx1", "key": "192.0.2.7", "severity": "critical",
             "state": "raised", "time": "2026-11-28T03:00:00+00:00"},
            {"detector": "queue", "host": "mx1", "key": "mx1", "severity": "warning",
             "state": "raised", "time": "2026-11-28T03:00:00+00:00"},
        ],
    }  # fmt: skip
    state = FollowState.from_json(old)
    assert set(state.incidents) == {("sasl_username", U), ("host", "mx1")}
    assert state.incidents[("sasl_username", U)].severity == "critical"
    # the incident open across the upgrade is not announced again
    _, after = restart(state, incident_record(U, OPENED, Severity.CRITICAL, 6, 6, first_seen=-2))
    assert after == []
    assert FollowState.from_json(state.to_json()).incidents == state.incidents


def test_the_state_remembers_an_alert_only_once_every_sink_has_it_safe() -> None:
    """Write-ahead: a record a sink holds in memory only (no spool) is not yet 'sent'."""

    class Receipt:
        settled = False

    receipt = Receipt()
    state = FollowState()
    gate = AlertGate(state, lambda record: receipt, lambda: None)
    gate(incident_record("held@example.com", OPENED))
    assert gate.sent == 1 and state.incidents == {}
    gate.settle()
    assert state.incidents == {}
    receipt.settled = True
    gate.settle()
    assert ("sasl_username", "held@example.com") in state.incidents
