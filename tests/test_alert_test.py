"""``spamwatch alert test``: one labelled test record per sink, against real loopback servers."""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from followutil import ROOT
from sinkutil import WebhookServer, free_port, make_certificate, server_context


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every mail, or refuses every recipient."""

    refuse: str = ""
    mails: list[tuple[list[str], email.message.EmailMessage]] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:  # fmt: skip
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.mails.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def alert_test(tmp_path: Path, *uris: str, config: str = "") -> tuple[int, str, str]:
    path = tmp_path / "spamwatch.toml"
    path.write_text(config)
    done = subprocess.run(
        [sys.executable, "-m", "spamwatch", "alert", "test", "--config", str(path), *uris],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def test_mailto_root_is_delivered_as_a_labelled_test(
    smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, port = smtp
    status, out, err = alert_test(
        tmp_path, "mailto:root", config=f'[sinks.mailto]\nsmarthost = "127.0.0.1:{port}"\n'
    )
    assert (status, out, err) == (0, "mailto:root: delivered\n", "")
    ((rcpts, message),) = inbox.mails
    assert rcpts == ["root"]  # local recipients without a domain are accepted, as cron's MAILTO
    assert "TEST-ALERT" in message["Subject"]
    assert "TEST ALERT from 'spamwatch alert test'" in message.get_content()


def test_each_sink_says_delivered_or_why_not(smtp: tuple[Inbox, int], tmp_path: Path) -> None:
    inbox, port = smtp
    inbox.refuse = "550 5.1.1 <root>: Recipient address rejected: User unknown"
    webhook = WebhookServer().start()
    closed = free_port()
    try:
        status, out, _ = alert_test(
            tmp_path,
            f"webhook+{webhook.url}/hook",
            f"webhook+http://127.0.0.1:{closed}/hook",
            "mailto:root",
            config=f'[sinks.mailto]\nsmarthost = "127.0.0.1:{port}"\n',
        )
    finally:
        webhook.stop()
    assert status == 6
    assert out.splitlines() == [
        f"webhook+{webhook.url}/...: delivered",
        f"webhook+http://127.0.0.1:{closed}/...: NOT delivered: connection refused",
        "mailto:root: NOT delivered: SMTP 550 5.1.1 <root>: Recipient address rejected: "
        "User unknown for root",
    ]
    (request,) = webhook.requests
    assert "TEST ALERT" in request.json()["text"] and request.json()["key_kind"] == "test"


def test_a_certificate_nobody_trusts_is_a_tls_failure(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    webhook = WebhookServer().start(tls=server_context(cert, key))
    try:
        status, out, _ = alert_test(tmp_path, f"webhook+{webhook.url}/hook")
    finally:
        webhook.stop()
    assert status == 6
    assert f"webhook+{webhook.url}/...: NOT delivered: TLS failure: " in out
    assert "certificate" in out.lower()


def test_a_bad_uri_is_a_config_error_before_anything_is_sent(tmp_path: Path) -> None:
    status, out, err = alert_test(tmp_path, "jsonl:-", "gopher:x")
    assert status == 3 and out == "" and "unknown alert scheme 'gopher'" in err


def test_a_mail_server_that_refuses_the_connection_is_named(tmp_path: Path) -> None:
    """mailto's label does not say where it sends (the local MTA, or the smarthost): the
    reason does, so "connection refused" says whom to look at."""
    closed = free_port()
    status, out, _ = alert_test(
        tmp_path, "mailto:root", config=f'[sinks.mailto]\nsmarthost = "127.0.0.1:{closed}"\n'
    )
    assert status == 6
    assert out == f"mailto:root: NOT delivered: connection refused by 127.0.0.1:{closed}\n"
