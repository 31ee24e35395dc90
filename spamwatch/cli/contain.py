"""``spamwatch contain`` and ``spamwatch release``: stop an abused login, and undo it.

The commands parse options and print; spamwatch.contain does the work (see
README "Stopping an incident").
"""

from __future__ import annotations

import click

from spamwatch.cli.common import config_option, load
from spamwatch.config import Config
from spamwatch.contain.check import check
from spamwatch.contain.commands import Runner
from spamwatch.contain.engine import Containment, Outcome
from spamwatch.contain.logscan import scan
from spamwatch.contain.settings import ContainSettings
from spamwatch.contain.show import ledger_lines, outcome_lines
from spamwatch.errors import EXIT_OK, ContainError, UsageError
from spamwatch.parse.options import build_parse_options
from spamwatch.sources.files import DEFAULT_LOG
from spamwatch.textsafe import clean


def _echo_outcome(outcome: Outcome, preview: bool = False) -> None:
    for line in outcome_lines(outcome, preview):
        click.echo(line)


def _settings(config_path: str | None) -> tuple[ContainSettings, Config]:
    config = load(config_path)
    return ContainSettings.from_config(config), config


@click.command("contain")
@config_option
@click.option("--dry-run", is_flag=True, help="Print the commands and map line; change nothing.")
@click.option("--check", "check_only", is_flag=True, help="Check Postfix is set up for the lock.")
@click.option("--list", "list_only", is_flag=True, help="Show the logins spamwatch contained.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="--list as text or JSON Lines.",
)
@click.option(
    "--log",
    "logs",
    multiple=True,
    metavar="FILE",
    help=f"Mail log read back for the login's queued mail (default {DEFAULT_LOG}).",
)
@click.option("--reason", default="", metavar="TEXT", help="Why (audit log, ledger).")
@click.option("--incident", default="", metavar="ID", help="Incident id (audit log, hook).")
@click.argument("login", required=False)
def contain(
    config_path: str | None,
    dry_run: bool,
    check_only: bool,
    list_only: bool,
    output_format: str,
    logs: tuple[str, ...],
    reason: str,
    incident: str,
    login: str | None,
) -> int:
    """Lock LOGIN in Postfix, hold its queued mail, run the hook.

    \b
    spamwatch contain LOGIN     contain it (only a dry run while
                                [contain] dry_run = true, the default)
    spamwatch contain --check   is Postfix set up to honour the lock?
    spamwatch contain --list    logins contained: when, why, by whom
    Every action goes to the audit log; 'spamwatch release LOGIN' undoes it.
    Exit status 7 when containment failed, was refused, or --check found
    something missing.
    """
    modes = sum((check_only, list_only, login is not None))
    if modes != 1:
        raise UsageError("give a LOGIN, or --check, or --list (one of them)")
    settings, config = _settings(config_path)
    if check_only:
        return _check(settings)
    engine = Containment(settings)
    if list_only:
        return _list(engine, output_format)
    assert login is not None
    found = scan(
        logs or (DEFAULT_LOG,),
        login,
        settings,
        config,
        build_parse_options(config, None, None, ()),
    )
    for note in found.notes:
        click.echo(f"spamwatch: {clean(note)}", err=True)
    outcome = engine.contain(
        login,
        incident=incident or "manual",
        reason=reason or "spamwatch contain (by hand)",
        queued=found.queued,
        addresses=found.addresses,
        trigger="manual",
        dry_run=dry_run,
    )
    if outcome.status == "dry run":
        click.echo("dry run: nothing is changed ([contain] dry_run = true, or --dry-run)")
    _echo_outcome(outcome)
    if not outcome.ok:
        raise ContainError(f"{clean(login, limit=80)}: {outcome.summary()}")
    return EXIT_OK


def _check(settings: ContainSettings) -> int:
    lines = check(settings, Runner(settings))
    for line in lines:
        click.echo(f"{line.kind}: {line.text}")
    missing = sum(1 for line in lines if line.kind == "missing")
    if missing:
        raise ContainError(f"contain --check: {missing} thing(s) missing (see above)")
    return EXIT_OK


def _list(engine: Containment, output_format: str) -> int:
    for line in ledger_lines(engine.entries(), output_format):
        click.echo(line)
    return EXIT_OK


@click.command("release")
@config_option
@click.option("--purge", is_flag=True, help="Delete the held mail instead of releasing it.")
@click.option("--dry-run", is_flag=True, help="Print what it would touch; change nothing.")
@click.argument("login")
def release(config_path: str | None, purge: bool, dry_run: bool, login: str) -> int:
    """Undo 'spamwatch contain LOGIN': unlock it, release (or --purge) its held mail.

    Prints what it will touch first. Only mail spamwatch itself put on hold
    and still in the hold queue is released or deleted.
    """
    settings, _ = _settings(config_path)
    engine = Containment(settings)
    plan = engine.release(login, purge=purge, dry_run=True)
    if dry_run or settings.dry_run:
        click.echo("dry run: nothing is changed ([contain] dry_run = true, or --dry-run)")
        _echo_outcome(plan)
        return EXIT_OK
    click.echo("will touch:")
    _echo_outcome(plan, preview=True)
    outcome = engine.release(login, purge=purge)
    _echo_outcome(outcome)
    if not outcome.ok:
        raise ContainError(f"{clean(login, limit=80)}: {outcome.summary()}")
    return EXIT_OK


COMMANDS: list[click.Command] = [contain, release]
