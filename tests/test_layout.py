"""The README's module table and the tree agree: every module listed, every listed module real.

A newcomer finds where a line becomes an Event, where a finding is decided and
where an alert leaves from the tree and that table; a module added, moved or
removed without updating the table fails here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("spamwatch", "tools/synthlog")


def table() -> dict[str, set[str]]:
    """``{folder: {module file names}}`` from README's modules table."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- BEGIN modules -->\n(.*?)<!-- END modules -->", readme, re.S)
    assert block is not None, "README.md lost its <!-- BEGIN modules --> table"
    rows: dict[str, set[str]] = {}
    for line in block.group(1).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        folder = re.fullmatch(r"`([\w/]+/)`", cells[0])
        if folder is None:
            continue
        assert folder.group(1) not in rows, f"{folder.group(1)} listed twice"
        rows[folder.group(1)] = set(re.findall(r"`(\w+\.py)`", cells[1]))
    return rows


def tree() -> dict[str, set[str]]:
    """``{folder: {module file names}}`` of the source tree (every folder holding a module)."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            folder = path.parent.relative_to(ROOT).as_posix() + "/"
            found.setdefault(folder, set()).add(path.name)
    return found


def test_every_module_is_in_the_readme_table_and_every_listed_one_exists() -> None:
    listed, real = table(), tree()
    assert sorted(listed) == sorted(real), "folders in README's modules table vs the tree"
    for folder, modules in real.items():
        assert listed[folder] == modules, (
            f"{folder}: missing from README {sorted(modules - listed[folder])}, "
            f"listed but absent {sorted(listed[folder] - modules)}"
        )


def test_the_stage_table_names_real_places() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Architecture\n", 1)[1].split("<!-- BEGIN modules -->", 1)[0]
    places = re.findall(r"\| `(spamwatch/[\w/.]+)` \|", section)
    assert len(places) >= 6
    for place in places:
        assert Path(ROOT / place).exists(), place


@pytest.mark.parametrize(
    "first", ["spamwatch.detectors", "spamwatch.profiles.learner", "spamwatch.incidents.engine"]
)
def test_no_import_cycle_hides_the_detectors(first: str) -> None:
    """Whichever module a fresh process imports first, every built-in detector loads.

    An import cycle made ``build_detectors`` find none (each entry point failed
    with a partially initialised module, reported as a broken plugin): a library
    user got a pipeline that detects nothing.
    """
    code = (
        f"import {first}\n"
        "from spamwatch.plugins import DETECTORS, discover\n"
        "import json\n"
        "print(json.dumps(sorted(n for n, p in discover(DETECTORS).items() if p.error is None)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/"
    )
    assert {"auth", "burst", "queue", "sender"} <= set(json.loads(result.stdout))
