"""``spamwatch profile``: what the profile database knows about a login; forget one; list.

Reads only (``--forget`` excepted); never creates a database. The data comes
from ``profiles.describe``, the tables from ``profiles.tables``; JSON is
written with ``json.dumps``.
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
from spamwatch.profiles.describe import listing, login_report, totals
from spamwatch.profiles.store import ProfileStore
from spamwatch.profiles.tables import print_listing, print_login


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
    if forget and not login:
        raise UsageError("--forget needs a LOGIN")
    if list_all and login:
        raise UsageError("give a LOGIN or --list, not both")
    if not (list_all or login):
        raise UsageError("give a LOGIN, or --list for the busiest logins")
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
        data = (
            listing(store, limit) if list_all else _one(store, login_key(login), options.min_hours)
        )
    finally:
        profiles.close()
    if output_format == "json":
        click.echo(json.dumps(data, indent=1, ensure_ascii=False))
    elif list_all:
        print_listing(data, sys.stdout)
    else:
        print_login(data, sys.stdout)
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


COMMANDS = [profile]
