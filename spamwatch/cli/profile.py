"""``spamwatch profile``: what the profile database knows about a login; forget one; list.

Reads only (``--forget`` excepted); never creates a database. Every name
shown comes from the log, so tables are drawn by a console that applies no
markup (``sinks.text.log_console``) and JSON is written with ``json.dumps``.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from typing import Any

import click

from spamwatch.cli.common import config_option, db_option, load, say
from spamwatch.detectors.site import login as login_key
from spamwatch.errors import UsageError
from spamwatch.profiles import Profiles, profile_options
from spamwatch.profiles.describe import busiest, hosts, login_report, totals
from spamwatch.profiles.store import ProfileStore
from spamwatch.sinks.text import log_console


@click.command("profile", short_help="Show, list or forget learned login profiles.")
@config_option
@db_option
@click.option("--list", "list_all", is_flag=True, help="The busiest logins and every host.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1), help="With --list.")
@click.option("--forget", is_flag=True, help="Drop everything known about LOGIN.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@click.argument("login", required=False)
def profile(
    config_path: str | None,
    db_path: str | None,
    list_all: bool,
    limit: int,
    forget: bool,
    output_format: str,
    login: str | None,
) -> int:
    """Show what was learned about LOGIN (a SASL login), or --list, or --forget LOGIN.

    \b
    A login is judged against its profile once it holds [profiles]
    min_hours active hours; until then the fixed thresholds alone apply.
    """
    if list_all == bool(login):
        raise UsageError("give a LOGIN or --list (not both)")
    if forget and not login:
        raise UsageError("--forget needs a LOGIN")
    options = profile_options(load(config_path), db_path, notify=say)
    path = options.path
    if path is None:
        raise UsageError("no profile database: [profiles] enabled = false")
    if not os.path.exists(path):
        raise UsageError(f"{path}: no profile database yet (spamwatch learn builds it)")
    profiles = Profiles.open(replace(options, learn=forget))
    store = profiles.store
    assert store is not None
    try:
        if forget:
            return _forget(store, login_key(login))
        data = _list(store, limit) if list_all else _one(store, login_key(login), options.min_hours)
    finally:
        profiles.close()
    if output_format == "json":
        click.echo(json.dumps(data, indent=1, ensure_ascii=False))
    elif list_all:
        _list_tables(data)
    else:
        _login_tables(data)
    return 0


def _forget(store: ProfileStore, login: str) -> int:
    if not store.forget(login):
        raise UsageError(f"{login}: no profile in {store.path}")
    click.echo(f"forgot {login}")
    return 0


def _one(store: ProfileStore, login: str, min_hours: int) -> dict[str, Any]:
    data = login_report(store, login, min_hours)
    if data is None:
        known = totals(store)["logins"]
        raise UsageError(f"{login}: no profile in {store.path} ({known} logins known)")
    return data


def _list(store: ProfileStore, limit: int) -> dict[str, Any]:
    return {"logins": busiest(store, limit), "hosts": hosts(store), **_counts(store)}


def _counts(store: ProfileStore) -> dict[str, int]:
    known = totals(store)
    return {"logins_known": known["logins"], "hosts_known": known["hosts"]}


# -- tables -------------------------------------------------------------------


def _console() -> Any:
    """A console for log text; wide enough off a terminal that nothing is cut."""
    return log_console(sys.stdout, width=None if sys.stdout.isatty() else 160)


def _table(title: str, columns: list[str]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column)
    return table


def _cell(value: Any) -> Any:
    from rich.text import Text

    return Text("-" if value is None else f"{value:g}" if isinstance(value, float) else str(value))


def _login_tables(data: dict[str, Any]) -> None:
    out = _console()
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


def _list_tables(data: dict[str, Any]) -> None:
    out = _console()
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


COMMANDS = [profile]
