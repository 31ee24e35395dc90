"""Shell completion: the scripts in contrib/completion/, driven by real bash, zsh and fish.

Each shell sources the shipped script and asks for the candidates of a partly
typed command line; the script calls this venv's spamwatch (first on PATH).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT
from tests.programs import need

COMPLETION = ROOT / "contrib" / "completion"
REGENERATE = "run `python contrib/completion/generate.py` and commit contrib/completion/"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("completion", COMPLETION / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shell(program: str, script: str) -> str:
    """Run ``script`` in a fresh, non-interactive ``program`` with this venv's bin first on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    env.pop("_SPAMWATCH_COMPLETE", None)
    result = subprocess.run(
        [need(program), "-c", script], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("name", ["bash", "zsh", "fish"])
def test_the_shipped_script_is_what_click_writes(name: str) -> None:
    gen = generator()
    shipped = gen.SCRIPTS[name].read_text(encoding="utf-8")
    assert shipped == gen.script(name), f"contrib/completion is out of date: {REGENERATE}"


def bash_candidates(*words: str) -> list[str]:
    script = COMPLETION / "bash" / "spamwatch"
    typed = " ".join(f"'{w}'" for w in words)
    return shell(
        "bash",
        f"source {script}; COMP_WORDS=({typed}); COMP_CWORD={len(words) - 1}; "
        'COMP_LINE="${COMP_WORDS[*]}"; _spamwatch_completion spamwatch; '
        'printf "%s\\n" "${COMPREPLY[@]}"',
    ).split()


def test_bash_completes_commands_options_and_choices() -> None:
    assert bash_candidates("spamwatch", "fo") == ["follow"]
    assert {"events", "report", "follow", "config", "plugins"} <= set(
        bash_candidates("spamwatch", "")
    )
    assert bash_candidates("spamwatch", "report", "--format", "") == ["table", "text", "json"]
    assert "--since" in bash_candidates("spamwatch", "report", "--")
    assert sorted(bash_candidates("spamwatch", "config", "")) == ["check", "show"]


def test_fish_completes_commands_with_their_help() -> None:
    script = COMPLETION / "fish" / "spamwatch.fish"
    out = shell(
        "fish", f"source {script}; complete -C 'spamwatch fo'; complete -C 'spamwatch config '"
    )
    lines = out.splitlines()
    assert any(line.startswith("follow\t") for line in lines), out
    assert {line.split("\t")[0] for line in lines} >= {"follow", "show", "check"}


def test_zsh_finds_it_on_fpath_and_completes(tmp_path: Path) -> None:
    """compinit binds _spamwatch (found on $fpath) to spamwatch; run, it offers the candidates.

    zsh's completion widgets only run inside the line editor, so _describe and
    compadd are stood in for by functions that print what they are given, and
    each TAB calls whatever ${_comps[spamwatch]} names at that moment, as zsh does.
    """
    (tmp_path / "_spamwatch").write_text((COMPLETION / "zsh" / "_spamwatch").read_text())
    out = shell(
        "zsh",
        f"fpath=({tmp_path} $fpath); autoload -Uz compinit; compinit -u -d {tmp_path}/dump; "
        "print -r -- BOUND ${_comps[spamwatch]}; "
        "_describe() { print -rl -- ${(P)3} }; compadd() { print -rl -- ${(P)${@[-1]}} }; "
        "words=(spamwatch fo); CURRENT=2; _main_complete() { ${_comps[spamwatch]} }; "
        "_main_complete; words=(spamwatch report --format ''); CURRENT=4; _main_complete",
    )
    lines = out.splitlines()
    assert lines[0] == "BOUND _spamwatch"
    assert lines[1].startswith("follow:")  # with its help text, as zsh shows it
    assert lines[2:] == ["table", "text", "json"]  # the second TAB too
