"""The tables ``spamwatch profile`` draws from what ``describe`` reads.

Every name shown comes from the log, so tables are drawn by a console that
applies no markup (``sinks.text.log_console``).
"""

from __future__ import annotations

from typing import Any, TextIO

from spamwatch.sinks.text import log_console


def _console(stream: TextIO) -> Any:
    """A console for log text; wide enough off a terminal that nothing is cut."""
    return log_console(stream, width=None if stream.isatty() else 160)


def _table(title: str, columns: list[str]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column)
    return table


def _cell(value: Any) -> Any:
    from rich.text import Text

    return Text("-" if value is None else f"{value:g}" if isinstance(value, float) else str(value))


def print_login(data: dict[str, Any], stream: TextIO) -> None:
    """One login's profile (``describe.login_report``) as a person reads it: hours, days, places.

    Why tables and not the JSON: an admin deciding whether a login's evening
    burst is unusual compares it with the usual hour at a glance.
    """
    out = _console(stream)
    judged = (
        f"judged against its profile ({data['active_hours']} active hours)"
        if data["judged"]
        else f"too little history to judge by ({data['active_hours']} of"
        f" {data['min_hours']} active hours): fixed thresholds apply"
    )
    share = data["single_recipient_share"]
    out.print(f"{data['login']}: {judged}")
    out.print(
        f"seen {data['first_seen']} .. {data['last_seen']} on {data['days']} days;"
        f" {data['messages']} messages"
        + (f", {share:.0%} with one recipient" if share is not None else "")
        + f"; recipient domains per hour: usually {data['recipient_domains_per_hour']['usual']:g},"
        f" at most {data['recipient_domains_per_hour']['most']:g}"
    )
    for first in (0, 12):
        hours = [f"{h:02d}" for h in range(first, first + 12)]
        table = _table("" if first else "messages per hour of the day", ["", *hours])
        table.add_row("usual", *(_cell(data["usual_per_hour"][h]) for h in hours))
        table.add_row("sent", *(_cell(data["messages_by_hour"][h]) for h in hours))
        out.print(table)
    week = data["messages_by_weekday"]
    table = _table("messages per weekday", list(week))
    table.add_row(*(_cell(n) for n in week.values()))
    out.print(table)
    for key, title in (("networks", "client networks"), ("sender_domains", "envelope senders")):
        column = "network" if key == "networks" else "domain"
        table = _table(title, [column, "first seen", "last seen", "messages", "days"])
        for row in data[key]:
            table.add_row(
                *(_cell(row[c]) for c in (column, "first_seen", "last_seen")),
                _cell(row["messages"]),
                _cell(row["days"]),
            )
        out.print(table)


def print_listing(data: dict[str, Any], stream: TextIO) -> None:
    """The busiest logins and every host's ambient levels (``describe.listing``) as tables."""
    out = _console(stream)
    columns = ["login", "messages", "one recipient", "active hours", "networks", "senders"]
    table = _table(f"busiest logins ({data['logins_known']} known)", [*columns, "last seen"])
    for row in data["logins"]:
        share = row["single_recipient_share"]
        table.add_row(
            _cell(row["login"]),
            _cell(row["messages"]),
            _cell("-" if share is None else f"{share:.0%}"),
            _cell(row["active_hours"]),
            _cell(row["networks"]),
            _cell(row["sender_domains"]),
            _cell(row["last_seen"]),
        )
    out.print(table)
    columns = [
        "host",
        "windows",
        "failing addresses/10m",
        "failures/10m",
        "queue",
        "deferred/10m",
        "deferral rate",
    ]
    table = _table("hosts (ambient levels; - : less than a day learned)", columns)
    for row in data["hosts"]:
        table.add_row(*(_cell(v) for v in row.values()))
    out.print(table)
