"""``spamwatch events``: the log as JSON Lines of events or messages, or explained.

The options only; ``spamwatch.events`` reads and prints.
"""

from __future__ import annotations

import sys

import click

from spamwatch.cli.common import config_option, jobs_option, load, parse_options
from spamwatch.errors import UsageError
from spamwatch.events.run import print_events
from spamwatch.parse.options import build_parse_options
from spamwatch.sources.files import DEFAULT_LOG


@click.command("events", short_help="Print the log as JSON Lines of events or messages.")
@click.argument("files", nargs=-1, metavar="[FILE]...")
@click.option("--messages", is_flag=True, help="Print each finished message instead of events.")
@click.option(
    "--include-open",
    is_flag=True,
    help="With --messages: at the end also print messages still queued (state queued).",
)
@click.option("--explain", is_flag=True, help="Say for each line how it was read, or why not.")
@config_option
@parse_options
@jobs_option(
    "The output is the same.",
    two="2 reads and parses the log in a second one (--messages)",
    default=1,
)
def events(
    files: tuple[str, ...],
    messages: bool,
    include_open: bool,
    explain: bool,
    config_path: str | None,
    timezone: str | None,
    year: int | None,
    syslog_names: tuple[str, ...],
    jobs: int,
) -> int:
    """Print the events (or messages) spamwatch reads from FILE as JSON Lines.

    \b
    FILE defaults to /var/log/mail.log; "-" reads stdin; .gz files are read
    transparently. A summary of what was read goes to stderr, and a progress
    bar while it reads when stderr is a terminal and stdout is not.
    """
    if messages and explain:
        raise UsageError("--messages and --explain cannot be combined")
    if include_open and not messages:
        raise UsageError("--include-open needs --messages")
    config = load(config_path)
    options = build_parse_options(config, timezone, year, syslog_names)
    paths = files or (DEFAULT_LOG,)
    summary = print_events(
        config, options, paths, sys.stdout, messages, include_open, explain, jobs
    )
    click.echo(summary, err=True)
    return 0


COMMANDS: list[click.Command] = [events]
