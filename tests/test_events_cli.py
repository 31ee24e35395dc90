"""``spamwatch events`` through click's CliRunner, on real files in tmp_path."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from spamwatch.cli import cli
from spamwatch.cli import events as events_cmd

# One SASL submission relayed out (the zentyal corpus case, as logged), with
# the lines around it that every mail log has.
LOG = b"".join(
    line + b"\n"
    for line in (
        b"Oct  1 11:47:51 u86 postfix/smtpd[10242]: connect from unknown[192.168.9.1]",
        b"Oct  1 11:47:51 u86 postfix/smtpd[10242]: DBED828417: client=unknown[192.168.9.1], "
        b"sasl_method=PLAIN, sasl_username=macaco@monos.org",
        b"Oct  1 11:47:51 u86 postfix/cleanup[10247]: DBED828417: "
        b"message-id=<465387.531879486-sendEmail@huginn>",
        b"Oct  1 11:47:51 u86 postfix/qmgr[9572]: DBED828417: from=<macaco@monos.org>, "
        b"size=890, nrcpt=1 (queue active)",
        b"Oct  1 11:47:52 u86 postfix/smtpd[10242]: disconnect from unknown[192.168.9.1]",
        b"Oct  1 11:47:52 u86 dovecot: imap-login: Login: user=<macaco@monos.org>, method=PLAIN",
        b"Oct  1 11:47:53 u86 postfix/smtp[10248]: DBED828417: to=<jamor@dplanet.com>, "
        b"relay=mail.dplanet.com[67.23.8.134]:25, delay=1.6, delays=0.17/0.04/0.88/0.48, "
        b"dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as C1EBF731439)",
        b"Oct  1 11:47:53 u86 postfix/qmgr[9572]: DBED828417: removed",
        b"Oct  1 11:48:10 u86 postfix/smtpd[10242]: EEEE828417: client=unknown[192.168.9.2]",
        b"\xff\xfe\x00 binary garbage",
    )
)
OPTS = ["--timezone", "UTC", "--year", "2025"]
HEADER_KEYS = ["time", "host", "program", "daemon", "pid", "queue_id", "kind"]


def invoke(*args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, ["events", *OPTS, *args], input=input)


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "mail.log"
    path.write_bytes(LOG)
    return path


def test_events_prints_one_json_object_per_event(log: Path) -> None:
    result = invoke(str(log))
    assert result.exit_code == 0, result.stderr
    rows = jsonl(result.stdout)
    assert [r["kind"] for r in rows] == [
        "connect",
        "client",
        "message_id",
        "queued",
        "disconnect",
        "delivery",
        "removed",
        "client",
    ]
    assert all(list(r)[:7] == HEADER_KEYS for r in rows)
    client = rows[1]
    assert client["time"] == "2025-10-01T11:47:51+00:00"
    assert (client["host"], client["program"], client["daemon"], client["pid"]) == (
        "u86",
        "postfix/smtpd",
        "smtpd",
        10242,
    )
    assert (client["queue_id"], client["sasl_username"], client["client_ip"]) == (
        "DBED828417",
        "macaco@monos.org",
        "192.168.9.1",
    )
    assert rows[5]["status"] == "sent" and rows[5]["queued_as"] == "C1EBF731439"
    assert result.stderr.strip() == (
        "spamwatch events: 10 lines read, 8 events, 0 unrecognised Postfix lines, "
        "1 non-Postfix lines, 1 malformed; 2 messages (1 done, 1 still queued at end)"
    )


def test_gzip_and_stdin_read_the_same_as_plain(log: Path, tmp_path: Path) -> None:
    packed = tmp_path / "mail.log.1.gz"
    packed.write_bytes(gzip.compress(LOG))
    plain, gz, stdin = invoke(str(log)), invoke(str(packed)), invoke("-", input=LOG)
    assert plain.exit_code == gz.exit_code == stdin.exit_code == 0
    assert plain.stdout == gz.stdout == stdin.stdout
    assert plain.stderr == gz.stderr == stdin.stderr


def test_several_files_are_one_stream(log: Path, tmp_path: Path) -> None:
    # The message starts in the rotated file and ends in the current one.
    head, tail = LOG.split(b"Oct  1 11:47:53 u86 postfix/smtp")
    first, second = tmp_path / "mail.log.1", tmp_path / "mail.log"
    first.write_bytes(head)
    second.write_bytes(b"Oct  1 11:47:53 u86 postfix/smtp" + tail)
    result = invoke("--messages", str(first), str(second))
    assert result.exit_code == 0, result.stderr
    (msg,) = jsonl(result.stdout)
    assert (msg["queue_id"], msg["state"], msg["sasl_username"]) == (
        "DBED828417",
        "done",
        "macaco@monos.org",
    )


def test_messages_prints_each_finished_message(log: Path) -> None:
    result = invoke("--messages", str(log))
    assert result.exit_code == 0, result.stderr
    (msg,) = jsonl(result.stdout)
    assert msg == {
        "host": "u86",
        "queue_id": "DBED828417",
        "state": "done",
        "first_seen": "2025-10-01T11:47:51+00:00",
        "last_seen": "2025-10-01T11:47:53+00:00",
        "origin": "smtpd",
        "client_name": "unknown",
        "client_ip": "192.168.9.1",
        "orig_client_ip": None,
        "sasl_method": "PLAIN",
        "sasl_username": "macaco@monos.org",
        "sender": "macaco@monos.org",
        "size": 890,
        "nrcpt": 1,
        "message_id": "465387.531879486-sendEmail@huginn",
        "recipients": [
            {
                "address": "jamor@dplanet.com",
                "status": "sent",
                "time": "2025-10-01T11:47:53+00:00",
                "attempts": 1,
                "orig_to": None,
                "relay": "mail.dplanet.com[67.23.8.134]:25",
                "dsn": "2.0.0",
                "delay": 1.6,
                "reason": "250 2.0.0 Ok: queued as C1EBF731439",
            }
        ],
        "related": [],
        "parent": None,
    }
    assert "2 messages (1 done, 1 still queued at end), 1 printed" in result.stderr


def test_include_open_adds_the_still_queued_messages_at_the_end(log: Path) -> None:
    result = invoke("--messages", "--include-open", str(log))
    assert result.exit_code == 0, result.stderr
    rows = jsonl(result.stdout)
    assert [(r["queue_id"], r["state"]) for r in rows] == [
        ("DBED828417", "done"),
        ("EEEE828417", "queued"),
    ]
    assert rows[1]["client_ip"] == "192.168.9.2" and rows[1]["recipients"] == []
    assert result.stderr.rstrip().endswith(", 2 printed")


def test_explain_says_how_each_line_was_read(log: Path) -> None:
    result = invoke("--explain", str(log))
    assert result.exit_code == 0, result.stderr
    blocks = result.stdout.split("\n\n")
    assert blocks[-1] == "" and len(blocks) == 11  # ten blocks, each ending in a blank line
    assert blocks[1].startswith("line 2: Oct  1 11:47:51 u86 postfix/smtpd[10242]: DBED828417:")
    assert "\n  event client: " in blocks[1]
    assert "sasl_username=macaco@monos.org" in blocks[1] and "queue_id=DBED828417" in blocks[1]
    assert "\n  non_postfix: program 'dovecot' is not Postfix" in blocks[5]
    assert blocks[9].startswith("line 10: \\xff\\xfe\\x00 binary garbage\n  malformed: ")
    assert "10 lines read, 8 events," in result.stderr and "1 malformed" in result.stderr


def test_hostile_text_never_reaches_the_terminal_raw(tmp_path: Path) -> None:
    path = tmp_path / "evil.log"
    path.write_bytes(
        b"Oct  1 11:47:51 u86 postfix/smtpd[1]: warning: \x1b]0;owned\x07 \xc2\x9b31m\xe2\x80\xae"
        b" hello\n"
    )
    for mode in ([], ["--explain"]):
        result = invoke(*mode, str(path))
        assert result.exit_code == 0, result.stderr
        out = result.stdout
        assert not any(ch in out for ch in "\x1b\x07\x9b\u202e"), out
        assert "owned" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--messages", "--explain"], "--messages and --explain cannot be combined"),
        (["--include-open"], "--include-open needs --messages"),
    ],
)
def test_conflicting_options_are_usage_errors(log: Path, args: list[str], message: str) -> None:
    result = invoke(*args, str(log))
    assert result.exit_code == 2
    assert result.stderr == f"spamwatch: error: {message}\n" and result.stdout == ""


def _input_error(result: Result, text: str) -> None:
    assert result.exit_code == 4, (result.stdout, result.stderr)
    assert result.stderr.startswith("spamwatch: error: ") and text in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_missing_file_fails_before_any_output(log: Path, tmp_path: Path) -> None:
    result = invoke(str(log), str(tmp_path / "nope.log"))
    _input_error(result, "nope.log: no such file")
    assert result.stdout == ""


def test_directory_is_an_input_error(tmp_path: Path) -> None:
    _input_error(invoke(str(tmp_path)), "is a directory")


@pytest.mark.parametrize(
    "data", [b"\x1f\x8b\x08\x00 not really gzip at all", gzip.compress(LOG)[:-30]]
)
def test_corrupt_or_truncated_gzip_is_an_input_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad.log.gz"
    path.write_bytes(data)
    _input_error(invoke(str(path)), "bad.log.gz: corrupt or truncated gzip file")


def test_default_file_is_the_system_mail_log(
    log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_cmd, "DEFAULT_LOG", str(log))
    assert jsonl(invoke().stdout)[0]["kind"] == "connect"
    monkeypatch.setattr(events_cmd, "DEFAULT_LOG", str(tmp_path / "absent.log"))
    _input_error(invoke(), "absent.log: no such file")


COMMAND = [sys.executable, "-m", "spamwatch", "events"]


def test_unreadable_file_is_permission_denied(log: Path) -> None:
    log.chmod(0)
    if os.geteuid() != 0:
        _input_error(invoke(str(log)), "permission denied")
        return
    # Root reads any file: run the real command as root without the capabilities
    # that bypass file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH).
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("tests run as root and setpriv (util-linux) is absent: root reads any file")
    proc = subprocess.run(
        [setpriv, "--bounding-set=-dac_override,-dac_read_search", *COMMAND, str(log)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr == f"spamwatch: error: {log}: permission denied\n"
    assert proc.stdout == ""


def test_correlate_config_table_bounds_open_messages(tmp_path: Path) -> None:
    # The second message starts before the first is removed; with room for one
    # open message the first is given up, then the second (to make room for the
    # first one's delivery line, which opens a fresh record that ends done).
    lines = LOG.splitlines(keepends=True)
    interleaved = b"".join([*lines[:4], lines[8], *lines[4:8]])
    log = tmp_path / "mail.log"
    log.write_bytes(interleaved)
    config = tmp_path / "spamwatch.toml"
    config.write_text('[correlate]\nmax_open = 1\nmax_age = "6d"\n')
    result = invoke("--config", str(config), "--messages", "--include-open", str(log))
    assert result.exit_code == 0, result.stderr
    rows = jsonl(result.stdout)
    assert [(r["queue_id"], r["state"]) for r in rows] == [
        ("DBED828417", "incomplete"),
        ("EEEE828417", "incomplete"),
        ("DBED828417", "done"),
    ]
    assert rows[0]["sasl_username"] == "macaco@monos.org" and rows[2]["sasl_username"] is None
    assert "3 messages (1 done, 2 incomplete)," in result.stderr
    config.write_text("[correlate]\nmax_opne = 1\n")
    bad = invoke("--config", str(config), "--messages", str(log))
    assert bad.exit_code == 3 and "max_opne" in bad.stderr and bad.stdout == ""
