"""Detectors do no I/O and never read the clock: what they need is fed to them.

Log time comes with each event, the real queue as samples from a source
(spamwatch.sources.queue -> ``Detector.on_sample``). A detector that ran a
command or read the wall clock would make ``report`` over a file and ``follow``
live disagree; this reads every built-in detector module and fails on an import
or a call that could do either.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

DETECTORS = sorted((ROOT / "spamwatch" / "detectors").glob("*.py"))
FORBIDDEN_MODULES = {
    "os", "subprocess", "socket", "shutil", "time", "urllib", "http", "smtplib", "select",
    "selectors", "threading", "asyncio", "pathlib", "io", "spamwatch.sources",
}  # fmt: skip
CLOCK_CALLS = {"now", "today", "utcnow", "time", "monotonic", "perf_counter"}


def imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", DETECTORS, ids=[p.name for p in DETECTORS])
def test_a_detector_module_imports_nothing_that_does_io(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = {
        name
        for name in imported(tree)
        if any(name == m or name.startswith(m + ".") for m in FORBIDDEN_MODULES)
    }
    assert not bad, f"{path.name} imports {sorted(bad)}"
    assert not any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open"
        for node in ast.walk(tree)
    ), f"{path.name} opens a file"


@pytest.mark.parametrize("path", DETECTORS, ids=[p.name for p in DETECTORS])
def test_a_detector_module_never_reads_the_clock(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    ]
    assert not set(calls) & CLOCK_CALLS, f"{path.name} calls {sorted(set(calls) & CLOCK_CALLS)}"
