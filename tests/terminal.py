"""A real terminal for tests of what a person sees: a private tmux server, one pane.

``Terminal.start`` runs a command in a pane of a given size with a plain
environment (``plain_env``: no COLUMNS/LINES, which rich would believe over
the pane); ``screen()`` reads the screen and its scrollback.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from tests.programs import need


class Terminal:
    """A private tmux server (its own socket, no config) holding one pane of a given size."""

    def __init__(self, folder: Path, width: int, height: int) -> None:
        self.tmux = [need("tmux"), "-S", str(folder / "tmux.socket"), "-f", "/dev/null"]
        self.size = (width, height)

    def run(self, *args: str) -> str:
        result = subprocess.run(
            [*self.tmux, *args], capture_output=True, text=True, timeout=30, check=True
        )
        return result.stdout

    def start(self, command: list[str], env: dict[str, str]) -> None:
        width, height = self.size
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        self.run("new-session", "-d", "-x", str(width), "-y", str(height),
                 f"env -i {exports} {shlex.join(command)}")  # fmt: skip
        self.run("set-option", "-g", "history-limit", "10000")
        self.run("set-option", "-g", "remain-on-exit", "on")

    def screen(self) -> list[str]:
        """Screen and scrollback, soft-wrapped lines joined, trailing blanks dropped."""
        text = self.run("capture-pane", "-p", "-J", "-S", "-", "-E", "-")
        return [line.rstrip() for line in text.splitlines()]

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True, check=False)


def plain_env() -> dict[str, str]:
    """What the terminal's shell would have: no COLUMNS/LINES (rich would believe them).

    ``$SPAMWATCH_DB`` stays: it is the test's own profile database (conftest); without it
    a ``follow`` in the terminal learned into the machine's /var/lib/spamwatch/profiles.db."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "SPAMWATCH_DB")
    return {k: os.environ[k] for k in keep if k in os.environ} | {"LANG": "C.UTF-8"}
