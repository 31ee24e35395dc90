"""``spamwatch config show`` and ``spamwatch config check``."""

from __future__ import annotations

import click

from spamwatch.cli.common import config_option, load
from spamwatch.config.load import dump_toml
from spamwatch.errors import EXIT_OK


@click.group("config")
def config_group() -> None:
    """Show or check the configuration file.

    \b
    The file is --config PATH, else $SPAMWATCH_CONFIG, else
    /etc/spamwatch/spamwatch.toml when it exists, else built-in defaults.
    """


@config_group.command("show")
@config_option
def show(config_path: str | None) -> int:
    """Print the effective configuration (defaults included) as TOML.

    Secrets (passwords, tokens, auth headers) are printed as ********.
    """
    from spamwatch.config.view import effective_config, validate

    config = load(config_path)
    validate(config)
    source = config.path or "built-in defaults (no config file)"
    click.echo(f"# spamwatch effective configuration; source: {source}")
    click.echo(dump_toml(effective_config(config)), nl=False)
    return EXIT_OK


@config_group.command("check")
@config_option
def check(config_path: str | None) -> int:
    """Validate the configuration; on error name the offending key (exit 3)."""
    from spamwatch.config.view import validate

    config = load(config_path)
    validate(config)
    click.echo(f"{config.path or 'built-in defaults'}: ok")
    return EXIT_OK


COMMANDS: list[click.Command] = [config_group]
