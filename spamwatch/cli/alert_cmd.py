"""``spamwatch alert test URI...``: try each alert sink with one labelled test record.

Run it after configuring alerts, and after changing them: each sink gets one
critical record that says it is a test, delivered at once (no queue, no
spool), and the command prints per sink "delivered" or why not. Without URIs
it tries ``[alerts] uris`` from the config. Exit status 0 when every sink
delivered, 6 when one did not, 3 for a URI that cannot be parsed.
"""

from __future__ import annotations

import click

from spamwatch.cli.common import config_option, load
from spamwatch.errors import EXIT_OK, EXIT_SINK
from spamwatch.sinks.build import check_alerts
from spamwatch.sinks.probe import test_record, try_uri
from spamwatch.sinks.uri import default_alert_uris


@click.group("alert")
def alert() -> None:
    """Work with alert sinks (see 'alert test')."""


@alert.command("test")
@config_option
@click.argument("uris", nargs=-1, metavar="[URI]...")
def test(config_path: str | None, uris: tuple[str, ...]) -> int:
    """Send one clearly labelled test alert through each sink and say what became of it.

    URI defaults to [alerts] uris from the config. Prints 'delivered' or why
    not (connection refused, unknown host, TLS failure, the SMTP or HTTP
    answer) per sink; exit status 6 when a sink did not deliver.
    """
    config = load(config_path)
    chosen = list(uris) or default_alert_uris(config, interactive=False)
    check_alerts(chosen, config)  # every URI and sink table checked (exit 3) before any is sent
    record = test_record()
    outcomes = [try_uri(uri, config, record) for uri in chosen]
    for outcome in outcomes:
        click.echo(outcome.line())
    return EXIT_OK if all(o.delivered for o in outcomes) else EXIT_SINK


COMMANDS = [alert]
