"""The live view as a person sees it: ``follow`` in a real terminal (tmux), read off the screen.

tmux runs ``spamwatch follow`` on a file at several sizes; the compromised-account
sample is appended while the live view is up; ``capture-pane`` reads the screen
and its scrollback (wrapped lines joined), and the test asserts on what is
visible: every alert line whole and once, above one live view, and no table
border glued to anything or left behind.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SAMPLES
from tests.followutil import until
from tests.terminal import Terminal, plain_env

SAMPLE = SAMPLES / "compromised-account.log"
SIZES = [(200, 50), (200, 120), (160, 60)]
BOX = re.compile(r"[┏┓┗┛┃━┡┩│─└┘┳┻╇┬┴┼]")
TABLE_LINE = re.compile(r"^\s*[┏┃┡│└].*[┓┃┩│┘]$")
"""A whole table line: starts and ends with a border, nothing glued to either end."""


@pytest.fixture
def terminal(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Terminal]:
    term = Terminal(tmp_path, *request.param)
    try:
        yield term
    finally:
        term.close()


def alert_lines(tmp_path: Path) -> list[str]:
    """The console alert lines the sample gives, from ``follow`` reading it on a pipe."""
    result = subprocess.run(
        [sys.executable, "-m", "spamwatch", "follow", "--config", "/dev/null",
         "--format", "plain", "--alert", "console", "--state", str(tmp_path / "plain.state"), "-"],
        stdin=SAMPLE.open("rb"), capture_output=True, text=True, timeout=120, check=True,
        env={**plain_env(), "NO_COLOR": "1"},
    )  # fmt: skip
    return result.stdout.splitlines()


def append_in_bursts(log: Path, lines: list[bytes], bursts: int = 12) -> None:
    """Write the sample the way syslog does: in bursts, while spamwatch reads."""
    step = len(lines) // bursts + 1
    with log.open("ab") as handle:
        for start in range(0, len(lines), step):
            handle.writelines(lines[start : start + step])
            handle.flush()
            time.sleep(0.1)


@pytest.mark.parametrize("terminal", SIZES, indirect=True, ids=[f"{w}x{h}" for w, h in SIZES])
def test_alerts_appear_whole_once_above_one_live_view(tmp_path: Path, terminal: Terminal) -> None:
    expected = alert_lines(tmp_path)
    assert sum("CRITICAL" in line for line in expected) >= 3  # opened, escalated, updated...
    log = tmp_path / "mail.log"
    log.touch()
    command = [sys.executable, "-m", "spamwatch", "follow", "--config", "/dev/null",
               "--state", str(tmp_path / "live.state"), str(log)]  # fmt: skip
    terminal.start(command, plain_env())
    until(lambda: any(line.startswith("spamwatch follow ") for line in terminal.screen()),
          what="the live view")  # fmt: skip
    sample = SAMPLE.read_bytes().splitlines(keepends=True)
    append_in_bursts(log, sample)
    total = f"{len(sample):,} lines"
    until(lambda: any(total in line for line in terminal.screen()), what=f"'{total}' in the view")
    last = expected[-1]
    until(lambda: last in terminal.screen(), timeout=30, what="the last alert line")
    time.sleep(1.5)  # one more redraw of the view, which must not disturb what is above it
    screen = terminal.screen()
    shown = "\n".join(screen)

    for line in expected:  # every alert whole, on a line of its own, once
        assert screen.count(line) == 1, f"{screen.count(line)} times: {line}\n{shown}"
    for line in screen:  # no border fragment: a line with box drawing is a whole table line
        if BOX.search(line):
            assert TABLE_LINE.match(line), f"border fragment: {line!r}\n{shown}"
    heads = [i for i, line in enumerate(screen) if line.startswith("spamwatch follow ")]
    assert len(heads) == 1, f"{len(heads)} copies of the live view\n{shown}"
    assert sum(line.startswith("┃ severity") for line in screen) == 1, shown
    assert heads[0] > screen.index(last), "the live view is below the alerts"
