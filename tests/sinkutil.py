"""Helpers for the sink tests: incident records, polling, and real loopback servers."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import MappingProxyType
from typing import Any

from spamwatch.config import Config
from spamwatch.model import Finding, FindingState, Incident, IncidentState, Severity
from spamwatch.sinks import build_sinks
from spamwatch.sinks.base import Sink

T0 = datetime(2026, 11, 28, 3, 0, 0, tzinfo=UTC)

HOSTILE_KEY = "alice$(touch PWNED)`id`;rm -rf / [bold]x[/] \x1b[31mred\x00nul"
HOSTILE_SENDER = "evil@example.com\r\nBcc: victim@example.com"
HOSTILE_SUMMARY = "[bold red]FAKE[/] \x1b]0;title\x07 \x1b[2J line1\nline2\r\nSubject: injected"


def make_incident(**changes: Any) -> Incident:
    """A plausible critical incident of one login; keyword arguments replace fields.

    ``evidence`` (and ``detector``) go to its one finding, whose key, host and
    summary follow the incident's.
    """
    evidence = changes.pop("evidence", MappingProxyType({"sender": "alice@example.com"}))
    detector = changes.pop("detector", "burst")
    values: dict[str, Any] = {
        "id": "sasl_username:alice@example.com:1",
        "state": IncidentState.OPENED,
        "severity": Severity.CRITICAL,
        "key": "alice@example.com",
        "key_kind": "sasl_username",
        "summary": "alice@example.com sent 480 messages to 480 recipients in 10m from 7 IPs",
        "reason": "mass mail with: many_networks",
        "first_seen": T0,
        "last_seen": T0,
        "opened_at": T0,
        "time": T0,
        "host": "mx1",
        "hosts": ("mx1",),
        "facts": frozenset({"volume", "many_networks"}),
        "counts": MappingProxyType({"burst.messages": 480, "burst.ips": 7}),
    }
    values.update(changes)
    finding = Finding(
        id=f"{detector}:{values['key']}:1",
        state=FindingState.RAISED,
        detector=detector,
        severity=values["severity"],
        key=values["key"],
        key_kind=values["key_kind"],
        summary=values["summary"],
        first_seen=T0,
        last_seen=T0,
        raised_at=T0,
        time=T0,
        host=values["host"],
        counts=MappingProxyType({"messages": 480, "ips": 7}),
        evidence=evidence,
        facts=values["facts"],
    )
    values.setdefault("findings", (finding,))
    return Incident(**values)


def hostile_incident(**changes: Any) -> Incident:
    """An incident whose every log-derived field carries markup, escapes, CR/LF, NUL, shell."""
    values: dict[str, Any] = {
        "id": "sasl_username:hostile:1",
        "key": HOSTILE_KEY,
        "summary": HOSTILE_SUMMARY,
        "host": "mx1\x1b[0m",
        "hosts": ("mx1\x1b[0m",),
        "evidence": MappingProxyType({"sender": HOSTILE_SENDER, "helo": "[link=x]y[/link]"}),
    }
    values.update(changes)
    return make_incident(**values)


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Poll ``predicate`` until truthy (returned) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.02)


def down(sink: Sink) -> bool:
    """True once a queued sink gave up and reported an outage (its records wait in the spool)."""
    delivery = getattr(sink, "delivery", None)
    return bool(delivery is not None and delivery.down)


def build_one(uri: str, spool: Path, warnings: list[str], **tables: Any) -> Sink:
    """build_sinks for one URI, with ``[sinks.X]`` tables given as keyword arguments."""
    config = Config(data={"sinks": tables})
    (sink,) = build_sinks([uri], config, spool, warn=warnings.append)
    return sink


FAST = {"retries": 2, "backoff": 0.05, "max_backoff": 0.2, "drain_timeout": 5}
"""Retry options that keep tests quick."""


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1, made with openssl."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """The server side of TLS with that certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (aiosmtpd needs a number)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    """One request the test HTTP server got."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    mode: str

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookServer:
    """A real HTTP server on loopback whose behaviour a test switches.

    Modes: ok (200), fail (500), hang (no answer), redirect (302 to
    ``redirect_to``), drip (200, one byte every ``drip_every`` seconds), slow
    (200 after ``slow_for`` seconds).
    """

    mode: str = "ok"
    redirect_to: str = "http://127.0.0.1:9/elsewhere"
    drip_every: float = 0.3
    slow_for: float = 0.25
    requests: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None
    scheme: str = "http"

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    def start(self, tls: ssl.SSLContext | None = None) -> WebhookServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                now = time.monotonic()
                headers = dict(self.headers.items())
                mode = owner.mode
                if mode == "slow":
                    owner.release.wait(owner.slow_for)
                    mode = "ok"
                owner.requests.append(Received(self.path, headers, body, now, mode))
                if mode == "hang":
                    owner.release.wait(30)
                    return
                if mode == "drip":
                    self._drip(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    return
                if mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", owner.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 200 if mode == "ok" else 500
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the client is gone (killed): it never saw the answer
                    pass

            def do_GET(self) -> None:  # only a client that followed a redirect sends one
                headers = dict(self.headers.items())
                owner.requests.append(Received(self.path, headers, b"", time.monotonic(), "GET"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _drip(self, answer: bytes) -> None:
                for byte in answer:
                    if owner.release.wait(owner.drip_every):
                        return
                    try:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    except OSError:
                        return

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def delivered(self) -> list[str]:
        """Finding ids of the requests answered 200, in order."""
        return [r.json()["id"] for r in self.requests if r.mode == "ok"]

    def delivered_alerts(self) -> list[str]:
        """``alert_id`` of the requests answered 200, in order."""
        return [r.json()["alert_id"] for r in list(self.requests) if r.mode == "ok"]

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
