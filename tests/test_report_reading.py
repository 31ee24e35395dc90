"""Reading a report: typed times on a log with its own offset, a range that misses the log,
files that are not a mail log. Run as a user runs it (a process, on the bundled sample).

The machine's zone is set to New York, so a typed time read in local time
(the old behaviour) lands hours away from the one the log means.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import SAMPLES

SAMPLE = SAMPLES / "compromised-account.log"  # RFC 3339 lines at +01:00; incident 09:05-09:09


def report(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SPAMWATCH_CONFIG"} | {
        "TZ": "America/New_York"
    }
    return subprocess.run(
        [sys.executable, "-m", "spamwatch", "report", "--config", "/dev/null", "--no-db", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def test_a_time_without_zone_means_the_log_s_own_offset_and_the_heading_says_so() -> None:
    result = report("--since", "2026-11-26 09:00", "--format", "text", str(SAMPLE))
    heading = result.stdout.splitlines()[0]
    assert heading == (
        "spamwatch report 2026-11-26 09:00:00+01:00 .. end of log"
        " (times without a zone read as +01:00, the log's own offset)"
    )
    assert " critical" in result.stdout.splitlines()[1] and result.stderr == ""
    assert result.returncode == 1  # the incident is in the range


def test_an_explicit_zone_wins_and_needs_no_note() -> None:
    zoned = report("--since", "2026-11-26T09:00:00+01:00", "--format", "text", str(SAMPLE))
    assert (
        zoned.stdout.splitlines()[0] == "spamwatch report 2026-11-26 09:00:00+01:00 .. end of log"
    )
    utc = report(
        "--timezone", "UTC", "--since", "2026-11-26 08:00", "--format", "text", str(SAMPLE)
    )
    assert utc.stdout.splitlines()[0] == "spamwatch report 2026-11-26 08:00:00+00:00 .. end of log"
    relative = report("--since", "1h", "--now", "end", "--format", "text", str(SAMPLE))
    assert "without a zone" not in relative.stdout


def test_a_range_after_the_log_reports_nothing_from_the_warm_up() -> None:
    """The warm-up (09:00-10:00) holds the whole incident; the range (10:00-) holds no line."""
    result = report("--since", "2026-11-26 10:00", "--format", "text", str(SAMPLE))
    assert result.returncode == 0
    assert result.stdout.splitlines()[1] == "No incidents."
    assert result.stderr == (
        f"spamwatch: warning: {SAMPLE} ends at 2026-11-26T09:29:18+01:00, before the range "
        "starts (2026-11-26T10:00:00+01:00): nothing to report\n"
    )
    json_lines = report("--since", "2026-11-26 10:00", "--format", "json", str(SAMPLE))
    assert (json_lines.returncode, json_lines.stdout) == (0, "")


def not_a_mail_log(name: str, why: str) -> str:
    return f"spamwatch: warning: {name}: nothing in it looked like a mail log ({why})\n"


def test_an_empty_file_says_nothing_in_it_looked_like_a_mail_log(tmp_path: Path) -> None:
    empty = tmp_path / "mail.log"
    empty.touch()
    for args in ([], ["--quiet"], ["--since", "1h"]):
        result = report(*args, str(empty))
        assert (result.returncode, result.stderr) == (0, not_a_mail_log(str(empty), "empty"))
    piped = report("-", stdin=b"")
    assert piped.stderr == not_a_mail_log("standard input", "empty")


def test_a_binary_file_says_so_plainly(tmp_path: Path) -> None:
    binary = tmp_path / "core"
    binary.write_bytes(bytes(range(256)) * 4)
    result = report(str(binary))
    assert (result.returncode, result.stderr) == (
        0,
        not_a_mail_log(str(binary), "not one syslog line"),
    )


def test_syslog_lines_none_from_postfix(tmp_path: Path) -> None:
    auth = tmp_path / "auth.log"
    auth.write_text(
        "2026-11-28T01:00:00+00:00 mx sshd[1]: Accepted publickey for root\n"
        "2026-11-28T01:00:01+00:00 mx sshd[1]: pam_unix(sshd:session): session opened\n"
    )
    result = report(str(auth))
    assert result.stderr == not_a_mail_log(
        str(auth), "2 lines, none from Postfix; another syslog name needs --syslog-name"
    )
