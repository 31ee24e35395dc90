"""Report output: worst first, one block per incident, log text shown literally."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from rich.console import Console

from spamwatch.incidents.story import evidence_lines
from spamwatch.model import (
    Event,
    Finding,
    FindingState,
    Incident,
    IncidentState,
    Message,
    MessageUpdate,
    Severity,
    Stage,
)
from spamwatch.report.render import ReportData, render_json, render_table, render_text
from spamwatch.report.summary import IncidentLog, TopCounter, TrafficSummary
from spamwatch.report.timerange import TimeRange

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
MARKUP = "[bold red]x[/]"
ANSI = "\x1b[31mred\x1b[0m"
HOSTILE = f"{MARKUP}{ANSI}\x07\r\n\x9b2J\u202eevil"


def finding(
    key: str,
    severity: Severity = Severity.WARNING,
    state: IncidentState = IncidentState.OPENED,
    messages: int = 10,
    minutes: int = 0,
    detector: str = "burst",
    **evidence: object,
) -> Incident:
    """An incident of one login holding one finding of ``detector`` with ``evidence``."""
    opened = T0 + timedelta(minutes=minutes)
    inside = Finding(
        id=f"{detector}:{key}:{opened.isoformat()}",
        state=FindingState.RESOLVED if state is IncidentState.RESOLVED else FindingState.RAISED,
        detector=detector,
        severity=severity,
        key=key,
        key_kind="sasl_username",
        summary=f"{key} sent {messages} single-recipient messages",
        first_seen=opened - timedelta(minutes=5),
        last_seen=opened + timedelta(minutes=3),
        raised_at=opened,
        time=opened,
        host="mx1",
        counts={"messages": messages},
        evidence=evidence,
        facts=frozenset({"volume"}),
    )
    return Incident(
        id=f"sasl_username:{key}:{opened.isoformat()}",
        state=state,
        severity=severity,
        key=key,
        key_kind="sasl_username",
        summary=inside.summary,
        reason="only volume",
        first_seen=inside.first_seen,
        last_seen=inside.last_seen,
        opened_at=opened,
        time=opened,
        host="mx1",
        hosts=("mx1",),
        facts=inside.facts,
        counts={f"{detector}.messages": messages},
        findings=(inside,),
    )


def data(findings: list[Incident], traffic: TrafficSummary | None = None) -> ReportData:
    return ReportData(
        range=TimeRange(T0 - timedelta(hours=1), None),
        files=("/var/log/mail.log",),
        incidents=tuple(findings),
        traffic=traffic or TrafficSummary(),
        lines=1234,
        events=1000,
    )


def table_output(report: ReportData, colour: bool = False) -> str:
    """The table as a terminal gets it (``colour``) or without SGR codes, unwrapped."""
    out = io.StringIO()
    system = "truecolor" if colour else None
    console = Console(file=out, force_terminal=True, color_system=system, width=600)
    render_table(report, console)
    return out.getvalue()


def text_output(report: ReportData) -> str:
    out = io.StringIO()
    render_text(report, out)
    return out.getvalue()


def hostile_incident() -> Incident:
    return finding(
        f"{HOSTILE}@example.com",
        client_addresses={f"198.51.100.7{MARKUP}": 3, "203.0.113.9": 40},
        senders=[f"{ANSI}@spam.example"],
    )


def assert_shown_literally(output: str) -> None:
    assert MARKUP in output
    assert "\\x1b[31mred\\x1b[0m" in output
    assert "\\x07" in output and "\\x0d" in output and "\\x9b" in output and "\\u202e" in output
    for raw in ("\x1b[31mred", "\x07", "\r", "\x9b", "\u202e"):
        assert raw not in output


def test_table_shows_hostile_text_literally() -> None:
    output = table_output(data([hostile_incident()]))
    assert_shown_literally(output)
    assert "198.51.100.7[bold red]x[/] (3)" in output
    assert "spamwatch contain '" in output  # the hostile login is one quoted shell word
    coloured = table_output(data([hostile_incident()]), colour=True)
    assert "\x1b[33mWARNING" in coloured  # rich does style the table itself
    for raw in ("\x1b[31mred", "\x07", "\r", "\x9b", "\u202e"):
        assert raw not in coloured


def test_text_shows_hostile_text_literally() -> None:
    output = text_output(data([hostile_incident()]))
    assert_shown_literally(output)
    assert "\x1b" not in output  # plain text: no colour at all


def test_json_is_exactly_to_json_and_safe_on_a_terminal() -> None:
    items = [hostile_incident(), finding("bob@example.com")]
    out = io.StringIO()
    render_json(items, out)
    lines = out.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == [f.to_json() for f in items]
    assert list(json.loads(lines[0])) == list(items[0].to_json())  # key order kept
    for raw in ("\x1b", "\x07", "\r", "\x9b", "\u202e"):
        assert raw not in out.getvalue()


def test_text_lists_worst_first_with_evidence() -> None:
    log = IncidentLog()
    log.add(finding("small@example.com", messages=20))
    log.add(finding("quiet@example.com", Severity.INFO, messages=9000, detector="queue"))
    log.add(finding("big@example.com", Severity.CRITICAL, messages=5999, client_ips={"a": 1}))
    output = text_output(data(log.final()))
    order = [output.index(k) for k in ("big@", "small@", "quiet@")]
    assert order == sorted(order)
    assert output.splitlines()[1] == "3 incidents: 1 critical, 1 warning, 1 info"
    assert "CRITICAL login big@example.com on mx1 [open]" in output
    assert "    counts: messages=5999" in output  # the details of its finding
    assert "    client_ips: a (1)" in output


def test_final_state_merges_records_of_one_incident() -> None:
    opened = finding("alice@example.com", Severity.WARNING, messages=100)
    escalated = replace(opened, state=IncidentState.ESCALATED, severity=Severity.CRITICAL)
    resolved = replace(
        opened,
        state=IncidentState.RESOLVED,
        counts={"burst.messages": 3000},
        time=T0 + timedelta(hours=1),
    )
    other = finding("bob@example.com", Severity.WARNING, messages=500)
    log = IncidentLog(keep_records=True)
    for record in (opened, other, escalated, resolved):
        log.add(record)
    final = log.final()
    assert [f.key for f in final] == ["alice@example.com", "bob@example.com"]
    alice = final[0]
    assert alice.state is IncidentState.RESOLVED
    assert alice.severity is Severity.CRITICAL  # highest it reached
    assert alice.counts == {"burst.messages": 3000}  # the latest record's counts
    assert log.records == [opened, other, escalated, resolved]
    assert log.records_of([alice]) == [opened, escalated, resolved]
    output = text_output(data(final))
    assert "CRITICAL login alice@example.com on mx1 [resolved]" in output


def test_open_snapshot_replaces_last_record() -> None:
    opened = finding("alice@example.com", messages=100)
    log = IncidentLog()
    log.add(opened)
    newer = replace(opened, counts={"burst.messages": 150}, last_seen=T0 + timedelta(hours=1))
    (final,) = log.final([newer])
    assert final.counts == {"burst.messages": 150}
    assert final.state is IncidentState.OPENED


def test_no_incidents() -> None:
    assert "No incidents." in text_output(data([]))
    assert "No incidents." in table_output(data([]))
    assert IncidentLog().final() == []


def test_incidents_over_before_the_range_are_left_out() -> None:
    """Warm-up: an incident resolved before ``since`` is not the range's business."""
    since = T0 + timedelta(minutes=30)
    early = finding("early@example.com", minutes=-40)
    early_end = replace(early, state=IncidentState.RESOLVED, time=since - timedelta(seconds=1))
    ongoing = finding("ongoing@example.com", minutes=-10)
    late_end = replace(ongoing, state=IncidentState.RESOLVED, time=since)
    log = IncidentLog(keep_records=True)
    for record in (early, ongoing, early_end, late_end):
        log.add(record)
    assert [f.key for f in log.final()] == ["early@example.com", "ongoing@example.com"]
    log.since = since
    (kept,) = log.final()
    assert (kept.key, kept.state) == ("ongoing@example.com", IncidentState.RESOLVED)
    assert log.records_of([kept]) == [ongoing, late_end]


def test_evidence_lines_shapes() -> None:
    lines = evidence_lines(
        {
            "client_ips": {"a": 1, "b": 7, "c": 3, "d": 2, "e": 9, "f": 4, "g": 5},
            "pairs": [["x.example", 4], ["y.example", 2]],
            "queue_ids": ["A1", "B2"],
            "ratio": 0.5,
            "thresholds": {"short": 30.0, "usual": None},
        }
    )
    assert lines == [
        "client_ips: e (9), b (7), g (5), f (4), c (3), +2 more",
        "pairs: x.example (4), y.example (2)",
        "queue_ids: A1, B2",
        "ratio: 0.5",
        "thresholds: short=30.0, usual=-",  # JSON null: not known yet
    ]


def test_incident_log_stays_bounded_keeping_what_matters() -> None:
    """Past the limit, resolved incidents go: warm-up ones, then the least important."""
    since = T0
    log = IncidentLog(keep_records=True, since=since, limit=10)
    opened = [finding(f"open{i}@example.com", Severity.INFO, messages=1) for i in range(3)]
    for record in opened:
        log.add(record)
    for i in range(4):  # over before the range: dropped first, not counted
        early = finding(f"warm{i}@example.com", Severity.CRITICAL, minutes=-60 - i)
        log.add(replace(early, state=IncidentState.RESOLVED, time=since - timedelta(minutes=1)))
    for i in range(20):
        severity = Severity.CRITICAL if i % 10 == 0 else Severity.INFO
        done = finding(f"done{i}@example.com", severity, messages=100 + i, minutes=i)
        log.add(done)
        log.add(replace(done, state=IncidentState.RESOLVED, time=done.time + timedelta(hours=1)))
    keys = [f.key for f in log.final()]
    assert len(keys) <= 10
    assert {f"open{i}@example.com" for i in range(3)} <= set(keys)
    assert keys[:2] == ["done10@example.com", "done0@example.com"]  # the critical ones stay
    assert not any(key.startswith("warm") for key in keys)
    assert sum(log.dropped.values()) == 20 + 3 - len(keys)  # warm-up ones not counted
    assert log.dropped[Severity.CRITICAL] == 0
    assert {r.id for r in log.records} == {f.id for f in log.final()}
    assert "more resolved, lower-ranked incidents not shown" in text_output(
        replace(data(log.final()), dropped=sum(log.dropped.values()))
    )


def event(kind: str, **fields: object) -> Event:
    return Event(T0, "mx1", "postfix/smtpd", "smtpd", 1, "QID", kind, fields)


def test_traffic_summary_counts_and_bounds() -> None:
    traffic = TrafficSummary()
    message = Message("mx1", "QID", T0, T0, sasl_username=HOSTILE, nrcpt=3)
    for _ in range(2):
        traffic.on_update(MessageUpdate(Stage.QUEUED, message, event("queued")))
    traffic.on_update(MessageUpdate(Stage.DONE, replace(message, state="done"), event("removed")))
    traffic.on_update(MessageUpdate(Stage.DONE, replace(message, state="incomplete"), event("x")))
    traffic.on_event(event("reject", code=554, reason="<a@b>: Relay access denied"))
    traffic.on_event(event("sasl_failure"))
    assert (traffic.messages, traffic.recipients, traffic.left_queue) == (2, 6, 1)
    assert traffic.reject_reasons.top(1) == [("554 Relay access denied", 1)]
    output = text_output(data([], traffic))
    assert_shown_literally(output)
    assert "(2 msgs, 6 rcpts)" in output
    assert "rejections:       1: 554 Relay access denied (1)" in output


def test_top_counter_stays_bounded_and_keeps_the_top() -> None:
    counter = TopCounter(limit=100)
    counter.add("big", 1000)
    for index in range(10_000):
        counter.add(f"user{index}")
    assert len(counter.counts) <= 100
    assert counter.top(1) == [("big", 1000)]
