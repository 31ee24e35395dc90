#!/usr/bin/env python3
"""Write the shell completion scripts shipped in contrib/completion/ (click writes them).

Run it after upgrading click (tests/test_completion.py fails until you do):

    python contrib/completion/generate.py

Each script is what ``_SPAMWATCH_COMPLETE=SHELL_source spamwatch`` prints; it
asks spamwatch itself for the candidates at every TAB, so new commands and
options complete without regenerating anything. One fix on top of click's zsh
script: loaded from $fpath, it completed only every other TAB.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = {
    "bash": HERE / "bash" / "spamwatch",
    "zsh": HERE / "zsh" / "_spamwatch",
    "fish": HERE / "fish" / "spamwatch.fish",
}
"""Shell -> shipped script, named as each shell looks it up: bash-completion loads
completions/COMMAND, zsh _COMMAND from $fpath, fish COMMAND.fish."""


ZSH_AUTOLOADED = """\
    # autoload from fpath, call function directly
    _spamwatch_completion "$@"
"""
ZSH_AUTOLOADED_FIXED = """\
    # autoload from fpath: complete this TAB, and have the next ones call the
    # completion function (else zsh reruns this file, which only registers it,
    # and every second TAB offers nothing)
    compdef _spamwatch_completion spamwatch
    _spamwatch_completion "$@"
"""


def script(shell: str) -> str:
    """click's completion script for ``shell``, for a command named spamwatch (zsh's fixed)."""
    env = {**os.environ, "_SPAMWATCH_COMPLETE": f"{shell}_source"}
    result = subprocess.run(
        [sys.executable, "-c", "from spamwatch.cli import cli; cli.main(prog_name='spamwatch')"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    if shell != "zsh":
        return result.stdout
    if ZSH_AUTOLOADED not in result.stdout:
        raise SystemExit("click's zsh script changed: check whether ZSH_AUTOLOADED_FIXED is needed")
    return result.stdout.replace(ZSH_AUTOLOADED, ZSH_AUTOLOADED_FIXED)


def main() -> None:
    """Regenerate every script next to this one."""
    for shell, path in SCRIPTS.items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(script(shell), encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
