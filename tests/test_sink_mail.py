"""mailto against a real SMTP server (aiosmtpd) on loopback: plain, STARTTLS, AUTH, digest."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sinkutil import (
    FAST,
    build_one,
    down,
    free_port,
    make_certificate,
    make_incident,
    server_context,
    wait_until,
)

from spamwatch.config import Config
from spamwatch.errors import ConfigError
from spamwatch.model import Incident, IncidentState, Severity
from spamwatch.sinks import Fanout
from spamwatch.sinks.build import build_sinks


@dataclass
class Inbox:
    """aiosmtpd handler that keeps every envelope it accepts."""

    mails: list[tuple[str, list[str], email.message.EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def serve(inbox: Inbox, **kwargs: Any) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller


@pytest.fixture
def plain() -> Iterator[tuple[Inbox, Controller]]:
    inbox = Inbox()
    controller = serve(inbox)
    yield inbox, controller
    controller.stop()


def smarthost(controller: Controller) -> str:
    return f"127.0.0.1:{controller.port}"


def test_one_mail_per_finding_with_who_and_what(
    plain: tuple[Inbox, Controller], tmp_path: Path
) -> None:
    inbox, controller = plain
    options = {"smarthost": smarthost(controller), "from": "spamwatch@mx1.example.com", **FAST}
    sink = build_one("mailto:admin@example.com,abuse@example.com", tmp_path, [], mailto=options)
    finding = make_incident()
    sink.send(finding)
    sink.send(make_incident(id="second", key="bob@example.com", severity=Severity.WARNING))
    wait_until(lambda: len(inbox.mails) == 2, what="two mails")
    sink.close()
    sender, rcpts, message = inbox.mails[0]
    assert sender == "spamwatch@mx1.example.com"
    assert rcpts == ["admin@example.com", "abuse@example.com"]
    subject = message["Subject"]
    assert "CRITICAL opened: login alice@example.com" in subject
    assert message["Auto-Submitted"] == "auto-generated"
    text = message.get_content()
    assert finding.summary in text
    json_line = text.strip().splitlines()[-1]
    assert Incident.from_json(__import__("json").loads(json_line)) == finding
    assert "bob@example.com" in inbox.mails[1][2]["Subject"]


def test_digest_collects_findings_into_one_mail(
    plain: tuple[Inbox, Controller], tmp_path: Path
) -> None:
    inbox, controller = plain
    options = {"smarthost": smarthost(controller), "digest": "60s", **FAST}
    sink = build_one("mailto:admin@example.com", tmp_path, [], mailto=options)
    for i in range(5):
        sink.send(make_incident(id=f"f{i}", key=f"user{i}@example.com"))
    assert inbox.mails == []  # the digest interval has not passed
    sink.close()  # exit sends what was collected, in one mail
    assert len(inbox.mails) == 1
    message = inbox.mails[0][2]
    assert "digest: 5 records (5 critical)" in message["Subject"]
    body = message.get_content()
    assert all(f"user{i}@example.com" in body for i in range(5))


def test_starttls_and_auth_with_verified_certificate(
    certificate: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    context = server_context(cert, key)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mech: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"right-password", handled=False)

    inbox = Inbox()
    controller = serve(
        inbox, tls_context=context, require_starttls=True, authenticator=authenticator,
        auth_required=True, auth_require_tls=True,
    )  # fmt: skip
    try:
        monkeypatch.setenv("SMTP_PW", "right-password")
        options = {
            "smarthost": smarthost(controller),
            "starttls": True,
            "cafile": str(cert),
            "username": "alerts",
            "password_env": "SMTP_PW",
            **FAST,
        }
        sink = build_one("mailto:admin@example.com", tmp_path, [], mailto=options)
        sink.send(make_incident())
        wait_until(lambda: inbox.mails, what="the mail over STARTTLS")
        sink.close()
        assert logins == [(b"alerts", b"right-password")]

        # A wrong password fails delivery: retried, then spooled, reported once.
        monkeypatch.setenv("SMTP_PW", "wrong")
        warnings: list[str] = []
        spool_dir = tmp_path / "spool2"
        bad = build_one("mailto:admin@example.com", spool_dir, warnings, mailto=options)
        bad.send(make_incident(id="unsent"))
        wait_until(lambda: down(bad), what="the outage")
        bad.close()
        assert len(warnings) == 1 and "SMTPAuthenticationError" in warnings[0]
        assert "wrong" not in warnings[0]
        assert len(inbox.mails) == 1
    finally:
        controller.stop()


def test_starttls_refuses_an_unverified_certificate(
    certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = certificate
    context = server_context(cert, key)
    inbox = Inbox()
    controller = serve(inbox, tls_context=context, require_starttls=True)
    try:
        warnings: list[str] = []
        options = {"smarthost": smarthost(controller), "starttls": True, **FAST, "retries": 0}
        sink = build_one("mailto:admin@example.com", tmp_path, warnings, mailto=options)
        sink.send(make_incident())
        wait_until(lambda: down(sink), what="the outage")
        sink.close()
        assert inbox.mails == []
        assert "CERTIFICATE_VERIFY_FAILED" in warnings[0]
    finally:
        controller.stop()


def test_password_without_tls_is_refused(tmp_path: Path) -> None:
    options = {"username": "u", "password": "p"}
    with pytest.raises(ConfigError, match="without TLS"):
        build_one("mailto:admin@example.com", tmp_path, [], mailto=options)


@pytest.mark.parametrize(
    "uri",
    [
        "mailto:",
        "mailto:@example.com",
        "mailto:a@",
        "mailto:a@b.c%0d%0aBcc:%20x@y.z",
        "mailto:a b@c.d",
    ],
)
def test_bad_addresses_are_config_errors(uri: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        build_one(uri, tmp_path, [])


def test_implicit_tls(certificate: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = certificate
    inbox = Inbox()
    controller = serve(inbox, ssl_context=server_context(cert, key))
    try:
        options = {"smarthost": smarthost(controller), "ssl": True, "cafile": str(cert), **FAST}
        sink = build_one("mailto:admin@example.com", tmp_path, [], mailto=options)
        sink.send(make_incident())
        wait_until(lambda: inbox.mails, what="the mail over implicit TLS")
        sink.close()
    finally:
        controller.stop()
    assert inbox.mails[0][1] == ["admin@example.com"]


def test_the_record_saying_a_login_was_contained_reaches_the_pager(
    plain: tuple[Inbox, Controller], tmp_path: Path
) -> None:
    """mailto gets opened and escalated records, not every update, but the update that says
    "contained: locked at ..." (issue 10: the alert says what was done) is mailed."""
    inbox, controller = plain
    sink = build_one("mailto:admin@example.com", tmp_path, [],
                     mailto={"smarthost": smarthost(controller), **FAST})  # fmt: skip
    fanout = Fanout([sink])
    fanout.send(make_incident(state=IncidentState.UPDATED, summary="grew: 500 messages"))
    contained = make_incident(
        state=IncidentState.UPDATED,
        summary="alice@example.com sent 480 messages; contained: locked at 03:12:05",
        response={"containment": {"status": "contained"}},
    )
    fanout.send(contained)
    fanout.close()
    (mail,) = inbox.mails  # the plain update was not mailed
    body = mail[2].get_content()
    assert "contained: locked at 03:12:05" in body
    assert "spamwatch release alice@example.com" in body


def test_the_mail_s_queue_commands_name_the_configured_postfix_instance(
    plain: tuple[Inbox, Controller], tmp_path: Path
) -> None:
    """``[contain] postfix_config``: the mailed next steps say ``postqueue -c DIR -p``."""
    inbox, controller = plain
    config = Config(
        data={
            "contain": {"postfix_config": "/etc/postfix-out"},
            "sinks": {"mailto": {"smarthost": smarthost(controller), **FAST}},
        }
    )
    (sink,) = build_sinks(["mailto:admin@example.com"], config, tmp_path, warn=print)
    sink.send(make_incident(evidence={"sample_queue_ids": ["4PbMVG6Tmjz3tG3"]}))
    wait_until(lambda: len(inbox.mails) == 1, what="the mail")
    sink.close()
    text = inbox.mails[0][2].get_content()
    assert "postcat -c /etc/postfix-out -q 4PbMVG6Tmjz3tG3" in text
    assert "postqueue -c /etc/postfix-out -p" in text
