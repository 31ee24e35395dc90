"""A finding built from hostile log text goes through every sink: nothing is interpreted.

The text carries rich markup, ANSI/OSC escapes, CR/LF with a ``Bcc:`` header,
shell command substitution and backticks, and NUL bytes. Each sink must pass
it on as data: JSON sinks round-trip it exactly (escaped), text sinks show
it with visible ``\\xNN`` escapes, the mail has exactly its own headers and
recipients, the command sees literal strings, Prometheus never sees it at all.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sinkutil import (
    FAST,
    HOSTILE_KEY,
    HOSTILE_SENDER,
    WebhookServer,
    build_one,
    free_port,
    hostile_incident,
    wait_until,
)

from spamwatch.model import Incident
from spamwatch.textsafe import clean

CONTROL = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]")  # any control byte but LF


def no_controls(data: bytes) -> None:
    found = CONTROL.findall(data)
    assert not found, f"control bytes {found!r} in {data[:200]!r}"


def same(received: dict[str, Any], original: Incident) -> None:
    """Round trip: the JSON carried the hostile text exactly, as data."""
    assert Incident.from_json(received) == original
    assert received["key"] == HOSTILE_KEY
    assert received["findings"][0]["evidence"]["sender"] == HOSTILE_SENDER


def test_console(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    sink = build_one("console", Path("/nonexistent"), [])
    sink.send(hostile_incident())
    out = capsys.readouterr().out
    # rich's own styling is the only escape sequence: strip it, then look again
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert plain.count("\n") == 1
    no_controls(plain.encode())
    assert "[bold]x[/]" in plain and "[bold red]FAKE[/]" in plain  # markup shown, not applied
    assert "\\x1b[31mred\\x00nul" in plain
    assert "$(touch PWNED)`id`" in plain
    assert "\x1b[31m" not in out and "\x1b]0;" not in out and "\x1b[2J" not in out


def test_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    sink = build_one(f"jsonl:{path}", tmp_path, [])
    finding = hostile_incident()
    sink.send(finding)
    sink.close()
    raw = path.read_bytes()
    assert raw.count(b"\n") == 1
    no_controls(raw)
    same(json.loads(raw), finding)


def test_syslog_unix_and_udp(tmp_path: Path) -> None:
    unix_path = tmp_path / "log.sock"
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as local,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as remote,
    ):
        local.bind(str(unix_path))
        remote.bind(("127.0.0.1", 0))
        local.settimeout(10)
        remote.settimeout(10)
        one = build_one("syslog", tmp_path, [], syslog={"socket": str(unix_path)})
        port = remote.getsockname()[1]
        two = build_one(f"syslog+udp://127.0.0.1:{port}", tmp_path, [])
        one.send(hostile_incident())
        two.send(hostile_incident())
        datagrams = [local.recv(65536), remote.recv(65536)]
        one.close()
        two.close()
    for datagram in datagrams:
        assert b"\n" not in datagram
        no_controls(datagram)
        assert clean(HOSTILE_KEY).encode() in datagram.replace(b'\\"', b'"')
    # RFC 5424 structured data: still exactly five quoted, escaped parameters
    assert re.search(rb'\[spamwatch@32473(?: \w+="(?:[^"\\\]]|\\.)*"){5}\] ', datagrams[1])


class Inbox:
    def __init__(self) -> None:
        self.mails: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def test_mail_has_no_injected_header_or_recipient(tmp_path: Path) -> None:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        options = {
            "smarthost": f"127.0.0.1:{controller.port}",
            "from": "alerts@example.com",
            **FAST,
        }
        sink = build_one("mailto:admin@example.com", tmp_path, [], mailto=options)
        sink.send(hostile_incident())
        sink.send(hostile_incident(key=HOSTILE_SENDER))  # CR/LF + Bcc straight into the subject
        wait_until(lambda: len(inbox.mails) == 2, what="two mails")
        sink.close()
    finally:
        controller.stop()
    for sender, rcpts, content in inbox.mails:
        assert rcpts == ["admin@example.com"]
        assert sender == "alerts@example.com"
        head = content.partition(b"\r\n\r\n")[0]
        names = [line.split(b":")[0] for line in head.split(b"\r\n") if line[:1] not in b" \t"]
        assert sorted(names) == sorted([b"From", b"To", b"Subject", b"Date", b"Message-ID",
                                        b"Auto-Submitted", b"X-Mailer", b"Content-Type",
                                        b"Content-Transfer-Encoding", b"MIME-Version"])  # fmt: skip
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert message["Bcc"] is None
        assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
        text = message.get_content()
        no_controls(text.replace("\r\n", "\n").encode())
        assert "Bcc: victim@example.com" in text  # shown as text in the body, escaped
    subject = email.message_from_bytes(inbox.mails[1][2], policy=email.policy.default)["Subject"]
    assert "evil@example.com\\x0d\\x0aBcc: victim@example.com" in subject


def test_webhook(tmp_path: Path) -> None:
    server = WebhookServer().start()
    try:
        sink = build_one("webhook+" + server.url + "/hook", tmp_path, [], webhook=FAST)
        finding = hostile_incident()
        sink.send(finding)
        wait_until(lambda: server.requests, what="the POST")
        sink.close()
    finally:
        server.stop()
    body = server.requests[0].body
    no_controls(body)
    data = json.loads(body)
    text = data.pop("text")
    same(data, finding)
    no_controls(text.encode())
    assert "[bold red]FAKE[/]" in text


def test_exec_sees_literal_strings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # where `touch PWNED` would land if anything ran it
    out = tmp_path / "out"
    command = tmp_path / "record.sh"
    command.write_text(
        f'#!/bin/sh\ncat > "{out}.json"\nprintf "%s" "$SPAMWATCH_KEY" > "{out}.key"\n'
        f'printf "%s" "$SPAMWATCH_SUMMARY" > "{out}.summary"\n'
    )
    command.chmod(0o755)
    sink = build_one(f"exec:{command}", tmp_path / "spool", [], exec=FAST)
    finding = hostile_incident()
    sink.send(finding)
    wait_until(lambda: Path(f"{out}.summary").exists(), what="the command's output")
    sink.close()
    same(json.loads(Path(f"{out}.json").read_text()), finding)
    key = Path(f"{out}.key").read_text()
    assert key == clean(HOSTILE_KEY)
    assert "$(touch PWNED)`id`;rm -rf /" in key
    no_controls(Path(f"{out}.summary").read_bytes())
    assert not (tmp_path / "PWNED").exists()


def test_prometheus_never_sees_log_text(tmp_path: Path) -> None:
    path = tmp_path / "m.prom"
    sink = build_one(f"prometheus:{path}", tmp_path, [])
    sink.send(hostile_incident())
    sink.close()
    raw = path.read_bytes()
    no_controls(raw)
    assert b"alice" not in raw and b"evil" not in raw and b"[bold" not in raw
