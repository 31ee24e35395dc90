"""A real build of the sdist and the wheel, as a packager or pip runs it.

Built once per session from a copy of the checkout's files (tracked and new,
not ignored), with build isolation, so the setuptools that pyproject.toml asks
for is the one that judges it: no warnings, entry point names it accepts, the
man page and the licence in the wheel, and an sdist whose tests run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

from spamwatch.plugins import sink_scheme
from tests.conftest import ROOT

NOT_IN_SDIST = {".gitignore"}
"""Tracked files that are the repository's, not the package's."""


def checkout_files() -> list[str]:
    """The files of this checkout a commit would hold (tracked, or new and not ignored)."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (the sdist is built from one)")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    return sorted(name for name in listed if (ROOT / name).is_file())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """sdist and wheel built by ``python -m build`` from a copy of the checkout."""
    top = tmp_path_factory.mktemp("packaging")
    source = top / "source"
    files = checkout_files()
    for name in files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(top / "dist"), str(source)],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {
        "files": files,
        "output": result.stdout + result.stderr,
        "sdist": next((top / "dist").glob("*.tar.gz")),
        "wheel": next((top / "dist").glob("*.whl")),
        "top": top,
    }


def test_the_build_warns_of_nothing(built: dict) -> None:
    """No deprecation (``project.license`` as a table), no entry point name the build dislikes."""
    warnings = [
        line
        for line in str(built["output"]).splitlines()
        if re.search(r"warn|deprecat|recommended pattern", line, re.IGNORECASE)
    ]
    assert warnings == []


def test_the_wheel_carries_man_page_completion_licence_and_sink_schemes(built: dict) -> None:
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = wheel.namelist()
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        entry_points = wheel.read(next(n for n in names if n.endswith("entry_points.txt")))
    shared = ["man/man1/spamwatch.1", "bash-completion/completions/spamwatch"]
    shared += ["zsh/site-functions/_spamwatch", "fish/vendor_completions.d/spamwatch.fish"]
    for data in shared:
        assert any(n.endswith(f".data/data/share/{data}") for n in names), data
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert b"License-Expression: MIT" in metadata
    sinks = entry_points.decode().partition("[spamwatch.sinks]")[2].partition("[")[0]
    names_declared = [line.split("=")[0].strip() for line in sinks.splitlines() if "=" in line]
    assert all(re.fullmatch(r"[\w.-]+", name) for name in names_declared), names_declared
    schemes = {sink_scheme(name) for name in names_declared}
    assert {"syslog+udp", "webhook+http", "webhook+https", "mailto", "jsonl"} <= schemes


def test_the_wheel_holds_only_the_runtime_package(built: dict) -> None:
    """spamwatch/ and its metadata and data files; no tools/ (synthlog), tests or samples."""
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = wheel.namelist()
    code = {n for n in names if not re.match(r"spamwatch-[^/]+\.(dist-info|data)/", n)}
    package = {n for n in built["files"] if n.startswith("spamwatch/") and n.endswith(".py")}
    assert code == package, sorted(code ^ package)
    assert not [n for n in names if "synthlog" in n or n.startswith(("tests/", "tools/"))]


def test_the_sdist_holds_every_file_of_the_checkout(built: dict) -> None:
    with tarfile.open(built["sdist"]) as sdist:
        members = {m.name.partition("/")[2] for m in sdist.getmembers() if m.isfile()}
    missing = set(built["files"]) - members - NOT_IN_SDIST
    assert missing == set(), "add them to MANIFEST.in (graft DIR, and prune DIR/__pycache__)"


def test_the_sdist_s_tests_run_from_it(built: dict) -> None:
    """Unpacked, its suite collects whole and the sample-based tests pass on its own files."""
    with tarfile.open(built["sdist"]) as sdist:
        # filter= exists from Python 3.11.4 (Debian 12's python3 is 3.11.2); our own sdist
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        sdist.extractall(built["top"] / "unpacked", **safe)  # type: ignore[arg-type]
    tree = next((built["top"] / "unpacked").iterdir())
    env = {**os.environ, "PYTHONPATH": str(tree)}
    run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not e2e"]
    collected = subprocess.run(
        [*run, "--collect-only"], cwd=tree, env=env, capture_output=True, text=True, check=False
    )
    assert collected.returncode == 0, collected.stdout[-2000:]
    ran = subprocess.run(
        [*run, "tests/test_golden.py", "tests/test_readme.py", "tests/test_service.py"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-3000:]
    assert str(tree) in subprocess.run(
        [sys.executable, "-c", "import spamwatch; print(spamwatch.__file__)"],
        cwd=tree, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
