"""The ``plugins`` command: what detectors and sinks are installed, and from where.

Built-ins and third-party plugins are listed alike (they load the same way),
each with the distribution that declared it, so "which package gave me the
``pagerduty`` sink?" has an answer; a plugin that fails to import is listed
with its error instead of breaking the command.
"""

from __future__ import annotations

import json
from importlib import metadata
from typing import Any

import click

from spamwatch.errors import EXIT_OK
from spamwatch.plugins import DETECTORS, SINKS, Plugin, discover
from spamwatch.textsafe import clean

GROUPS = (("detectors", DETECTORS), ("sinks", SINKS))


def plugin_record(plugin: Plugin) -> dict[str, Any]:
    """The JSON form of one plugin (also what the text table shows)."""
    description = getattr(plugin.obj, "description", "") if plugin.obj is not None else ""
    return {
        "name": plugin.name,
        "object": plugin.value,
        "distribution": plugin.distribution,
        "version": _version(plugin.distribution),
        "description": description if isinstance(description, str) else "",
        "error": plugin.error,
    }


def _version(distribution: str | None) -> str | None:
    if distribution is None:
        return None
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _text(listing: dict[str, list[dict[str, Any]]]) -> str:
    lines: list[str] = []
    for title, records in listing.items():
        lines.append(f"{title}:")
        if not records:
            lines.append("  (none installed)")
        width = max((len(clean(r["name"])) for r in records), default=0)
        for record in records:
            name = clean(record["name"]).ljust(width)
            source = clean(
                " ".join(filter(None, (record["distribution"], record["version"]))) or "?"
            )
            if record["error"]:
                detail = f"LOAD ERROR: {clean(record['error'], limit=300)}"
            else:
                detail = clean(record["description"] or record["object"], limit=200)
            lines.append(f"  {name}  [{source}]  {detail}")
    return "\n".join(lines)


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
    listing = {
        title: [plugin_record(p) for p in discover(group).values()] for title, group in GROUPS
    }
    if fmt == "json":
        click.echo(json.dumps(listing, indent=2, ensure_ascii=True))
    else:
        click.echo(_text(listing))
    return EXIT_OK


COMMANDS: list[click.Command] = [plugins]
