"""The `plugins_cmd` command (not built yet)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
