"""``webhook+https://host/path`` / ``webhook+http://...``: POST each finding as JSON.

The body is the finding's JSON form with its ``alert_id`` (also sent as the
``Idempotency-Key`` header, so a receiver can drop the repeat of a request
that was on the wire when spamwatch was killed) and a ``text`` field (the headline and
summary, cleaned), which Slack- and Mattermost-compatible endpoints display.
In ``text``, ``&``, ``<`` and ``>`` are written ``&amp;``, ``&lt;``, ``&gt;``
as Slack's message format asks, so a username such as ``<!channel>`` or
``<http://evil.example/|click here>`` is shown as typed, never as a mention
or a disguised link. An optional auth header comes from ``header = "Name:
value"`` or from ``token_env`` (``Authorization: Bearer $TOKEN``); neither is
ever printed, and messages name the sink by scheme and host only, since
webhook paths often carry a token themselves.

Any answer but 2xx is a failure: retried, then spooled
(spamwatch.sinks.delivery). A redirect (3xx) is never followed: following it
would turn the POST into a bodiless GET and could carry the auth header to
another host, so it is a failure naming where it pointed. ``timeout`` is a
total deadline for the whole request (connect, TLS, send, answer): a server
that answers one byte at a time cannot hold delivery up beyond it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

from spamwatch import __version__
from spamwatch.config.schema import Options
from spamwatch.errors import ConfigError
from spamwatch.model import Incident, Severity
from spamwatch.sinks.base import PAGING
from spamwatch.sinks.delivery import RETRY_OPTIONS, QueuedSink
from spamwatch.sinks.record import alert_id, alert_json
from spamwatch.sinks.text import headline
from spamwatch.textsafe import clean


class WebhookError(Exception):
    """The endpoint answered with a status other than 2xx, or not within the deadline."""


class WebhookSink(QueuedSink):
    """POST findings to an HTTP(S) endpoint (queued; retried; spooled)."""

    scheme = "webhook+https"
    description = "POST the incident JSON (with a Slack-style text field) to a URL"
    default_records = PAGING
    target_query = True  # https://host/hook?token=...: the URL's own query
    option_names = RETRY_OPTIONS | {
        "timeout", "header", "header_env", "token", "token_env", "cafile",
    }  # fmt: skip

    def __init__(
        self,
        target: str,
        options: Mapping[str, Any] | None = None,
        min_severity: Severity = Severity.INFO,
        scheme: str = "webhook+https",
    ) -> None:
        self.variant = scheme  # registered twice: which of the two schemes this is
        super().__init__(target, options, min_severity)

    @classmethod
    def read_options(cls, opts: Options) -> dict[str, Any]:
        """``timeout`` and ``cafile`` (the header and token are secrets: ``setup``)."""
        return {
            **super().read_options(opts),
            "timeout": opts.seconds("timeout", "10s") or 10.0,
            "cafile": opts.string("cafile"),
        }

    def setup(self) -> None:
        """Check the URL and options; see the module docstring."""
        super().setup()
        self.url = f"{self.variant.removeprefix('webhook+')}:{self.target}"
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{self.variant}: use {self.variant}://HOST[:PORT]/PATH")
        if "@" in parts.netloc:
            raise ConfigError(
                f"{self.variant}: no user:password@ in the URL; use header, token or token_env"
            )
        self._where = f"{self.variant}://{parts.netloc}"
        self.timeout: float = self.settings["timeout"]
        self.headers = {
            "Content-Type": "application/json",
            "User-Agent": f"spamwatch/{__version__}",
        }
        self.headers.update(self._auth_header())
        self.cafile: str | None = self.settings["cafile"]
        self.tls = _tls_context(self.cafile) if parts.scheme == "https" else None

    @property
    def label(self) -> str:
        """Scheme and host only: the path may be a secret (Slack-style hook URLs)."""
        return f"{self._where}/..."

    def _auth_header(self) -> dict[str, str]:
        header = self.opts.secret("header")
        if header:
            name, colon, value = header.partition(":")
            if not colon or not name.strip() or " " in name.strip():
                raise self.opts.error("header", "use 'Name: value'")
            return {name.strip(): value.strip()}
        token = self.opts.secret("token")
        return {"Authorization": f"Bearer {token}"} if token else {}

    def deliver(self, findings: list[Incident]) -> None:
        """POST each finding; raise on a non-2xx answer, a timeout or a network error."""
        for finding in findings:
            self._post(payload(finding), alert_id(finding))

    def _post(self, data: bytes, key: str) -> None:
        parts = urlsplit(self.url)
        headers = {**self.headers, "Idempotency-Key": key}  # a repeat after a crash says so
        with Deadline(self.timeout) as deadline:
            try:
                status, reason, location = _request(parts, data, headers, deadline, self.tls)
            except (OSError, http.client.HTTPException) as exc:
                # each socket timeout is what was left of the deadline, so a
                # TimeoutError is the deadline too, even before the timer fired
                if deadline.expired or isinstance(exc, TimeoutError):
                    raise WebhookError(f"no answer within {self.timeout:g}s") from None
                raise WebhookError(f"{type(exc).__name__}: {clean(exc, limit=120)}") from exc
        if 300 <= status < 400:
            where = clean(location, limit=120) if location else "nowhere"
            raise WebhookError(f"HTTP {status} redirect to {where} (not followed)")
        if not 200 <= status < 300:
            raise WebhookError(f"HTTP {status} {clean(reason, limit=80)}".strip())


def _tls_context(cafile: str | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"sinks.webhook.cafile: cannot read {cafile}: {clean(exc)}") from None


class Deadline:
    """A total time limit for one request: when it passes, the socket is shut down.

    Socket timeouts bound each read, not the request: a server that sends one
    byte every few seconds never trips them. The timer thread shuts the socket
    down at the deadline, which ends whatever read or write is blocked on it.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def left(self) -> float:
        """Seconds until the deadline (at least a little, for socket timeouts)."""
        return max(self.end - time.monotonic(), 0.001)

    def guard(self, sock: socket.socket) -> None:
        """Shut ``sock`` down at the deadline (at once if it has passed)."""
        with self._lock:
            self._sock = sock
            if not self.expired:
                return
        self._shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sock = self._sock
        if sock is not None:
            self._shutdown(sock)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _request(
    parts: SplitResult,
    data: bytes,
    headers: Mapping[str, str],
    deadline: Deadline,
    tls: ssl.SSLContext | None,
) -> tuple[int, str, str | None]:
    """One POST, no redirect followed; returns (status, reason, Location)."""
    https = tls is not None
    port = parts.port or (443 if https else 80)
    host = parts.hostname or ""
    raw = socket.create_connection((host, port), timeout=deadline.left())
    deadline.guard(raw)
    sock: socket.socket = raw
    if tls is not None:
        sock = tls.wrap_socket(raw, server_hostname=host)
    conn_class = http.client.HTTPSConnection if https else http.client.HTTPConnection
    conn = conn_class(host, port, timeout=deadline.left())
    conn.sock = sock  # already connected (and verified): http.client uses it as is
    try:
        path = parts.path or "/"
        conn.request("POST", f"{path}?{parts.query}" if parts.query else path, data, dict(headers))
        reply = conn.getresponse()
        reply.read(65536)
        return reply.status, reply.reason, reply.getheader("Location")
    finally:
        conn.close()


def payload(finding: Incident) -> bytes:
    """The POST body: finding JSON with ``alert_id``, plus ``text`` for chat endpoints."""
    data = alert_json(finding)
    data["text"] = chat_escape(clean(f"{headline(finding)}: {finding.summary}", limit=2000))
    return json.dumps(data, ensure_ascii=True).encode("ascii")


def chat_escape(text: str) -> str:
    """Slack's message-format escapes: ``&`` ``<`` ``>`` as entities, nothing else.

    ``<...>`` is how Slack (and Mattermost in Slack mode) write mentions and
    links; with these three escaped, log text can only ever be shown.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
