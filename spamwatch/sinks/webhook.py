"""``webhook+https://host/path`` / ``webhook+http://...``: POST each finding as JSON.

The body is the finding's JSON form plus a ``text`` field (the headline and
summary, cleaned), which Slack- and Mattermost-compatible endpoints display.
An optional auth header comes from ``header = "Name: value"`` or from
``token_env`` (``Authorization: Bearer $TOKEN``); neither is ever printed, and
messages name the sink by scheme and host only, since webhook paths often
carry a token themselves. Any answer but 2xx, a timeout or a refused
connection is a failure: retried, then spooled (spamwatch.sinks.delivery).
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from spamwatch import __version__
from spamwatch.errors import ConfigError
from spamwatch.model import Finding, Severity
from spamwatch.sinks.delivery import RETRY_OPTIONS, QueuedSink
from spamwatch.sinks.text import clean, headline


class WebhookError(Exception):
    """The endpoint answered with a status other than 2xx."""


class WebhookSink(QueuedSink):
    """POST findings to an HTTP(S) endpoint (queued; retried; spooled)."""

    scheme = "webhook+https"
    description = "POST the finding JSON (with a Slack-style text field) to a URL"
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
        self.timeout = self.opts.seconds("timeout", "10s") or 10.0
        self.headers = {
            "Content-Type": "application/json",
            "User-Agent": f"spamwatch/{__version__}",
        }
        self.headers.update(self._auth_header())
        self.cafile = self.opts.string("cafile")

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

    def deliver(self, findings: list[Finding]) -> None:
        """POST each finding; raise on a non-2xx answer, a timeout or a network error."""
        for finding in findings:
            self._post(payload(finding))

    def _post(self, data: bytes) -> None:
        request = urllib.request.Request(self.url, data=data, headers=self.headers, method="POST")
        context = ssl.create_default_context(cafile=self.cafile) if self.cafile else None
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=context) as reply:
                reply.read(65536)
                status = reply.status
        except urllib.error.HTTPError as exc:
            raise WebhookError(f"HTTP {exc.code} {clean(exc.reason, limit=80)}") from None
        if not 200 <= status < 300:
            raise WebhookError(f"HTTP {status}")


def payload(finding: Finding) -> bytes:
    """The POST body: finding JSON plus ``text`` for chat endpoints."""
    data = finding.to_json()
    data["text"] = clean(f"{headline(finding)}: {finding.summary}", limit=2000)
    return json.dumps(data, ensure_ascii=True).encode("ascii")
