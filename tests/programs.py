"""The system programs some tests drive (systemd-analyze, tmux, logrotate, shells).

Locally a missing program skips its tests with the Debian package to install;
in CI (``CI`` set, or ``SPAMWATCH_CI_PLAIN``, which .ci/run sets in the plain
environment it runs the suite in) it fails them instead, because .ci/run
installs every one of these and a test skipped there would be a check that
silently stopped running. The sbin directories are searched too: a plain
PATH=/usr/bin:/bin has no logrotate.
"""

from __future__ import annotations

import os
import shutil

PACKAGES = {
    "systemd-analyze": "systemd",
    "systemd-sysusers": "systemd",
    "systemd-tmpfiles": "systemd",
    "logrotate": "logrotate",
    "tmux": "tmux",
    "zsh": "zsh",
    "fish": "fish",
}
"""Program -> the Debian package that brings it (the list .ci/run installs)."""


def find(program: str) -> str | None:
    """``program`` on PATH or in /usr/sbin, /sbin."""
    return shutil.which(program, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")


def need(program: str) -> str:
    """The path of ``program``: skip the test without it, or fail it in CI."""
    import pytest  # not at the top: .ci/run runs this module before pytest is installed

    path = find(program)
    if path is None:
        message = f"{program} is not installed (apt-get install {PACKAGES[program]})"
        if os.environ.get("CI") or os.environ.get("SPAMWATCH_CI_PLAIN"):
            pytest.fail(f"{message}; .ci/run should have installed it")
        pytest.skip(message)
    return path


def missing_packages() -> list[str]:
    """The Debian packages to install for the programs that are not on PATH."""
    return sorted({package for program, package in PACKAGES.items() if not find(program)})


if __name__ == "__main__":  # .ci/run: python3 -m tests.programs -> packages to apt-get install
    print(" ".join(missing_packages()))
