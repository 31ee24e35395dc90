"""contrib/spamwatch.toml: every option of ``spamwatch config show``, commented, with its default.

The file is generated (contrib/example_config.py); these tests fail, saying how
to regenerate it, as soon as an option is added, removed or changes its default.
"""

from __future__ import annotations

import difflib
import importlib.util
import subprocess
import sys
import tomllib
from types import ModuleType

from tests.conftest import ROOT

EXAMPLE = ROOT / "contrib" / "spamwatch.toml"
REGENERATE = (
    "run `python contrib/example_config.py`, replace each '## TODO' line it leaves with a "
    "description of that option, and commit contrib/spamwatch.toml"
)


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "example_config", ROOT / "contrib/example_config.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def config_show(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "spamwatch", "config", "show", *args],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def uncommented(text: str) -> str:
    """The example with every commented-out option turned on."""
    lines = text.splitlines()
    return "\n".join(
        line[2:] if line.startswith("# ") and " = " in line else line for line in lines
    )


def test_the_example_is_what_the_generator_writes_from_config_show() -> None:
    gen = generator()
    current = EXAMPLE.read_text(encoding="utf-8")
    expected = gen.example(config_show("--config", "/dev/null"), gen.descriptions(current))
    diff = "".join(
        difflib.unified_diff(
            current.splitlines(keepends=True), expected.splitlines(keepends=True),
            "contrib/spamwatch.toml", "what config show says now",
        )
    )  # fmt: skip
    assert current == expected, f"contrib/spamwatch.toml is out of date: {REGENERATE}\n{diff}"


def test_every_option_is_described() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "## TODO" not in text, f"an option has no description: {REGENERATE}"


def test_every_option_turned_on_is_config_show_exactly() -> None:
    """Read as a config with all its lines uncommented, it is the defaults: no more, no less."""
    example = tomllib.loads(uncommented(EXAMPLE.read_text(encoding="utf-8")))
    assert example == tomllib.loads(config_show("--config", "/dev/null")), REGENERATE


def test_the_example_as_it_ships_is_a_valid_config_of_defaults() -> None:
    shown = config_show("--config", str(EXAMPLE))
    assert shown.partition("\n")[2] == config_show("--config", "/dev/null").partition("\n")[2]
