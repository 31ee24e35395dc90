"""The CLI loads a command's module only when the command is used, and knows them all."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import spamwatch.cli
from spamwatch.cli import COMMAND_MODULES, cli


def test_every_command_of_every_cli_module_is_in_the_table() -> None:
    """A command added to a module but not to COMMAND_MODULES would vanish from the CLI."""
    found = {}
    for info in pkgutil.iter_modules(spamwatch.cli.__path__):
        module = importlib.import_module(f"spamwatch.cli.{info.name}")
        for command in getattr(module, "COMMANDS", ()):
            found[command.name] = info.name
    assert found == COMMAND_MODULES
    assert cli.list_commands(None) == sorted(found)  # type: ignore[arg-type]
    for name in found:
        assert cli.get_command(None, name).name == name  # type: ignore[arg-type,union-attr]
    assert cli.get_command(None, "nonsense") is None  # type: ignore[arg-type]


def test_a_command_imports_only_its_own_module() -> None:
    """``events`` starts without containment, follow or the sinks (a fresh interpreter)."""
    code = (
        "import sys\n"
        "from spamwatch.cli import cli\n"
        "cli.get_command(None, 'events')\n"
        "print(sorted(m for m in sys.modules if m.startswith('spamwatch.cli.')))\n"
        "print('spamwatch.contain' in sys.modules, 'spamwatch.follow' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["['spamwatch.cli.common', 'spamwatch.cli.events']", "False False"]
