"""Print a report: rich tables on a terminal, plain text for cron mail, JSON Lines.

Every string that came from the log (usernames, senders, reasons, evidence)
goes through ``spamwatch.sinks.text.clean`` and, for rich, into ``Text``
objects that are never parsed as markup, so "[bold]x[/]" or an ANSI escape in
a sender is shown literally and cannot restyle or move the terminal.
The JSON form is exactly ``Finding.to_json`` per line, in a fixed order and
without wall-clock values, so golden files can compare it byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from spamwatch.model import Finding, FindingState, Severity
from spamwatch.report.summary import TrafficSummary
from spamwatch.report.timerange import TimeRange
from spamwatch.sinks.text import finding_json
from spamwatch.textsafe import clean

TOP = 5
"""Entries shown per evidence item and per summary list."""
FIELD_LIMIT = 300
SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.WARNING: "yellow",
    Severity.INFO: "cyan",
}


@dataclass(frozen=True)
class ReportData:
    """Everything a report prints; built by the command, rendered by one function here."""

    range: TimeRange
    files: tuple[str, ...]
    findings: tuple[Finding, ...]
    traffic: TrafficSummary
    lines: int = 0
    events: int = 0
    warmup: datetime | None = None  # detectors were refilled from here (before range.since)
    dropped: int = 0  # resolved findings left out to stay bounded (summary.FindingLog)


# ---- shared wording -------------------------------------------------------


def stamp(when: datetime) -> str:
    """A log time for people: to the second, with its offset (JSON keeps the fraction)."""
    return when.isoformat(sep=" ", timespec="seconds")


def finding_title(finding: Finding) -> str:
    """Title line, cleaned: ``burst: sasl_username alice@example.com on mx1``."""
    where = f" on {finding.host}" if finding.host else ""
    return clean(f"{finding.detector}: {finding.key_kind} {finding.key}{where}", FIELD_LIMIT)


def finding_state(finding: Finding) -> str:
    """``open`` or ``resolved``: what the admin needs to know of its life in the range."""
    return "resolved" if finding.state is FindingState.RESOLVED else "open"


def counts_text(finding: Finding) -> str:
    """``messages=5999 recipients=5999``, in the detector's own order."""
    return clean(" ".join(f"{name}={value}" for name, value in finding.counts.items()))


def evidence_lines(evidence: Mapping[str, Any]) -> list[str]:
    """One "name: a (12), b (3), +4 more" line per evidence item, cleaned and cut."""
    return [clean(f"{name}: {_value_text(value)}", FIELD_LIMIT) for name, value in evidence.items()]


def _value_text(value: Any) -> str:
    if isinstance(value, Mapping):
        items = list(value.items())
        if all(isinstance(v, int | float) and not isinstance(v, bool) for _, v in items):
            items.sort(key=lambda item: -item[1])  # counts: biggest first
            return _join([f"{k} ({v})" for k, v in items])
        return _join([f"{k}={_value_text(v)}" for k, v in items])
    if value is None:
        return "-"  # JSON null: not known (yet), e.g. no history for a baseline
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, list | tuple) and len(v) == 2 for v in value):
            return _join([f"{k} ({v})" for k, v in value])
        return _join([str(v) for v in value])
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _join(parts: list[str]) -> str:
    shown = ", ".join(parts[:TOP])
    return f"{shown}, +{len(parts) - TOP} more" if len(parts) > TOP else shown


def summary_rows(data: ReportData) -> list[tuple[str, str]]:
    """The short summary as (label, value) rows, shared by the table and text forms."""
    traffic = data.traffic
    deliveries = ", ".join(f"{n} {status}" for status, n in sorted(traffic.deliveries.items()))
    senders = ", ".join(
        f"{user} ({count} msgs, {traffic.sasl_recipients.counts.get(user, 0)} rcpts)"
        for user, count in traffic.sasl_messages.top(TOP)
    )
    reasons = "; ".join(f"{reason} ({n})" for reason, n in traffic.reject_reasons.top(3))
    seen = "nothing"
    if traffic.first_time is not None and traffic.last_time is not None:
        seen = f"{stamp(traffic.first_time)} .. {stamp(traffic.last_time)}"
    rows = [
        ("range", data.range.describe() + _warmup_note(data)),
        ("log seen", seen),
        ("read", f"{data.lines} lines, {data.events} events from {', '.join(data.files)}"),
        ("messages", f"{traffic.messages} queued, {traffic.recipients} recipients"),
        ("top SASL senders", senders or "none"),
        ("deliveries", deliveries or "none"),
        ("queue", f"{traffic.messages} entered, {traffic.left_queue} left"),
        ("rejections", f"{traffic.rejections}" + (f": {reasons}" if reasons else "")),
        ("SASL failures", str(traffic.sasl_failures)),
    ]
    return [(label, clean(value)) for label, value in rows]


def _warmup_note(data: ReportData) -> str:
    return f" (detectors warmed up from {stamp(data.warmup)})" if data.warmup else ""


def headline(findings: Sequence[Finding], dropped: int = 0) -> str:
    """``3 findings: 1 critical, 2 warning`` or ``No findings.``, and what was left out."""
    more = f" ({dropped} more resolved, lower-ranked findings not shown)" if dropped else ""
    if not findings:
        return "No findings." + more
    by = {str(s): sum(1 for f in findings if f.severity is s) for s in reversed(Severity)}
    parts = ", ".join(f"{n} {name}" for name, n in by.items() if n)
    noun = "finding" if len(findings) == 1 else "findings"
    return f"{len(findings)} {noun}: {parts}{more}"


# ---- the three forms ------------------------------------------------------


def render_json(findings: Sequence[Finding], out: TextIO) -> None:
    """JSON Lines: one ``Finding.to_json`` object per line, nothing else."""
    for finding in findings:
        out.write(finding_json(finding) + "\n")


def render_text(data: ReportData, out: TextIO) -> None:
    """Plain text for a cron mail: no colour, no box drawing, one block per finding."""
    write = out.write
    write(f"spamwatch report {data.range.describe()}\n")
    write(headline(data.findings, data.dropped) + "\n")
    for finding in data.findings:
        write("\n")
        severity = str(finding.severity).upper()
        write(f"{severity} {finding_title(finding)} [{finding_state(finding)}]\n")
        write(f"  {clean(finding.summary, FIELD_LIMIT)}\n")
        write(
            f"  raised {stamp(finding.raised_at)}, first seen "
            f"{stamp(finding.first_seen)}, last seen {stamp(finding.last_seen)}\n"
        )
        if finding.counts:
            write(f"  counts: {counts_text(finding)}\n")
        for line in evidence_lines(finding.evidence):
            write(f"  {line}\n")
    write("\nSummary\n")
    width = max(len(label) for label, _ in summary_rows(data))
    for label, value in summary_rows(data):
        write(f"  {label + ':':<{width + 1}} {value}\n")


def render_table(data: ReportData, console: Console) -> None:
    """Rich tables for a terminal: findings first (worst first), then the summary."""
    console.print(Text(headline(data.findings, data.dropped), style="bold"))
    if data.findings:
        console.print(_findings_table(data.findings))
    summary = Table(title="Summary", show_header=False, box=None, title_justify="left")
    summary.add_column(style="bold", no_wrap=True)
    summary.add_column(overflow="fold")
    for label, value in summary_rows(data):
        summary.add_row(Text(label), Text(value))
    console.print(summary)


def _findings_table(findings: Sequence[Finding]) -> Table:
    table = Table(show_lines=True, expand=False)
    table.add_column("severity", no_wrap=True)
    table.add_column("finding", overflow="fold", ratio=3)
    table.add_column("when", overflow="fold", ratio=2)
    table.add_column("evidence", overflow="fold", ratio=4)
    for finding in findings:
        what = Text(finding_title(finding), style="bold")
        what.append("\n" + clean(finding.summary, FIELD_LIMIT), style="")
        when = Text(
            f"raised {stamp(finding.raised_at)}\n"
            f"last {stamp(finding.last_seen)}\n{finding_state(finding)}"
        )
        evidence = Text("\n".join([counts_text(finding), *evidence_lines(finding.evidence)]))
        severity = Text(str(finding.severity).upper(), style=SEVERITY_STYLE[finding.severity])
        table.add_row(severity, what, when, evidence)
    return table
