"""The reading progress bar (screen.ReadingProgress) as a person sees it, and where it never goes.

A log big enough to take a few seconds is reported in tmux with stdout sent to
a file: the pane shows the bar (file n/N, bytes, lines/s, ETA) while it reads
and nothing of it afterwards, and the file holds the report alone. Without a
terminal on stderr there is no bar at all.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.followutil import until
from tests.terminal import Terminal, plain_env

BAR = "━"


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 150,000 lines of a normal server's traffic (a few seconds to report)."""
    path = tmp_path_factory.mktemp("progress") / "mail.log"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "genlog.py"), "--lines", "150000", "--seed", "5",
         "--out", str(path)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def bigger_log(big_log: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same traffic four times over: ``events`` and now ``report`` read 150,000 lines
    in about a second, about when the bar first appears, so they could end before any bar."""
    path = tmp_path_factory.mktemp("progress-bigger") / "mail.log"
    text = big_log.read_bytes()
    path.write_bytes(text * 4)
    return path


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(tmp_path, 150, 20)
    try:
        yield term
    finally:
        term.close()


def spamwatch(*args: str) -> str:
    return shlex.join([sys.executable, "-m", "spamwatch", *args])


def watch_until_done(terminal: Terminal) -> tuple[list[str], list[str]]:
    """Screens seen while the command ran (one with the bar, if any), and the last one."""
    seen: list[str] = []

    def finished() -> bool:
        screen = terminal.screen()
        seen.append("\n".join(screen))
        return any(line == "DONE" for line in screen)

    until(finished, timeout=240, what="the command to end")
    return seen, terminal.screen()


@pytest.mark.parametrize("command", ["report", "events"])
def test_a_bar_on_the_terminal_while_reading_none_after_none_in_the_output(
    tmp_path: Path, terminal: Terminal, bigger_log: Path, command: str
) -> None:
    out = tmp_path / "out.txt"
    args = ["report", "--no-db", "--fail-on", "never"] if command == "report" else ["events"]
    script = f"{spamwatch(*args, '--config', '/dev/null', str(bigger_log))} > {out}; echo DONE"
    terminal.start(["bash", "-c", script], plain_env())
    seen, last = watch_until_done(terminal)
    bars = [screen for screen in seen if BAR in screen]
    assert bars, "no progress bar was seen"
    bar = next(line for line in bars[-1].splitlines() if BAR in line)
    assert bar.startswith("file 1/1: mail.log ")
    assert " MB" in bar and " lines/s" in bar and ":" in bar.split("lines/s")[1]  # ETA h:mm:ss
    assert not any(BAR in line or "lines/s" in line for line in last)  # gone once done
    output = out.read_text(encoding="utf-8", errors="replace")
    assert output and BAR not in output and "lines/s" not in output and "\x1b" not in output


def test_no_bar_when_the_output_streams_to_the_same_terminal(
    terminal: Terminal, big_log: Path
) -> None:
    """``events`` on a terminal writes as it reads: a bar there would be torn by the lines."""
    command = spamwatch("events", "--config", "/dev/null", str(big_log))
    terminal.start(["bash", "-c", f"{command}; echo DONE"], plain_env())
    seen, _last = watch_until_done(terminal)
    assert not any(BAR in screen for screen in seen)


def test_no_bar_without_a_terminal(big_log: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "spamwatch", "report", "--config", "/dev/null", "--no-db",
         "--fail-on", "never", str(big_log)],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert result.stderr == ""
    assert BAR not in result.stdout and "lines/s" not in result.stdout


def test_the_first_frame_already_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every frame drawn says which file; the very first was a bare bar (" ━━━ 0.0/23.6 MB"),
    the last one seen when the reading ends right after the bar appears."""
    import io
    import threading

    from spamwatch import screen

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    log = tmp_path / "mail.log"
    log.write_text("x\n" * 1000)
    stderr = Tty()
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setattr(screen, "PROGRESS_DELAY", 0.0)
    monkeypatch.setenv("TERM", "xterm")
    drawn = threading.Event()
    real_update = screen.ReadingProgress._update

    def update(self: screen.ReadingProgress, progress: object, task: object) -> None:
        real_update(self, progress, task)
        drawn.set()

    monkeypatch.setattr(screen.ReadingProgress, "_update", update)
    with screen.ReadingProgress([str(log)], lambda: 0):
        assert drawn.wait(10)
    frames = [f for f in stderr.getvalue().replace("\r", "\n").split("\n") if BAR in f]
    assert frames and all("file 1/1: mail.log" in frame for frame in frames), frames
