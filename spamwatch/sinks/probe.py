"""``spamwatch alert test``: one labelled test record through a sink, and what became of it.

A sink configured wrong is found the night it matters unless it is tried
before. ``try_sink`` delivers one test record at once (no queue, no spool,
no retry: the answer is now) and says "delivered" or why not, in the words
an admin acts on: connection refused, unknown host, TLS failure, the SMTP
server's code, the HTTP status.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType

from spamwatch.config import Config
from spamwatch.errors import ConfigError, SinkError
from spamwatch.model import Finding, FindingState, Incident, IncidentState, Severity
from spamwatch.sinks.base import Sink
from spamwatch.sinks.build import construct_sink
from spamwatch.textsafe import clean


def test_record(host: str | None = None, now: datetime | None = None) -> Incident:
    """A critical ``opened`` record that says plainly it is a test (it passes every ``min``
    and every sink's record kinds)."""
    when = now or datetime.now(UTC)
    where = host or socket.gethostname()
    summary = (
        f"TEST ALERT from 'spamwatch alert test' on {where} at "
        f"{when.isoformat(timespec='seconds')}: nothing is wrong, this checks that alerts "
        "reach you"
    )
    finding = Finding(
        id=f"test:{where}:{when.isoformat()}",
        state=FindingState.RAISED,
        detector="test",
        severity=Severity.CRITICAL,
        key="TEST-ALERT",
        key_kind="test",
        summary=summary,
        first_seen=when,
        last_seen=when,
        raised_at=when,
        time=when,
        host=where,
        evidence=MappingProxyType({"test": True}),
    )
    return Incident(
        id=f"test:{where}:{when.isoformat()}",
        state=IncidentState.OPENED,
        severity=Severity.CRITICAL,
        key="TEST-ALERT",
        key_kind="test",
        summary=summary,
        reason="a test of the alert path",
        first_seen=when,
        last_seen=when,
        opened_at=when,
        time=when,
        host=where,
        hosts=(where,),
        findings=(finding,),
    )


@dataclass(frozen=True)
class Outcome:
    """What happened to the test record at one sink."""

    label: str
    delivered: bool
    reason: str = ""

    def line(self) -> str:
        return (
            f"{self.label}: delivered"
            if self.delivered
            else f"{self.label}: NOT delivered: {self.reason}"
        )


def try_sink(sink: Sink, record: Incident) -> Outcome:
    """Deliver ``record`` through ``sink`` now (a queued sink without its queue)."""
    deliver = getattr(sink, "deliver", None)
    try:
        if deliver is not None:
            deliver([record])
        else:
            sink.send(record)
    except Exception as exc:  # any failure is the answer we came for
        return Outcome(sink.label, False, why(exc, _server(sink)))
    finally:
        sink.close()
    return Outcome(sink.label, True)


def try_uri(uri: str, config: Config, record: Incident) -> Outcome:
    """Build the sink ``uri`` names and deliver ``record`` through it (``alert test``).

    A sink that cannot be set up (a directory that is not there) is an outcome
    like any other, so every URI is tried; a config mistake still raises.
    """
    try:
        sink = construct_sink(uri, config)
    except ConfigError:
        raise
    except SinkError as exc:
        return Outcome(clean(uri), False, f"cannot be set up: {exc}")
    return try_sink(sink, record)


def _server(sink: Sink) -> str:
    """``HOST:PORT`` of a sink whose label does not say where it connects (mailto: the local
    MTA or the smarthost); "" otherwise."""
    host, port = getattr(sink, "host", None), getattr(sink, "port", None)
    return f"{clean(host)}:{port}" if isinstance(host, str) and isinstance(port, int) else ""


def why(exc: BaseException, server: str = "") -> str:
    """A failure in an admin's words (the root cause when a sink wrapped it); ``server``,
    when given, names whom a connection failure is about."""
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    if isinstance(root, ConnectionRefusedError):
        return f"connection refused by {server}" if server else "connection refused"
    if isinstance(root, socket.gaierror):
        return f"unknown host{f' {server}' if server else ''} ({clean(root.strerror)})"
    if isinstance(root, ssl.SSLError):
        return f"TLS failure: {clean(getattr(root, 'verify_message', None) or root.reason or root)}"
    if isinstance(root, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"SMTP {code} {_text(text)} for {clean(rcpt)}"
            for rcpt, (code, text) in root.recipients.items()
        )
    if isinstance(root, smtplib.SMTPResponseException):
        return f"SMTP {root.smtp_code} {_text(root.smtp_error)}"
    if isinstance(root, TimeoutError | socket.timeout):
        return f"timed out ({server})" if server else "timed out"
    text = clean(str(exc), limit=200)
    return text or type(exc).__name__


def _text(raw: bytes | str) -> str:
    value = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return clean(" ".join(value.split()), limit=160)
