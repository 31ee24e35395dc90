"""Print a report: rich tables on a terminal, plain text for cron mail, JSON Lines.

Every string that came from the log (usernames, senders, reasons, evidence)
goes through ``spamwatch.sinks.text.clean`` and, for rich, into ``Text``
objects that are never parsed as markup, so "[bold]x[/]" or an ANSI escape in
a sender is shown literally and cannot restyle or move the terminal.
Each incident is one block (spamwatch.incidents.story): on a terminal the
short form, one screen per incident; ``--format text`` adds every finding's
details. The JSON form is exactly ``Incident.to_json`` per line, in a fixed
order and without wall-clock values, so golden files can compare it byte for
byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from rich.console import Console
from rich.text import Text

from spamwatch.detectors.site import plural
from spamwatch.incidents.story import labelled, stamp, story
from spamwatch.model import Incident, Severity
from spamwatch.report.summary import TrafficSummary
from spamwatch.report.timerange import TimeRange
from spamwatch.sinks.text import incident_json, log_console
from spamwatch.textsafe import clean

TOP = 5
"""Entries shown per summary list."""
TEXT_WIDTH = 80
"""The text form's width (cron mail): blocks wrap at spaces to fit it."""
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
    incidents: tuple[Incident, ...]
    traffic: TrafficSummary
    lines: int = 0
    events: int = 0
    warmup: datetime | None = None  # detectors were refilled from here (before range.since)
    dropped: int = 0  # resolved incidents left out to stay bounded (summary.IncidentLog)
    postfix_config: str | None = None  # [contain] postfix_config: the next steps name it


# ---- shared wording -------------------------------------------------------


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
        (
            "read",
            f"{plural(data.lines, 'line')}, {plural(data.events, 'event')}"
            f" from {', '.join(data.files)}",
        ),
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


def headline(incidents: Sequence[Incident], dropped: int = 0) -> str:
    """``3 incidents: 1 critical, 2 warning`` or ``No incidents.``, and what was left out."""
    more = f" ({dropped} more resolved, lower-ranked incidents not shown)" if dropped else ""
    if not incidents:
        return "No incidents." + more
    by = {str(s): sum(1 for i in incidents if i.severity is s) for s in reversed(Severity)}
    parts = ", ".join(f"{n} {name}" for name, n in by.items() if n)
    noun = "incident" if len(incidents) == 1 else "incidents"
    return f"{len(incidents)} {noun}: {parts}{more}"


# ---- the three forms ------------------------------------------------------


def render_json(incidents: Sequence[Incident], out: TextIO) -> None:
    """JSON Lines: one ``Incident.to_json`` object per line, nothing else."""
    for incident in incidents:
        out.write(incident_json(incident) + "\n")


def render_text(data: ReportData, out: TextIO) -> None:
    """Plain text for a cron mail: no colour, one block per incident with its details."""
    write = out.write
    write(f"spamwatch report {data.range.describe()}\n")
    write(headline(data.incidents, data.dropped) + "\n")
    for incident in data.incidents:
        write("\n")
        for line in story(incident, TEXT_WIDTH, True, data.postfix_config):
            write(line + "\n")
    write("\nSummary\n")
    width = max(len(label) for label, _ in summary_rows(data))
    for label, value in summary_rows(data):
        write(f"  {label + ':':<{width + 1}} {value}\n")


def render_table(data: ReportData, console: Console) -> None:
    """A terminal: the short block of each incident (worst first), then the summary."""
    console.print(Text(headline(data.incidents, data.dropped), style="bold"))
    for incident in data.incidents:
        first, *rest = story(incident, max(console.width, 40), False, data.postfix_config)
        console.print()
        console.print(Text(first, style=SEVERITY_STYLE[incident.severity]), overflow="ignore")
        for line in rest:
            console.print(Text(line), overflow="ignore", crop=False)
    console.print()
    console.print(Text("Summary", style="bold"))
    rows = summary_rows(data)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        for line in labelled(label, value, max(console.width, 40), width):
            console.print(Text(line), overflow="ignore", crop=False)


def render(data: ReportData, output_format: str | None, out: TextIO) -> None:
    """The report in the format asked for: table on a terminal, else text, or JSON Lines."""
    chosen = output_format or ("table" if out.isatty() else "text")
    if chosen == "json":
        render_json(data.incidents, out)
    elif chosen == "text":
        render_text(data, out)
    else:
        render_table(data, log_console(out))
