"""The journal source, against a stand-in ``journalctl`` executable first on PATH.

The stand-in prints recorded journal JSON entries (as ``journalctl -o json``
does), honours ``--after-cursor`` and ``--since @EPOCH``, records its argv, and
with ``-f`` keeps running (or exits when told to, like journalctl when
journald restarts).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from spamwatch.sources import journal as journal_mod
from spamwatch.sources.base import JournalPosition
from spamwatch.sources.journal import JournalSource, entry_line
from tests.followutil import VICTIM, FollowProcess, attack_lines, until

STAND_IN = """#!{python}
import json, os, sys, time
args = sys.argv[1:]
with open(os.environ["FAKE_JOURNAL_ARGS"], "a") as log:
    log.write(json.dumps(args) + "\\n")
entries = [json.loads(l) for l in open(os.environ["FAKE_JOURNAL_ENTRIES"])]
if "--after-cursor" in args:
    cursor = args[args.index("--after-cursor") + 1]
    at = [e["__CURSOR"] for e in entries].index(cursor)
    entries = entries[at + 1:]
if "--since" in args:
    since = float(args[args.index("--since") + 1].lstrip("@")) * 1e6
    entries = [e for e in entries if int(e["__REALTIME_TIMESTAMP"]) >= since]
for entry in entries:
    sys.stdout.write(json.dumps(entry) + "\\n")
sys.stdout.flush()
if "-f" in args and not os.environ.get("FAKE_JOURNAL_EXIT"):
    while True:
        time.sleep(1)
"""


def journal_entries(lines: list[str]) -> Iterator[dict[str, object]]:
    """Turn rendered syslog lines back into what journald would have stored."""
    for index, line in enumerate(lines):
        stamp, host, rest = line.split(" ", 2)
        tag, message = rest.split(": ", 1)
        ident, _, pid = tag.rstrip("]").partition("[")
        micros = int(datetime.fromisoformat(stamp).timestamp() * 1_000_000)
        yield {
            "__CURSOR": f"s=0123;i={index:x};b=feed;m={index:x};t={micros:x}",
            "__REALTIME_TIMESTAMP": str(micros),
            "_HOSTNAME": host,
            "SYSLOG_IDENTIFIER": ident,
            "SYSLOG_PID": pid,
            "_PID": pid,
            "_SYSTEMD_UNIT": "postfix@-.service",
            "SYSLOG_FACILITY": "2",
            "MESSAGE": message,
        }


class FakeJournal:
    """The stand-in on PATH plus the files it reads and writes."""

    def __init__(self, tmp_path: Path, entries: list[dict[str, object]]) -> None:
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        script = self.bin / "journalctl"
        script.write_text(STAND_IN.format(python=sys.executable))
        script.chmod(0o755)
        self.entries_file = tmp_path / "entries.jsonl"
        self.entries_file.write_text("".join(json.dumps(e) + "\n" for e in entries))
        self.args_file = tmp_path / "args.jsonl"
        self.args_file.write_text("")
        self.entries = entries

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "FAKE_JOURNAL_ENTRIES": str(self.entries_file),
            "FAKE_JOURNAL_ARGS": str(self.args_file),
            **extra,
        }

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.args_file.read_text().splitlines()]


SAMPLE = [
    "2026-11-28T03:00:00.000001+00:00 mx1 postfix/submission/smtpd[4242]: 3A1F2C4D5E: "
    "client=unknown[203.0.113.9], sasl_method=LOGIN, sasl_username=monika@example.com",
    "2026-11-28T03:00:01.500000+00:00 mx1 dovecot[77]: imap-login: Login: user=<monika>",
    "2026-11-28T03:00:02.000000+00:00 mx1 postfix/qmgr[812]: 3A1F2C4D5E: from=<x@example.com>, "
    "size=900, nrcpt=1 (queue active)",
]


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeJournal:
    fake = FakeJournal(tmp_path, list(journal_entries(SAMPLE)))
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    return fake


def test_entry_line_rebuilds_a_syslog_line() -> None:
    entry = next(journal_entries(SAMPLE))
    assert entry_line(entry) == SAMPLE[0].encode()


def test_entry_line_keeps_non_utf8_bytes_and_flattens_newlines() -> None:
    entry = {
        "__REALTIME_TIMESTAMP": "1795834800000000",
        "_HOSTNAME": "mx1",
        "SYSLOG_IDENTIFIER": "postfix/smtpd",
        "_PID": "9",
        "MESSAGE": [0x66, 0xFF, 0x0A, 0x1B, 0x5B, 0x32, 0x4A],  # f, invalid, LF, ESC[2J
    }
    assert (
        entry_line(entry) == b"2026-11-28T03:00:00.000000+00:00 mx1 postfix/smtpd[9]: f\xff \x1b[2J"
    )
    assert entry_line({**entry, "MESSAGE": None}) is None
    assert entry_line({"MESSAGE": "no time"}) is None


def drain(source: JournalSource, wake: threading.Event, want: int) -> list[bytes]:
    got: list[bytes] = []

    def more() -> bool:
        wake.wait(0.2)
        wake.clear()
        got.extend(source.read())
        return len(got) >= want

    until(more, what=f"{want} journal lines")
    return got


def said() -> tuple[list[str], object]:
    messages: list[str] = []
    return messages, lambda key, message: messages.append(message)


def test_follows_postfix_entries_and_keeps_the_cursor(fake: FakeJournal) -> None:
    wake = threading.Event()
    _, notify = said()
    source = JournalSource(wake, notify, from_start=True)  # type: ignore[arg-type]
    source.start()
    try:
        got = drain(source, wake, 2)
    finally:
        source.close()
    assert got == [SAMPLE[0].encode(), SAMPLE[2].encode()]  # dovecot is not Postfix
    assert source.position() == JournalPosition(
        fake.entries[2]["__CURSOR"],  # type: ignore[arg-type]
        int(fake.entries[2]["__REALTIME_TIMESTAMP"]),  # type: ignore[arg-type]
    )
    (call,) = fake.calls()
    assert call[:4] == ["-o", "json", "--no-pager", "--no-tail"]
    assert "-f" in call
    assert call[-3:] == ["_SYSTEMD_UNIT=postfix@-.service", "+", "_SYSTEMD_UNIT=postfix.service"]


def test_resumes_after_the_saved_cursor(fake: FakeJournal) -> None:
    wake = threading.Event()
    _, notify = said()
    cursor = str(fake.entries[0]["__CURSOR"])
    source = JournalSource(wake, notify, cursor=cursor)  # type: ignore[arg-type]
    source.start()
    try:
        got = drain(source, wake, 1)
    finally:
        source.close()
    assert got == [SAMPLE[2].encode()]
    assert fake.calls()[0][3:5] == ["--after-cursor", cursor]


def test_journalctl_exiting_is_survived(fake: FakeJournal, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_JOURNAL_EXIT", "1")
    monkeypatch.setattr(journal_mod, "RESTART_DELAY", 0.0)
    wake = threading.Event()
    messages, notify = said()
    source = JournalSource(wake, notify, from_start=True)  # type: ignore[arg-type]
    source.start()
    try:
        drain(source, wake, 2)
        until(lambda: list(source.read()) == [] and len(fake.calls()) >= 2, what="a restart")
    finally:
        source.close()
    assert any("journalctl exited (status 0)" in m for m in messages)
    assert fake.calls()[1][3:5] == ["--after-cursor", fake.entries[2]["__CURSOR"]]


def test_warmup_reads_back_to_the_cursor_without_following(fake: FakeJournal) -> None:
    wake = threading.Event()
    _, notify = said()
    second = fake.entries[1]
    source = JournalSource(
        wake,
        notify,  # type: ignore[arg-type]
        cursor=str(second["__CURSOR"]),
        realtime=int(second["__REALTIME_TIMESTAMP"]),  # type: ignore[arg-type]
    )
    source.start()
    assert list(source.warmup(timedelta(hours=1))) == [SAMPLE[0].encode()]
    since = int(second["__REALTIME_TIMESTAMP"]) // 1_000_000 - 3600  # type: ignore[call-overload]
    call = fake.calls()[0]
    assert "-f" not in call and call[3:5] == ["--since", f"@{since}"]


def test_missing_journalctl_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    source = JournalSource(threading.Event(), lambda k, m: None)
    with pytest.raises(Exception, match="journalctl not found on PATH"):
        source.start()


def saved_cursor(state: Path) -> str | None:
    """The journal cursor a follow state holds (None before the first save)."""
    try:
        return json.loads(state.read_text() or "{}").get("journal", {}).get("cursor")
    except FileNotFoundError:
        return None


def test_follow_journal_end_to_end(tmp_path: Path) -> None:
    """``follow --journal`` as a real process: finds the attack, saves the cursor, resumes."""
    fake = FakeJournal(tmp_path, list(journal_entries(attack_lines())))
    state = tmp_path / "follow.state"
    args = ["--journal", "--from-start", "--format", "json", "--state", str(state)]
    first = FollowProcess(args, env=fake.env())
    try:
        until(
            lambda: any(f["key"] == VICTIM for f in first.records()),
            what="a finding about the victim",
        )
        # The cursor of the *last* entry: any cursor would race a loaded machine (follow
        # stopped half-way through the journal, then a cursor or line count off by some).
        last = fake.entries[-1]["__CURSOR"]
        until(lambda: saved_cursor(state) == last, what="the last entry's cursor in the state")
        assert first.stop(signal.SIGTERM) == 0
    finally:
        first.kill()
    saved = json.loads(state.read_text())["journal"]
    assert saved["cursor"] == fake.entries[-1]["__CURSOR"]
    postfix = [e for e in fake.entries if str(e["SYSLOG_IDENTIFIER"]).startswith("postfix")]
    assert 0 < len(postfix) < len(fake.entries)  # the others are filtered out
    assert first.lines_read() == len(postfix)
    second = FollowProcess(args[:1] + args[3:], env=fake.env())
    try:
        second.wait_err("following")
        until(lambda: len(fake.calls()) >= 3, what="the live journalctl of the second run")
        assert second.stop(signal.SIGINT) == 0
    finally:
        second.kill()
    live = [c for c in fake.calls() if "-f" in c]
    assert live[-1][3:5] == ["--after-cursor", saved["cursor"]]
    assert second.lines_read() == 0  # nothing new: not one entry read twice
    assert not any(f["state"] == "opened" for f in second.records())


def test_timestamps_round_trip_through_the_parser() -> None:
    from spamwatch.parse import Parser

    event = Parser().parse(entry_line(next(journal_entries(SAMPLE))) or b"")
    assert event is not None
    assert event.time == datetime(2026, 11, 28, 3, 0, 0, 1, tzinfo=UTC)
    assert event.host == "mx1" and event.fields["sasl_username"] == "monika@example.com"
