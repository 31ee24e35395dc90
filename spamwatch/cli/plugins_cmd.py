"""The ``plugins`` command: what detectors and sinks are installed, and from where.

Built-ins and third-party plugins are listed alike (they load the same way),
each with the distribution that declared it, so "which package gave me the
``pagerduty`` sink?" has an answer; a plugin that fails to import is listed
with its error instead of breaking the command.
"""

from __future__ import annotations

import json

import click

from spamwatch.errors import EXIT_OK
from spamwatch.plugins import listing, listing_text


@click.command("plugins")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output a table or one JSON object.",
)
def plugins(fmt: str) -> int:
    """List installed detectors and alert sinks with their source package.

    Third-party plugins register entry points in the groups
    spamwatch.detectors and spamwatch.sinks (see spamwatch(1), ALERTS AND
    PLUGINS); one that cannot be loaded is shown with its error.
    """
    found = listing()
    if fmt == "json":
        click.echo(json.dumps(found, indent=2, ensure_ascii=True))
    else:
        click.echo(listing_text(found))
    return EXIT_OK


COMMANDS: list[click.Command] = [plugins]
