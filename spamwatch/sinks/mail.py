"""``mailto:admin@example.com[,other@example.com]``: mail incident records over SMTP.

One mail per incident record, subject saying who and what, or with ``digest = "10m"``
one mail per interval listing every record of it. Delivery goes to the local
MTA (``localhost:25``) or a ``smarthost``, with ``starttls`` or implicit TLS
(``ssl``) and ``username`` + ``password``/``password_env``. A password is never
sent without TLS.

Messages are built with ``email.message.EmailMessage``: every header value is
passed through ``clean`` first, so a CR/LF inside a crafted sender or username
cannot start a header of its own (no ``Bcc:`` injection), and the recipients
are only ever the ones in the URI.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections import Counter
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import unquote, urlsplit

from spamwatch import __version__
from spamwatch.config.schema import Options
from spamwatch.errors import ConfigError
from spamwatch.model import Incident
from spamwatch.sinks.base import PAGING, SinkContext
from spamwatch.sinks.delivery import RETRY_OPTIONS, QueuedSink
from spamwatch.sinks.record import alert_id
from spamwatch.sinks.text import alert_line, describe, headline
from spamwatch.textsafe import clean

SUBJECT_LIMIT = 180


class MailSink(QueuedSink):
    """Send incident records by mail (queued; retried; spooled while the MTA is down)."""

    scheme = "mailto"
    description = "mail to one or more addresses via the local MTA or a smarthost"
    batch_option = "digest"
    default_records = PAGING
    option_names = RETRY_OPTIONS | {
        "smarthost", "ssl", "starttls", "cafile", "username", "password", "password_env",
        "timeout", "from", "digest",
    }  # fmt: skip

    postfix_config: str | None = None
    """The Postfix instance the mailed next steps name (from the ``SinkContext``)."""

    def start(self, context: SinkContext) -> None:
        """Keep the configured Postfix instance, then start delivering."""
        self.postfix_config = context.postfix_config
        super().start(context)

    def setup(self) -> None:
        """Check the options; see the module docstring."""
        super().setup()
        self.recipients = parse_recipients(self.target)
        read = self.settings
        self.ssl: bool = read["ssl"]
        self.host, self.port = read["smarthost"]
        self.starttls: bool = read["starttls"]
        self.username: str | None = read["username"]
        self.password = self.opts.secret("password")
        self.cafile: str | None = read["cafile"]
        self.timeout: float = read["timeout"]
        self.sender = read["from"] or f"spamwatch@{socket.getfqdn()}"
        if self.username and self.password is None:
            raise self.opts.error("password", "username is set but no password/password_env")

    @classmethod
    def read_options(cls, opts: Options) -> dict[str, Any]:
        """Everything but the password (a secret, read by ``setup``)."""
        ssl_on = opts.boolean("ssl", False)
        read = {
            **super().read_options(opts),
            "ssl": ssl_on,
            "smarthost": _smarthost(opts, 465 if ssl_on else 25),
            "starttls": opts.boolean("starttls", False),
            "username": opts.string("username"),
            "cafile": opts.string("cafile"),
            "timeout": opts.seconds("timeout", "30s") or 30.0,
            "from": opts.string("from"),
        }
        if read["username"] and not (ssl_on or read["starttls"]):
            raise opts.error("username", "refusing to send a password without TLS; "
                             "set starttls = true or ssl = true")  # fmt: skip
        return read

    def deliver(self, findings: list[Incident]) -> None:
        """Send one mail (a digest when several findings); raise on any SMTP failure."""
        message = self.compose(findings)
        with self._connect() as smtp:
            if self.username and self.password is not None:
                smtp.login(self.username, self.password)
            smtp.send_message(message, from_addr=self.sender, to_addrs=self.recipients)

    def compose(self, findings: list[Incident]) -> EmailMessage:
        """The mail for one finding, or the digest of several."""
        message = EmailMessage()
        message["From"] = clean(self.sender)
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = subject(findings)
        message["Date"] = formatdate(localtime=True)
        domain = self.sender.rpartition("@")[2] or None
        if len(findings) == 1:  # the same alert sent again is the same mail: clients drop it
            message["Message-ID"] = f"<{alert_id(findings[0])}.spamwatch@{domain or 'localhost'}>"
        else:
            message["Message-ID"] = make_msgid(domain=domain)
        message["Auto-Submitted"] = "auto-generated"
        message["X-Mailer"] = f"spamwatch {__version__}"
        message.set_content(body(findings, self.postfix_config))
        return message

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context(cafile=self.cafile)
        if self.ssl:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.starttls:
                smtp.starttls(context=context)
        except BaseException:
            smtp.close()
            raise
        return smtp


def _smarthost(opts: Options, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6addr]:port`` (default: the local MTA)."""
    text = opts.string("smarthost", "localhost") or "localhost"
    try:
        parts = urlsplit(f"//{text}")
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise opts.error("smarthost", str(exc)) from None
    if not host or parts.path:
        raise opts.error("smarthost", f"use HOST or HOST:PORT, not {text!r}")
    return host, port or default_port


def parse_recipients(target: str) -> list[str]:
    """``a@x,b@y`` (RFC 6068 mailto) -> checked addresses; ConfigError when unusable.

    A local recipient without a domain (``mailto:root``, as cron's MAILTO) is
    accepted: the local MTA qualifies it.
    """
    addresses = [unquote(part).strip() for part in target.split(",") if part.strip()]
    if not addresses:
        raise ConfigError("mailto: needs an address, e.g. mailto:postmaster@example.com")
    for address in addresses:
        local, at, domain = address.rpartition("@")
        qualified = bool(at)  # "root": a local recipient, qualified by the local MTA
        bad = any(ch.isspace() or ord(ch) < 32 or ch in '<>,;"()' for ch in address)
        if not (local or domain) or (qualified and not (local and domain)) or bad:
            raise ConfigError(f"mailto: not a mail address: {clean(address)!r}")
    return addresses


def subject(findings: list[Incident]) -> str:
    """Who and what, on one cleaned line of bounded length."""
    if len(findings) == 1:
        return clean(f"[spamwatch] {headline(findings[0])}", limit=SUBJECT_LIMIT)
    counts = Counter(str(f.severity) for f in findings)
    parts = ", ".join(f"{counts[name]} {name}" for name in ("critical", "warning", "info")
                      if counts[name])  # fmt: skip
    keys = sorted({f.key for f in findings})
    return clean(
        f"[spamwatch] digest: {len(findings)} records ({parts}): {', '.join(keys)}",
        limit=SUBJECT_LIMIT,
    )


def body(findings: list[Incident], postfix_config: str | None = None) -> str:
    """Readable lines per finding, then the JSON records (cleaned, one per line)."""
    out: list[str] = []
    for finding in findings:
        out.extend(describe(finding, postfix_config))
        out.append("")
    out.append("-- JSON records (one per line):")
    out.extend(alert_line(f) for f in findings)
    return "\n".join(out) + "\n"
